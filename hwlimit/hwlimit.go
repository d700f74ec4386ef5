// Package hwlimit confines processes to a hardware class: a CPU quota (in
// cores) and a memory limit, enforced by the kernel's cgroups through
// containerd's cgroups library. It supports cgroup v1 (also the hybrid
// layout, whose controllers are v1) and cgroup v2 (the unified hierarchy),
// detecting which one the host has.
//
// Every group edgesim creates is edgesim/<name> below the root of the
// cgroup hierarchy edgesim sees (/sys/fs/cgroup/<controller>/edgesim/<name>
// on v1, /sys/fs/cgroup/edgesim/<name> on v2). New marks each directory it
// creates with an owner mark (the extended attribute OwnerXattr: the
// creating process and a random token); Delete and Clean remove only
// directories that carry edgesim's mark, so nothing edgesim did not create
// is ever removed.
package hwlimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/internal/proc"

	"golang.org/x/sys/unix"
)

// Limits is a hardware class as the kernel enforces it.
type Limits struct {
	CPU    float64 // cores (CPU quota per period); 0 = unlimited
	Memory int64   // bytes; 0 = unlimited
}

// Period is the CPU quota period; a group's quota is CPU × Period.
const Period = 100 * time.Millisecond

// MaxName is the longest group name New accepts.
const MaxName = 64

// Parent is the group below which New creates every group.
const Parent = "edgesim"

// OwnerXattr is the extended attribute that marks a cgroup directory as
// created by edgesim.
const OwnerXattr = "trusted.edgesim.owner"

