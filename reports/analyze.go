package reports

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/reports/internal/text"
	"github.com/edgesim/edgesim/wire"
)

// ErrInvalidRun is wrapped by the error [Analyze] returns for input it
// cannot analyse.
var ErrInvalidRun = errors.New("invalid run samples")

// InvalidRunError lists every problem found in a [Run].
type InvalidRunError struct {
	Problems []string
}

func (e *InvalidRunError) Error() string {
	return fmt.Sprintf("%s: %s (fix the testbed's sample collection or the samples file)",
		ErrInvalidRun, strings.Join(e.Problems, "; "))
}

func (e *InvalidRunError) Unwrap() error { return ErrInvalidRun }

// Option tunes [Analyze].
type Option func(*options)

type options struct {
	iou             float64
	ignoreOcclusion float64
	bucket          time.Duration
}

// WithIoU sets the IoU a detection needs to match a ground-truth object
// (default 0.5).
func WithIoU(v float64) Option { return func(o *options) { o.iou = v } }

// WithIgnoreOcclusion sets the occlusion from which ground-truth objects
// are not required to be detected (default 0.7; 0 scores every object).
func WithIgnoreOcclusion(v float64) Option { return func(o *options) { o.ignoreOcclusion = v } }

// WithBucket sets the width of the latency-over-time buckets (default:
// whole seconds, at most about 120 buckets over the run).
func WithBucket(d time.Duration) Option { return func(o *options) { o.bucket = d } }

// Analyze computes a [Result] from a run's samples. It does not modify run.
func Analyze(run *Run, opts ...Option) (*Result, error) {
	o := options{iou: 0.5, ignoreOcclusion: 0.7}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validate(run, o); err != nil {
		return nil, err
	}
	a := &analysis{run: run, o: o, res: &Result{
		SchemaVersion:    SchemaVersion,
		Scenario:         run.Scenario,
		Seed:             run.Seed,
		Provider:         run.Provider,
		Start:            run.Start,
		End:              run.End,
		DurationMs:       durMs(run.End.Sub(run.Start)),
		Partial:          run.Partial,
		PartialReason:    run.PartialReason,
		LinksNotEmulated: run.LinksNotEmulated,
		Diagnostics:      run.Diagnostics,
		Clusters:         slices.Clone(run.Clusters),
		Faults:           slices.Clone(run.Faults),
		ObservedFaults:   slices.Clone(run.ObservedFaults),
		Alerts:           len(run.Alerts),
		Warnings:         slices.Clone(run.Warnings),
		run:              run,
	}}
	a.phases()
	a.latency()
	a.timeline()
	a.timeToAlert()
	a.accuracy()
	a.links()
	a.failover()
	a.consistency()
	a.rollouts()
	a.slos()
	a.rolloutVerdicts()
	a.headroom()
	a.verdict()
	return a.res, nil
}

// ExitCode is the process exit code for a result: 0 when every SLO holds
// on a complete run, 1 when one fails or the run was interrupted.
func ExitCode(r *Result) int {
	if r == nil || r.Verdict != VerdictPass {
		return 1
	}
	return 0
}

func validate(run *Run, o options) error {
	if run == nil {
		return &InvalidRunError{Problems: []string{"no run given"}}
	}
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if run.Start.IsZero() || run.End.IsZero() {
		add("start and end must be set")
	} else if run.End.Before(run.Start) {
		add("end %s is before start %s", run.End.Format(time.RFC3339Nano), run.Start.Format(time.RFC3339Nano))
	}
	if o.iou <= 0 || o.iou > 1 {
		add("IoU threshold %v must be in (0,1]", o.iou)
	}
	seen := map[string]bool{}
	for i, c := range run.Cameras {
		switch {
		case c.ID == "":
			add("cameras[%d].id is empty", i)
		case seen[c.ID]:
			add("cameras[%d].id %q is duplicated", i, c.ID)
		}
		seen[c.ID] = true
		if c.Placement != PlacementEdge && c.Placement != PlacementCloud {
			add("cameras[%d].placement %q must be %q or %q", i, c.Placement, PlacementEdge, PlacementCloud)
		}
	}
	for i, s := range run.SLO.Latency {
		if s.Percentile <= 0 || s.Percentile > 100 {
			add("slo.latency[%d].percentile %v must be in (0,100]", i, s.Percentile)
		}
		if s.Max <= 0 {
			add("slo.latency[%d].max must be positive", i)
		}
	}
	for i, e := range run.Events {
		if !seen[e.Camera] {
			add("events[%d].camera %q is not a camera of the run", i, e.Camera)
		}
	}
	if len(p) > 0 {
		return &InvalidRunError{Problems: p}
	}
	return nil
}

