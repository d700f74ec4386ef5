package testbed

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports"
)

// HostProbe samples the host's CPU headroom from /proc: how busy its CPUs
// were since the previous sample, and how many threads were runnable on
// average.
//
// The runnable threads are the time every thread of the host spent on a
// CPU or waiting in a run queue since the previous sample
// (/proc/<pid>/task/<tid>/schedstat), over the time between the samples:
// an exact time average. procs_running at the moment of a sample, which it
// falls back to where no schedstat can be read, falls on the testbed's
// own once-a-second tick, which wakes threads of its own: on 7 December
// 2026 it read 1.2-1.9 runnable threads per CPU in runs whose CPUs were
// 29-46 % busy (docs/testbed.md, Host headroom).
type HostProbe struct {
	proc   fs.FS
	prev   cpuTimes
	primed bool
	// tasks is each thread's time running or waiting at prevAt, in ns.
	tasks  map[string]uint64
	prevAt time.Time
}

// NewHostProbe reads the given /proc (os.DirFS("/proc") on a real host).
func NewHostProbe(proc fs.FS) *HostProbe { return &HostProbe{proc: proc} }

type cpuTimes struct{ busy, total uint64 }

// Sample reads the host's load at at. The first call only takes the
// counters the next one's figures are computed from; it returns ok false.
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
	runnable, timed := p.runnable(at)
	prev, primed := p.prev, p.primed
	p.prev, p.primed = cur, true
	if !primed || cur.total <= prev.total {
		return s, cpus, false, nil
	}
	if !timed {
		runnable = float64(max(running-1, 0)) // not the thread reading
	}
	s = reports.HostSample{At: at, Load1: load1, Runnable: runnable,
		CPUBusy: float64(cur.busy-prev.busy) / float64(cur.total-prev.total)}
	return s, cpus, true, nil
}

// runnable is the mean number of threads running or waiting to run from
// the previous call to at: each thread's growth in schedstat's run and
// wait times, at most the interval (a thread that was not read last time,
// new or not, counts from 0), summed over the interval. ok is false when
// no thread's schedstat could be read, or on the first call.
func (p *HostProbe) runnable(at time.Time) (mean float64, ok bool) {
	files, _ := fs.Glob(p.proc, "[0-9]*/task/[0-9]*/schedstat")
	cur := make(map[string]uint64, len(files))
	for _, name := range files {
		b, err := fs.ReadFile(p.proc, name)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		run, err1 := strconv.ParseUint(f[0], 10, 64)
		wait, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 == nil && err2 == nil {
			cur[name] = run + wait
		}
	}
	prev, prevAt := p.tasks, p.prevAt
	p.tasks, p.prevAt = cur, at
	span := at.Sub(prevAt)
	if len(cur) == 0 || prev == nil || span <= 0 {
		return 0, false
	}
	var sum uint64
	for name, v := range cur {
		d := v
		if was, seen := prev[name]; seen && was <= v {
			d = v - was
		}
		sum += min(d, uint64(span))
	}
	return float64(sum) / float64(span), true
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
