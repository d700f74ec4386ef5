package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/reports/internal/text"
)

// HostSamples is what a testbed sampled of its own host during a run: how
// much CPU headroom there was, and how late the link engine released
// packets. When the host ran out of headroom the figures measure the host,
// not the emulated network (see [Headroom]).
type HostSamples struct {
	// CPUs is the number of CPUs the host's /proc/stat lists.
	CPUs    int          `json:"cpus"`
	Samples []HostSample `json:"samples,omitempty"`
	// Release is each link direction's release lateness, cumulative from
	// the link's creation to the last sample (so it includes the warm-up).
	Release []ReleaseLateness `json:"release,omitempty"`
}

// HostSample is one reading of the host's load.
type HostSample struct {
	At time.Time `json:"at"`
	// CPUBusy is the share of all CPUs' time since the previous sample
	// that was neither idle nor waiting for I/O (steal counts as busy: it
	// was not available to the run), 0..1.
	CPUBusy float64 `json:"cpuBusy"`
	// Runnable is the mean number of threads running or waiting to run
	// since the previous sample (the kernel's schedstat of every thread),
	// or, on a host without schedstat, the number at At (/proc/stat
	// procs_running, not counting the reading thread).
	Runnable float64 `json:"runnable"`
	// Load1 is the one-minute load average (/proc/loadavg).
	Load1 float64 `json:"load1"`
}

// ReleaseLateness is how late one link direction released its packets
// after the emulation's due time: the link engine's own timing error.
type ReleaseLateness struct {
	Link      string        `json:"link"`
	Direction string        `json:"direction"`
	Packets   uint64        `json:"packets"`
	P99       time.Duration `json:"p99Ns"`
	Max       time.Duration `json:"maxNs"`
}

// The thresholds above which a run's host counts as saturated. Each one
// marks the point where the host, not the emulated network, adds delay
// that the figures then attribute to the network.
const (
	// SaturatedCPUBusy: with 90 % of every CPU busy on average over the run
	// phase, a thread that wakes (the detector on a frame, the link engine
	// on a due packet) often finds no idle CPU and waits for another
	// thread's time slice.
	SaturatedCPUBusy = 0.90
	// SaturatedRunnablePerCPU: with half again as many runnable threads as
	// CPUs on average, a woken thread typically waits a scheduler slice
	// (milliseconds) before it runs.
	SaturatedRunnablePerCPU = 1.5
	// SaturatedReleaseP99: the engine released 1 % of a direction's packets
	// at least 1 ms after their due time. On a quiet host its p99 is about
	// 0.2 ms (docs/performance/netem.md); 1 ms is as much as a LAN link's
	// whole emulated delay.
	SaturatedReleaseP99 = time.Millisecond
	// ReleaseMinPackets: a direction's release lateness is judged only
	// over at least this many packets, where its 1 % is a whole packet. A
	// WAN that carried a dozen alert packets would make its one late
	// packet its "p99".
	ReleaseMinPackets = 100
)

// Headroom sums up the host's headroom over the run phase (all samples
// when the run has no run phase) and says whether the host was saturated.
type Headroom struct {
	CPUs    int `json:"cpus"`
	Samples int `json:"samples"` // host samples the CPU figures are over
	// CPUBusyMean and CPUBusyMax are shares of all CPUs, 0..1.
	CPUBusyMean float64 `json:"cpuBusyMean"`
	CPUBusyMax  float64 `json:"cpuBusyMax"`
	// RunnablePerCPUMean and RunnablePerCPUMax are runnable threads per
	// CPU; Load1Max the highest one-minute load average seen.
	RunnablePerCPUMean float64 `json:"runnablePerCpuMean"`
	RunnablePerCPUMax  float64 `json:"runnablePerCpuMax"`
	Load1Max           float64 `json:"load1Max"`
	// ReleaseP99Ms and ReleaseMaxMs are the link engine's release lateness
	// of the worst link direction (ReleaseWorst, "link direction") among
	// those that carried ReleaseMinPackets or more, from the links'
	// creation on.
	ReleaseP99Ms float64 `json:"releaseP99Ms"`
	ReleaseMaxMs float64 `json:"releaseMaxMs"`
	ReleaseWorst string  `json:"releaseWorst,omitempty"`
	// Saturated is set when a threshold was crossed; Reasons say which,
	// with the figures.
	Saturated bool     `json:"saturated"`
	Reasons   []string `json:"reasons,omitempty"`
	// Tainted names the figures of this report that a saturated host
	// distorts (timing figures and the SLOs on them).
	Tainted []string `json:"tainted,omitempty"`
}

// headroom judges the host samples; it runs after the SLOs so it can name
// the gates a saturated host taints.
func (a *analysis) headroom() {
	a.res.Headroom = judgeHeadroom(a.run, a.res)
}

