package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgesim/edgesim/scenarios"
)

// Progress is how far a plan run got: Done of Total simulations, and the
// same in work (camera-seconds simulated), which an ETA should use since
// simulations differ in size.
type Progress struct {
	Done, Total         int
	WorkDone, WorkTotal float64
	Elapsed             time.Duration
	// Current names the simulation that just finished.
	Current string
}

// RunOptions configure RunPlan. The zero value runs the whole plan with the
// plan's seed, reporting nothing.
type RunOptions struct {
	// Seed, when set, replaces the plan's and the scenario's seed.
	Seed *int64
	// Shard, when set, simulates one slice of the work (see RunPlan).
	Shard *Shard
	// Progress is called after every simulation (from one goroutine).
	Progress func(Progress)
	// Now is the clock of Generated and the wall time (default time.Now).
	Now func() time.Time
	// Host and Commit identify this machine and edgesim build, to warn
	// when the calibration was measured elsewhere ("" = do not check).
	Host, Commit string
	// CalibrationPath is the calibration's file name as the report shows it.
	CalibrationPath string
	// Parallelism is passed to Run (default GOMAXPROCS).
	Parallelism int
}

// unitKind is what one simulation of a plan is for.
type unitKind int

const (
	unitPoint     unitKind = iota // a point of a curve
	unitCloudTier                 // a cloud tier size at the fleet's own cameras
	unitNodeLoss                  // one node killed on one site per type
)

// unit is one simulation of a plan.
type unit struct {
	kind    unitKind
	key     int // index into keys
	cameras int // cameras per node (point, node loss)
	cloud   int // cloud nodes (cloud tier)
	spare   bool
	// whole units run on one shard (owner); the others (edge points) on
	// every shard, each over its slice of the sites.
	whole    bool
	owner    int
	same     int // >= 0: not simulated, the figures of that unit
	fleet    *Fleet
	keep     func(int) bool // the sites simulated (nil: all)
	work     float64
	describe string
}

// runner is one plan run's resolved state.
type runner struct {
	p    *Plan
	cal  *Calibration
	opt  RunOptions
	keys []CurveKey
	// bases hold each key's fleet at the scenario's own camera counts.
	bases []*Fleet
	units []unit
	whole int // whole units so far
}

