package testbed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

// rolloutSteps are the timeline steps that start the scenario's rollouts.
func rolloutSteps(sc *scenarios.Scenario) []Step {
	var out []Step
	for i := range sc.Rollouts {
		out = append(out, Step{At: sc.Rollouts[i].At, rollout: &sc.Rollouts[i]})
	}
	return out
}

// rollouts runs the scenario's rollouts, one at a time in timeline order
// (validation refuses overlapping ones; one that starts while another
// still runs waits for it).
type rollouts struct {
	mu sync.Mutex // one rollout at a time
	wg sync.WaitGroup
}

// startRollout runs ro in the background; r.endRollouts waits for it.
func (r *runner) startRollout(ctx context.Context, ro *scenarios.Rollout) {
	r.rollouts.wg.Go(func() {
		r.rollouts.mu.Lock()
		defer r.rollouts.mu.Unlock()
		r.rollout(ctx, ro)
	})
}

// rolloutRec gives fn the record of rollout i under r.mu.
func (r *runner) rolloutRec(i int, fn func(*reports.RolloutRun)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.run.Rollouts[i])
}

// rollout ships ro's model batch by batch: each site of a batch fetches it
// over its uplink, its edge nodes are hot-swapped MaxUnavailable at a
// time, and after the batch's last swap the gate judges the batch's
// cameras and nodes over its window. A miss, a failed delivery or a failed
// swap rolls every site swapped so far back to the model it had.
func (r *runner) rollout(ctx context.Context, ro *scenarios.Rollout) {
	rec := reports.RolloutRun{Name: ro.Name, Model: ro.ModelID, ModelBytes: ro.ModelBytes, Strategy: string(ro.Strategy), Pause: ro.Pause,
		MaxUnavailable: ro.MaxUnavailable, Gate: reportGate(ro.Gate), Started: r.o.Now()}
	r.mu.Lock()
	rec.Scheduled = r.runStart.Add(ro.At)
	r.mu.Unlock()
	for b, batch := range ro.Batches {
		for _, site := range batch {
			rs := reports.RolloutSite{Site: site, Batch: b + 1}
			for _, n := range r.plan.NodesOf(RoleEdge) {
				if n.Site == site {
					rs.Nodes = append(rs.Nodes, n.Name)
				}
			}
			for _, l := range r.plan.Links {
				if l.Site == site && l.Uplink && !l.Mirror {
					rs.Link, rs.RateBitsPerSecond = l.Name, float64(l.Down.RateBits)
				}
			}
			rec.Sites = append(rec.Sites, rs)
		}
	}
	r.mu.Lock()
	idx := len(r.run.Rollouts)
	r.run.Rollouts = append(r.run.Rollouts, rec)
	r.mu.Unlock()
	event := func(site, node, kind, detail string, bytes int64) {
		e := reports.RolloutEvent{At: r.o.Now(), Site: site, Node: node, Kind: kind, Detail: detail, Bytes: bytes}
		r.rolloutRec(idx, func(rr *reports.RolloutRun) { rr.Events = append(rr.Events, e) })
		msg := fmt.Sprintf("rollout %s: %s %s", ro.Name, site, kind)
		if node != "" {
			msg = fmt.Sprintf("rollout %s: %s %s", ro.Name, node, kind)
		}
		if detail != "" {
			msg += ": " + detail
		}
		r.o.Progress(Progress{Phase: PhaseRun, Message: msg})
	}
	end := func(rolledBack bool, reason string) {
		r.rolloutRec(idx, func(rr *reports.RolloutRun) {
			rr.Ended, rr.RolledBack, rr.Reason = r.o.Now(), rolledBack, reason
		})
	}

	if ctx.Err() != nil {
		return // the run ended while it waited for the previous rollout: incomplete
	}
	roller, ok := r.prov.(provider.ModelRoller)
	if !ok {
		end(true, fmt.Sprintf("provider %s does not run rollouts", r.prov.Name()))
		return
	}
	url, stop, err := roller.ServeModel(ctx, ro.Model, ro.ModelFiles)
	if err != nil {
		end(true, err.Error())
		return
	}
	defer stop()

	// previous[node] is the model directory a node served before.
	previous := map[string]string{}
	var swapped []string // nodes swapped, in order
	sitesOf := map[string]string{}
	rollback := func(reason string) {
		// Back in reverse order, every node the rollout swapped.
		ctx := context.WithoutCancel(ctx)
		for _, n := range slices.Backward(swapped) {
			back := "the model the run started with"
			if previous[n] != "" {
				back = filepath.Base(previous[n])
			}
			event(sitesOf[n], n, reports.RolloutSwapStarted, "back to "+back, 0)
			if _, err := roller.SwapModel(ctx, n, previous[n]); err != nil {
				event(sitesOf[n], n, reports.RolloutFailed, "roll back: "+err.Error(), 0)
				continue
			}
			event(sitesOf[n], n, reports.RolloutRolledBack, reason, 0)
		}
		end(true, reason)
	}
	for b, batch := range ro.Batches {
		if b > 0 && ro.Pause > 0 {
			if !sleepCtx(ctx, ro.Pause) {
				return // the run ended first: the rollout stays incomplete
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		dones := make([][]swappedNode, len(batch)) // in the batch's order
		for si, site := range batch {
			wg.Go(func() {
				done, err := r.rolloutSite(ctx, ro, roller, url, site, event)
				mu.Lock()
				defer mu.Unlock()
				dones[si] = done
				if err != nil {
					failures = append(failures, fmt.Sprintf("site %s: %v", site, err))
				}
			})
		}
		wg.Wait()
		for si, done := range dones {
			for _, n := range done {
				previous[n.node], sitesOf[n.node] = n.previous, batch[si]
				swapped = append(swapped, n.node)
			}
		}
		if ctx.Err() != nil {
			return // the run ended first: the rollout stays incomplete
		}
		if len(failures) > 0 {
			slices.Sort(failures)
			rollback(fmt.Sprintf("batch %d: %s", b+1, strings.Join(failures, "; ")))
			return
		}
		from := r.o.Now()
		if !sleepCtx(ctx, ro.Gate.Window) {
			return
		}
		d := reports.JudgeGate(rec.Gate, r.gateFigures(ctx, batch, from, r.o.Now()))
		r.rolloutRec(idx, func(rr *reports.RolloutRun) { rr.Decisions = append(rr.Decisions, d) })
		if d.Verdict != reports.GateContinue {
			reason := fmt.Sprintf("gate after batch %d (%s): %s", b+1, strings.Join(batch, ", "), d.Reason)
			if d.Verdict == reports.GateNotExercised {
				reason = fmt.Sprintf("gate after batch %d (%s) not exercised, which never passes: %s", b+1, strings.Join(batch, ", "), d.Reason)
			}
			rollback(reason)
			return
		}
		for _, site := range batch {
			event(site, "", reports.RolloutHealthy, d.Reason, 0)
		}
	}
	end(false, "")
}

// swappedNode is a node a rollout swapped and the model dir it had.
type swappedNode struct{ node, previous string }

// rolloutSite delivers ro's model to one site over its uplink and swaps
// its edge nodes, MaxUnavailable at a time. It returns the nodes it
// swapped, also when it failed half-way.
func (r *runner) rolloutSite(ctx context.Context, ro *scenarios.Rollout, roller provider.ModelRoller, url, site string,
	event func(site, node, kind, detail string, bytes int64)) ([]swappedNode, error) {
	var nodes []string
	for _, n := range r.plan.NodesOf(RoleEdge) {
		if n.Site == site {
			nodes = append(nodes, n.Name)
		}
	}
	if len(nodes) == 0 {
		return nil, errors.New("no edge node")
	}
	dst := filepath.Join(r.dir, "rollouts", ro.Name, site)
	event(site, "", reports.RolloutDeliveryStarted, fmt.Sprintf("%s, %d bytes", ro.ModelID, ro.ModelBytes), 0)
	n, err := roller.FetchModel(ctx, nodes[0], url, ro.ModelFiles, dst)
	if err != nil {
		event(site, "", reports.RolloutFailed, "delivery: "+err.Error(), n)
		return nil, fmt.Errorf("delivery: %w", err)
	}
	event(site, "", reports.RolloutDelivered, "", n)
	var done []swappedNode
	for i := 0; i < len(nodes); i += ro.MaxUnavailable {
		group := nodes[i:min(i+ro.MaxUnavailable, len(nodes))]
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		// Every node started is recorded (its link moved even when the
		// reload failed), in the plan's order whatever order they finish
		// in, so that a rollback's order does not depend on timing.
		started := make([]swappedNode, len(group))
		for gi, node := range group {
			wg.Go(func() {
				prev := roller.ModelDir(node)
				event(site, node, reports.RolloutSwapStarted, "", 0)
				served, err := roller.SwapModel(ctx, node, dst)
				mu.Lock()
				defer mu.Unlock()
				started[gi] = swappedNode{node, prev}
				if err != nil {
					event(site, node, reports.RolloutFailed, "swap: "+err.Error(), 0)
					errs = append(errs, err)
					return
				}
				event(site, node, reports.RolloutSwapped, "serving "+served, 0)
			})
		}
		wg.Wait()
		done = append(done, started...)
		if len(errs) > 0 {
			return done, errors.Join(errs...)
		}
	}
	return done, nil
}

// gateFigures measures a gate window on the batch's sites: their cameras'
// samples and ground truth so far, the crashes of their edge nodes and the
// alerts those raised.
func (r *runner) gateFigures(ctx context.Context, batch []string, from, to time.Time) reports.GateFigures {
	cams, _, _ := collectCameras(r.plan, filepath.Join(r.dir, "cameras"))
	cams = slices.DeleteFunc(cams, func(c reports.Camera) bool { return c.Reference || !slices.Contains(batch, c.Site) })
	var nodes []string
	for _, n := range r.plan.NodesOf(RoleEdge) {
		if slices.Contains(batch, n.Site) {
			nodes = append(nodes, n.Name)
		}
	}
	raw, _ := r.prov.Alerts(ctx)
	r.mu.Lock()
	observed := slices.Clone(r.run.ObservedFaults)
	r.mu.Unlock()
	return reports.GateFiguresOf(cams, observed, parseAlerts(raw), nodes, from, to)
}

// reportGate is a scenario gate as the report records it.
func reportGate(g scenarios.RolloutGate) reports.RolloutGate {
	out := reports.RolloutGate{Window: g.Window, RecallMin: g.RecallMin.Fraction(), CrashesMax: g.CrashesMax, AlertsPerMinuteMax: g.AlertsPerMinuteMax}
	for _, l := range g.E2ELatency {
		out.Latency = append(out.Latency, reports.LatencySLO{Percentile: l.Percentile, Max: l.Max})
	}
	return out
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