type analysis struct {
	run *Run
	o   options
	res *Result
	// acc is the accuracy of the scenario's own cameras (false) and of
	// the comparison mirror's (true).
	acc map[bool]*Accuracy
}

// mirrored reports whether the run has comparison mirror cameras.
func (a *analysis) mirrored() bool {
	return slices.ContainsFunc(a.run.Cameras, func(c Camera) bool { return c.Reference })
}

func (a *analysis) warnf(format string, args ...any) {
	a.res.Warnings = append(a.res.Warnings, fmt.Sprintf(format, args...))
}

func (a *analysis) warmUp() (time.Time, time.Time, bool) {
	for _, p := range a.run.Phases {
		if p.Name == PhaseWarmUp {
			return p.Start, p.End, true
		}
	}
	return time.Time{}, time.Time{}, false
}

func (a *analysis) inWarmUp(t time.Time) bool {
	s, e, ok := a.warmUp()
	return ok && !t.Before(s) && t.Before(e)
}

func (a *analysis) phases() {
	for _, p := range a.run.Phases {
		pr := PhaseResult{Name: p.Name, Start: p.Start, End: p.End, DurationMs: durMs(p.End.Sub(p.Start))}
		for _, c := range a.run.Cameras {
			for _, f := range c.Frames {
				if !f.Capture.Before(p.Start) && f.Capture.Before(p.End) {
					pr.Frames++
				}
			}
		}
		a.res.Phases = append(a.res.Phases, pr)
	}
}

// answerRatio is the share of a camera's frames the runtime is expected to
// answer: DetectFPS/FPS when both are set and DetectFPS is lower, else 1.
func answerRatio(c Camera) float64 {
	if c.FPS > 0 && c.DetectFPS > 0 && c.DetectFPS < c.FPS {
		return c.DetectFPS / c.FPS
	}
	return 1
}

func (a *analysis) latency() {
	var all, warm []time.Duration
	parts := make([][]time.Duration, len(BreakdownParts))
	bySite := map[string][]time.Duration{}
	byPlacement := map[string][]time.Duration{}
	byModel := map[string][]time.Duration{}
	fc := &a.res.Frames
	for _, c := range a.run.Cameras {
		var cam []time.Duration
		ov := CameraOverview{ID: c.ID, Site: c.Site, Placement: c.Placement, Nodes: c.Nodes, Reference: c.Reference}
		for _, f := range c.Frames {
			if a.inWarmUp(f.Capture) {
				fc.WarmUp++
				if f.Answered {
					warm = append(warm, f.Latency)
				}
				continue
			}
			fc.Sent++
			fc.Expected += answerRatio(c)
			ov.Sent++
			if !f.Answered {
				fc.Unanswered++
				continue
			}
			fc.Answered++
			ov.Answered++
			cam = append(cam, f.Latency)
			if !c.Reference {
				byModel[modelName(f)] = append(byModel[modelName(f)], f.Latency)
			}
			if f.InNode > 0 {
				for i, d := range []time.Duration{f.Latency - f.InNode, f.Decode, f.Wait, f.Infer, f.InNode - f.Decode - f.Wait - f.Infer} {
					parts[i] = append(parts[i], max(0, d))
				}
			}
		}
		all = append(all, cam...)
		bySite[c.Site] = append(bySite[c.Site], cam...)
		byPlacement[string(c.Placement)] = append(byPlacement[string(c.Placement)], cam...)
		a.res.Latencies.Cameras = append(a.res.Latencies.Cameras, LatencyGroup{Name: c.ID, Distribution: NewDistribution(cam)})
		a.res.Cameras = append(a.res.Cameras, ov)
	}
	fc.Answer = ratio(fc.Answered, fc.Sent)
	fc.Expected = text.Round3(fc.Expected)
	if fc.Expected > 0 {
		fc.OfExpected = round4(min(1, float64(fc.Answered)/fc.Expected))
	}
	a.res.Latencies.Overall = NewDistribution(all).withQuantiles()
	a.res.Latencies.Sites = groups(bySite)
	a.res.Latencies.Placements = groups(byPlacement)
	if len(byModel) > 1 {
		a.res.Latencies.Models = groups(byModel)
	}
	for _, gs := range [][]LatencyGroup{a.res.Latencies.Sites, a.res.Latencies.Placements, a.res.Latencies.Models} {
		for i := range gs {
			gs[i].Distribution = gs[i].Distribution.withQuantiles()
		}
	}
	if _, _, ok := a.warmUp(); ok {
		d := NewDistribution(warm)
		a.res.Latencies.WarmUp = &d
	}
	if len(parts[0]) > 0 {
		for i, name := range BreakdownParts {
			a.res.Latencies.Breakdown = append(a.res.Latencies.Breakdown, LatencyGroup{Name: name, Distribution: NewDistribution(parts[i])})
		}
	}
}

