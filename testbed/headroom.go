package testbed

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports"
)

// HostProbe samples the host's CPU headroom from /proc: how busy its CPUs
// were since the previous sample, and how many threads were runnable.
//
// Runnable threads are read at random moments (ReadRunnable, called by
// SampleRunnable), not at the samples: a reading on the testbed's own
// once-a-second tick catches the threads that tick wakes (the link
// engine's counters, the cameras' samples) and, on 7 December 2026, read
// 1.2-1.9 runnable threads per CPU where readings at random moments of the
// same runs read 0.5-0.9 with the CPUs 29-46 % busy (docs/testbed.md,
// Host headroom).
type HostProbe struct {
	proc   fs.FS
	prev   cpuTimes
	primed bool

	mu            sync.Mutex
	runnableSum   int
	runnableReads int
}

// NewHostProbe reads the given /proc (os.DirFS("/proc") on a real host).
func NewHostProbe(proc fs.FS) *HostProbe { return &HostProbe{proc: proc} }

type cpuTimes struct{ busy, total uint64 }

// Sample reads the host's load at at. The first call only takes the CPU
// counters the next one's share is computed from; it returns ok false.
// cpus is the number of CPUs /proc/stat lists.
func (p *HostProbe) Sample(at time.Time) (s reports.HostSample, cpus int, ok bool, err error) {
	stat, err := fs.ReadFile(p.proc, "stat")
	if err != nil {
		return s, 0, false, fmt.Errorf("host headroom: %w", err)
	}
	cur, cpus, running, err := parseStat(stat)
	if err != nil {
		return s, 0, false, err
	}
	load, err := fs.ReadFile(p.proc, "loadavg")
	if err != nil {
		return s, 0, false, fmt.Errorf("host headroom: %w", err)
	}
	f := strings.Fields(string(load))
	if len(f) == 0 {
		return s, 0, false, fmt.Errorf("host headroom: loadavg %q has no fields", load)
	}
	load1, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, 0, false, fmt.Errorf("host headroom: loadavg: %w", err)
	}
	prev, primed := p.prev, p.primed
	p.prev, p.primed = cur, true
	if !primed || cur.total <= prev.total {
		return s, cpus, false, nil
	}
	s = reports.HostSample{At: at, Load1: load1, Runnable: float64(max(running-1, 0)), // not the thread reading
		CPUBusy: float64(cur.busy-prev.busy) / float64(cur.total-prev.total)}
	if mean, ok := p.takeRunnable(); ok {
		s.Runnable = mean
	}
	return s, cpus, true, nil
}

// ReadRunnable reads the runnable threads once (besides its own) and adds
// the reading to the mean the next Sample gives. Without readings since
// the previous Sample, Sample gives its own reading.
func (p *HostProbe) ReadRunnable() error {
	stat, err := fs.ReadFile(p.proc, "stat")
	if err != nil {
		return fmt.Errorf("host headroom: %w", err)
	}
	_, _, running, err := parseStat(stat)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.runnableSum += max(running-1, 0)
	p.runnableReads++
	p.mu.Unlock()
	return nil
}

func (p *HostProbe) takeRunnable() (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runnableReads == 0 {
		return 0, false
	}
	mean := float64(p.runnableSum) / float64(p.runnableReads)
	p.runnableSum, p.runnableReads = 0, 0
	return mean, true
}

// RunnableReadMean is the mean time between SampleRunnable's readings:
// 20 a second, each a read of /proc/stat.
const RunnableReadMean = 50 * time.Millisecond

// SampleRunnable calls ReadRunnable until ctx ends or a reading fails,
// at exponentially distributed intervals of the given mean drawn from
// rng. Readings at the moments of a Poisson process see the time average
// of the runnable threads, whatever periodic work the host does.
func (p *HostProbe) SampleRunnable(ctx context.Context, rng *rand.Rand, mean time.Duration) {
	t := time.NewTimer(time.Duration(rng.ExpFloat64() * float64(mean)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.ReadRunnable() != nil {
			return // Sample reports the unreadable /proc
		}
		t.Reset(time.Duration(rng.ExpFloat64() * float64(mean)))
	}
}

// parseStat reads the aggregate CPU times, the number of CPUs and
// procs_running from /proc/stat.
func parseStat(b []byte) (t cpuTimes, cpus, running int, err error) {
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0:
		case f[0] == "cpu":
			// user nice system idle iowait irq softirq steal (guest time is
			// already in user and nice).
			if len(f) < 9 {
				return t, 0, 0, fmt.Errorf("host headroom: /proc/stat cpu line has %d fields, want at least 9", len(f))
			}
			var v [8]uint64
			for i := range v {
				if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
					return t, 0, 0, fmt.Errorf("host headroom: /proc/stat cpu line: %w", err)
				}
				t.total += v[i]
			}
			t.busy = t.total - v[3] - v[4]
			found = true
		case strings.HasPrefix(f[0], "cpu"):
			cpus++
		case f[0] == "procs_running" && len(f) > 1:
			if running, err = strconv.Atoi(f[1]); err != nil {
				return t, 0, 0, fmt.Errorf("host headroom: /proc/stat procs_running: %w", err)
			}
		}
	}
	if !found || cpus == 0 {
		return t, 0, 0, fmt.Errorf("host headroom: /proc/stat has no cpu lines")
	}
	return t, cpus, running, nil
}

// releaseLateness is the links' release lateness as the report keeps it.
func releaseLateness(stats []netem.LinkStats) []reports.ReleaseLateness {
	var out []reports.ReleaseLateness
	for _, s := range stats {
		if s.Release.Packets > 0 {
			out = append(out, reports.ReleaseLateness{Link: s.Link, Direction: s.Direction, Packets: s.Release.Packets, P99: s.Release.P99, Max: s.Release.Max})
		}
	}
	return out
}

// sampleHost adds a host sample and the links' release lateness to the
// run (r.mu held). A host whose /proc cannot be read is reported once and
// not sampled again.
func (r *runner) sampleHost(now time.Time, stats []netem.LinkStats) {
	if r.run.Host == nil {
		r.run.Host = &reports.HostSamples{}
	}
	if rel := releaseLateness(stats); len(rel) > 0 {
		r.run.Host.Release = rel
	}
	if r.host == nil {
		return
	}
	s, cpus, ok, err := r.host.Sample(now)
	if err != nil {
		r.run.Warnings = append(r.run.Warnings, err.Error()+": the report cannot say whether the host was saturated")
		r.host = nil
		return
	}
	r.run.Host.CPUs = cpus
	if ok {
		r.run.Host.Samples = append(r.run.Host.Samples, s)
	}
}
