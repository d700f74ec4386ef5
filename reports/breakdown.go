package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// clusterEvents returns the run's usable cluster events in time order. An
// event without a time or of an unknown kind is left out with a warning:
// the rest of the breakdown still holds.
func (a *analysis) clusterEvents() []ClusterEvent {
	var out []ClusterEvent
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
			plural(noTime, "cluster event"), firstNoTime)
	}
	if len(unknown) > 0 {
		a.warnf("cluster events of unknown kind %s ignored; known kinds are %s, %s, %s, %s and %s",
			strings.Join(unknown, ", "), NodeNotReady, NodeReady, PodDeleted, PodScheduled, PodReady)
	}
	slices.SortStableFunc(out, func(x, y ClusterEvent) int { return x.At.Compare(y.At) })
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
				c.ID, plural(bad, "reconnect"))
		}
		slices.SortStableFunc(out[c.ID], func(x, y Reconnect) int { return x.Lost.Compare(y.Lost) })
	}
	return out
}

func firstEvent(events []ClusterEvent, ok func(ClusterEvent) bool) (ClusterEvent, bool) {
	i := slices.IndexFunc(events, ok)
	if i < 0 {
		return ClusterEvent{}, false
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
func (a *analysis) clusterSteps(events []ClusterEvent, fi int) []FailoverStep {
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
	onNode := func(e ClusterEvent, k ClusterEventKind) bool {
		return e.Kind == k && e.Node == f.Target && !e.At.Before(f.At) && (until.IsZero() || e.At.Before(until))
	}
	var steps []FailoverStep
	if e, ok := firstEvent(events, func(e ClusterEvent) bool { return onNode(e, NodeNotReady) }); ok {
		steps = append(steps, newStep(StepNodeNotReady, e.At, f.At))
	}
	del, ok := firstEvent(events, func(e ClusterEvent) bool { return onNode(e, PodDeleted) })
	if !ok {
		return steps
	}
	steps = append(steps, newStep(StepPodsEvicted, del.At, f.At))
	if del.Workload == "" {
		return steps // no way to tell which pod replaces it
	}
	sched, ok := firstEvent(events, func(e ClusterEvent) bool {
		return e.Kind == PodScheduled && e.Workload == del.Workload && e.Pod != "" && e.Pod != del.Pod && !e.At.Before(del.At)
	})
	if !ok {
		return steps
	}
	steps = append(steps, newStep(StepScheduled, sched.At, f.At))
	if e, ok := firstEvent(events, func(e ClusterEvent) bool {
		return e.Kind == PodReady && e.Pod == sched.Pod && !e.At.Before(sched.At)
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
	s.GapP50Ms, s.GapMaxMs = round3(d.P50Ms), round3(d.MaxMs)
	for _, name := range stepOrder {
		if i := slices.IndexFunc(cluster, func(st FailoverStep) bool { return st.Name == name }); i >= 0 {
			v := round3(cluster[i].SinceFaultMs)
			s.Steps = append(s.Steps, FailoverStepSummary{Name: name, Cameras: len(gaps), SinceFaultMs: v, MaxSinceFaultMs: v})
			continue
		}
		if vs := byStep[name]; len(vs) > 0 {
			d := newDistributionMs(vs)
			s.Steps = append(s.Steps, FailoverStepSummary{Name: name, Cameras: len(vs),
				SinceFaultMs: round3(d.P50Ms), MaxSinceFaultMs: round3(d.MaxMs)})
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
	b.WriteString(summaryTitle(runStart, s) + ": ")
	if len(s.Steps) == 0 {
		b.WriteString("no step observed")
	}
	for i, st := range s.Steps {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%s %s", st.Name, sinceFault(st.SinceFaultMs))
		if st.Cameras < len(s.Cameras) {
			fmt.Fprintf(&b, " (%d of %d cameras)", st.Cameras, len(s.Cameras))
		}
	}
	if len(s.Cameras) > 0 {
		fmt.Fprintf(&b, "; gap p50 %s, max %s over %s, %s without answer",
			fmtMs(s.GapP50Ms), fmtMs(s.GapMaxMs), plural(len(s.Cameras), "camera"), plural(s.FramesLost, "frame"))
		if s.Recovered < len(s.Cameras) {
			fmt.Fprintf(&b, ", %d not recovered", len(s.Cameras)-s.Recovered)
		}
	}
	return b.String()
}

// sinceFault renders a step's time since the fault, e.g. "+1.44s".
func sinceFault(ms float64) string {
	if ms < 0 {
		return fmtMs(ms)
	}
	return "+" + fmtMs(ms)
}

// stepNote says which earlier step of the chain a step came before, e.g.
// "before node NotReady" for a camera that reconnected to a surviving
// replica before its node was declared NotReady; "" when in order.
func stepNote(steps []FailoverStepSummary, i int) string {
	for _, st := range steps[:i] {
		if st.SinceFaultMs > steps[i].SinceFaultMs {
			return "before " + st.Name
		}
	}
	return ""
}

// breakdownView is one fault's breakdown as report.html shows it.
type breakdownView struct {
	Title    string
	Headline string
	Rows     []breakdownRow
	Plot     *namedPlot
}

type breakdownRow struct {
	Name, Time, Note string
	Cameras          int
}

// breakdownViews prepares the first maxBreakdowns faults' breakdowns, with
// a timeline plot when a fault has more than one step.
func breakdownViews(r *Result) ([]breakdownView, error) {
	var out []breakdownView
	for i, s := range r.FailoverSummaries {
		if i == maxBreakdowns {
			break
		}
		v := breakdownView{Title: summaryTitle(r.Start, s), Headline: summaryHeadline(s)}
		for k, st := range s.Steps {
			v.Rows = append(v.Rows, breakdownRow{Name: st.Name, Time: stepTime(st), Note: stepNote(s.Steps, k), Cameras: st.Cameras})
		}
		if len(s.Steps) > 1 {
			f, err := stepsPlot(r, s)
			if err != nil {
				return nil, fmt.Errorf("plot failover steps of fault %d: %w", s.Fault, err)
			}
			svg, err := svgOf(f.p, plotW, stepsPlotHeight(len(s.Steps)))
			if err != nil {
				return nil, fmt.Errorf("plot failover steps of fault %d: %w", s.Fault, err)
			}
			v.Plot = &namedPlot{Title: "Failover steps after " + v.Title, SVG: svg, Legend: f.legend}
		}
		out = append(out, v)
	}
	return out, nil
}
