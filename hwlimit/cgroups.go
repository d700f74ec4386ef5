package hwlimit

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	cgroups "github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// unifiedRoot is where cgroup v2 is mounted, and mode tells the host's
// cgroup layout (variables for specs).
var (
	unifiedRoot = "/sys/fs/cgroup"
	mode        = cgroups.Mode
)

// v1Controllers are the cgroup v1 controllers a group uses: the CPU quota,
// CPU accounting and the memory limit.
var v1Controllers = []cgroup1.Name{cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Memory}

// unlimited is at or above what the kernel shows for "no memory limit".
const unlimited = math.MaxInt64 / 2

func unified() bool { return mode() == cgroups.Unified }

// Available returns nil when New can create groups here, else an error
// that says what is missing and what to do.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("hwlimit: confining a node to its hardware class needs cgroups, which need root: run edgesim as root (sudo -E edgesim ...), or remove the node's resources/hardware")
	}
	switch mode() {
	case cgroups.Unavailable:
		return fmt.Errorf("hwlimit: no cgroup file system at %s: mount one (mount -t cgroup2 none %s) or run on a host with cgroups", unifiedRoot, unifiedRoot)
	case cgroups.Unified:
		b, err := os.ReadFile(filepath.Join(unifiedRoot, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("hwlimit: cgroup v2 at %s: %w", unifiedRoot, err)
		}
		have := strings.Fields(string(b))
		for _, c := range []string{"cpu", "memory"} {
			if !slices.Contains(have, c) {
				return fmt.Errorf("hwlimit: cgroup v2 at %s offers no %s controller (it has: %s): enable it in the parent cgroup's cgroup.subtree_control, or boot with it", unifiedRoot, c, strings.Join(have, " "))
			}
		}
		return writable(unifiedRoot)
	}
	dirs, err := v1Dirs()
	if err != nil {
		return err
	}
	for _, n := range v1Controllers {
		if err := writable(dirs[n]); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[cgroup1.Cpu], "cpu.cfs_quota_us")); err != nil {
		return fmt.Errorf("hwlimit: the cgroup v1 cpu controller at %s has no CPU quota (cpu.cfs_quota_us; the kernel lacks CONFIG_CFS_BANDWIDTH): use a kernel with it", dirs[cgroup1.Cpu])
	}
	return nil
}

func writable(dir string) error {
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("hwlimit: cannot create cgroups in %s (%v): mount it read-write (a container needs --privileged or --cgroupns=private with a writable cgroup mount)", dir, err)
	}
	return nil
}

