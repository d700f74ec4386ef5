package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Objectives are the SLOs a sweep point must meet, checked on every site
// type of its result. A zero field is no objective.
type Objectives struct {
	LatencyP50, LatencyP95 time.Duration // capture to answer at the camera
	TimeToAlertP95         time.Duration
	// DroppedMax is the largest share (0..1] of the frames that reached
	// sampling and were sampled but got no answer for a reason other than
	// sampling (FrameCounts.Dropped plus AnswerLost over Captured minus
	// NotSent and Skipped). To demand no drops at all, give a tiny share.
	DroppedMax float64
	// UplinkMax is the largest mean uplink per site, bit/s.
	UplinkMax float64
}

// Check is one objective at one sweep point. A figure nothing exercised
// (no answered frame for a latency, no expected alert for time to alert,
// no sampled frame for drops) is not met: Exercised says so.
type Check struct {
	Objective string  `json:"objective"`
	Limit     float64 `json:"limit"`
	Value     float64 `json:"value"`
	Exercised bool    `json:"exercised"`
	Met       bool    `json:"met"`
	// Note says why a check is not met beyond its value (expected alerts
	// that never arrived) or why nothing exercised it.
	Note string `json:"note,omitempty"`
}

// SweepPoint is one value of a sweep and its result.
type SweepPoint struct {
	CamerasPerNode int     `json:"camerasPerNode"`
	Result         *Result `json:"result"`
	Checks         []Check `json:"checks"`
	Met            bool    `json:"met"` // every check of every site type met
}

// Knee is a sweep of cameras per node and its knee: the largest swept
// value that, with every smaller one, meets every objective (0: the
// smallest already fails).
type Knee struct {
	CamerasPerNode int          `json:"camerasPerNode"`
	Points         []SweepPoint `json:"points"`
}

// WithCamerasPerNode returns a copy of the fleet in which every site has n
// cameras per edge node (its one camera group's count set to n times its
// nodes).
func (f *Fleet) WithCamerasPerNode(n int) (*Fleet, error) {
	g := *f
	g.Sites = slices.Clone(f.Sites)
	for i := range g.Sites {
		s := &g.Sites[i]
		if len(s.Cameras) != 1 {
			return nil, fmt.Errorf("plan: site %s has %d camera groups: sweeping cameras per node needs exactly one per site", s.Name, len(s.Cameras))
		}
		s.Cameras = slices.Clone(s.Cameras)
		s.Cameras[0].Count = n * s.Nodes
	}
	return &g, nil
}

// FindKnee simulates the fleet at each number of cameras per node (in
// ascending order) and finds the knee against the objectives.
func FindKnee(ctx context.Context, base *Fleet, cal *Calibration, obj Objectives, perNode []int, opts ...Option) (*Knee, error) {
	if obj == (Objectives{}) {
		return nil, errors.New("plan: no objectives to find a knee against: set at least one SLO")
	}
	values := slices.Sorted(slices.Values(perNode))
	if len(values) == 0 || values[0] < 1 {
		return nil, errors.New("plan: cameras per node to sweep must be given, each at least 1")
	}
	k := &Knee{}
	failed := false
	for _, n := range slices.Compact(values) {
		f, err := base.WithCamerasPerNode(n)
		if err != nil {
			return nil, err
		}
		r, err := Run(ctx, f, cal, opts...)
		if err != nil {
			return nil, fmt.Errorf("plan: %d cameras per node: %w", n, err)
		}
		p := SweepPoint{CamerasPerNode: n, Result: r, Met: true}
		for _, t := range r.Types {
			for _, c := range obj.check(t) {
				p.Checks = append(p.Checks, c)
				p.Met = p.Met && c.Met
			}
		}
		if c, ok := obj.unexercised(r.Types); ok {
			p.Checks = append(p.Checks, c)
			p.Met = false
		}
		if failed = failed || !p.Met; !failed {
			k.CamerasPerNode = n
		}
		k.Points = append(k.Points, p)
	}
	return k, nil
}

func (o Objectives) check(t TypeResult) []Check {
	var out []Check
	add := func(name string, limit, value float64, exercised bool) {
		out = append(out, Check{Objective: t.Type + ": " + name, Limit: limit, Value: value, Exercised: exercised,
			Met: exercised && value <= limit})
	}
	answered := t.Frames.Answered > 0
	if o.LatencyP50 > 0 {
		add("latency p50 (s)", o.LatencyP50.Seconds(), t.LatencyP50.Seconds(), answered)
	}
	if o.LatencyP95 > 0 {
		add("latency p95 (s)", o.LatencyP95.Seconds(), t.LatencyP95.Seconds(), answered)
	}
	// Time to alert applies to the site types with a scripted event a rule
	// covers; a point where no type has one gets the unexercised check of
	// unexercised. An expected alert that never reached the cloud fails it,
	// whatever the delivered ones took.
	if o.TimeToAlertP95 > 0 && t.AlertsExpected > 0 {
		add("time to alert p95 (s)", o.TimeToAlertP95.Seconds(), t.TimeToAlertP95.Seconds(), true)
		if missing := t.AlertsExpected - t.Alerted; missing > 0 {
			c := &out[len(out)-1]
			c.Met = false
			c.Note = fmt.Sprintf("%d of %d expected alerts never reached the cloud", missing, t.AlertsExpected)
		}
	}
	if o.DroppedMax > 0 {
		share, sampled := t.Frames.DroppedShare()
		add("dropped share", o.DroppedMax, share, sampled)
	}
	if o.UplinkMax > 0 {
		add("uplink mean (bit/s)", o.UplinkMax, t.UplinkMeanBits, t.Sites > 0)
	}
	return out
}

// unexercised is the point-wide check of an objective that applies only to
// some site types when none of the point's types exercised it: time to
// alert with no scripted event anywhere. It is never met.
func (o Objectives) unexercised(types []TypeResult) (Check, bool) {
	if o.TimeToAlertP95 <= 0 {
		return Check{}, false
	}
	for _, t := range types {
		if t.AlertsExpected > 0 {
			return Check{}, false
		}
	}
	return Check{Objective: "time to alert p95 (s)", Limit: o.TimeToAlertP95.Seconds(),
		Note: "no site type has a scripted event that an alert rule covers"}, true
}