// minQuota is the kernel's smallest CFS quota (1 ms).
const minQuota = time.Millisecond

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidName reports whether name can name a group: lower-case letters,
// digits and '-', starting and ending with a letter or digit, at most
// MaxName bytes.
func ValidName(name string) error {
	if len(name) > MaxName {
		return fmt.Errorf("hwlimit: group name %q is %d bytes long; at most %d fit", name, len(name), MaxName)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("hwlimit: group name %q: use lower-case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

func (l Limits) validate() error {
	switch {
	case l.CPU < 0 || l.Memory < 0:
		return fmt.Errorf("hwlimit: limits must not be negative (cpu %g cores, memory %d bytes)", l.CPU, l.Memory)
	case l.CPU > 0 && l.quota() < minQuota:
		return fmt.Errorf("hwlimit: cpu %g cores is below the kernel's smallest quota (%g cores)", l.CPU, float64(minQuota)/float64(Period))
	}
	return nil
}

// quota is the CPU time per Period (0 when unlimited).
func (l Limits) quota() time.Duration {
	return time.Duration(l.CPU*float64(Period/time.Microsecond)+0.5) * time.Microsecond
}

// Usage is what a group's processes have used.
type Usage struct {
	CPU       time.Duration // CPU time, user and system, since the group was made
	Memory    int64         // bytes in use now
	Throttled uint64        // periods in which the CPU quota stopped the group
	OOMKills  uint64        // processes the memory limit killed
}

// Group is a cgroup that New created.
type Group struct {
	name string
	mark owner
	impl cgroup
}

// cgroup is what the v1 and v2 implementations do.
type cgroup interface {
	add(pid int) error
	dirs() []string // the group's directories (one per hierarchy)
	pids() ([]uint64, error)
	usage() (Usage, error)
	limits() (Limits, error)
	remove() error
}

// owner is the content of a directory's owner mark.
type owner struct {
	PID     int       `json:"pid"`
	Start   uint64    `json:"pid_start"` // the process's start time in clock ticks: guards against pid reuse
	Token   string    `json:"token"`
	Created time.Time `json:"created"`
}

// New creates the group edgesim/<name>, owned by edgesim, with l's CPU
// quota (Period 100 ms, quota CPU × Period) and memory limit (swap
// included where the kernel accounts it: a class's memory is all it has).
// It fails if the group exists already (a leftover of a killed run is
// removed by Clean, `edgesim clean`).
func New(name string, l Limits) (*Group, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	mark, err := newOwner()
	if err != nil {
		return nil, err
	}
	var impl cgroup
	if unified() {
		impl, err = newV2(name, l, mark)
	} else {
		impl, err = newV1(name, l, mark)
	}
	if err != nil {
		return nil, fmt.Errorf("hwlimit: create group %s/%s: %w", Parent, name, err)
	}
	return &Group{name: name, mark: mark, impl: impl}, nil
}

// Add moves process pid (all its threads) into the group. Processes it
// starts afterwards are in the group too; children it started before are not.
func (g *Group) Add(pid int) error {
	if err := g.impl.add(pid); err != nil {
		return fmt.Errorf("hwlimit: add process %d to %s: %w", pid, g.Path(), err)
	}
	return nil
}

// Path is the group's cgroup path, as /proc/<pid>/cgroup shows it for a
// process in the group: /edgesim/<name>.
func (g *Group) Path() string { return "/" + Parent + "/" + g.name }

// Usage returns what the group's processes have used so far.
func (g *Group) Usage() (Usage, error) {
	u, err := g.impl.usage()
	if err != nil {
		return Usage{}, fmt.Errorf("hwlimit: usage of %s: %w", g.Path(), err)
	}
	return u, nil
}

// Limits returns the limits the kernel holds for the group now.
func (g *Group) Limits() (Limits, error) {
	l, err := g.impl.limits()
	if err != nil {
		return Limits{}, fmt.Errorf("hwlimit: limits of %s: %w", g.Path(), err)
	}
	return l, nil
}

// Delete removes the group. It refuses when a directory of the group does
// not carry the mark this Group's New wrote (then edgesim did not create
// what is there now), and when processes are still in it (stop them
// first). The parent edgesim group goes too once it is empty, if edgesim
// created it.
func (g *Group) Delete() error {
	for _, d := range g.impl.dirs() {
		m, err := readOwner(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hwlimit: %s: %w; edgesim did not create it and leaves it alone", d, err)
		}
		if m.Token != g.mark.Token {
			return fmt.Errorf("hwlimit: %s carries another owner's mark (pid %d, %s); this group did not create it and leaves it alone", d, m.PID, m.Created.Format(time.RFC3339))
		}
	}
	if err := g.remove(); err != nil {
		return fmt.Errorf("hwlimit: delete %s: %w", g.Path(), err)
	}
	return nil
}

func (g *Group) remove() error {
	pids, err := g.impl.pids()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("%d processes are still in it (%s): stop them first", len(pids), pidList(pids))
	}
	if err := g.impl.remove(); err != nil {
		return err
	}
	for _, d := range g.impl.dirs() {
		removeParent(filepath.Dir(d))
	}
	return nil
}

func pidList(pids []uint64) string {
	s := make([]string, 0, min(len(pids), 5))
	for _, p := range pids[:min(len(pids), 5)] {
		s = append(s, strconv.FormatUint(p, 10))
	}
	if len(pids) > 5 {
		s = append(s, "…")
	}
	return "pid " + strings.Join(s, ", ")
}

// removeParent removes the edgesim parent directory if edgesim created it
// (it carries a mark) and it holds no group any more.
func removeParent(dir string) {
	if _, err := readOwner(dir); err != nil {
		return
	}
	_ = unix.Rmdir(dir) // EBUSY while another group is in it
}

func newOwner() (owner, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return owner{}, err
	}
	st, _ := proc.Start(os.Getpid())
	return owner{PID: os.Getpid(), Start: st, Token: hex.EncodeToString(b), Created: time.Now().UTC()}, nil
}

// mkdirOwned creates dir and marks it; it fails if dir exists.
func mkdirOwned(dir string, m owner) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists already; if a killed edgesim run left it, `edgesim clean` removes it", dir)
		}
		return err
	}
	if err := writeOwner(dir, m); err != nil {
		_ = unix.Rmdir(dir)
		return err
	}
	return nil
}

