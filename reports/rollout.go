package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/wire"
)

// RolloutGate is a rollout's health gate: what a batch of sites must show
// over Window after its last swap. Zero values are not gated, except
// CrashesMax (0: no crash allowed).
type RolloutGate struct {
	Window             time.Duration `json:"windowNs"`
	Latency            []LatencySLO  `json:"latency,omitempty"`
	RecallMin          float64       `json:"recallMin,omitempty"` // fraction 0..1
	CrashesMax         int           `json:"crashesMax"`
	AlertsPerMinuteMax *float64      `json:"alertsPerMinuteMax,omitempty"`
}

// GateFigures are what a gate window measured on a batch's cameras and
// edge nodes.
type GateFigures struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Frames the batch's cameras captured in the window, Answered those
	// that got detections back.
	Frames   int `json:"frames"`
	Answered int `json:"answered"`
	// Latency of the answered frames.
	Latency Distribution `json:"latency"`
	// Recall against ground truth over TruthObjects scored objects.
	Recall       float64 `json:"recall"`
	TruthObjects int     `json:"truthObjects"`
	Crashes      int     `json:"crashes"`
	Alerts       int     `json:"alerts"`
}

// Gate verdicts. A gate whose window had no samples, or no samples for one
// of its criteria, is not exercised: that never passes (the rollout rolls
// back).
const (
	GateContinue     = "continue"
	GateRollback     = "rollback"
	GateNotExercised = "not exercised"
)

// GateCheck is one criterion of a gate decision.
type GateCheck struct {
	Name         string `json:"name"`
	Limit        string `json:"limit"`
	Measured     string `json:"measured"`
	Pass         bool   `json:"pass"`
	NotExercised bool   `json:"notExercised,omitempty"`
}

// GateDecision is a gate's judgement of one window.
type GateDecision struct {
	At      time.Time   `json:"at"` // the end of the window: when it was decided
	Verdict string      `json:"verdict"`
	Reason  string      `json:"reason"`
	Checks  []GateCheck `json:"checks"`
	Figures GateFigures `json:"figures"`
}

// JudgeGate decides whether a rollout continues after a batch, from the
// window's figures alone: it is deterministic, and the decision's time is
// the window's end (f.To), not a clock of its own.
func JudgeGate(g RolloutGate, f GateFigures) GateDecision {
	d := GateDecision{At: f.To, Figures: f}
	add := func(name, limit, measured string, pass, notExercised bool) {
		d.Checks = append(d.Checks, GateCheck{Name: name, Limit: limit, Measured: measured, Pass: pass && !notExercised, NotExercised: notExercised})
	}
	minutes := f.To.Sub(f.From).Minutes()
	noFrames := f.Frames == 0
	for _, l := range g.Latency {
		name := fmt.Sprintf("e2e p%g", l.Percentile)
		got, ok := f.Latency.PercentileOK(l.Percentile)
		if !ok || f.Answered == 0 || f.Latency.Count == 0 {
			add(name, "<= "+fmtDur(l.Max), "no answered frame", false, true)
			continue
		}
		add(name, "<= "+fmtDur(l.Max), fmtDur(got), got <= l.Max, false)
	}
	if g.RecallMin > 0 {
		if f.TruthObjects == 0 {
			add("recall", fmt.Sprintf(">= %.1f%%", 100*g.RecallMin), "no ground truth scored", false, true)
		} else {
			add("recall", fmt.Sprintf(">= %.1f%%", 100*g.RecallMin), fmt.Sprintf("%.1f%% of %d objects", 100*f.Recall, f.TruthObjects), f.Recall >= g.RecallMin, false)
		}
	}
	add("crashes", fmt.Sprintf("<= %d", g.CrashesMax), fmt.Sprint(f.Crashes), f.Crashes <= g.CrashesMax, noFrames)
	if g.AlertsPerMinuteMax != nil {
		rate := 0.0
		if minutes > 0 {
			rate = float64(f.Alerts) / minutes
		}
		add("alert rate", fmt.Sprintf("<= %g/min", *g.AlertsPerMinuteMax), fmt.Sprintf("%.1f/min (%d alerts)", rate, f.Alerts), rate <= *g.AlertsPerMinuteMax, noFrames || minutes <= 0)
	}
	var failed, unexercised []string
	for _, c := range d.Checks {
		switch {
		case c.NotExercised:
			unexercised = append(unexercised, c.Name+": "+c.Measured)
		case !c.Pass:
			failed = append(failed, fmt.Sprintf("%s %s, limit %s", c.Name, c.Measured, c.Limit))
		}
	}
	switch {
	case len(failed) > 0:
		d.Verdict, d.Reason = GateRollback, strings.Join(failed, "; ")
	case noFrames:
		d.Verdict, d.Reason = GateNotExercised, fmt.Sprintf("no frame from the batch's cameras in the window %s to %s", f.From.Format(time.TimeOnly), f.To.Format(time.TimeOnly))
	case len(unexercised) > 0:
		d.Verdict, d.Reason = GateNotExercised, strings.Join(unexercised, "; ")
	default:
		d.Verdict, d.Reason = GateContinue, "every criterion held"
	}
	return d
}