// RunPlan runs every simulation of the plan and returns its capacity
// report. With opt.Shard it runs one slice of the work and returns a
// partial report (Shard and Partial set, no curves) that MergeReports
// combines with the other shards' into the report one process would have
// written: edge-placement points are split by site (shard i of N takes the
// i-th contiguous slice of the sites), while cloud-placement points,
// cloud-tier sizes and node-loss studies, which share a cloud pool or are
// small, run whole, each on one shard (round robin in the plan's order).
func RunPlan(ctx context.Context, p *Plan, cal *Calibration, opt RunOptions) (*CapacityReport, error) {
	if cal == nil {
		return nil, errors.New("plan: no calibration: give one in the plan (spec.calibration) or with --calibration; " + CalibrateCommand + " measures one")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if s := opt.Shard; s != nil && (s.Count < 1 || s.Index < 0 || s.Index >= s.Count) {
		return nil, fmt.Errorf("plan: shard %d/%d: the index runs from 0 to count-1", s.Index, s.Count)
	}
	start, cpu0 := opt.Now(), cpuSeconds()
	r := &runner{p: p, cal: cal, opt: opt}
	if err := r.resolve(); err != nil {
		return nil, err
	}
	hdr := r.header()
	part := r.partial()
	var doneWork, totalWork float64
	var mine []int
	for i, u := range r.units {
		if u.same >= 0 {
			continue
		}
		if !u.whole || opt.Shard == nil || u.owner == opt.Shard.Index {
			mine = append(mine, i)
			totalWork += u.work
		}
	}
	results, err := r.runUnits(ctx, mine, func(done int, i int) {
		doneWork += r.units[i].work
		if opt.Progress != nil {
			opt.Progress(Progress{Done: done, Total: len(mine), WorkDone: doneWork, WorkTotal: totalWork,
				Elapsed: opt.Now().Sub(start), Current: r.units[i].describe})
		}
	})
	if err != nil {
		return nil, err
	}
	for _, i := range mine {
		res := results[i]
		part.Results = append(part.Results, unitPartial(i, r.units[i].fleet, res))
		hdr.Stats.Points++
		hdr.Stats.Events += res.Stats.Events
		hdr.Stats.Packets += res.Stats.Packets
	}
	hdr.Stats.Wall = opt.Now().Sub(start)
	hdr.Stats.CPUSeconds = cpuSeconds() - cpu0
	hdr.Stats.PeakRSSBytes = peakRSS()
	if opt.Shard != nil {
		hdr.Shard = opt.Shard
		hdr.Partial = part
		return hdr, nil
	}
	return finalize(hdr, []*Partial{part})
}

// unitsAtOnce is how many simulations run at the same time, each over its
// sites in parallel. A simulation has phases that keep one core busy (a
// single site's node loss, the cloud pass of cloud placement); a second
// simulation fills the other cores meanwhile. Two at once at most doubles
// the peak memory.
const unitsAtOnce = 2

// runUnits runs the units mine, up to unitsAtOnce at a time (one at a time
// on one core: Parallelism, else GOMAXPROCS, 1), the most work first so
// that no large one runs alone at the end, and returns their results by
// unit index. Each result is the same whatever ran beside it. done is
// called on the calling goroutine as each finishes, with the count
// finished so far.
func (r *runner) runUnits(ctx context.Context, mine []int, done func(n, unit int)) ([]*Result, error) {
	atOnce := unitsAtOnce
	if p := r.opt.Parallelism; p == 1 || p <= 0 && runtime.GOMAXPROCS(0) == 1 {
		atOnce = 1
	}
	order := slices.Clone(mine)
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(r.units[b].work, r.units[a].work) })
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]*Result, len(r.units))
	finished := make(chan int)
	var failed error
	var once sync.Once
	go func() {
		defer close(finished)
		_ = parallel(ctx, len(order), atOnce, func(k int) error {
			u := r.units[order[k]]
			opts := []Option{}
			if r.opt.Parallelism > 0 {
				opts = append(opts, WithParallelism(r.opt.Parallelism))
			}
			if u.keep != nil {
				opts = append(opts, WithSites(u.keep))
			}
			res, err := Run(ctx, u.fleet, r.cal, opts...)
			if err != nil {
				once.Do(func() { failed = fmt.Errorf("plan: %s: %w", u.describe, err); cancel() })
				return err
			}
			results[order[k]] = res
			select {
			case finished <- order[k]:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	n := 0
	for i := range finished {
		n++
		done(n, i)
	}
	if failed != nil {
		return nil, failed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

// resolve builds the curve keys, their fleets and the units, and checks
// the calibration covers all of them (every gap at once).
func (r *runner) resolve() error {
	p := r.p
	placements := p.Sweep.Placements
	if len(placements) == 0 {
		placements = []Placement{Placement(cmpOr(string(p.Scenario.Workload.Placement), string(PlacementEdge)))}
	}
	links := p.Sweep.Links
	if len(links) == 0 {
		links = []string{ScenarioLink}
	}
	models := p.Sweep.Models
	if len(models) == 0 {
		models = []string{p.Scenario.Workload.Model.Name}
	}
	fpss := p.Sweep.DetectFPS
	if len(fpss) == 0 {
		fpss = []float64{p.Scenario.Workload.DetectFPS}
	}
	nodes := p.Sweep.NodesPerSite
	if len(nodes) == 0 {
		nodes = []int{0}
	}
	var missing []string
	need := func(err error) {
		var m *MissingCalibrationError
		if errors.As(err, &m) {
			if msg := m.Error(); !slices.Contains(missing, msg) {
				missing = append(missing, msg)
			}
		}
	}
	var errs []error
	for _, pl := range placements {
		classes := p.Sweep.Hardware
		if pl == PlacementCloud {
			classes = p.Cloud.Hardware
		}
		if len(classes) == 0 {
			classes = []string{""}
		}
		for _, hw := range classes {
			for _, model := range models {
				for _, fps := range fpss {
					for _, link := range links {
						for _, n := range nodes {
							f, err := r.fleet(pl, hw, model, fps, link, n)
							if err != nil {
								need(err)
								if !errors.As(err, new(*MissingCalibrationError)) {
									errs = append(errs, err)
								}
								continue
							}
							key := CurveKey{Model: f.ModelLabel(), DetectFPS: f.DetectFPS, Link: link, Placement: pl, NodesPerSite: n}
							if n == 0 && len(f.Sites) > 0 {
								key.NodesPerSite = f.Sites[0].Nodes // the scenario's own (its sites' first, as the figures show it)
							}
							if pl == PlacementCloud {
								key.Hardware, key.CloudNodes = f.Cloud.Class, f.Cloud.Nodes
							} else if len(f.Sites) > 0 {
								key.Hardware = f.Sites[0].Class
							}
							r.keys = append(r.keys, key)
							r.bases = append(r.bases, f)
						}
					}
				}
			}
		}
	}
	for _, f := range r.bases {
		need(r.covered(f))
	}
	if len(missing) > 0 {
		return fmt.Errorf("plan: the calibration does not cover the plan (the simulator never extrapolates):\n  %s", strings.Join(missing, "\n  "))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.buildUnits()
}

// covered reports the first calibration a fleet lacks (Run would refuse it).
func (r *runner) covered(f *Fleet) error {
	if f.Placement == PlacementCloud {
		if _, err := r.cal.Inference(f.Cloud.Class, f.Model); err != nil {
			return err
		}
	}
	for _, s := range f.Sites {
		if f.Placement == PlacementEdge {
			if _, err := r.cal.Inference(s.Class, f.ModelOf(s)); err != nil {
				return err
			}
		}
		for _, g := range s.Cameras {
			if _, err := r.cal.EncodingFor(g.Bitrate, g.FPS); err != nil {
				return err
			}
			class := s.Class
			if f.Placement == PlacementCloud {
				class = f.Cloud.Class
			}
			if _, err := r.cal.Decode(class, g.Width, g.Height, g.Bitrate); err != nil {
				return err
			}
		}
	}
	if r.p.NodeLoss && f.Placement == PlacementEdge || slices.ContainsFunc(f.Faults, func(x Fault) bool { return x.Action == FaultKill }) {
		if _, err := r.cal.FailoverFor(f.withDefaults().Provider); err != nil {
			return err
		}
	}
	return nil
}

// fleet builds one key's fleet at the scenario's own camera counts.
func (r *runner) fleet(pl Placement, hw, model string, fps float64, link string, nodes int) (*Fleet, error) {
	p := r.p
	sc := cloneScenario(p.scenarioFor(link))
	// The point's placement, whatever the scenario's: FromScenario then
	// resolves the cloud's class for cloud placement only (in edge
	// placement the cloud carries no video, and its class does not matter).
	sc.Workload.Placement = scenarios.Placement(pl)
	if pl == PlacementEdge && hw != "" {
		cl, err := r.cal.Class(hw)
		if err != nil {
			return nil, err
		}
		for i := range sc.Sites {
			for j := range sc.Sites[i].Nodes {
				sc.Sites[i].Nodes[j].Resources = scenarios.Resources{CPU: cl.CPU, Memory: cl.Memory}
			}
		}
	}
	var cloud *Class
	if pl == PlacementCloud {
		if hw != "" {
			var err error
			if cloud, err = r.cal.Class(hw); err != nil {
				return nil, err
			}
			for i := range sc.Cloud.Nodes {
				sc.Cloud.Nodes[i].Resources = scenarios.Resources{CPU: cloud.CPU, Memory: cloud.Memory}
			}
		}
		// the edge nodes carry no video: their class does not matter
		for i := range sc.Sites {
			for j := range sc.Sites[i].Nodes {
				sc.Sites[i].Nodes[j].Resources = sc.Sites[0].Nodes[0].Resources
			}
		}
	}
	f, err := FromScenario(sc, r.cal)
	if err != nil {
		return nil, err
	}
	if r.opt.Seed != nil {
		f.Seed = *r.opt.Seed
	} else if p.Seed != 0 {
		f.Seed = p.Seed
	}
	if p.Duration > 0 {
		f.Duration = p.Duration
	}
	if model != "" {
		f.Model = model
	}
	if len(p.Sweep.Models) > 0 { // the swept model runs at every site
		for i := range f.Sites {
			f.Sites[i].Model = ""
		}
	}
	f.DetectFPS = fps
	if err := replicate(f, p.Sites); err != nil {
		return nil, err
	}
	for i := range f.Sites {
		if pl == PlacementEdge && hw != "" {
			f.Sites[i].Class = hw
		}
		if nodes > 0 {
			f.Sites[i].Nodes = nodes
		}
	}
	if pl == PlacementCloud {
		if cloud != nil {
			f.Cloud.Class = cloud.Name
		}
		if n := p.Cloud.Nodes; len(n) > 0 {
			f.Cloud.Nodes = n[len(n)-1] // curves run with the largest swept tier
		}
		if f.Cloud.Nodes < 1 || f.Cloud.Class == "" {
			return nil, errors.New("plan: cloud placement needs a cloud tier: give the scenario cloud nodes, or the plan spec.cloud.hardware and spec.cloud.nodes")
		}
	}
	return f, f.Validate()
}

// replicate scales sites: each listed site becomes Count sites of its type
// named <site>-<n>, each with the site's nodes, cameras, links and faults.
func replicate(f *Fleet, scale []SiteScale) error {
	if len(scale) == 0 {
		for i := range f.Sites {
			f.Sites[i].Type = cmpOr(f.Sites[i].Type, f.Sites[i].Name)
		}
		return nil
	}
	var sites []Site
	var faults []Fault
	copied := map[string]bool{}
	for _, s := range f.Sites {
		i := slices.IndexFunc(scale, func(x SiteScale) bool { return x.Site == s.Name })
		if i < 0 {
			s.Type = cmpOr(s.Type, s.Name)
			sites = append(sites, s)
			continue
		}
		copied[s.Name] = true
		for n := 1; n <= scale[i].Count; n++ {
			c := s
			c.Name, c.Type = fmt.Sprintf("%s-%d", s.Name, n), scale[i].Type
			sites = append(sites, c)
			for _, ft := range f.Faults {
				if moved, ok := moveFault(ft, s.Name, c.Name); ok {
					faults = append(faults, moved)
				}
			}
		}
	}
	for _, ft := range f.Faults {
		owned := false
		for name := range copied {
			_, mine := moveFault(ft, name, name)
			owned = owned || mine
		}
		if !owned {
			faults = append(faults, ft)
		}
	}
	f.Sites, f.Faults = sites, faults
	return nil
}

// moveFault gives site to fault ft of site from: a link fault (partition,
// degrade, traceSwitch) of from's link, or a node fault (kill, restart,
// pause) of one of from's edge nodes. ok is false when ft is not from's.
func moveFault(ft Fault, from, to string) (Fault, bool) {
	switch {
	case ft.Link != "" && ft.Site == from:
		ft.Site = to
	case strings.HasPrefix(ft.Node, from+"-edge-"):
		ft.Node = to + strings.TrimPrefix(ft.Node, from)
	default:
		return ft, false
	}
	return ft, true
}

func cloneScenario(sc *scenarios.Scenario) *scenarios.Scenario {
	c := *sc
	c.Sites = slices.Clone(sc.Sites)
	for i := range c.Sites {
		c.Sites[i].Nodes = slices.Clone(c.Sites[i].Nodes)
	}
	c.Cloud.Nodes = slices.Clone(sc.Cloud.Nodes)
	return &c
}

// withCameras sets every site to perNode cameras per edge node, over nodes
// nodes (0: the site's own). A site's largest camera group that sees no
// scripted event (else its largest group) takes what its other groups
// (cameras that see their own scripted events) leave: the cameras a
// scenario scripts an event on stay in the sweep.
func withCameras(base *Fleet, perNode int) (*Fleet, error) {
	f := *base
	f.Sites = slices.Clone(base.Sites)
	for i := range f.Sites {
		s := &f.Sites[i]
		s.Cameras = slices.Clone(s.Cameras)
		total := perNode * s.Nodes
		big, others := 0, 0
		better := func(a, b CameraGroup) bool {
			if (len(a.Events) == 0) != (len(b.Events) == 0) {
				return len(a.Events) == 0
			}
			return a.Count > b.Count
		}
		for j, g := range s.Cameras {
			if better(g, s.Cameras[big]) {
				big = j
			}
			others += g.Count
		}
		if len(s.Cameras) == 0 {
			return nil, fmt.Errorf("plan: site %s has no cameras to sweep", s.Name)
		}
		others -= s.Cameras[big].Count
		if total < others {
			return nil, fmt.Errorf("plan: site %s: %d cameras per node (%d on its %d nodes) leave no room for its %d cameras that see their own scripted events; sweep at least %d per node",
				s.Name, perNode, total, s.Nodes, others, (others+s.Nodes-1)/s.Nodes)
		}
		s.Cameras[big].Count = total - others
	}
	return &f, nil
}

// buildUnits lists every simulation of the plan in a fixed order: each
// key's points, then each cloud key's tier sizes, then each edge key's
// node-loss pair per point.
func (r *runner) buildUnits() error {
	p := r.p
	sh := r.opt.Shard
	for k, key := range r.keys {
		for _, n := range p.Sweep.CamerasPerNode {
			f, err := withCameras(r.bases[k], n)
			if err != nil {
				return err
			}
			u := unit{kind: unitPoint, key: k, cameras: n, fleet: f, whole: key.Placement == PlacementCloud, same: -1,
				describe: fmt.Sprintf("%s, %d cameras per node", keyString(key), n)}
			if !u.whole && sh != nil {
				lo, hi := len(f.Sites)*sh.Index/sh.Count, len(f.Sites)*(sh.Index+1)/sh.Count
				u.keep = func(i int) bool { return i >= lo && i < hi }
			}
			u.work = work(f, u.keep)
			r.add(u)
		}
	}
	for k, key := range r.keys {
		if key.Placement != PlacementCloud {
			continue
		}
		sizes := p.Cloud.Nodes
		if len(sizes) == 0 {
			sizes = []int{r.bases[k].Cloud.Nodes}
		}
		for _, n := range sizes {
			f := *r.bases[k]
			f.Cloud.Nodes = n
			if same := r.samePoint(k, &f); same >= 0 {
				// the curve simulated this fleet already
				r.units = append(r.units, unit{kind: unitCloudTier, key: k, cloud: n, same: same})
				continue
			}
			r.add(unit{kind: unitCloudTier, key: k, cloud: n, fleet: &f, whole: true, work: work(&f, nil), same: -1,
				describe: fmt.Sprintf("%s, cloud tier of %d nodes", keyString(key), n)})
		}
	}
	if !p.NodeLoss {
		return nil
	}
	for k, key := range r.keys {
		if key.Placement != PlacementEdge {
			continue
		}
		reps := representatives(r.bases[k])
		for _, n := range p.Sweep.CamerasPerNode {
			for _, spare := range []bool{false, true} {
				f, err := withCameras(r.bases[k], n)
				if err != nil {
					return err
				}
				f.Faults = slices.Clone(f.Faults)
				for i := range f.Sites {
					if reps[i] {
						if spare {
							f.Sites[i].Nodes++
						}
						node, err := lossNode(f, f.Sites[i])
						if err != nil {
							return err
						}
						f.Faults = append(f.Faults, Fault{At: f.Duration / 3, Action: FaultKill, Node: node})
					}
				}
				keep := func(i int) bool { return reps[i] }
				r.add(unit{kind: unitNodeLoss, key: k, cameras: n, spare: spare, fleet: f, whole: true, keep: keep, same: -1,
					work: work(f, keep), describe: fmt.Sprintf("%s, %d cameras per node, node loss (spare %t)", keyString(key), n, spare)})
			}
		}
	}
	return nil
}

// lossNode is the edge node of site s that the node-loss study kills: the
// first one the scenario's own faults leave alone, since a node takes one
// kill, restart or pause.
func lossNode(f *Fleet, s Site) (string, error) {
	for n := 1; n <= s.Nodes; n++ {
		name := fmt.Sprintf("%s-edge-%d", s.Name, n)
		if !slices.ContainsFunc(f.Faults, func(ft Fault) bool { return ft.Node == name }) {
			return name, nil
		}
	}
	return "", fmt.Errorf("plan: nodeLoss: the scenario already kills, restarts or pauses every edge node of site %s, so the study has none to lose: "+
		"leave one node of the site without a fault, or set nodeLoss: false", s.Name)
}

// samePoint is the point unit of key k that simulates exactly fleet f, or
// -1.
func (r *runner) samePoint(k int, f *Fleet) int {
	for i, u := range r.units {
		if u.kind != unitPoint || u.key != k || u.fleet.Cloud != f.Cloud || len(u.fleet.Sites) != len(f.Sites) {
			continue
		}
		same := true
		for j := range f.Sites {
			a, b := u.fleet.Sites[j], f.Sites[j]
			same = same && a.Nodes == b.Nodes && slices.EqualFunc(a.Cameras, b.Cameras, func(x, y CameraGroup) bool { return x.Count == y.Count })
		}
		if same {
			return i
		}
	}
	return -1
}

// add appends a unit; whole units go to the shards round robin.
func (r *runner) add(u unit) {
	if u.whole {
		u.owner = r.whole
		if r.opt.Shard != nil {
			u.owner = r.whole % r.opt.Shard.Count
		}
		r.whole++
	}
	r.units = append(r.units, u)
}

// representatives are the first site of each type.
func representatives(f *Fleet) map[int]bool {
	seen, out := map[string]bool{}, map[int]bool{}
	for i, s := range f.Sites {
		if !seen[s.Type] {
			seen[s.Type], out[i] = true, true
		}
	}
	return out
}

func work(f *Fleet, keep func(int) bool) float64 {
	n := 0
	for i, s := range f.Sites {
		if keep == nil || keep(i) {
			for _, g := range s.Cameras {
				n += g.Count
			}
		}
	}
	return float64(n) * f.Duration.Seconds()
}

func keyString(k CurveKey) string {
	s := fmt.Sprintf("%s placement, %s, model %s, detect %g fps, link %s", k.Placement, k.Hardware, k.Model, k.DetectFPS, k.Link)
	if k.NodesPerSite > 0 {
		s += fmt.Sprintf(", %d nodes per site", k.NodesPerSite)
	}
	if k.CloudNodes > 0 {
		s += fmt.Sprintf(", %d cloud nodes", k.CloudNodes)
	}
	return s
}

// header is the report without its figures.
func (r *runner) header() *CapacityReport {
	p, cal := r.p, r.cal
	rep := &CapacityReport{APIVersion: CapacityAPIVersion, Kind: CapacityKind, Name: p.Name, Generated: r.opt.Now().UTC(),
		Calibration: CalibrationInfo{Path: cmpOr(r.opt.CalibrationPath, p.Calibration), Provenance: cal.Provenance, TestFixture: cal.TestFixture,
			InSitu: cal.InSituKeys()},
		Objectives: objectiveList(p.Objectives)}
	if len(r.bases) > 0 {
		b := r.bases[0]
		rep.Seed, rep.Simulated, rep.Sites = b.Seed, b.Duration, len(b.Sites)
		for _, s := range b.Sites {
			for _, g := range s.Cameras {
				rep.Cameras += g.Count
			}
		}
	}
	if cal.TestFixture {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the calibration %s is a test fixture: its numbers were not measured, so no figure here sizes real hardware; measure one with %s",
			rep.Calibration.Path, CalibrateCommand))
	}
	if h := r.opt.Host; h != "" && !strings.HasPrefix(cal.Provenance.Machine, h) {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the calibration was measured on %q, not on this machine (%s): its figures hold for that machine's hardware", cal.Provenance.Machine, h))
	}
	if c := r.opt.Commit; c != "" && !strings.HasPrefix(c, cal.Provenance.Commit) && !strings.HasPrefix(cal.Provenance.Commit, c) {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the calibration was measured with edgesim commit %s, this is %s: re-measure if the runtime changed", cal.Provenance.Commit, c))
	}
	for _, n := range p.ObjectiveNotes {
		rep.Warnings = append(rep.Warnings, "objectives: "+n)
	}
	for _, w := range p.Scenario.Warnings {
		rep.Warnings = append(rep.Warnings, "scenario: "+w.Error())
	}
	return rep
}

// objectiveList names the objectives as the checks do.
func objectiveList(o Objectives) []Objective {
	var out []Objective
	// a type that exercises every objective, so each is listed
	for _, c := range o.check(TypeResult{Sites: 1, AlertsExpected: 1, Alerted: 1}) {
		out = append(out, Objective{Name: strings.TrimPrefix(c.Objective, ": "), Limit: c.Limit})
	}
	return out
}

// fingerprint identifies the work a shard belongs to, so that shards of
// different plans, seeds or calibrations are not merged.
func (r *runner) fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d|%s|%d", r.p.Name, r.bases[0].Seed, r.cal.Provenance.Date.Format(time.RFC3339), len(r.units))
	for _, k := range r.keys {
		fmt.Fprintf(&b, "|%s", keyString(k))
	}
	return b.String()
}

// cpuSeconds is the process's CPU time so far (user and system).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// peakRSS is the process's peak resident set in bytes (getrusage reports
// KiB on Linux).
func peakRSS() uint64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return uint64(ru.Maxrss) * 1024
}
