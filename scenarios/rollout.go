package scenarios

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// RolloutStrategy is how a rollout batches its sites.
type RolloutStrategy string

// Rollout strategies.
const (
	StrategyRolling RolloutStrategy = "rolling"
	StrategyCanary  RolloutStrategy = "canary"
)

// Rollout ships a new model to sites on the timeline, batch by batch: each
// batch's sites fetch the model over their uplinks, their edge nodes are
// hot-swapped MaxUnavailable at a time, and the gate judges the batch over
// its window; a miss rolls every site done so far back.
type Rollout struct {
	Name  string        `yaml:"name"`
	At    time.Duration `yaml:"at"`
	Model string        `yaml:"model"` // absolute directory
	// ModelID is the model's name@version from its manifest; ModelFiles
	// are the files shipped (manifest and weights) and ModelBytes their
	// total size.
	ModelID        string          `yaml:"modelId"`
	ModelFiles     []string        `yaml:"modelFiles"`
	ModelBytes     int64           `yaml:"modelBytes"`
	Strategy       RolloutStrategy `yaml:"strategy"`
	Batches        [][]string      `yaml:"batches"` // site names, in order
	Pause          time.Duration   `yaml:"pause"`   // after each batch but the last
	MaxUnavailable int             `yaml:"maxUnavailable"`
	Gate           RolloutGate     `yaml:"gate"`
}

// RolloutGate is a rollout's health gate; zero values are not gated
// (except CrashesMax, whose zero means no crash allowed).
type RolloutGate struct {
	Window             time.Duration      `yaml:"window"`
	E2ELatency         []LatencyObjective `yaml:"e2eLatency,omitempty"`
	RecallMin          units.Percent      `yaml:"recallMin,omitempty"`
	CrashesMax         int                `yaml:"crashesMax"`
	AlertsPerMinuteMax *float64           `yaml:"alertsPerMinuteMax,omitempty"`
}

// PlannedSpan is the least time a rollout takes: every batch's gate window
// and the pauses between batches (delivery and swaps come on top).
func (r Rollout) PlannedSpan() time.Duration {
	n := time.Duration(len(r.Batches))
	if n == 0 {
		return 0
	}
	return n*r.Gate.Window + (n-1)*r.Pause
}

// Sites lists the rollout's sites in order.
func (r Rollout) Sites() []string { return slices.Concat(r.Batches...) }

