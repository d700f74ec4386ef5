package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// cgroup2Magic is CGROUP2_SUPER_MAGIC, the file system type of a unified
// (cgroup v2) /sys/fs/cgroup.
const cgroup2Magic = 0x63677270

// CgroupV1 reports whether the host's /sys/fs/cgroup is a cgroup v1 (or
// hybrid) hierarchy.
func CgroupV1() bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return false
	}
	return st.Type != cgroup2Magic
}

// UnmountedControllers finds cgroup v1 controllers that the kernel has bound
// to a hierarchy (a non-zero hierarchy id in /proc/cgroups) while no cgroup
// file system with them is mounted in this mount namespace (mountinfo).
//
// K3s, running privileged in a node container on a cgroup v1 host, binds
// controllers the host never mounted (hugetlb on these machines) and leaves
// cgroups in them. From then on runc gives every new container a hierarchy
// for that controller that nothing inside a kind node prepared, and kind's
// kubelet fails with "cgroup [\"kubelet\"] has some missing paths:
// /sys/fs/cgroup/hugetlb/kubelet.slice".
func UnmountedControllers(procCgroups, mountinfo []byte) []string {
	mounted := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		_, after, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f := strings.Fields(after)
		if len(f) < 3 || f[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(f[2], ",") {
			mounted[opt] = true
		}
	}
	// Controllers bound to one hierarchy (net_cls and net_prio) can only
	// be mounted together: they come out joined by a comma.
	byHierarchy := map[string][]string{}
	sc = bufio.NewScanner(bytes.NewReader(procCgroups))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[1] != "0" && f[3] == "1" && !mounted[f[0]] {
			byHierarchy[f[1]] = append(byHierarchy[f[1]], f[0])
		}
	}
	var out []string
	for _, names := range byHierarchy {
		out = append(out, strings.Join(names, ","))
	}
	sort.Strings(out)
	return out
}

// RepairCgroups mounts, at /sys/fs/cgroup/<name>, every cgroup v1
// controller that is bound but not mounted on the host (see
// UnmountedControllers), which is what lets kind clusters start again after
// K3s ran on the same host. It returns the controllers it mounted; on a
// cgroup v2 host, or when nothing is amiss, it does nothing. It needs root.
func RepairCgroups() ([]string, error) {
	if !CgroupV1() {
		return nil, nil
	}
	pc, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return nil, err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, c := range UnmountedControllers(pc, mi) {
		dir := filepath.Join("/sys/fs/cgroup", c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := syscall.Mount("cgroup", dir, "cgroup", 0, c); err != nil {
			errs = append(errs, fmt.Errorf("mount the %s cgroup controller at %s (as root: mkdir -p %s && mount -t cgroup -o %s cgroup %s): %w", c, dir, dir, c, dir, err))
			continue
		}
		done = append(done, c)
	}
	return done, errors.Join(errs...)
}