// roots are the directories below which the edgesim parent group is.
func roots() []string {
	if unified() {
		return []string{unifiedRoot}
	}
	dirs, err := v1Dirs()
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range v1Controllers {
		if d := dirs[n]; !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// v1Subsystems returns the library's controllers edgesim uses, with the
// memory controller tolerating a kernel that does not account swap.
func v1Subsystems() ([]cgroup1.Subsystem, error) {
	all, err := cgroup1.Default()
	if err != nil {
		return nil, fmt.Errorf("hwlimit: cgroup v1: %w", err)
	}
	var out []cgroup1.Subsystem
	for _, n := range v1Controllers {
		i := slices.IndexFunc(all, func(s cgroup1.Subsystem) bool { return s.Name() == n })
		if i < 0 {
			return nil, fmt.Errorf("hwlimit: the cgroup v1 %s controller is not mounted (expected below /sys/fs/cgroup): mount it, or use a host with cgroup v2", n)
		}
		s := all[i]
		if n == cgroup1.Memory {
			root := filepath.Dir(s.(interface{ Path(string) string }).Path("/"))
			s = cgroup1.NewMemory(root, cgroup1.OptionalSwap())
		}
		out = append(out, s)
	}
	return out, nil
}

// v1Dirs maps each controller edgesim uses to its hierarchy's root
// directory (symbolic links resolved: cpu and cpuacct often share one).
func v1Dirs() (map[cgroup1.Name]string, error) {
	subs, err := v1Subsystems()
	if err != nil {
		return nil, err
	}
	dirs := map[cgroup1.Name]string{}
	for _, s := range subs {
		d := s.(interface{ Path(string) string }).Path("/")
		if r, err := filepath.EvalSymlinks(d); err == nil {
			d = r
		}
		dirs[s.Name()] = d
	}
	return dirs, nil
}

// v1Group is a group on cgroup v1: one directory per hierarchy.
type v1Group struct {
	cg   cgroup1.Cgroup
	subs []cgroup1.Subsystem
	dir  map[cgroup1.Name]string
}

func groupPath(name string) string { return "/" + Parent + "/" + name }

func v1Layout(name string) (subs []cgroup1.Subsystem, dir map[cgroup1.Name]string, err error) {
	subs, err = v1Subsystems()
	if err != nil {
		return nil, nil, err
	}
	roots, err := v1Dirs()
	if err != nil {
		return nil, nil, err
	}
	dir = map[cgroup1.Name]string{}
	for n, r := range roots {
		dir[n] = filepath.Join(r, Parent, name)
	}
	return subs, dir, nil
}

func (g *v1Group) dirs() []string {
	var out []string
	for _, n := range v1Controllers {
		if d := g.dir[n]; !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func newV1(name string, l Limits, mark owner) (cgroup, error) {
	subs, dir, err := v1Layout(name)
	if err != nil {
		return nil, err
	}
	g := &v1Group{subs: subs, dir: dir}
	var made []string
	undo := func() {
		for _, d := range slices.Backward(made) {
			_ = unix.Rmdir(d)
		}
	}
	for _, d := range g.dirs() {
		if _, err := ensureParent(filepath.Dir(filepath.Dir(d)), mark); err != nil {
			undo()
			return nil, err
		}
		if err := mkdirOwned(d, mark); err != nil {
			undo()
			return nil, err
		}
		made = append(made, d)
	}
	res := &specs.LinuxResources{}
	if l.CPU > 0 {
		quota, period := int64(l.quota().Microseconds()), uint64(Period.Microseconds())
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if l.Memory > 0 {
		m := l.Memory
		res.Memory = &specs.LinuxMemory{Limit: &m}
		if _, err := os.Stat(filepath.Join(dir[cgroup1.Memory], "memory.memsw.limit_in_bytes")); err == nil {
			res.Memory.Swap = &m // memory and swap together: no swap beyond the class's memory
		}
	}
	g.cg, err = cgroup1.New(cgroup1.StaticPath(groupPath(name)), res,
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err != nil {
		undo()
		return nil, err
	}
	return g, nil
}

func loadV1(name string) (*v1Group, error) {
	subs, dir, err := v1Layout(name)
	if err != nil {
		return nil, err
	}
	g := &v1Group{subs: subs, dir: dir}
	g.cg, err = cgroup1.Load(cgroup1.StaticPath(groupPath(name)),
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err != nil {
		return nil, fmt.Errorf("hwlimit: load %s: %w", groupPath(name), err)
	}
	return g, nil
}

func (g *v1Group) add(pid int) error { return g.cg.AddProc(uint64(pid)) }

func (g *v1Group) pids() ([]uint64, error) {
	var out []uint64
	for _, n := range v1Controllers {
		ps, err := g.cg.Processes(n, true)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, p := range ps {
			if !slices.Contains(out, uint64(p.Pid)) {
				out = append(out, uint64(p.Pid))
			}
		}
	}
	return out, nil
}

func (g *v1Group) usage() (Usage, error) {
	st, err := g.cg.Stat()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{}
	if st.CPU != nil && st.CPU.Usage != nil {
		u.CPU = durationNS(st.CPU.Usage.Total)
	}
	if st.CPU != nil && st.CPU.Throttling != nil {
		u.Throttled = st.CPU.Throttling.ThrottledPeriods
	}
	if st.Memory != nil && st.Memory.Usage != nil {
		u.Memory = int64(st.Memory.Usage.Usage)
	}
	if st.MemoryOomControl != nil {
		u.OOMKills = st.MemoryOomControl.OomKill
	}
	return u, nil
}

func (g *v1Group) limits() (Limits, error) {
	var l Limits
	st, err := g.cg.Stat()
	if err != nil {
		return l, err
	}
	if st.Memory != nil && st.Memory.Usage != nil && st.Memory.Usage.Limit < unlimited {
		l.Memory = int64(st.Memory.Usage.Limit)
	}
	// The library sets the quota but does not read it back.
	quota, err := readInt(filepath.Join(g.dir[cgroup1.Cpu], "cpu.cfs_quota_us"))
	if err != nil {
		return l, err
	}
	period, err := readInt(filepath.Join(g.dir[cgroup1.Cpu], "cpu.cfs_period_us"))
	if err != nil {
		return l, err
	}
	if quota > 0 && period > 0 {
		l.CPU = float64(quota) / float64(period)
	}
	return l, nil
}

func (g *v1Group) remove() error { return g.cg.Delete() }

// v2Group is a group on cgroup v2: one directory.
type v2Group struct {
	m   *cgroup2.Manager
	dir string
}

func (g *v2Group) dirs() []string { return []string{g.dir} }

func newV2(name string, l Limits, mark owner) (cgroup, error) {
	dir := filepath.Join(unifiedRoot, Parent, name)
	if _, err := ensureParent(filepath.Dir(dir), mark); err != nil {
		return nil, err
	}
	if err := mkdirOwned(dir, mark); err != nil {
		return nil, err
	}
	res := &cgroup2.Resources{}
	if l.CPU > 0 {
		quota, period := int64(l.quota().Microseconds()), uint64(Period.Microseconds())
		res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)}
	}
	if l.Memory > 0 {
		m := l.Memory
		res.Memory = &cgroup2.Memory{Max: &m}
	}
	mgr, err := cgroup2.NewManager(unifiedRoot, groupPath(name), res)
	if err != nil {
		_ = unix.Rmdir(dir)
		return nil, fmt.Errorf("%w (on cgroup v2 the cgroups above %s must hold no processes for their controllers to be delegated)", err, dir)
	}
	if l.Memory > 0 {
		if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
			var none int64 // no swap beyond the class's memory
			if err := mgr.Update(&cgroup2.Resources{Memory: &cgroup2.Memory{Swap: &none}}); err != nil {
				_ = mgr.Delete()
				return nil, err
			}
		}
	}
	return &v2Group{m: mgr, dir: dir}, nil
}

func loadV2(name string) *v2Group {
	mgr, _ := cgroup2.Load(groupPath(name), cgroup2.WithMountpoint(unifiedRoot)) // fails only for a relative path
	return &v2Group{m: mgr, dir: filepath.Join(unifiedRoot, Parent, name)}
}

func (g *v2Group) add(pid int) error { return g.m.AddProc(uint64(pid)) }

func (g *v2Group) pids() ([]uint64, error) { return g.m.Procs(true) }

func (g *v2Group) usage() (Usage, error) {
	st, err := g.m.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{}
	if st.CPU != nil {
		u.CPU = durationNS(st.CPU.UsageUsec * 1000)
		u.Throttled = st.CPU.NrThrottled
	}
	if st.Memory != nil {
		u.Memory = int64(st.Memory.Usage)
	}
	if st.MemoryEvents != nil {
		u.OOMKills = st.MemoryEvents.OomKill
	}
	return u, nil
}

func (g *v2Group) limits() (Limits, error) {
	var l Limits
	st, err := g.m.StatFiltered(cgroup2.StatMemory)
	if err != nil {
		return l, err
	}
	if st.Memory != nil && st.Memory.UsageLimit > 0 && st.Memory.UsageLimit < unlimited {
		l.Memory = int64(st.Memory.UsageLimit)
	}
	// The library sets cpu.max but does not read it back.
	b, err := os.ReadFile(filepath.Join(g.dir, "cpu.max"))
	if err != nil {
		return l, err
	}
	if f := strings.Fields(string(b)); len(f) == 2 && f[0] != "max" {
		q, qerr := strconv.ParseFloat(f[0], 64)
		p, perr := strconv.ParseFloat(f[1], 64)
		if qerr != nil || perr != nil || p <= 0 {
			return l, fmt.Errorf("%s/cpu.max holds %q", g.dir, b)
		}
		l.CPU = q / p
	}
	return l, nil
}

func (g *v2Group) remove() error { return g.m.Delete() }

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