// GateFiguresOf measures a gate window [from, to) on cameras (the batch's),
// crashes of nodes (observed faults of kind crash) and the alerts those
// nodes raised, scoring detections against ground truth at IoU 0.5 like
// the report (objects at least 70% occluded are not required).
func GateFiguresOf(cams []Camera, observed []ObservedFault, alerts []wire.Alert, nodes []string, from, to time.Time) GateFigures {
	f := GateFigures{From: from, To: to}
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	var lat []time.Duration
	var scored []ScoredFrame
	for _, c := range cams {
		truth := make(map[uint64][]TruthObject, len(c.Truth))
		for _, t := range c.Truth {
			truth[t.Frame] = t.Objects
		}
		for _, fr := range c.Frames {
			if !in(fr.Capture) {
				continue
			}
			f.Frames++
			if !fr.Answered {
				continue
			}
			f.Answered++
			lat = append(lat, fr.Latency)
			if objs, ok := truth[fr.Frame]; ok {
				scored = append(scored, ScoredFrame{Truth: objs, Detections: fr.Detections})
			}
		}
	}
	f.Latency = NewDistribution(lat)
	if len(scored) > 0 {
		acc := EvaluateDetections(scored, 0.5, 0.7)
		f.Recall = acc.Recall
		for _, c := range acc.Classes {
			f.TruthObjects += c.GroundTruth
		}
	}
	for _, o := range observed {
		if o.Kind == "crash" && slices.Contains(nodes, o.Target) && in(o.At) {
			f.Crashes++
		}
	}
	for _, a := range alerts {
		if slices.Contains(nodes, a.Node) && in(a.Raised) {
			f.Alerts++
		}
	}
	return f
}

// Rollout event kinds, in the order a site goes through them.
const (
	RolloutDeliveryStarted = "delivery started"
	RolloutDelivered       = "delivered"
	RolloutSwapStarted     = "swap started"
	RolloutSwapped         = "swapped"
	RolloutHealthy         = "healthy"
	RolloutRolledBack      = "rolled back"
	RolloutFailed          = "failed"
)

