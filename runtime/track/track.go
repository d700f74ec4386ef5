// Package track assigns stable track ids to detections across frames with a
// greedy IoU tracker (per stream, per label).
package track

import (
	"image"
	"sort"
	"time"
)

// Observation is one detection of a frame.
type Observation struct {
	Label string
	Box   image.Rectangle
}

// Defaults.
const (
	DefaultMinIoU  = 0.3
	DefaultMaxIdle = 2 * time.Second
)

type trackState struct {
	id       int
	label    string
	box      image.Rectangle
	lastSeen time.Time
}

// Tracker keeps tracks of one stream. Not safe for concurrent use.
type Tracker struct {
	minIoU  float64
	maxIdle time.Duration
	nextID  int
	tracks  []*trackState
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithMinIoU sets the overlap needed to continue a track (default 0.3).
func WithMinIoU(v float64) Option { return func(t *Tracker) { t.minIoU = v } }

// WithMaxIdle sets how long a track survives without a matching detection
// (default 2 s, on the frames' clock).
func WithMaxIdle(d time.Duration) Option { return func(t *Tracker) { t.maxIdle = d } }

// New returns an empty tracker. Track ids start at 1.
func New(opts ...Option) *Tracker {
	t := &Tracker{minIoU: DefaultMinIoU, maxIdle: DefaultMaxIdle, nextID: 1}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Len returns the number of live tracks.
func (t *Tracker) Len() int { return len(t.tracks) }

// Update matches the observations of the frame taken at `at` to existing
// tracks and returns one track id per observation, in order.
func (t *Tracker) Update(at time.Time, obs []Observation) []int {
	live := t.tracks[:0]
	for _, tr := range t.tracks {
		if at.Sub(tr.lastSeen) <= t.maxIdle {
			live = append(live, tr)
		}
	}
	t.tracks = live

	type pair struct {
		iou      float64
		obs, trk int
	}
	var pairs []pair
	for i, o := range obs {
		for j, tr := range t.tracks {
			if tr.label != o.Label {
				continue
			}
			if v := IoU(o.Box, tr.box); v >= t.minIoU {
				pairs = append(pairs, pair{v, i, j})
			}
		}
	}
	sort.SliceStable(pairs, func(a, b int) bool { return pairs[a].iou > pairs[b].iou })
	ids := make([]int, len(obs))
	usedTrk := make([]bool, len(t.tracks))
	for _, p := range pairs {
		if ids[p.obs] != 0 || usedTrk[p.trk] {
			continue
		}
		tr := t.tracks[p.trk]
		ids[p.obs], usedTrk[p.trk] = tr.id, true
		tr.box, tr.lastSeen = obs[p.obs].Box, at
	}
	for i, o := range obs {
		if ids[i] != 0 {
			continue
		}
		tr := &trackState{id: t.nextID, label: o.Label, box: o.Box, lastSeen: at}
		t.nextID++
		t.tracks = append(t.tracks, tr)
		ids[i] = tr.id
	}
	return ids
}

// IoU is the intersection over union of two rectangles (0 when either is
// empty).
func IoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	ua := float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia
	if ua <= 0 {
		return 0
	}
	return ia / ua
}
