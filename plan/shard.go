package plan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Partial is a shard's share of a plan run: the plan's layout (its curve
// keys and simulations, so that merging needs neither the plan nor the
// calibration) and, per simulation this shard ran, the raw figures of its
// sites per type: counts, histograms and each site's uplink. Figures are
// derived only after merging, from these, in one order, so a merged report
// equals a whole run's.
type Partial struct {
	Fingerprint string         `json:"fingerprint"`
	Keys        []CurveKey     `json:"keys"`
	Units       []UnitInfo     `json:"units"`
	Objectives  ObjectivesSpec `json:"objectives"`
	Results     []UnitResult   `json:"results"`
}

// ObjectivesSpec is Objectives as a shard file carries them.
type ObjectivesSpec struct {
	LatencyP50     time.Duration `json:"latencyP50,omitempty"`
	LatencyP95     time.Duration `json:"latencyP95,omitempty"`
	TimeToAlertP95 time.Duration `json:"timeToAlertP95,omitempty"`
	DroppedMax     float64       `json:"droppedMax,omitempty"`
	UplinkMax      float64       `json:"uplinkMax,omitempty"`
}

// Unit kinds of UnitInfo.
const (
	UnitPoint     = "point"
	UnitCloudTier = "cloudTier"
	UnitNodeLoss  = "nodeLoss"
)

// UnitInfo is one simulation of the plan.
type UnitInfo struct {
	Kind           string `json:"kind"`
	Key            int    `json:"key"` // index into Keys
	CamerasPerNode int    `json:"camerasPerNode,omitempty"`
	CloudNodes     int    `json:"cloudNodes,omitempty"`
	Spare          bool   `json:"spare,omitempty"`
	// Whole simulations ran on one shard; the others on every shard, each
	// over its slice of the sites.
	Whole bool `json:"whole"`
	// SameAs, when set, is the simulation whose fleet this one is: it is
	// not run again and takes that one's figures.
	SameAs *int `json:"sameAs,omitempty"`
}

// UnitResult is one simulation's figures from one shard.
type UnitResult struct {
	Unit  int         `json:"unit"`
	Types []TypeShare `json:"types"`
	Stats Stats       `json:"stats"`
}

// TypeShare is what a shard measured on the sites of one type.
type TypeShare struct {
	Type           string          `json:"type"`
	Sites          int             `json:"sites"`
	Cameras        int             `json:"cameras"`
	Frames         FrameCounts     `json:"frames"`
	AlertsExpected int             `json:"alertsExpected"`
	Alerted        int             `json:"alerted"`
	Latency        SparseHistogram `json:"latency"`
	TimeToAlert    SparseHistogram `json:"timeToAlert"`
	// Uplink is each site's mean WAN uplink, by site index.
	Uplink   []SiteUplink      `json:"uplink"`
	Failover *FailoverFragment `json:"failover,omitempty"`
}

// SiteUplink is one site's mean uplink in bit/s.
type SiteUplink struct {
	Site int     `json:"site"`
	Bits float64 `json:"bits"`
}

// FailoverFragment condenses failover gaps mergeably.
type FailoverFragment struct {
	Cameras     int             `json:"cameras"`
	Unrecovered int             `json:"unrecovered"`
	FramesLost  int             `json:"framesLost"`
	Max         time.Duration   `json:"max"`
	Gaps        SparseHistogram `json:"gaps"`
}

// SparseHistogram is a Histogram's non-empty buckets: [bucket, count].
type SparseHistogram [][2]uint64

func sparse(h *Histogram) SparseHistogram {
	out := SparseHistogram{}
	for i, c := range h.Counts {
		if c > 0 {
			out = append(out, [2]uint64{uint64(i), c})
		}
	}
	return out
}

func (s SparseHistogram) addTo(h *Histogram) error {
	for _, b := range s {
		if b[0] >= histBuckets {
			return fmt.Errorf("plan: histogram bucket %d out of range", b[0])
		}
		if h.Counts == nil {
			h.Counts = make([]uint64, histBuckets)
		}
		h.Counts[b[0]] += b[1]
		h.N += b[1]
	}
	return nil
}

func (s SparseHistogram) merge(o SparseHistogram) SparseHistogram {
	var h Histogram
	_ = s.addTo(&h)
	_ = o.addTo(&h)
	return sparse(&h)
}

// partial is the layout of this run.
func (r *runner) partial() *Partial {
	o := r.p.Objectives
	part := &Partial{Fingerprint: r.fingerprint(), Keys: r.keys, Results: []UnitResult{},
		Objectives: ObjectivesSpec{LatencyP50: o.LatencyP50, LatencyP95: o.LatencyP95, TimeToAlertP95: o.TimeToAlertP95,
			DroppedMax: o.DroppedMax, UplinkMax: o.UplinkMax}}
	for _, u := range r.units {
		info := UnitInfo{Key: u.key, CamerasPerNode: u.cameras, CloudNodes: u.cloud, Spare: u.spare, Whole: u.whole}
		if u.same >= 0 {
			info.SameAs = &u.same
		}
		info.Kind = [...]string{UnitPoint, UnitCloudTier, UnitNodeLoss}[u.kind]
		part.Units = append(part.Units, info)
	}
	return part
}

// unitPartial condenses one simulation's result per site type.
func unitPartial(i int, f *Fleet, res *Result) UnitResult {
	index := make(map[string]int, len(f.Sites))
	for j, s := range f.Sites {
		index[s.Name] = j
	}
	typeOf := map[string]string{}
	for _, s := range res.Sites {
		typeOf[s.Name] = s.Type
	}
	out := UnitResult{Unit: i, Stats: res.Stats}
	byType := map[string]*TypeShare{}
	for _, t := range res.Types {
		byType[t.Type] = &TypeShare{Type: t.Type, Sites: t.Sites, Cameras: t.Cameras, Frames: t.Frames,
			AlertsExpected: t.AlertsExpected, Alerted: t.Alerted, Latency: sparse(&t.latency), TimeToAlert: sparse(&t.tta),
			Uplink: []SiteUplink{}}
	}
	for _, s := range res.Sites {
		ts := byType[s.Type]
		ts.Uplink = append(ts.Uplink, SiteUplink{Site: index[s.Name], Bits: s.Uplink.BitsPerSec})
	}
	fo := map[string]*Histogram{}
	for _, g := range res.Failover {
		ts := byType[typeOf[g.Site]]
		if ts.Failover == nil {
			ts.Failover, fo[ts.Type] = &FailoverFragment{}, &Histogram{}
		}
		ts.Failover.Cameras++
		if !g.Recovered {
			ts.Failover.Unrecovered++
		}
		ts.Failover.FramesLost += g.FramesLost
		ts.Failover.Max = max(ts.Failover.Max, g.Gap)
		fo[ts.Type].Add(g.Gap)
	}
	for t, h := range fo {
		byType[t].Failover.Gaps = sparse(h)
	}
	for _, t := range res.Types {
		out.Types = append(out.Types, *byType[t.Type])
	}
	return out
}

// mergeShares adds o into t (same type).
func (t *TypeShare) mergeShares(o *TypeShare) {
	t.Sites += o.Sites
	t.Cameras += o.Cameras
	t.Frames.add(o.Frames)
	t.AlertsExpected += o.AlertsExpected
	t.Alerted += o.Alerted
	t.Latency = t.Latency.merge(o.Latency)
	t.TimeToAlert = t.TimeToAlert.merge(o.TimeToAlert)
	t.Uplink = append(t.Uplink, o.Uplink...)
	t.Failover = t.Failover.merge(o.Failover)
}

// merge returns f and g combined (either may be nil).
func (f *FailoverFragment) merge(g *FailoverFragment) *FailoverFragment {
	if g == nil {
		return f
	}
	out := &FailoverFragment{Gaps: SparseHistogram{}}
	if f != nil {
		*out = *f
	}
	out.Cameras += g.Cameras
	out.Unrecovered += g.Unrecovered
	out.FramesLost += g.FramesLost
	out.Max = max(out.Max, g.Max)
	out.Gaps = out.Gaps.merge(g.Gaps)
	return out
}

// typeResult derives a type's figures, summing the sites' uplinks in site
// order (the same additions in the same order on every path).
func (t *TypeShare) typeResult() (TypeResult, error) {
	r := TypeResult{Type: t.Type, Sites: t.Sites, Cameras: t.Cameras, Frames: t.Frames, AlertsExpected: t.AlertsExpected, Alerted: t.Alerted}
	if err := t.Latency.addTo(&r.latency); err != nil {
		return r, err
	}
	if err := t.TimeToAlert.addTo(&r.tta); err != nil {
		return r, err
	}
	r.LatencyP50, r.LatencyP95 = r.latency.Quantile(0.50), r.latency.Quantile(0.95)
	r.TimeToAlertP50, r.TimeToAlertP95 = r.tta.Quantile(0.50), r.tta.Quantile(0.95)
	up := slices.Clone(t.Uplink)
	slices.SortFunc(up, func(a, b SiteUplink) int { return cmp.Compare(a.Site, b.Site) })
	for _, s := range up {
		r.UplinkMeanBits += s.Bits
		r.UplinkMaxBits = max(r.UplinkMaxBits, s.Bits)
	}
	if r.Sites > 0 {
		r.UplinkMeanBits /= float64(r.Sites)
	}
	return r, nil
}

func (f *FailoverFragment) summary() (FailoverSummary, error) {
	var h Histogram
	if err := f.Gaps.addTo(&h); err != nil {
		return FailoverSummary{}, err
	}
	return FailoverSummary{Cameras: f.Cameras, Unrecovered: f.Unrecovered, FramesLost: f.FramesLost,
		GapP50: h.Quantile(0.50), GapP95: h.Quantile(0.95), GapMax: f.Max}, nil
}

// unitFigures is one simulation with its shards combined.
type unitFigures struct {
	types  []TypeResult
	shares []*TypeShare
	checks map[string][]Check
	met    map[string]bool // per type
	all    bool
	extra  []Check // point-wide checks no type exercised
}

// finalize combines the partials (one whole run's, or every shard's) and
// derives the report's curves and capacity figures.
func finalize(hdr *CapacityReport, parts []*Partial) (*CapacityReport, error) {
	if len(parts) == 0 {
		return nil, errors.New("plan: nothing to merge")
	}
	lay := parts[0]
	combined := make([]map[string]*TypeShare, len(lay.Units))
	order := make([][]string, len(lay.Units))
	seen := make([]int, len(lay.Units))
	for _, p := range parts {
		if p.Fingerprint != lay.Fingerprint || len(p.Units) != len(lay.Units) {
			return nil, errors.New("plan: the shards come from different plans, seeds or calibrations: merge the shards of one run")
		}
		for _, r := range p.Results {
			if r.Unit < 0 || r.Unit >= len(lay.Units) {
				return nil, fmt.Errorf("plan: shard result for simulation %d, which the plan does not have", r.Unit)
			}
			seen[r.Unit]++
			if lay.Units[r.Unit].Whole && seen[r.Unit] > 1 {
				return nil, fmt.Errorf("plan: simulation %d appears in two shards: give each shard once", r.Unit)
			}
			if combined[r.Unit] == nil {
				combined[r.Unit] = map[string]*TypeShare{}
			}
			for _, t := range r.Types {
				if c := combined[r.Unit][t.Type]; c != nil {
					c.mergeShares(&t)
					continue
				}
				c := t
				c.Uplink = slices.Clone(t.Uplink)
				combined[r.Unit][t.Type] = &c
				order[r.Unit] = append(order[r.Unit], t.Type)
			}
		}
	}
	obj := Objectives{LatencyP50: lay.Objectives.LatencyP50, LatencyP95: lay.Objectives.LatencyP95,
		TimeToAlertP95: lay.Objectives.TimeToAlertP95, DroppedMax: lay.Objectives.DroppedMax, UplinkMax: lay.Objectives.UplinkMax}
	figs := make([]*unitFigures, len(lay.Units))
	for i := range lay.Units {
		if a := lay.Units[i].SameAs; a != nil {
			if *a < 0 || *a >= i || lay.Units[*a].SameAs != nil {
				return nil, fmt.Errorf("plan: simulation %d refers to simulation %d", i, *a)
			}
			figs[i] = figs[*a]
			continue
		}
		if seen[i] == 0 {
			return nil, fmt.Errorf("plan: no shard simulated %s %d of key %d: a shard is missing", lay.Units[i].Kind, i, lay.Units[i].Key)
		}
		f := &unitFigures{checks: map[string][]Check{}, met: map[string]bool{}, all: true}
		types := slices.Sorted(slices.Values(order[i]))
		for _, t := range types {
			sh := combined[i][t]
			tr, err := sh.typeResult()
			if err != nil {
				return nil, err
			}
			f.types = append(f.types, tr)
			f.shares = append(f.shares, sh)
			f.met[t] = true
			for _, c := range obj.check(tr) {
				f.checks[t] = append(f.checks[t], c)
				f.met[t] = f.met[t] && c.Met
				f.all = f.all && c.Met
			}
		}
		if c, ok := obj.unexercised(f.types); ok {
			// An objective no type exercised: every type's knee fails here.
			f.extra, f.all = []Check{c}, false
			for t := range f.met {
				f.met[t] = false
			}
		}
		figs[i] = f
	}
	rep := *hdr
	rep.Shard, rep.Partial = nil, nil
	rep.Warnings = slices.Clone(hdr.Warnings)
	rep.Curves, rep.Capacity = []Curve{}, []SiteTypeCapacity{}
	caps := map[string]*SiteTypeCapacity{}
	capOf := func(t string) *SiteTypeCapacity {
		if caps[t] == nil {
			caps[t] = &SiteTypeCapacity{Type: t, Knees: []KeyKnee{}, Uplink: []UplinkFigure{}}
		}
		return caps[t]
	}
	for k, key := range lay.Keys {
		curve := Curve{Key: key, Points: []CurvePoint{}, Knees: []TypeKnee{}}
		var pts []int
		for i, u := range lay.Units {
			if u.Kind == UnitPoint && u.Key == k {
				pts = append(pts, i)
			}
		}
		knees := map[string]int{}
		failed := map[string]bool{}
		for _, i := range pts {
			f := figs[i]
			cp := CurvePoint{CamerasPerNode: lay.Units[i].CamerasPerNode, Types: f.types, Checks: []Check{}, Met: f.all}
			var fo *FailoverFragment
			for j, t := range f.types {
				cp.Checks = append(cp.Checks, f.checks[t.Type]...)
				if failed[t.Type] = failed[t.Type] || !f.met[t.Type]; !failed[t.Type] {
					knees[t.Type] = cp.CamerasPerNode
				}
				fo = fo.merge(f.shares[j].Failover)
			}
			cp.Checks = append(cp.Checks, f.extra...)
			if fo != nil {
				s, err := fo.summary()
				if err != nil {
					return nil, err
				}
				cp.Failover = &s
			}
			curve.Points = append(curve.Points, cp)
		}
		if len(pts) == 0 {
			continue
		}
		for _, t := range figs[pts[0]].types {
			knee := knees[t.Type]
			none := ""
			if knee == 0 {
				first := figs[pts[0]]
				none = noKnee(append(slices.Clone(first.checks[t.Type]), first.extra...))
			}
			curve.Knees = append(curve.Knees, TypeKnee{Type: t.Type, CamerasPerNode: knee, None: none})
			c := capOf(t.Type)
			c.Knees = append(c.Knees, KeyKnee{Key: key, CamerasPerNode: knee, None: none})
			at := 0
			for j, cp := range curve.Points {
				if cp.CamerasPerNode == knee {
					at = j
				}
			}
			for _, tr := range curve.Points[at].Types {
				if tr.Type == t.Type && tr.Sites > 0 {
					c.Uplink = append(c.Uplink, UplinkFigure{Key: key, CamerasPerSite: tr.Cameras / tr.Sites,
						MeanBits: tr.UplinkMeanBits, MaxBits: tr.UplinkMaxBits})
				}
			}
			if err := nodeLoss(c, lay, figs, k, knee, &rep); err != nil {
				return nil, err
			}
		}
		if key.Placement == PlacementCloud {
			cloudTier(capOf, lay, figs, k)
		}
		rep.Curves = append(rep.Curves, curve)
	}
	for _, t := range slices.Sorted(func(yield func(string) bool) {
		for t := range caps {
			if !yield(t) {
				return
			}
		}
	}) {
		rep.Capacity = append(rep.Capacity, *caps[t])
	}
	return &rep, nil
}

// cloudTier finds, per type, the smallest swept cloud tier meeting the
// type's objectives at the fleet's own cameras.
func cloudTier(capOf func(string) *SiteTypeCapacity, lay *Partial, figs []*unitFigures, k int) {
	var sizes []int
	for i, u := range lay.Units {
		if u.Kind == UnitCloudTier && u.Key == k {
			sizes = append(sizes, i)
		}
	}
	if len(sizes) == 0 {
		return
	}
	types := figs[sizes[0]].types
	for _, t := range types {
		fig := CloudTierFigure{Key: lay.Keys[k], Hardware: lay.Keys[k].Hardware}
		for _, i := range sizes {
			cams := 0
			for _, tr := range figs[i].types {
				cams += tr.Cameras
			}
			if figs[i].met[t.Type] {
				fig.Nodes, fig.Cameras, fig.Met = lay.Units[i].CloudNodes, cams, true
				break
			}
			fig.Cameras = cams
		}
		c := capOf(t.Type)
		c.CloudTier = append(c.CloudTier, fig)
	}
}

// nodeLoss adds a type's node-loss figures at its knee on key k.
func nodeLoss(c *SiteTypeCapacity, lay *Partial, figs []*unitFigures, k, knee int, rep *CapacityReport) error {
	found := false
	for i, u := range lay.Units {
		if u.Kind != UnitNodeLoss || u.Key != k {
			continue
		}
		found = true
		if u.CamerasPerNode != knee {
			continue
		}
		for j, tr := range figs[i].types {
			if tr.Type != c.Type {
				continue
			}
			fig := NodeLossFigure{Key: lay.Keys[k], CamerasPerNode: knee, Spare: u.Spare, LatencyP95: tr.LatencyP95, Met: figs[i].met[tr.Type]}
			if fo := figs[i].shares[j].Failover; fo != nil {
				s, err := fo.summary()
				if err != nil {
					return err
				}
				fig.Failover = s
			}
			c.NodeLoss = append(c.NodeLoss, fig)
		}
	}
	if found && knee == 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("node loss not studied for site type %s at %s: no swept cameras per node meets the objectives",
			c.Type, keyString(lay.Keys[k])))
	}
	return nil
}

