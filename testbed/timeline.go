package testbed

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
)

// Step is one provider action at a time of the run phase.
type Step struct {
	At     time.Duration
	Action Action
	fault  *scenarios.Fault // the scenario fault it starts; nil for an undo
	undoes *scenarios.Fault // the scenario fault an undo ends
	// rollout is the scenario rollout the step starts (Action unused).
	rollout *scenarios.Rollout
}

// timeline turns the scenario's faults into ordered provider actions,
// including the undo of faults with a duration.
func (r *runner) timeline() []Step {
	steps, err := Timeline(r.plan)
	if err != nil {
		r.observe(ObservedEvent{At: r.o.Now(), Kind: "timeline", Detail: err.Error()})
	}
	steps = append(steps, rolloutSteps(r.sc)...)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].At < steps[j].At })
	return steps
}

// Timeline returns the provider actions of a plan's fault timeline, in time
// order.
func Timeline(plan *Plan) ([]Step, error) {
	var steps []Step
	for i := range plan.Scenario.Faults {
		f := &plan.Scenario.Faults[i]
		add := func(at time.Duration, a Action, start bool) {
			s := Step{At: at, Action: a}
			if start {
				s.fault = f
			} else {
				s.undoes = f
			}
			steps = append(steps, s)
		}
		var links []Link
		for _, name := range f.Target.Links {
			links = append(links, plan.LinksNamed(name)...)
		}
		switch f.Action {
		case scenarios.FaultKill:
			for _, n := range f.Target.Nodes {
				add(f.At, Action{Kind: ActionKill, Node: n}, true)
			}
		case scenarios.FaultRestart:
			for _, n := range f.Target.Nodes {
				add(f.At, Action{Kind: ActionKill, Node: n}, true)
				add(f.At+f.Duration, Action{Kind: ActionStart, Node: n}, false)
			}
		case scenarios.FaultPause:
			for _, n := range f.Target.Nodes {
				add(f.At, Action{Kind: ActionPause, Node: n}, true)
				if f.Duration > 0 {
					add(f.At+f.Duration, Action{Kind: ActionResume, Node: n}, false)
				}
			}
		case scenarios.FaultPartition:
			for _, l := range links {
				add(f.At, Action{Kind: ActionPartition, Link: l.Name}, true)
				if f.Duration > 0 {
					add(f.At+f.Duration, Action{Kind: ActionHeal, Link: l.Name}, false)
				}
			}
		case scenarios.FaultDegrade:
			if f.Degrade == nil {
				continue
			}
			for _, ch := range f.Degrade.Links {
				for _, l := range plan.LinksNamed(ch.Link) {
					to, err := l.Degraded(ch.Link, ch.To)
					if err != nil {
						return nil, fmt.Errorf("fault %s: %w", f.Name, err)
					}
					add(f.At, Action{Kind: ActionDegrade, Link: l.Name, Up: to.Up, Down: to.Down, Ramp: f.Degrade.Ramp}, true)
					if f.Duration > 0 {
						add(f.At+f.Duration, Action{Kind: ActionDegrade, Link: l.Name, Up: l.Up, Down: l.Down}, false)
					}
				}
			}
		case scenarios.FaultTraceSwitch:
			if f.Trace == nil {
				continue
			}
			var up, down scenarios.Direction
			up.Trace, down.Trace = f.Trace.Up, f.Trace.Down
			up.TraceOnce, down.TraceOnce = f.Trace.Once, f.Trace.Once
			upCfg, err := linkconf.Netem(up)
			if err != nil {
				return nil, fmt.Errorf("fault %s: %w", f.Name, err)
			}
			downCfg, err := linkconf.Netem(down)
			if err != nil {
				return nil, fmt.Errorf("fault %s: %w", f.Name, err)
			}
			for _, l := range links {
				add(f.At, Action{Kind: ActionTrace, Link: l.Name, Up: upCfg, Down: downCfg}, true)
			}
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].At < steps[j].At })
	return steps, nil
}