func groups(m map[string][]time.Duration) []LatencyGroup {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]LatencyGroup, 0, len(keys))
	for _, k := range keys {
		out = append(out, LatencyGroup{Name: k, Distribution: NewDistribution(m[k])})
	}
	return out
}

func (a *analysis) bucketWidth() time.Duration {
	if a.o.bucket > 0 {
		return a.o.bucket
	}
	span := a.run.End.Sub(a.run.Start)
	w := time.Second
	if n := span / (120 * time.Second); n >= 1 {
		w = (n + 1) * time.Second
	}
	return w
}

func (a *analysis) timeline() {
	w := a.bucketWidth()
	a.res.LatencyTimelineBucketS = w.Seconds()
	type key struct {
		site string
		idx  int64
	}
	lat := map[key][]time.Duration{}
	miss := map[key]int{}
	expected := map[key]float64{}
	for _, c := range a.run.Cameras {
		r := answerRatio(c)
		for _, f := range c.Frames {
			off := f.Capture.Sub(a.run.Start)
			if off < 0 {
				continue
			}
			k := key{c.Site, int64(off / w)}
			expected[k] += r
			if f.Answered {
				lat[k] = append(lat[k], f.Latency)
			} else {
				miss[k]++
				if _, ok := lat[k]; !ok {
					lat[k] = nil
				}
			}
		}
	}
	keys := make([]key, 0, len(lat))
	for k := range lat {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y key) int {
		return cmp.Or(cmp.Compare(x.site, y.site), cmp.Compare(x.idx, y.idx))
	})
	for _, k := range keys {
		d := NewDistribution(lat[k])
		a.res.LatencyTimeline = append(a.res.LatencyTimeline, LatencyBucket{
			Site: k.site, OffsetS: (time.Duration(k.idx) * w).Seconds(), Count: d.Count,
			Unanswered: miss[k], Expected: text.Round3(expected[k]), P50Ms: d.P50Ms, P95Ms: d.P95Ms, MaxMs: d.MaxMs,
		})
	}
}

func alertTime(al wire.Alert) time.Time {
	if !al.Received.IsZero() {
		return al.Received
	}
	return al.Raised
}