// ensureParent creates the edgesim parent directory below root, marking it
// when it creates it.
func ensureParent(root string, m owner) (string, error) {
	dir := filepath.Join(root, Parent)
	err := mkdirOwned(dir, m)
	if err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil
		}
	}
	return dir, err
}

func writeOwner(dir string, m owner) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := unix.Setxattr(dir, OwnerXattr, b, 0); err != nil {
		hint := ""
		if errors.Is(err, unix.ENOTSUP) {
			hint = " (this cgroup file system keeps no extended attributes, which edgesim needs to prove later that it created the group: mount the cgroup v1 hierarchies with the xattr option, use cgroup v2, or remove the resources)"
		}
		return fmt.Errorf("mark %s as edgesim's (extended attribute %s): %w%s", dir, OwnerXattr, err, hint)
	}
	return nil
}

// errNoMark is returned for directories without edgesim's mark.
var errNoMark = errors.New("it carries no edgesim owner mark")

func readOwner(dir string) (owner, error) {
	var m owner
	buf := make([]byte, 512)
	n, err := unix.Getxattr(dir, OwnerXattr, buf)
	switch {
	case errors.Is(err, unix.ENOENT):
		return m, os.ErrNotExist
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		return m, errNoMark
	case err != nil:
		return m, err
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil || m.Token == "" {
		return m, fmt.Errorf("%w (its %s is not edgesim's)", errNoMark, OwnerXattr)
	}
	return m, nil
}

// alive reports whether the mark's owner process still runs (the same
// process, not another that reuses its pid).
func (m owner) alive() bool { return proc.Alive(m.PID, m.Start) }

// CleanReport lists what Clean removed and what it left.
type CleanReport struct {
	Removed []string // groups removed
	Skipped []string // groups left, and why
}

// Clean removes the groups below edgesim/ that edgesim created (they carry
// its mark) for a process that is gone, such as a run killed before it could
// delete them, when no process is left in them. Groups without edgesim's
// mark and groups of running edgesim processes are left alone. Without
// cgroups (or root) there is nothing of edgesim's to clean.
func Clean(ctx context.Context) (CleanReport, error) {
	var rep CleanReport
	if Available() != nil {
		return rep, nil
	}
	names, err := leftoverNames()
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		g, err := load(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		path := g.Path()
		var mark *owner
		foreign := false
		for _, d := range g.impl.dirs() {
			m, err := readOwner(d)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				foreign = true
				break
			}
			mark = &m
		}
		switch {
		case foreign || mark == nil:
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("cgroup %s (not created by edgesim)", path))
		case mark.alive():
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("cgroup %s (pid %d still running)", path, mark.PID))
		default:
			if err := g.remove(); err != nil {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("cgroup %s (%v)", path, err))
				continue
			}
			rep.Removed = append(rep.Removed, "cgroup "+path)
		}
	}
	return rep, errors.Join(errs...)
}

// leftoverNames lists the group names below the edgesim parent, in every
// hierarchy edgesim uses.
func leftoverNames() ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, root := range roots() {
		ents, err := os.ReadDir(filepath.Join(root, Parent))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() && !seen[e.Name()] && ValidName(e.Name()) == nil {
				seen[e.Name()] = true
				names = append(names, e.Name())
			}
		}
	}
	return names, nil
}

// load returns the existing group name, without a mark of its own (it
// serves Clean, which checks the marks itself).
func load(name string) (*Group, error) {
	if unified() {
		return &Group{name: name, impl: loadV2(name)}, nil
	}
	impl, err := loadV1(name)
	if err != nil {
		return nil, err
	}
	return &Group{name: name, impl: impl}, nil
}

func durationNS(ns uint64) time.Duration { return time.Duration(min(ns, math.MaxInt64)) }