// MergeReports merges the shards of one plan run (every index 0..N-1 of
// one N, each once) into the report one process would have written. Stats
// add up the shards' work (wall clock and peak RSS: the largest shard's);
// Generated is the latest shard's.
func MergeReports(shards []*CapacityReport) (*CapacityReport, error) {
	if len(shards) == 0 {
		return nil, errors.New("plan: no shard reports to merge")
	}
	n := 0
	have := map[int]bool{}
	var parts []*Partial
	for _, s := range shards {
		if s.Shard == nil || s.Partial == nil {
			return nil, errors.New("plan: a report without shard data: merge the files written with --shard i/N, not a whole report")
		}
		if n == 0 {
			n = s.Shard.Count
		}
		if s.Shard.Count != n {
			return nil, fmt.Errorf("plan: shards of %d and of %d: merge the shards of one run", n, s.Shard.Count)
		}
		if have[s.Shard.Index] {
			return nil, fmt.Errorf("plan: shard %d/%d given twice", s.Shard.Index, n)
		}
		have[s.Shard.Index] = true
		parts = append(parts, s.Partial)
	}
	var missing []string
	for i := range n {
		if !have[i] {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("plan: shards missing: %s", strings.Join(missing, ", "))
	}
	hdr := *shards[0]
	hdr.Stats = RunStats{}
	hdr.Warnings = slices.Clone(hdr.Warnings)
	for _, s := range shards {
		hdr.Stats.Points += s.Stats.Points
		hdr.Stats.Events += s.Stats.Events
		hdr.Stats.Packets += s.Stats.Packets
		hdr.Stats.Wall = max(hdr.Stats.Wall, s.Stats.Wall)
		hdr.Stats.CPUSeconds += s.Stats.CPUSeconds
		hdr.Stats.PeakRSSBytes = max(hdr.Stats.PeakRSSBytes, s.Stats.PeakRSSBytes)
		if s.Generated.After(hdr.Generated) {
			hdr.Generated = s.Generated
		}
		for _, w := range s.Warnings {
			if !slices.Contains(hdr.Warnings, w) {
				hdr.Warnings = append(hdr.Warnings, w)
			}
		}
	}
	return finalize(&hdr, parts)
}

// KneeFails is a missing knee's reason when the smallest swept value
// fails an objective (the reason of reports written before TypeKnee.None).
const KneeFails = "the smallest swept value already fails"

// noKnee says why the smallest swept value is not a knee, from its checks:
// an objective it fails, or else the objectives nothing exercised there
// (a knee must meet every objective, and an unexercised one is not met).
func noKnee(checks []Check) string {
	var unexercised []string
	for _, c := range checks {
		if c.Exercised && !c.Met {
			return KneeFails
		}
		if !c.Exercised {
			unexercised = append(unexercised, c.Objective)
		}
	}
	if len(unexercised) == 0 {
		return KneeFails
	}
	return "nothing exercised " + strings.Join(unexercised, ", ") + " at the smallest swept value"
}