// timeToAlert matches each scripted event to the first alert of the same
// camera, zone and label raised at or after its start and before the next
// such event starts. When the event names its ground-truth track, only an
// alert for that object counts; alerts for anyone else are listed with the
// event, not counted for it.
func (a *analysis) timeToAlert() {
	ref := map[string]bool{}
	for _, c := range a.run.Cameras {
		ref[c.ID] = c.Reference
	}
	objects := newAlertObjects(a.run, a.o.iou)
	for i, e := range a.run.Events {
		deadline := a.run.End
		for j, n := range a.run.Events {
			if j != i && n.Camera == e.Camera && n.Zone == e.Zone && n.Label == e.Label &&
				n.Start.After(e.Start) && n.Start.Before(deadline) {
				deadline = n.Start
			}
		}
		t := AlertTiming{Camera: e.Camera, Kind: e.Kind, Zone: e.Zone, Label: e.Label, Start: e.Start, End: e.End,
			Track: e.Track, Reference: ref[e.Camera]}
		for _, al := range a.run.Alerts {
			if al.Camera != e.Camera || al.Zone != e.Zone || (e.Label != "" && al.Label != e.Label) {
				continue
			}
			if al.Raised.Before(e.Start) || !al.Raised.Before(deadline) {
				continue
			}
			at := alertTime(al)
			if e.Track != 0 {
				if tr := objects.track(al); tr != e.Track {
					t.OtherAlerts = append(t.OtherAlerts, OtherAlert{ID: al.ID, At: at, Track: tr})
					continue
				}
			}
			if !t.Alerted || at.Before(t.AlertAt) {
				t.Alerted, t.AlertAt, t.AlertID = true, at, al.ID
				t.TimeToAlertMs = durMs(at.Sub(e.Start))
			}
		}
		slices.SortStableFunc(t.OtherAlerts, func(x, y OtherAlert) int { return x.At.Compare(y.At) })
		a.res.TimeToAlert = append(a.res.TimeToAlert, t)
	}
	// Report in time order whatever order the testbed collected them in.
	slices.SortStableFunc(a.res.TimeToAlert, func(x, y AlertTiming) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Camera, y.Camera), cmp.Compare(x.Zone, y.Zone),
			cmp.Compare(x.Label, y.Label), cmp.Compare(x.Kind, y.Kind))
	})
}

// identifyIoU is the overlap an alert's detection needs with a
// ground-truth object to be taken for it (the best overlap wins).
const identifyIoU = 0.3

// alertObjects identifies the objects alerts were raised for.
type alertObjects struct {
	iou  float64
	cams map[string]*Camera
}

func newAlertObjects(run *Run, iou float64) *alertObjects {
	o := &alertObjects{iou: min(iou, identifyIoU), cams: map[string]*Camera{}}
	for i := range run.Cameras {
		o.cams[run.Cameras[i].ID] = &run.Cameras[i]
	}
	return o
}

// track returns the ground-truth track of the object an alert was raised
// for, or 0 when it cannot be told. The alert names the frame that raised
// it and the edgenode's tracker id; the same node returned that frame's
// detections, tracker ids included, to the camera. The detection with the
// alert's tracker id is matched to the frame's ground truth by IoU. When
// that frame's answer never reached the camera, the latest earlier frame
// the node answered with that tracker id stands in.
func (o *alertObjects) track(al wire.Alert) int {
	c := o.cams[al.Camera]
	if c == nil || al.Track == 0 || al.Frame == 0 {
		return 0
	}
	truth := make(map[uint64][]TruthObject, len(c.Truth))
	for _, t := range c.Truth {
		truth[t.Frame] = t.Objects
	}
	best, bestFrame := 0, uint64(0)
	for _, f := range c.Frames {
		if !f.Answered || f.Frame > al.Frame || (al.Node != "" && f.Node != al.Node) || (best != 0 && f.Frame <= bestFrame) {
			continue
		}
		for _, d := range f.Detections {
			if d.Track != al.Track {
				continue
			}
			if tr := o.identify(d, truth[f.Frame]); tr != 0 {
				best, bestFrame = tr, f.Frame
			}
		}
	}
	return best
}

// identify returns the ground-truth object of d's label that d overlaps
// most, at least by the identification IoU.
func (o *alertObjects) identify(d Detection, truth []TruthObject) int {
	best, bestIoU := 0, o.iou
	for _, t := range truth {
		if t.Label != d.Label {
			continue
		}
		if v := IoU(d.Box, t.Box); v >= bestIoU {
			best, bestIoU = t.TrackID, v
		}
	}
	return best
}

