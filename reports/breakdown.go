package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/evidence"

	"github.com/edgesim/edgesim/reports/internal/text"
)

// clusterEvents returns the run's usable cluster events in time order. An
// event without a time or of an unknown kind is left out with a warning:
// the rest of the breakdown still holds.
func (a *analysis) clusterEvents() []evidence.ClusterEvent {
	var out []evidence.ClusterEvent
	noTime, firstNoTime := 0, -1
	var unknown []string
	for i, e := range a.run.ClusterEvents {
		switch {
		case e.At.IsZero():
			if noTime++; firstNoTime < 0 {
				firstNoTime = i
			}
		case !e.Kind.Known():
			if k := fmt.Sprintf("%q", e.Kind); !slices.Contains(unknown, k) {
				unknown = append(unknown, k)
			}
		default:
			out = append(out, e)
		}
	}
	if noTime > 0 {
		a.warnf("%s without a time ignored (first: clusterEvents[%d]); the cluster provider must stamp every event",
			text.Plural(noTime, "cluster event"), firstNoTime)
	}
	if len(unknown) > 0 {
		a.warnf("cluster events of unknown kind %s ignored; known kinds are %s, %s, %s, %s and %s",
			strings.Join(unknown, ", "), evidence.NodeNotReady, evidence.NodeReady, evidence.PodDeleted, evidence.PodScheduled, evidence.PodReady)
	}
	slices.SortStableFunc(out, func(x, y evidence.ClusterEvent) int { return x.At.Compare(y.At) })
	return out
}

// reconnects returns each camera's usable reconnects ordered by the time
// the connection was lost, warning once per camera about the others.
func (a *analysis) reconnects() map[string][]Reconnect {
	out := map[string][]Reconnect{}
	for _, c := range a.run.Cameras {
		bad := 0
		for _, r := range c.Reconnects {
			if r.Lost.IsZero() || (!r.Connected.IsZero() && r.Connected.Before(r.Lost)) {
				bad++
				continue
			}
			out[c.ID] = append(out[c.ID], r)
		}
		if bad > 0 {
			a.warnf("camera %s: %s without a loss time or connected before the loss ignored",
				c.ID, text.Plural(bad, "reconnect"))
		}
		slices.SortStableFunc(out[c.ID], func(x, y Reconnect) int { return x.Lost.Compare(y.Lost) })
	}
	return out
}

func firstEvent(events []evidence.ClusterEvent, ok func(evidence.ClusterEvent) bool) (evidence.ClusterEvent, bool) {
	i := slices.IndexFunc(events, ok)
	if i < 0 {
		return evidence.ClusterEvent{}, false
	}
	return events[i], true
}

func newStep(name string, at, fault time.Time) FailoverStep {
	return FailoverStep{Name: name, At: at, SinceFaultMs: durMs(at.Sub(fault))}
}

// clusterSteps finds the node and pod steps of fault fi in events (in time
// order): the first NotReady of the fault's node and the first deletion of
// a pod on it at or after the fault (and before the next fault on the same
// target), then the first pod of the deleted pod's workload bound at or
// after that deletion, and when that pod became ready.
func (a *analysis) clusterSteps(events []evidence.ClusterEvent, fi int) []FailoverStep {
	f := a.run.Faults[fi]
	if len(events) == 0 || f.Target == "" {
		return nil
	}
	var until time.Time
	for j, g := range a.run.Faults {
		if j != fi && g.Target == f.Target && g.At.After(f.At) && (until.IsZero() || g.At.Before(until)) {
			until = g.At
		}
	}
	onNode := func(e evidence.ClusterEvent, k evidence.ClusterEventKind) bool {
		return e.Kind == k && e.Node == f.Target && !e.At.Before(f.At) && (until.IsZero() || e.At.Before(until))
	}
	var steps []FailoverStep
	if e, ok := firstEvent(events, func(e evidence.ClusterEvent) bool { return onNode(e, evidence.NodeNotReady) }); ok {
		steps = append(steps, newStep(StepNodeNotReady, e.At, f.At))
	}
	del, ok := firstEvent(events, func(e evidence.ClusterEvent) bool { return onNode(e, evidence.PodDeleted) })
	if !ok {
		return steps
	}
	steps = append(steps, newStep(StepPodsEvicted, del.At, f.At))
	if del.Workload == "" {
		return steps // no way to tell which pod replaces it
	}
	sched, ok := firstEvent(events, func(e evidence.ClusterEvent) bool {
		return e.Kind == evidence.PodScheduled && e.Workload == del.Workload && e.Pod != "" && e.Pod != del.Pod && !e.At.Before(del.At)
	})
	if !ok {
		return steps
	}
	steps = append(steps, newStep(StepScheduled, sched.At, f.At))
	if e, ok := firstEvent(events, func(e evidence.ClusterEvent) bool {
		return e.Kind == evidence.PodReady && e.Pod == sched.Pod && !e.At.Before(sched.At)
	}); ok {
		steps = append(steps, newStep(StepReady, e.At, f.At))
	}
	return steps
}