func (c *converter) rollouts(in []v1alpha1.Rollout, s *Scenario) []Rollout {
	var out []Rollout
	names := map[string]bool{}
	var siteNames []string
	for _, site := range s.Sites {
		siteNames = append(siteNames, site.Name)
	}
	for i, r := range in {
		p := fmt.Sprintf("spec.rollouts[%d]", i)
		ro := Rollout{Name: r.Name, MaxUnavailable: intOr(r.MaxUnavailable, 1)}
		if ro.Name == "" {
			ro.Name = fmt.Sprintf("rollout-%d", i+1)
		} else {
			c.checkName(p+".name", ro.Name, "rollout name", 40)
		}
		if names[ro.Name] {
			c.errorf(p+".name", "rollout name %q is used twice", ro.Name)
		}
		names[ro.Name] = true
		if s.Provider == ProviderKubeconfig {
			c.errorf(p, "rollouts run on the local, kind and k3s providers; provider kubeconfig does not run them yet")
		}
		if s.Workload.Placement == PlacementCloud {
			c.errorf(p, "detection runs in the cloud (spec.workload.placement: cloud); a rollout ships a model to the edge nodes: use placement edge")
		}
		if r.At != nil {
			ro.At = r.At.Std()
			switch {
			case ro.At < 0:
				c.errorf(p+".at", "must not be negative")
			case s.Duration > 0 && ro.At >= s.Duration:
				c.errorf(p+".at", "the rollout at %s is not before the end of the run (%s)", ro.At, s.Duration)
			}
		}
		if r.Model != "" {
			ro.Model = c.path(r.Model)
			c.rolloutModel(p+".model", r.Model, &ro)
		}
		sites := r.Sites
		if len(sites) == 0 {
			sites = siteNames
		}
		seen := map[string]bool{}
		for j, site := range r.Sites {
			sp := fmt.Sprintf("%s.sites[%d]", p, j)
			if !slices.Contains(siteNames, site) {
				c.errorf(sp, "site %q is not defined%s", site, hint(site, siteNames))
			} else if seen[site] {
				c.errorf(sp, "site %q is listed twice", site)
			}
			seen[site] = true
		}
		if ro.MaxUnavailable < 1 {
			c.errorf(p+".maxUnavailable", "must be at least 1 (edge nodes of a site swapped at once), got %d", ro.MaxUnavailable)
		} else if ro.MaxUnavailable > 1 && (s.Provider == ProviderKind || s.Provider == ProviderK3s) {
			c.errorf(p+".maxUnavailable", "provider %s replaces a site's edgenode pods one at a time (its Deployment's rolling update, within the PodDisruptionBudget of 1): use maxUnavailable 1", s.Provider)
		}
		ro.Strategy, ro.Batches, ro.Pause = c.strategy(p+".strategy", r.Strategy, sites)
		if r.Gate != nil {
			ro.Gate = c.gate(p+".gate", *r.Gate)
		}
		// a rollout starts every swapped node from the scenario's model as
		// a directory or the default model (testbed prepareModel)
		if e := s.Workload.Model.Embedded; e != "" {
			c.errorf(p, "a rollout starts from spec.workload.model, and starting from an embedded variant (%s) is not supported yet: give its directory instead, path: runtime/models/%s", s.Workload.Model.Variant, e)
		}
		for _, site := range ro.Sites() {
			if i := slices.IndexFunc(s.Sites, func(st Site) bool { return st.Name == site }); i >= 0 && s.Sites[i].Model != nil {
				c.errorf(p, "site %q runs a model of its own (sites[%d].workload.model), and a rollout starts every site from spec.workload.model: roll out sites on the scenario's model only", site, i)
			}
		}
		if s.Duration > 0 && ro.At < s.Duration && ro.At+ro.PlannedSpan() > s.Duration {
			c.errorf(p+".at", "the rollout needs at least %s (its gate windows and pauses) and ends after the run (%s); start it earlier, lengthen spec.duration or shorten gate.window", ro.PlannedSpan(), s.Duration)
		}
		out = append(out, ro)
	}
	c.rolloutOverlaps(out, s)
	return out
}

// rolloutModel checks that the model directory loads as edgenode would
// load it, and records what a rollout ships.
func (c *converter) rolloutModel(p, rel string, ro *Rollout) {
	m, err := detector.Load(ro.Model)
	if err != nil {
		var me *detector.ModelError
		if errors.As(err, &me) {
			c.errorf(p, "model %s does not load: %v", rel, err)
		} else {
			c.errorf(p, "model %s does not load: %v; give a directory with manifest.json and its weights, e.g. runtime/models/edgesim-det/v2-int8", rel, err)
		}
		return
	}
	ro.ModelID = m.Manifest.ID()
	ro.ModelFiles = []string{detector.ManifestFile, m.Manifest.Weights}
	for _, f := range ro.ModelFiles {
		if fi, err := os.Stat(filepath.Join(ro.Model, f)); err == nil {
			ro.ModelBytes += fi.Size()
		}
	}
}