func (a *analysis) accuracy() {
	n := 0
	for _, c := range a.run.Cameras {
		n += len(c.Truth)
	}
	frames := make([]ScoredFrame, 0, n)
	camOf := make([]int32, 0, n) // camera index per scored frame
	modelOf := make([]string, 0, n)
	for ci, c := range a.run.Cameras {
		if len(c.Truth) == 0 {
			continue
		}
		byFrame := make(map[uint64]int, len(c.Frames))
		for i := range c.Frames {
			byFrame[c.Frames[i].Frame] = i
		}
		for _, t := range c.Truth {
			i, ok := byFrame[t.Frame]
			if !ok || !c.Frames[i].Answered || a.inWarmUp(c.Frames[i].Capture) {
				continue
			}
			frames = append(frames, ScoredFrame{Truth: t.Objects, Detections: c.Frames[i].Detections})
			camOf = append(camOf, int32(ci))
			modelOf = append(modelOf, modelName(c.Frames[i]))
		}
	}
	if len(frames) == 0 {
		return
	}
	cms := matchDetections(frames, a.o.iou, a.o.ignoreOcclusion)
	acc := summarise(cms, a.o.iou, len(frames), nil)
	a.res.Accuracy = &acc
	a.acc = map[bool]*Accuracy{false: &acc}
	if a.mirrored() {
		a.acc = map[bool]*Accuracy{}
		for _, ref := range []bool{false, true} {
			n := 0
			for _, ci := range camOf {
				if a.run.Cameras[ci].Reference == ref {
					n++
				}
			}
			if n > 0 {
				sa := summarise(cms, a.o.iou, n, func(f int32) bool { return a.run.Cameras[camOf[f]].Reference == ref })
				a.acc[ref] = &sa
			}
		}
	}
	for _, scope := range []string{"placement", "site", "model"} {
		key := func(f int32) string {
			switch scope {
			case "site":
				return a.run.Cameras[camOf[f]].Site
			case "model": // the scenario's own cameras, not a comparison mirror
				if a.run.Cameras[camOf[f]].Reference {
					return ""
				}
				return modelOf[f]
			}
			return string(a.run.Cameras[camOf[f]].Placement)
		}
		count := map[string]int{}
		for f := range camOf {
			if k := key(int32(f)); k != "" {
				count[k]++
			}
		}
		if len(count) < 2 {
			continue
		}
		names := slices.Sorted(maps.Keys(count))
		for _, name := range names {
			ga := summarise(cms, a.o.iou, count[name], func(f int32) bool { return key(f) == name })
			a.res.AccuracyBy = append(a.res.AccuracyBy, AccuracyGroup{Scope: scope, Name: name, FramesScored: count[name],
				MeanAP50: ga.MeanAP50, Precision: ga.Precision, Recall: ga.Recall})
		}
	}
}

// modelName is the model that answered frame f, or NoModel when its
// edgenode did not say.
func modelName(f FrameSample) string { return cmp.Or(f.Model, NoModel) }

// NoModel names the group of answered frames whose answer named no model.
const NoModel = "(not reported)"

func (a *analysis) links() {
	span := a.run.End.Sub(a.run.Start).Seconds()
	for _, l := range a.run.Links {
		s := slices.Clone(l.Samples)
		slices.SortStableFunc(s, func(x, y CounterSample) int { return x.At.Compare(y.At) })
		lr := LinkResult{Link: l.Link, Direction: l.Direction, Site: l.Site, Uplink: l.Uplink, Reference: l.Reference,
			Bytes: l.TotalBytes, Packets: l.TotalPackets, Dropped: l.TotalDropped}
		if len(s) > 0 {
			last := s[len(s)-1]
			if lr.Bytes == 0 && lr.Packets == 0 {
				lr.Bytes, lr.Packets, lr.Dropped = last.Bytes, last.Packets, last.Dropped
			} else if last.Bytes != l.TotalBytes || last.Packets != l.TotalPackets {
				a.warnf("link %s %s: totals (%d B, %d packets) differ from the last counter reading (%d B, %d packets)",
					l.Link, l.Direction, l.TotalBytes, l.TotalPackets, last.Bytes, last.Packets)
			}
		}
		decreasing := false
		for i := 1; i < len(s); i++ {
			if s[i].Bytes < s[i-1].Bytes {
				decreasing = true
			}
		}
		if !decreasing {
			lr.SeriesOffsetS, lr.SeriesBitsPerS = rateSeries(s, a.run.Start)
			for _, v := range lr.SeriesBitsPerS {
				lr.PeakBitsPerS = max(lr.PeakBitsPerS, v)
			}
		}
		if decreasing {
			a.warnf("link %s %s: byte counter went backwards", l.Link, l.Direction)
		}
		first, last := a.meanWindow(s)
		switch {
		case first >= 0:
			lr.MeanBitsPerS = math.Round(float64(s[last].Bytes-s[first].Bytes) * 8 / s[last].At.Sub(s[first].At).Seconds())
		case span > 0:
			lr.MeanBitsPerS = math.Round(float64(lr.Bytes) * 8 / span)
		}
		a.res.Links = append(a.res.Links, lr)
	}
	a.uplinks()
}