// fire applies one step and records the fault for the report: when its
// injection started and completed, whether it failed, the edgenodes a
// node fault takes down, and when an undo restored them.
func (r *runner) fire(ctx context.Context, s Step) {
	if s.rollout != nil {
		r.startRollout(ctx, s.rollout)
		return
	}
	now := r.o.Now()
	var affected, nodes []string
	if s.fault != nil {
		affected = r.affected(s.Action)
		nodes = r.edgenodesOn(s.Action.Node)
	}
	err := r.prov.Inject(ctx, s.Action)
	done := r.o.Now()
	target := s.Action.Node
	if target == "" {
		target = s.Action.Link
	}
	r.mu.Lock()
	switch {
	case s.fault != nil:
		r.fired++
		f := reports.Fault{At: now, Effective: done, Kind: string(s.fault.Action), Target: target, Detail: s.Action.String(),
			Nodes: nodes, Cameras: affected}
		if d, ok := r.prov.(FaultDescriber); ok {
			if how := d.DescribeFault(s.Action); how != "" {
				f.Detail += " (" + how + ")"
			}
		}
		if err != nil {
			f.Failed = err.Error()
			f.Detail += ": failed: " + err.Error()
		}
		if r.faultIdx == nil {
			r.faultIdx = map[faultKey]int{}
		}
		r.faultIdx[faultKey{s.fault, target}] = len(r.run.Faults)
		r.run.Faults = append(r.run.Faults, f)
	case err != nil:
		r.run.ObservedFaults = append(r.run.ObservedFaults, reports.ObservedFault{At: now, Kind: "fault-undo-failed", Target: s.Action.String(), Detail: err.Error()})
	default:
		if i, ok := r.faultIdx[faultKey{s.undoes, target}]; ok {
			r.run.Faults[i].Restored = done
		}
	}
	r.mu.Unlock()
	msg := "fault: " + s.Action.String()
	if err != nil {
		msg += " failed: " + err.Error()
	}
	r.o.Progress(Progress{Phase: PhaseRun, Message: msg, FaultsFired: r.fired})
}

// faultKey identifies the record of a scenario fault on one target.
type faultKey struct {
	fault  *scenarios.Fault
	target string
}

// edgenodesOn lists the edgenode ids running on a plan node: the node
// itself and, on a cluster, its pods ("" for a link fault).
func (r *runner) edgenodesOn(node string) []string {
	if node == "" {
		return nil
	}
	out := []string{node}
	if loc, ok := r.prov.(edgenodeLocator); ok {
		out = append(out, loc.Edgenodes(node)...)
	}
	return out
}

// edgenodeLocator is implemented by providers whose edgenode ids are not
// plan node names (the kind provider's are pod names).
type edgenodeLocator interface {
	// Edgenodes lists the ids of the edgenodes running on a plan node.
	Edgenodes(node string) []string
}

// affected lists the cameras a fault action interrupts: for a node, those
// whose last answer came from an edgenode on it (or, before any answer,
// whose first endpoint it is); for a link, those whose path crosses it.
func (r *runner) affected(a Action) []string {
	var out []string
	if a.Node != "" {
		on := map[string]bool{}
		for _, id := range r.edgenodesOn(a.Node) {
			on[id] = true
		}
		var served map[string]string
		if r.tail != nil {
			served = r.tail.servedBy()
		}
		for _, c := range r.plan.Cameras {
			if id, ok := served[c.ID]; ok && on[id] || !ok && len(c.Endpoints) > 0 && c.Endpoints[0] == a.Node {
				out = append(out, c.ID)
			}
		}
		return out
	}
	for _, c := range r.plan.Cameras {
		for _, l := range r.plan.Links {
			if l.Name == a.Link && linkCarries(l, c, r.plan) {
				out = append(out, c.ID)
				break
			}
		}
	}
	return out
}

// linkCarries reports whether a camera's video or detections cross l.
func linkCarries(l Link, c Camera, plan *Plan) bool {
	host, ok := plan.Node(c.Host)
	if !ok {
		return false
	}
	if l.A == host.Group || l.B == host.Group {
		return true
	}
	// Edge-placed cameras' video stays on the site; the backhaul only
	// carries alerts.
	return false
}