func (c *converter) strategy(p string, in v1alpha1.RolloutStrategy, sites []string) (RolloutStrategy, [][]string, time.Duration) {
	var batch int
	var pause *units.Duration
	var kind RolloutStrategy
	switch {
	case in.Rolling != nil && in.Canary != nil, in.Rolling == nil && in.Canary == nil:
		c.errorf(p, "set exactly one of rolling and canary, e.g. strategy: {rolling: {batch: 1, pause: 10s}}")
		return "", nil, 0
	case in.Rolling != nil:
		kind, batch, pause = StrategyRolling, intOr(in.Rolling.Batch, 1), in.Rolling.Pause
		if batch < 1 {
			c.errorf(p+".rolling.batch", "must be at least 1 site, got %d", batch)
			return kind, nil, 0
		}
	default:
		kind, batch, pause = StrategyCanary, intOr(in.Canary.Sites, 1), in.Canary.Pause
		if batch < 1 || batch >= len(sites) {
			c.errorf(p+".canary.sites", "must be at least 1 and fewer than the rollout's %d sites (the rest follow the canary), got %d", len(sites), batch)
			return kind, nil, 0
		}
	}
	d := dur(pause, 0)
	if d < 0 {
		c.errorf(p+"."+string(kind)+".pause", "must not be negative")
	}
	var batches [][]string
	for i := 0; i < len(sites); i += batch {
		batches = append(batches, slices.Clone(sites[i:min(i+batch, len(sites))]))
		if kind == StrategyCanary {
			batches = append(batches, slices.Clone(sites[batch:]))
			break
		}
	}
	return kind, batches, d
}

func (c *converter) gate(p string, in v1alpha1.RolloutGate) RolloutGate {
	g := RolloutGate{Window: dur(in.Window, 0), CrashesMax: intOr(in.CrashesMax, 0), AlertsPerMinuteMax: in.AlertsPerMinuteMax}
	if in.Window != nil && g.Window <= 0 {
		c.errorf(p+".window", "must be positive, e.g. 15s")
	}
	g.E2ELatency = c.percentiles(p+".e2eLatency", in.E2ELatency)
	if in.RecallMin != nil {
		g.RecallMin = *in.RecallMin
		if g.RecallMin <= 0 || g.RecallMin > 100 {
			c.errorf(p+".recallMin", "must be above 0%% and at most 100%%")
		}
	}
	if g.CrashesMax < 0 {
		c.errorf(p+".crashesMax", "must not be negative")
	}
	if g.AlertsPerMinuteMax != nil && (*g.AlertsPerMinuteMax < 0 || math.IsNaN(*g.AlertsPerMinuteMax)) {
		c.errorf(p+".alertsPerMinuteMax", "must not be negative")
	}
	return g
}

// rolloutOverlaps refuses rollouts whose planned spans overlap (one
// rollout at a time), and node faults (kill, restart, pause) on a node of
// a rollout's sites during its planned span: the rollout would swap a node
// the fault took down. Link faults are allowed: a partition delays
// delivery until the link heals.
func (c *converter) rolloutOverlaps(rollouts []Rollout, s *Scenario) {
	for j, b := range rollouts {
		for i, a := range rollouts[:j] {
			if a.At < b.At+b.PlannedSpan() && b.At < a.At+a.PlannedSpan() || a.At == b.At {
				c.errorf(fmt.Sprintf("spec.rollouts[%d].at", j), "rollout %s (%s to at least %s) overlaps spec.rollouts[%d], %s (%s to at least %s); one rollout at a time: start this one after the other's gate windows and pauses",
					b.Name, b.At, b.At+b.PlannedSpan(), i, a.Name, a.At, a.At+a.PlannedSpan())
			}
		}
		nodes := map[string]bool{}
		for _, site := range b.Sites() {
			nodes[site] = true
		}
		for _, f := range s.Faults {
			if !slices.Contains(nodeActions, string(f.Action)) {
				continue
			}
			end := time.Duration(math.MaxInt64)
			if f.Action != FaultKill && f.Duration > 0 {
				end = f.At + f.Duration
			}
			if f.At >= b.At+b.PlannedSpan() || end <= b.At {
				continue
			}
			for _, n := range f.Target.Nodes {
				if node, ok := s.Node(n); ok && nodes[node.Site] {
					c.errorf(fmt.Sprintf("spec.rollouts[%d]", j), "rollout %s (%s to at least %s) collides with fault %s, %s of node %s at %s; a rollout swaps every edge node of its sites: move the fault out of the rollout or the site out of rollout.sites",
						b.Name, b.At, b.At+b.PlannedSpan(), f.Name, f.Action, n, f.At)
					break
				}
			}
		}
	}
}