// rateSeries turns cumulative readings into rates per interval. Readings
// much closer together than usual (a last read at tear-down, a retry) are
// merged into a neighbouring interval, so a few bytes over a millisecond do
// not show up as a huge peak.
func rateSeries(s []CounterSample, start time.Time) (offsets, bps []float64) {
	if len(s) < 2 {
		return nil, nil
	}
	dts := make([]time.Duration, 0, len(s)-1)
	for i := 1; i < len(s); i++ {
		dts = append(dts, s[i].At.Sub(s[i-1].At))
	}
	slices.Sort(dts)
	minDt := dts[len(dts)/2] / 2
	if minDt <= 0 {
		minDt = 1
	}
	from := 0
	emit := func(from, to int) {
		dt := s[to].At.Sub(s[from].At).Seconds()
		offsets = append(offsets, text.Round3(s[to].At.Sub(start).Seconds()))
		bps = append(bps, math.Round(float64(s[to].Bytes-s[from].Bytes)*8/dt))
	}
	lastFrom := -1
	for i := 1; i < len(s); i++ {
		if s[i].At.Sub(s[from].At) < minDt {
			continue
		}
		emit(from, i)
		lastFrom, from = from, i
	}
	if from < len(s)-1 && lastFrom >= 0 { // a short tail: widen the last interval
		offsets, bps = offsets[:len(offsets)-1], bps[:len(bps)-1]
		emit(lastFrom, len(s)-1)
	}
	return offsets, bps
}

// meanWindow picks the counter readings a link's mean rate is measured
// between: the first and last inside the run phase when there are two,
// else the first and last overall; -1 when no two readings span time.
func (a *analysis) meanWindow(s []CounterSample) (int, int) {
	ok := func(i, j int) bool { return i < j && s[j].At.After(s[i].At) && s[j].Bytes >= s[i].Bytes }
	for _, p := range a.run.Phases {
		if p.Name != PhaseRun {
			continue
		}
		i := slices.IndexFunc(s, func(c CounterSample) bool { return !c.At.Before(p.Start) })
		j := -1
		for k := len(s) - 1; k >= 0; k-- {
			if !s[k].At.After(p.End) {
				j = k
				break
			}
		}
		if i >= 0 && ok(i, j) {
			return i, j
		}
	}
	if len(s) >= 2 && ok(0, len(s)-1) {
		return 0, len(s) - 1
	}
	return -1, -1
}

func (a *analysis) uplinks() {
	sitePlacement := map[string]Placement{}
	siteCameras := map[string]int{}
	for _, c := range a.run.Cameras {
		if p, ok := sitePlacement[c.Site]; ok && p != c.Placement {
			sitePlacement[c.Site] = "mixed"
		} else {
			sitePlacement[c.Site] = c.Placement
		}
		siteCameras[c.Site]++
	}
	rows := map[Placement]*UplinkResult{}
	for _, l := range a.res.Links {
		if !l.Uplink {
			continue
		}
		p, ok := sitePlacement[l.Site]
		if !ok || p == "mixed" {
			continue
		}
		r := rows[p]
		if r == nil {
			r = &UplinkResult{Placement: p}
			rows[p] = r
		}
		if !slices.Contains(r.Sites, l.Site) {
			r.Sites = append(r.Sites, l.Site)
			r.Cameras += siteCameras[l.Site]
		}
		r.Bytes += l.Bytes
		r.MeanBitsPerS += l.MeanBitsPerS
	}
	for _, p := range []Placement{PlacementEdge, PlacementCloud} {
		r := rows[p]
		if r == nil {
			continue
		}
		slices.Sort(r.Sites)
		r.PerCameraBitsPerS = math.Round(safeDiv(r.MeanBitsPerS, float64(r.Cameras)))
		a.res.Uplink = append(a.res.Uplink, *r)
	}
	if e, c := rows[PlacementEdge], rows[PlacementCloud]; e != nil && c != nil && e.PerCameraBitsPerS > 0 {
		a.res.Uplink[1].VsEdge = text.Round3(c.PerCameraBitsPerS / e.PerCameraBitsPerS)
	}
}