func judgeHeadroom(run *Run, res *Result) *Headroom {
	hs := run.Host
	if hs == nil || len(hs.Samples) == 0 && len(hs.Release) == 0 {
		return nil
	}
	h := &Headroom{CPUs: hs.CPUs}
	samples := hs.Samples
	for _, p := range run.Phases {
		if p.Name == PhaseRun {
			samples = slices.DeleteFunc(slices.Clone(samples), func(s HostSample) bool {
				return s.At.Before(p.Start) || s.At.After(p.End)
			})
		}
	}
	h.Samples = len(samples)
	for _, s := range samples {
		h.CPUBusyMean += s.CPUBusy
		h.CPUBusyMax = max(h.CPUBusyMax, s.CPUBusy)
		h.Load1Max = max(h.Load1Max, s.Load1)
		if h.CPUs > 0 {
			per := s.Runnable / float64(h.CPUs)
			h.RunnablePerCPUMean += per
			h.RunnablePerCPUMax = max(h.RunnablePerCPUMax, per)
		}
	}
	if n := float64(len(samples)); n > 0 {
		h.CPUBusyMean = text.Round3(h.CPUBusyMean / n)
		h.RunnablePerCPUMean = text.Round3(h.RunnablePerCPUMean / n)
	}
	h.CPUBusyMax, h.RunnablePerCPUMax = text.Round3(h.CPUBusyMax), text.Round3(h.RunnablePerCPUMax)
	var worst ReleaseLateness
	for _, r := range hs.Release {
		if r.Packets >= ReleaseMinPackets && (worst.Packets == 0 || r.P99 > worst.P99) {
			worst = r
		}
	}
	if worst.Packets > 0 {
		h.ReleaseP99Ms, h.ReleaseMaxMs = text.Round3(durMs(worst.P99)), text.Round3(durMs(worst.Max))
		h.ReleaseWorst = worst.Link + " " + worst.Direction
	}

	cpuBound := false
	if h.Samples > 0 && h.CPUBusyMean >= SaturatedCPUBusy {
		cpuBound = true
		h.Reasons = append(h.Reasons, fmt.Sprintf("CPU %s busy on average over %s (threshold %s)",
			text.Pct(h.CPUBusyMean), text.Plural(h.CPUs, "CPU"), text.Pct(SaturatedCPUBusy)))
	}
	if h.Samples > 0 && h.CPUs > 0 && h.RunnablePerCPUMean >= SaturatedRunnablePerCPU {
		cpuBound = true
		h.Reasons = append(h.Reasons, fmt.Sprintf("%.2f runnable threads per CPU on average (threshold %.1f)",
			h.RunnablePerCPUMean, SaturatedRunnablePerCPU))
	}
	if worst.Packets > 0 && worst.P99 >= SaturatedReleaseP99 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("the link engine released 1%% of %s's packets %s or more after their due time (p99; threshold %s)",
			h.ReleaseWorst, text.Ms(h.ReleaseP99Ms), text.Ms(durMs(SaturatedReleaseP99))))
	}
	h.Saturated = len(h.Reasons) > 0
	if h.Saturated {
		h.Tainted = taintedFigures(res, cpuBound)
	}
	return h
}

// taintedFigures names the figures of res that a saturated host distorts:
// every timing figure (the host's delays add to the emulated ones) and,
// when CPU was short, the answered frames (a starved detector skips
// frames). Bandwidth and accuracy are not timing figures and stay.
func taintedFigures(res *Result, cpuBound bool) []string {
	var out []string
	if res.Latencies.Overall.Count > 0 {
		out = append(out, "e2e latency (every percentile and scope)")
	}
	if len(res.TimeToAlert) > 0 {
		out = append(out, "time to alert")
	}
	if len(res.Failover) > 0 {
		out = append(out, "failover gap")
	}
	if cpuBound && res.Frames.Sent > 0 {
		out = append(out, "frames answered")
	}
	for _, v := range res.SLOs {
		if v.Unit == "ms" || cpuBound && strings.HasPrefix(v.Name, "frames answered") {
			out = append(out, "SLO "+v.Name)
		}
	}
	return out
}

// Banner is the warning a report puts at its top when the host was
// saturated, "" otherwise.
func (h *Headroom) Banner() string {
	if h == nil || !h.Saturated {
		return ""
	}
	b := "HOST SATURATED: the machine running the testbed, not the emulated network, limited this run (" +
		strings.Join(h.Reasons, "; ") + ")."
	if len(h.Tainted) > 0 {
		b += " These figures measure the overloaded host and do not hold for the network: " + strings.Join(h.Tainted, ", ") + "."
	}
	return b + " Run on a quieter or larger host, or with fewer nodes, to measure the network."
}

// Summary is a one-line account of the host's headroom, e.g. "2 CPUs,
// 41% busy on average (max 63%), 0.8 runnable threads per CPU, link
// release lateness p99 0.171ms".
func (h *Headroom) Summary() string {
	if h == nil {
		return ""
	}
	var parts []string
	if h.Samples > 0 {
		parts = append(parts, fmt.Sprintf("%s, %s busy on average (max %s), %.2f runnable threads per CPU (max %.2f), load average up to %.2f",
			text.Plural(h.CPUs, "CPU"), text.Pct(h.CPUBusyMean), text.Pct(h.CPUBusyMax), h.RunnablePerCPUMean, h.RunnablePerCPUMax, h.Load1Max))
	}
	if h.ReleaseWorst != "" {
		parts = append(parts, fmt.Sprintf("link release lateness p99 %s, max %s (%s)", text.Ms(h.ReleaseP99Ms), text.Ms(h.ReleaseMaxMs), h.ReleaseWorst))
	}
	return strings.Join(parts, "; ")
}