// reconnectStep is the first time the camera was connected again after a
// connection it lost at or after the fault and no later than end (the
// gap's end: a loss after detections flowed again belongs to another
// outage).
func reconnectStep(recs []Reconnect, fault, end time.Time) (FailoverStep, bool) {
	for _, r := range recs {
		if r.Lost.Before(fault) || r.Connected.IsZero() {
			continue
		}
		if r.Lost.After(end) {
			break
		}
		return newStep(StepReconnected, r.Connected, fault), true
	}
	return FailoverStep{}, false
}

// summarizeFailover sums up the measured gaps of fault fi with its node
// and pod steps; ok is false when there is nothing to sum up.
func (a *analysis) summarizeFailover(fi int, gaps []FailoverGap, cluster []FailoverStep) (FailoverSummary, bool) {
	if len(gaps) == 0 && len(cluster) == 0 {
		return FailoverSummary{}, false
	}
	f := a.run.Faults[fi]
	s := FailoverSummary{Fault: fi, FaultKind: f.Kind, Target: f.Target, FaultAt: f.At, Cameras: []string{}}
	gapMs := make([]float64, 0, len(gaps))
	byStep := map[string][]float64{}
	for _, g := range gaps {
		s.Cameras = append(s.Cameras, g.Camera)
		if g.Recovered {
			s.Recovered++
		}
		gapMs = append(gapMs, g.GapMs)
		s.FramesLost += g.FramesLost
		s.AnswersLost += g.AnswersLost
		for _, st := range g.Steps {
			byStep[st.Name] = append(byStep[st.Name], st.SinceFaultMs)
		}
	}
	d := newDistributionMs(gapMs)
	s.GapP50Ms, s.GapMaxMs = text.Round3(d.P50Ms), text.Round3(d.MaxMs)
	for _, name := range stepOrder {
		if i := slices.IndexFunc(cluster, func(st FailoverStep) bool { return st.Name == name }); i >= 0 {
			v := text.Round3(cluster[i].SinceFaultMs)
			s.Steps = append(s.Steps, FailoverStepSummary{Name: name, Cameras: len(gaps), SinceFaultMs: v, MaxSinceFaultMs: v})
			continue
		}
		if vs := byStep[name]; len(vs) > 0 {
			d := newDistributionMs(vs)
			s.Steps = append(s.Steps, FailoverStepSummary{Name: name, Cameras: len(vs),
				SinceFaultMs: text.Round3(d.P50Ms), MaxSinceFaultMs: text.Round3(d.MaxMs)})
		}
	}
	return s, true
}

// FailoverGaps is the distribution of the failover gaps of the scenario's
// own cameras (not a comparison mirror's) over all
// faults (a camera that never recovered counts with its gap up to the end
// of the run): FailoverGaps().P50Ms is the run's failover p50. It is
// computed from Failover, so it also works on a result read back from
// JSON.
func (r *Result) FailoverGaps() Distribution {
	ms := make([]float64, 0, len(r.Failover))
	for _, g := range r.Failover {
		if !g.Reference {
			ms = append(ms, g.GapMs)
		}
	}
	return newDistributionMs(ms)
}

// Breakdown is the summary on one line, e.g. "kill store-1-edge-2 @+20s:
// node NotReady +38.2s → pods evicted +40.1s → replacement scheduled
// +40.1s → replacement ready +46s → camera reconnected +7.1s (3 of 4
// cameras) → detections flowing +47.2s; gap p50 47.2s, max 49s over 4
// cameras, 912 frames without answer". Camera steps are medians over the
// cameras they were observed for.
func (s FailoverSummary) Breakdown(runStart time.Time) string {
	var b strings.Builder
	b.WriteString(s.Title(runStart) + ": ")
	if len(s.Steps) == 0 {
		b.WriteString("no step observed")
	}
	for i, st := range s.Steps {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%s %s", st.Name, text.SinceFault(st.SinceFaultMs))
		if st.Cameras < len(s.Cameras) {
			fmt.Fprintf(&b, " (%d of %d cameras)", st.Cameras, len(s.Cameras))
		}
	}
	if len(s.Cameras) > 0 {
		fmt.Fprintf(&b, "; gap p50 %s, max %s over %s, %s without answer",
			text.Ms(s.GapP50Ms), text.Ms(s.GapMaxMs), text.Plural(len(s.Cameras), "camera"), text.Plural(s.FramesLost, "frame"))
		if s.Recovered < len(s.Cameras) {
			fmt.Fprintf(&b, ", %d not recovered", len(s.Cameras)-s.Recovered)
		}
	}
	return b.String()
}

// Title names the summary's fault, e.g. "kill store-1-edge-2 @+20s",
// with its time since the run's start.
func (s FailoverSummary) Title(runStart time.Time) string {
	return fmt.Sprintf("%s %s @+%s", s.FaultKind, s.Target, text.Offset(runStart, s.FaultAt))
}