func (a *analysis) affected(f Fault) []string {
	if len(f.Cameras) > 0 {
		return f.Cameras
	}
	var out []string
	for _, c := range a.run.Cameras {
		if c.ID == f.Target || c.Site == f.Target || slices.Contains(c.Nodes, f.Target) {
			out = append(out, c.ID)
		}
	}
	return out
}

// failover measures, per camera a fault interrupted, the gap from the
// fault to its recovery: the first answer for a frame captured after the
// fault took effect, from a node the fault did not take down (or from
// that node once restarted). Answers that were in flight, or that the
// faulted node still gave, are counted apart and end no gap.
func (a *analysis) failover() {
	cams := map[string]*Camera{}
	for i := range a.run.Cameras {
		cams[a.run.Cameras[i].ID] = &a.run.Cameras[i]
	}
	events := a.clusterEvents()
	recs := a.reconnects()
	for fi, f := range a.run.Faults {
		if f.Failed != "" {
			a.warnf("fault %d (%s %s at +%s) was not injected: %s: no failover was tested",
				fi, f.Kind, f.Target, text.Offset(a.run.Start, f.At), f.Failed)
			continue
		}
		cluster := a.clusterSteps(events, fi)
		first := len(a.res.Failover)
		effective := f.At
		if f.Effective.After(f.At) {
			effective = f.Effective
		}
		faulted := map[string]bool{f.Target: true}
		for _, n := range f.Nodes {
			faulted[n] = true
		}
		for _, id := range a.affected(f) {
			c := cams[id]
			if c == nil {
				a.warnf("fault %d (%s %s) names camera %q which is not in the run", fi, f.Kind, f.Target, id)
				continue
			}
			frames := slices.Clone(c.Frames)
			slices.SortStableFunc(frames, func(x, y FrameSample) int { return x.Capture.Compare(y.Capture) })
			// The node that served the camera when the fault hit: the last
			// answer to arrive before it.
			before, lastBy, lastAt := false, "", time.Time{}
			for _, fr := range frames {
				if arr := fr.Capture.Add(fr.Latency); fr.Answered && arr.Before(f.At) && !arr.Before(lastAt) {
					before, lastBy, lastAt = true, fr.Node, arr
				}
			}
			if !before {
				// A camera that never worked has no failover to measure;
				// its missing answers show in latency and frames answered.
				a.warnf("camera %s had no answered frame before fault %d (%s %s at +%s): failover not measured",
					id, fi, f.Kind, f.Target, text.Offset(a.run.Start, f.At))
				continue
			}
			if len(f.Nodes) > 0 && lastBy != "" && !faulted[lastBy] {
				a.warnf("camera %s was served by %s, not by a node fault %d (%s %s) took down: no failover to measure",
					id, lastBy, fi, f.Kind, f.Target)
				continue
			}
			g := FailoverGap{Fault: fi, FaultKind: f.Kind, Target: f.Target, Camera: id, FaultAt: f.At, Reference: c.Reference}
			for _, fr := range frames {
				if fr.Capture.Before(effective) {
					switch {
					case fr.Answered && fr.Capture.Add(fr.Latency).After(f.At):
						g.FramesInFlight++
					case !fr.Answered && !fr.Capture.Before(f.At):
						g.FramesLost++
					}
					continue
				}
				if !fr.Answered {
					g.FramesLost++
					continue
				}
				if faulted[fr.Node] && (f.Restored.IsZero() || fr.Capture.Before(f.Restored)) {
					g.FramesFromFaulted++
					continue
				}
				g.Recovered = true
				g.RecoveredAt = fr.Capture.Add(fr.Latency)
				g.RecoveredBy = fr.Node
				break
			}
			g.AnswersLost = int(math.Round(float64(g.FramesLost) * answerRatio(*c)))
			end := a.run.End
			if g.Recovered {
				end = g.RecoveredAt
			}
			g.GapMs = durMs(end.Sub(f.At))
			g.Steps = slices.Clone(cluster)
			if st, ok := reconnectStep(recs[id], f.At, end); ok {
				g.Steps = append(g.Steps, st)
			}
			if g.Recovered {
				g.Steps = append(g.Steps, newStep(StepFlowing, g.RecoveredAt, f.At))
			}
			a.res.Failover = append(a.res.Failover, g)
		}
		if len(a.res.Failover) == first && len(f.Nodes) > 0 {
			a.warnf("fault %d (%s %s at +%s) took down a node that served no camera: it exercised no failover",
				fi, f.Kind, f.Target, text.Offset(a.run.Start, f.At))
		}
		if s, ok := a.summarizeFailover(fi, a.res.Failover[first:], cluster); ok {
			a.res.FailoverSummaries = append(a.res.FailoverSummaries, s)
		}
	}
}

