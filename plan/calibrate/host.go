package calibrate

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/plan"
)

// System is what provenance reads from the machine; tests replace it.
type System struct {
	ReadFile func(string) ([]byte, error)
	Hostname func() (string, error)
	Stat     func(string) (os.FileInfo, error)
	NumCPU   func() int
	// Commit returns the commit being measured ("" when unknown).
	Commit func(ctx context.Context) string
	Now    func() time.Time
}

// LocalSystem reads this machine.
func LocalSystem() System {
	return System{ReadFile: os.ReadFile, Hostname: os.Hostname, Stat: os.Stat, NumCPU: runtime.NumCPU, Commit: gitCommit, Now: time.Now}
}

// gitCommit is the commit the running binary was built from (its VCS
// build info, "-dirty" when built with uncommitted changes): that is the
// code measuring. A binary without it (go run, go test, -buildvcs=false)
// falls back to the working tree's `git rev-parse HEAD`, "-dirty" when
// tracked code changed: Go files, the module files or the embedded
// models, not data such as the calibration file the run is writing.
func gitCommit(ctx context.Context) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			return rev + dirty
		}
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output(); err == nil {
		c := strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", append([]string{"status", "--porcelain", "--untracked-files=no", "--"}, codePaths...)...).Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			c += "-dirty"
		}
		return c
	}
	return ""
}

// codePaths are the git pathspecs of the code a calibration measures with.
var codePaths = []string{":(top,glob)**/*.go", ":(top)go.mod", ":(top)go.sum", ":(top)runtime/models"}

// Host describes the machine.
func (s System) Host() plan.Host {
	h := plan.Host{CPUModel: "unknown", Cores: s.NumCPU(), CgroupMode: s.cgroupMode()}
	h.Hostname, _ = s.Hostname()
	if b, err := s.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

// Emulation says why this process runs under emulation, e.g. an arm64
// binary on an x86 host through qemu-user, or "" when goarch (the binary's
// architecture, runtime.GOARCH) is what /proc/cpuinfo describes. qemu-user
// passes the host's /proc/cpuinfo through, so an x86 vendor_id seen by an
// arm64 binary gives it away. Timings measured under emulation say nothing
// about a CPU of goarch.
func (s System) Emulation(goarch string) string {
	b, err := s.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	x86 := bytes.Contains(b, []byte("\nvendor_id")) || bytes.HasPrefix(b, []byte("vendor_id"))
	arm := bytes.Contains(b, []byte("CPU implementer"))
	switch {
	case goarch == "arm64" && x86:
		return "an arm64 binary on an x86 CPU (qemu-user)"
	case goarch == "amd64" && arm:
		return "an amd64 binary on an arm CPU"
	}
	return ""
}

// cgroupMode tells cgroup v2 (unified), v1 (legacy) and hybrid apart the
// way runc does: by what is mounted at /sys/fs/cgroup.
func (s System) cgroupMode() string {
	if _, err := s.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "v2"
	}
	if _, err := s.Stat("/sys/fs/cgroup/cpu"); err != nil {
		if _, err := s.Stat("/sys/fs/cgroup/cpu,cpuacct"); err != nil {
			return "none"
		}
	}
	if _, err := s.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		return "hybrid"
	}
	return "v1"
}

// LoadAverage is /proc/loadavg's 1, 5 and 15 minute averages ("unknown"
// when unreadable).
func (s System) LoadAverage() string {
	b, err := s.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// MachineName is the one-line machine description of a provenance.
func MachineName(h plan.Host) string {
	return h.Hostname + " (" + h.CPUModel + ", " + strconv.Itoa(h.Cores) + " cores, cgroup " + h.CgroupMode + ")"
}

// Provenance describes one calibrate run that measured the entries keyed
// measured (plan.Calibration.Keys) with command: this machine, the commit
// ("unknown" when neither git nor the build info knows it), the date (to
// the second, UTC), how the class was confined and the load average
// before (loadBefore) and now.
func (s System) Provenance(ctx context.Context, command, confinement, loadBefore string, measured []string) plan.Provenance {
	host := s.Host()
	commit := s.Commit(ctx)
	if commit == "" {
		commit = "unknown"
	}
	now := s.Now().UTC().Truncate(time.Second)
	return plan.Provenance{Machine: MachineName(host), Commit: commit, Date: now, Commands: []string{command},
		Runs: []plan.CalibrationRun{{Command: command, Date: now, Commit: commit, Host: host, Confinement: confinement,
			LoadAverage: plan.LoadAverage{Before: loadBefore, After: s.LoadAverage()}, Measured: measured}}}
}