// RolloutRun is what the testbed recorded of one rollout.
type RolloutRun struct {
	Name           string        `json:"name"`
	Model          string        `json:"model"` // name@version
	ModelBytes     int64         `json:"modelBytes"`
	Strategy       string        `json:"strategy"`
	Pause          time.Duration `json:"pauseNs"`
	MaxUnavailable int           `json:"maxUnavailable"`
	Gate           RolloutGate   `json:"gate"`
	// Scheduled is when the timeline asked for it; Started and Ended when
	// it ran (zero Ended: it did not end before the run did).
	Scheduled time.Time      `json:"scheduled"`
	Started   time.Time      `json:"started"`
	Ended     time.Time      `json:"ended"`
	Sites     []RolloutSite  `json:"sites"`
	Events    []RolloutEvent `json:"events"`
	// Decisions are the gate's, one per batch judged, in order.
	Decisions []GateDecision `json:"decisions,omitempty"`
	// RolledBack is set when the gate (or a failed delivery or swap) rolled
	// every site back; Reason says why.
	RolledBack bool   `json:"rolledBack,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// RolloutSite is one site of a rollout: its batch, edge nodes and the link
// its model comes down.
type RolloutSite struct {
	Site  string   `json:"site"`
	Batch int      `json:"batch"` // 1-based
	Nodes []string `json:"nodes"`
	Link  string   `json:"link,omitempty"`
	// RateBitsPerSecond is the link's configured rate toward the site (0:
	// unlimited).
	RateBitsPerSecond float64 `json:"rateBitsPerSecond"`
}

// RolloutEvent is one step of a site's rollout.
type RolloutEvent struct {
	At     time.Time `json:"at"`
	Site   string    `json:"site"`
	Node   string    `json:"node,omitempty"`
	Kind   string    `json:"kind"`
	Bytes  int64     `json:"bytes,omitempty"` // delivered: bytes received
	Detail string    `json:"detail,omitempty"`
}

// RolloutResult is the report of one rollout.
type RolloutResult struct {
	Name     string `json:"name"`
	Model    string `json:"model"`
	Strategy string `json:"strategy"`
	// Outcome is completed, rolled back or incomplete.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// TotalMs is the measured rollout time, from its start to its end.
	// PlannedMs is what it would take with no hidden delay: the pauses
	// between batches, the gate windows, and per batch the longest
	// transfer of the model at a site's configured link rate; each part
	// is given too.
	TotalMs    float64 `json:"totalMs"`
	PlannedMs  float64 `json:"plannedMs"`
	PausesMs   float64 `json:"pausesMs"`
	WindowsMs  float64 `json:"windowsMs"`
	TransferMs float64 `json:"transferMs"`

	Sites     []RolloutSiteResult `json:"sites"`
	Decisions []GateDecision      `json:"decisions,omitempty"`
	Events    []RolloutEvent      `json:"events"`
}

// RolloutSiteResult is what a rollout did to one site.
type RolloutSiteResult struct {
	Site   string `json:"site"`
	Batch  int    `json:"batch"`
	Nodes  int    `json:"nodes"`
	Status string `json:"status"` // the site's last event kind, or "not reached"
	Reason string `json:"reason,omitempty"`
	// BytesShipped over the site's link, DeliveryMs from delivery start to
	// delivered, ExpectedTransferMs the model's size at the link's rate
	// (0 when unlimited).
	BytesShipped       int64   `json:"bytesShipped"`
	DeliveryMs         float64 `json:"deliveryMs"`
	ExpectedTransferMs float64 `json:"expectedTransferMs"`
	// SwapFrames are the frames the site's cameras captured while one of
	// its nodes was being swapped (forth or back); SwapUnanswered the
	// answers among them that the detection rate called for and that never
	// came (frames skipped by a detection rate below the frame rate do
	// not count). LongestGapMs is the longest time between two answered
	// frames of one camera around a swap (nominally 1/detectFPS).
	SwapFrames     int     `json:"swapFrames"`
	SwapUnanswered int     `json:"swapUnanswered"`
	LongestGapMs   float64 `json:"longestGapMs"`
	// Before is measured from the start of the run to the site's delivery,
	// After from its last swap to its rollback or the end of the run.
	Before GateFigures  `json:"before"`
	After  *GateFigures `json:"after,omitempty"`
}

// Rollout outcomes.
const (
	RolloutCompleted  = "completed"
	RolloutIncomplete = "incomplete"
)

func (a *analysis) rollouts() {
	for _, ro := range a.run.Rollouts {
		a.res.Rollouts = append(a.res.Rollouts, analyseRollout(ro, a.run))
	}
}

// analyseRollout computes one rollout's report from the run.
func analyseRollout(ro RolloutRun, run *Run) RolloutResult {
	res := RolloutResult{Name: ro.Name, Model: ro.Model, Strategy: ro.Strategy, Reason: ro.Reason, Decisions: ro.Decisions,
		Events: slices.Clone(ro.Events)}
	slices.SortStableFunc(res.Events, func(x, y RolloutEvent) int { return x.At.Compare(y.At) })
	switch {
	case ro.RolledBack:
		res.Outcome = RolloutRolledBack
	case ro.Ended.IsZero():
		res.Outcome = RolloutIncomplete
		if res.Reason == "" {
			res.Reason = "the run ended before the rollout did"
		}
	default:
		res.Outcome = RolloutCompleted
	}
	if !ro.Ended.IsZero() && !ro.Started.IsZero() {
		res.TotalMs = durMs(ro.Ended.Sub(ro.Started))
	}
	batches := 0
	transfer := map[int]float64{}
	for _, s := range ro.Sites {
		batches = max(batches, s.Batch)
		if s.RateBitsPerSecond > 0 {
			transfer[s.Batch] = max(transfer[s.Batch], 1000*float64(ro.ModelBytes)*8/s.RateBitsPerSecond)
		}
	}
	judged := len(ro.Decisions) // batches that got to their gate
	for b := 1; b <= judged; b++ {
		res.TransferMs += transfer[b]
	}
	res.WindowsMs = float64(judged) * durMs(ro.Gate.Window)
	if judged > 1 {
		res.PausesMs = float64(judged-1) * durMs(ro.Pause)
	}
	res.PlannedMs = res.TransferMs + res.WindowsMs + res.PausesMs

	cams := map[string][]Camera{}
	for _, c := range run.Cameras {
		if !c.Reference {
			cams[c.Site] = append(cams[c.Site], c)
		}
	}
	end := run.End
	for _, s := range ro.Sites {
		sr := RolloutSiteResult{Site: s.Site, Batch: s.Batch, Nodes: len(s.Nodes), Status: "not reached"}
		var delivStart, delivered, swapped, back time.Time
		swapping := map[string]time.Time{}
		var swaps [][2]time.Time
		for _, e := range res.Events {
			if e.Site != s.Site {
				continue
			}
			sr.Status = e.Kind
			switch e.Kind {
			case RolloutDeliveryStarted:
				if delivStart.IsZero() {
					delivStart = e.At
				}
			case RolloutDelivered:
				delivered = e.At
				sr.BytesShipped += e.Bytes
			case RolloutSwapStarted:
				swapping[e.Node] = e.At
			case RolloutSwapped, RolloutRolledBack, RolloutFailed:
				if t, ok := swapping[e.Node]; ok && e.Node != "" {
					swaps = append(swaps, [2]time.Time{t, e.At})
					delete(swapping, e.Node)
				}
				if e.Kind == RolloutSwapped {
					swapped = e.At
				} else if back.IsZero() {
					back = e.At
					sr.Reason = e.Detail
				}
			}
		}
		for _, t := range swapping { // a swap the run's end cut short
			swaps = append(swaps, [2]time.Time{t, end})
		}
		if !delivStart.IsZero() && !delivered.IsZero() {
			sr.DeliveryMs = durMs(delivered.Sub(delivStart))
		}
		if s.RateBitsPerSecond > 0 {
			sr.ExpectedTransferMs = 1000 * float64(ro.ModelBytes) * 8 / s.RateBitsPerSecond
		}
		var expected float64
		answered := 0
		for _, c := range cams[s.Site] {
			var last time.Time // the last answered frame's capture
			for _, f := range c.Frames {
				for _, w := range swaps {
					if !f.Capture.Before(w[0]) && !f.Capture.After(w[1]) {
						sr.SwapFrames++
						expected += answerRatio(c)
						if f.Answered {
							answered++
						}
						break
					}
				}
				if !f.Answered {
					continue
				}
				if !last.IsZero() {
					for _, w := range swaps {
						if last.Before(w[1]) && f.Capture.After(w[0]) { // the gap overlaps the swap
							sr.LongestGapMs = max(sr.LongestGapMs, durMs(f.Capture.Sub(last)))
							break
						}
					}
				}
				last = f.Capture
			}
		}
		sr.SwapUnanswered = max(0, int(math.Round(expected))-answered)
		beforeEnd := ro.Started
		if !delivStart.IsZero() {
			beforeEnd = delivStart
		}
		sr.Before = GateFiguresOf(cams[s.Site], run.ObservedFaults, run.Alerts, s.Nodes, run.Start, beforeEnd)
		if !swapped.IsZero() {
			afterEnd := end
			if !back.IsZero() && back.After(swapped) {
				afterEnd = back
			}
			after := GateFiguresOf(cams[s.Site], run.ObservedFaults, run.Alerts, s.Nodes, swapped, afterEnd)
			sr.After = &after
		}
		res.Sites = append(res.Sites, sr)
	}
	return res
}

// rolloutVerdicts are the rollouts as gates of the run: each must complete.
func (a *analysis) rolloutVerdicts() {
	for _, r := range a.res.Rollouts {
		v := SLOVerdict{Name: "rollout " + r.Name, Threshold: "completed", Measured: r.Outcome, Pass: r.Outcome == RolloutCompleted, Gated: true,
			ThresholdValue: 1, Unit: "completed"}
		if v.Pass {
			v.MeasuredValue = 1
			v.Reason = fmt.Sprintf("%s reached %d sites in %.1f s (planned %.1f s)", r.Model, len(r.Sites), r.TotalMs/1000, r.PlannedMs/1000)
		} else {
			v.Reason = r.Outcome + ": " + r.Reason
		}
		a.res.SLOs = append(a.res.SLOs, v)
	}
}