func (a *analysis) consistency() {
	if a.run.Partial {
		reason := a.run.PartialReason
		if reason == "" {
			reason = "interrupted"
		}
		a.warnf("partial run (%s): figures cover only what was collected", reason)
	}
	for _, of := range a.run.ObservedFaults {
		a.warnf("unscripted fault observed at +%s: %s %s %s", text.Offset(a.run.Start, of.At), of.Kind, of.Target, of.Detail)
	}
	// The physics floor of a camera's latency is a lower bound only: the
	// smallest access delay of its site for edge placement; for cloud
	// placement the larger of the smallest access and backhaul delays (a
	// testbed may model the cloud path as one composed link, so adding the
	// legs could count the access delay twice).
	type legs struct{ access, backhaul time.Duration }
	floors := map[string]legs{}
	for _, d := range a.run.LinkDelays {
		if d.OneWay <= 0 {
			continue
		}
		f := floors[d.Site]
		switch d.Leg {
		case LegAccess:
			if f.access == 0 || d.OneWay < f.access {
				f.access = d.OneWay
			}
		case LegBackhaul:
			if f.backhaul == 0 || d.OneWay < f.backhaul {
				f.backhaul = d.OneWay
			}
		}
		floors[d.Site] = f
	}
	var silent []string
	defer func() {
		switch {
		case len(silent) == 1:
			a.warnf("camera %s sent no frames", silent[0])
		case len(silent) > 1:
			a.warnf("%d cameras sent no frames: %s", len(silent), strings.Join(silent, ", "))
		}
	}()
	for _, c := range a.run.Cameras {
		if c.FramesSent != 0 && c.FramesSent != uint64(len(c.Frames)) {
			a.warnf("camera %s: counted %d frames sent but %d samples were collected", c.ID, c.FramesSent, len(c.Frames))
		}
		if len(c.Frames) == 0 {
			silent = append(silent, c.ID)
		}
		f := floors[c.Site]
		floor := f.access
		if c.Placement == PlacementCloud {
			floor = max(f.access, f.backhaul)
		}
		below, nonPositive := 0, 0
		var minLat time.Duration = math.MaxInt64
		for _, fr := range c.Frames {
			if !fr.Answered {
				continue
			}
			if fr.Latency <= 0 {
				nonPositive++
				continue
			}
			if floor > 0 && fr.Latency < floor {
				below++
				minLat = min(minLat, fr.Latency)
			}
		}
		if nonPositive > 0 {
			a.warnf("camera %s: %d answered frames have a latency <= 0 (clock problem)", c.ID, nonPositive)
		}
		if below > 0 {
			a.warnf("camera %s: %d frames answered faster than the configured one-way delay %s (fastest %s): the link delay is not applied or the clocks disagree",
				c.ID, below, floor, minLat)
		}
	}
}

func (a *analysis) verdict() {
	a.res.Verdict = VerdictPass
	if len(a.res.Failed()) > 0 {
		a.res.Verdict = VerdictFail
		return
	}
	if a.run.Partial {
		a.res.Verdict = VerdictPartial
	}
}
