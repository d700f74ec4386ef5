package scene

import (
	"math"
	"sort"
)

const (
	kindPerson = iota
	kindVehicle
)

// rng is a small splitmix64 generator: fast, seedable from several words and
// identical on every platform and Go version.
type rng struct{ s uint64 }

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func newRNG(parts ...uint64) *rng {
	h := uint64(0x5eed)
	for _, p := range parts {
		h = mix(h ^ p)
	}
	return &rng{s: h}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64              { return float64(r.next()>>11) / (1 << 53) }
func (r *rng) rangef(a, b float64) float64 { return a + (b-a)*r.float() }
func (r *rng) intn(n int) int              { return int(r.next() % uint64(n)) }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// layout is the ground geometry of a background: where feet can be and how
// big objects are at a given foot height (a simple perspective).
type layout struct {
	personBand   [2]float64   // foot y range; heights 15%..40% of the frame across it
	vehicleBand  [2]float64   // foot y range; widths 15%..35% of the frame across it
	walkways     [][2]float64 // preferred foot y ranges for people; nil = personBand
	lanes        []float64    // vehicle foot y; nil = anywhere in vehicleBand
	personDur    [2]float64   // seconds to cross the view
	vehicleDur   [2]float64
	vehicleStops float64 // probability that a random vehicle stops for a while
	size         float64 // factor on object sizes; 0 = 1 (the built-in layouts)
}

// warp returns l as seen by a camera placed as v says; the zero Variant
// returns l unchanged.
func (l layout) warp(v Variant) layout {
	if v == (Variant{}) {
		return l
	}
	band := func(b [2]float64) [2]float64 { return [2]float64{v.vmap(b[0]), v.vmap(b[1])} }
	l.personBand, l.vehicleBand = band(l.personBand), band(l.vehicleBand)
	l.walkways = append([][2]float64(nil), l.walkways...)
	for i := range l.walkways {
		l.walkways[i] = band(l.walkways[i])
	}
	l.lanes = append([]float64(nil), l.lanes...)
	for i := range l.lanes {
		l.lanes[i] = v.vmap(l.lanes[i])
	}
	l.size = v.size()
	return l
}

func (l layout) sizeFactor() float64 {
	if l.size == 0 {
		return 1
	}
	return l.size
}

var layouts = map[string]layout{
	BackgroundStreet: {
		personBand:  [2]float64{0.46, 0.98},
		vehicleBand: [2]float64{0.62, 0.80},
		walkways:    [][2]float64{{0.46, 0.50}, {0.84, 0.98}},
		lanes:       []float64{0.66, 0.77},
		personDur:   [2]float64{7, 15},
		vehicleDur:  [2]float64{3, 7},
	},
	BackgroundParking: {
		personBand:   [2]float64{0.48, 0.98},
		vehicleBand:  [2]float64{0.50, 0.95},
		personDur:    [2]float64{7, 15},
		vehicleDur:   [2]float64{7, 13},
		vehicleStops: 0.3,
	},
	BackgroundIndoor: {
		personBand:  [2]float64{0.52, 0.98},
		vehicleBand: [2]float64{0.60, 0.95},
		personDur:   [2]float64{6, 13},
		vehicleDur:  [2]float64{8, 14},
	},
}

func (l layout) personHeight(y float64) float64 {
	u := clamp((y-l.personBand[0])/(l.personBand[1]-l.personBand[0]), 0, 1)
	return (0.15 + 0.25*u) * l.sizeFactor()
}

func (l layout) vehicleWidth(y float64) float64 {
	u := clamp((y-l.vehicleBand[0])/(l.vehicleBand[1]-l.vehicleBand[0]), 0, 1)
	return (0.15 + 0.20*u) * l.sizeFactor()
}

// look is the appearance of one object.
type look struct {
	aspect  float64 // person: width/height; vehicle: height/width
	variant int     // vehicle: 0 sedan, 1 hatchback, 2 van
	body    ycc     // shirt or car paint
	pants   ycc
	skin    ycc
	hair    ycc
	shoes   ycc
	bag     bool
}

// waypoint: at time t (seconds) the foot point is at normalised x, y; d is
// the distance walked so far (normalised widths).
type waypoint struct{ t, x, y, d float64 }

type track struct {
	id   int
	kind int
	lbl  string
	pts  []waypoint
	dir  float64 // overall facing, +1 right, -1 left
	look look
}

func (tr *track) label() string { return tr.lbl }

func newTrack(id, kind int, r *rng, pts []waypoint) *track {
	tr := &track{id: id, kind: kind, pts: pts, dir: 1}
	if kind == kindPerson {
		tr.lbl = LabelPerson
	} else {
		tr.lbl = LabelVehicle
	}
	if pts[len(pts)-1].x < pts[0].x {
		tr.dir = -1
	}
	for i := 1; i < len(pts); i++ {
		pts[i].d = pts[i-1].d + math.Hypot(pts[i].x-pts[i-1].x, pts[i].y-pts[i-1].y)
	}
	tr.look = newLook(kind, r)
	return tr
}

// at returns the foot point, facing and distance walked at time t, and
// whether the track exists at t.
func (tr *track) at(t float64) (x, y, dir, dist float64, ok bool) {
	p := tr.pts
	if t < p[0].t || t >= p[len(p)-1].t {
		return 0, 0, 0, 0, false
	}
	i := sort.Search(len(p), func(i int) bool { return t < p[i].t })
	if i == 0 || i == len(p) {
		return 0, 0, 0, 0, false
	}
	a, b := p[i-1], p[i]
	u := (t - a.t) / (b.t - a.t)
	dir = tr.dir
	if b.x > a.x {
		dir = 1
	} else if b.x < a.x {
		dir = -1
	}
	return a.x + u*(b.x-a.x), a.y + u*(b.y-a.y), dir, a.d + u*(b.d-a.d), true
}

var (
	shirtColours = []rgb{{200, 40, 40}, {40, 70, 170}, {235, 235, 230}, {30, 30, 35}, {120, 120, 125},
		{40, 130, 60}, {220, 190, 50}, {120, 75, 40}, {230, 120, 40}, {110, 60, 140}, {70, 150, 190}}
	pantsColours = []rgb{{35, 45, 80}, {25, 25, 28}, {90, 90, 95}, {170, 150, 110}, {60, 50, 40}, {50, 70, 110}}
	skinColours  = []rgb{{235, 200, 170}, {210, 165, 130}, {170, 120, 85}, {120, 80, 55}, {90, 60, 40}}
	hairColours  = []rgb{{30, 25, 20}, {70, 50, 30}, {150, 110, 60}, {200, 180, 130}, {120, 120, 120}}
	carColours   = []rgb{{235, 235, 235}, {25, 25, 30}, {170, 172, 178}, {180, 30, 30}, {30, 60, 140},
		{90, 92, 96}, {30, 80, 50}, {200, 160, 40}, {120, 20, 30}}
)

func newLook(kind int, r *rng) look {
	var l look
	if kind == kindPerson {
		l.aspect = r.rangef(0.35, 0.45)
		l.body = shirtColours[r.intn(len(shirtColours))].ycc()
		l.pants = pantsColours[r.intn(len(pantsColours))].ycc()
		l.skin = skinColours[r.intn(len(skinColours))].ycc()
		l.hair = hairColours[r.intn(len(hairColours))].ycc()
		l.shoes = rgb{30, 28, 26}.ycc()
		l.bag = r.float() < 0.25
		return l
	}
	l.body = carColours[r.intn(len(carColours))].ycc()
	switch v := r.float(); {
	case v < 0.6:
		l.variant, l.aspect = 0, r.rangef(0.36, 0.42)
	case v < 0.85:
		l.variant, l.aspect = 1, r.rangef(0.42, 0.48)
	default:
		l.variant, l.aspect = 2, r.rangef(0.52, 0.6)
	}
	return l
}

// spawner generates random tracks of one kind with random access in time:
// track k starts in [k*interval, (k+1)*interval) and lives at most maxDur.
type spawner struct {
	s        *Scene
	kind     int
	mean     int
	interval float64
	maxDur   float64
}

func newSpawner(s *Scene, kind, mean int) spawner {
	sp := spawner{s: s, kind: kind, mean: mean}
	if mean == 0 {
		return sp
	}
	d := s.layout.personDur
	pause, pauseMean := 2.5, 0.2*1.75
	if kind == kindVehicle {
		d = s.layout.vehicleDur
		pause, pauseMean = 4, s.layout.vehicleStops*3
	}
	sp.interval = ((d[0]+d[1])/2 + pauseMean) / float64(mean)
	sp.maxDur = d[1] + pause
	return sp
}

func (sp spawner) each(t float64, fn func(*track)) {
	if sp.mean == 0 {
		return
	}
	f0, f1 := math.Floor((t-sp.maxDur)/sp.interval)-1, math.Floor(t/sp.interval)
	if !(f1-f0 < 1e4) || math.Abs(f1) > 1<<52 { // far beyond any run: nothing to show
		return
	}
	k0, k1 := int(f0), int(f1)
	for k := k0; k <= k1; k++ {
		fn(sp.track(k))
	}
}

func (sp spawner) track(k int) *track {
	s, l := sp.s, sp.s.layout
	r := newRNG(s.key, uint64(sp.kind)+0x7261, uint64(int64(k)))
	start := (float64(k) + r.float()) * sp.interval
	var y0, y1, dur, pauseP, pauseAt float64
	if sp.kind == kindPerson {
		if len(l.walkways) > 0 {
			w := l.walkways[r.intn(len(l.walkways))]
			y0 = r.rangef(w[0], w[1])
			if r.float() < 0.15 {
				o := l.walkways[r.intn(len(l.walkways))]
				y1 = r.rangef(o[0], o[1])
			} else {
				y1 = clamp(y0+r.rangef(-0.03, 0.03), w[0], w[1])
			}
		} else {
			b := l.personBand
			y0 = r.rangef(b[0], b[1])
			y1 = clamp(y0+r.rangef(-0.15, 0.15), b[0], b[1])
		}
		dur = r.rangef(l.personDur[0], l.personDur[1])
		if r.float() < 0.2 {
			pauseP, pauseAt = r.rangef(1, 2.5), r.rangef(0.3, 0.7)
		}
	} else {
		if len(l.lanes) > 0 {
			y0 = l.lanes[r.intn(len(l.lanes))]
		} else {
			y0 = r.rangef(l.vehicleBand[0], l.vehicleBand[1])
		}
		y1 = y0
		dur = r.rangef(l.vehicleDur[0], l.vehicleDur[1])
		if r.float() < l.vehicleStops {
			pauseP, pauseAt = r.rangef(2, 4), r.rangef(0.35, 0.65)
		}
	}
	leftToRight := r.float() < 0.5
	if len(l.lanes) > 1 && sp.kind == kindVehicle {
		leftToRight = y0 == l.lanes[len(l.lanes)-1] // drive on the right
	}
	aspectR := *r // the look is drawn from the same stream, after the path
	lk := newLook(sp.kind, &aspectR)
	xs := -s.halfWidth(sp.kind, lk.aspect, y0) - 0.01
	xe := 1 + s.halfWidth(sp.kind, lk.aspect, y1) + 0.01
	if !leftToRight {
		xs, xe = 1-xs, 1-xe
	}
	pts := []waypoint{{t: start, x: xs, y: y0}}
	if pauseP > 0 {
		xm, ym := xs+pauseAt*(xe-xs), y0+pauseAt*(y1-y0)
		pts = append(pts, waypoint{t: start + pauseAt*dur, x: xm, y: ym}, waypoint{t: start + pauseAt*dur + pauseP, x: xm, y: ym})
	}
	pts = append(pts, waypoint{t: start + dur + pauseP, x: xe, y: y1})
	id := randomIDTag + 2*k + sp.kind
	return newTrack(id, sp.kind, r, pts)
}

// EventTrackID is the ground-truth track id (Object.TrackID) of the object
// that the i-th event of a Config scripts.
func EventTrackID(i int) int { return eventIDBase + i }

// eventTrack builds the scripted track of event i: the object approaches
// from the nearer side, is inside the zone exactly during [Start, End) and
// leaves afterwards.
func (s *Scene) eventTrack(i int, ev Event) *track {
	r := newRNG(s.key, 0xe7e47, uint64(i))
	kind := kindPerson
	if ev.Label == LabelVehicle || (ev.Label == "" && ev.Kind == EventVehicleStop) {
		kind = kindVehicle
	}
	var z [4]float64
	for _, zz := range s.cfg.Zones {
		if zz.Name == ev.Zone {
			z = zz.Rect
		}
	}
	start, end := ev.Start.Seconds(), ev.End.Seconds()
	cx, cy := (z[0]+z[2])/2, (z[1]+z[3])/2
	mx, my := 0.15*(z[2]-z[0]), 0.15*(z[3]-z[1])
	y := clamp(cy, z[1]+my, z[3]-my)
	fromLeft := cx < 0.5
	speed := 0.09 // frame widths per second
	if kind == kindVehicle {
		speed = 0.2
	}
	peek := *r
	lk := newLook(kind, &peek)
	off := s.halfWidth(kind, lk.aspect, y) + 0.01
	xs, xe, in, out := -off, 1+off, z[0], z[2]
	if !fromLeft {
		xs, xe, in, out = xe, xs, out, in
	}
	var pts []waypoint
	if ev.Kind == EventVehicleStop {
		pts = []waypoint{
			{t: start - math.Abs(cx-xs)/speed, x: xs, y: y},
			{t: start, x: cx, y: y},
			{t: end, x: cx, y: y},
			{t: end + math.Abs(xe-cx)/speed, x: xe, y: y},
		}
	} else {
		pts = []waypoint{
			{t: start - math.Abs(in-xs)/speed, x: xs, y: y},
			{t: start, x: in, y: y},
		}
		if ev.Kind == EventLoiter {
			n := int(clamp(math.Round((end-start)/3), 1, 400))
			for j := 1; j < n; j++ {
				pts = append(pts, waypoint{
					t: start + (end-start)*float64(j)/float64(n),
					x: r.rangef(z[0]+mx, z[2]-mx),
					y: r.rangef(z[1]+my, z[3]-my),
				})
			}
		}
		last := pts[len(pts)-1]
		pts = append(pts, waypoint{t: end, x: out, y: last.y})
		pts = append(pts, waypoint{t: end + math.Abs(xe-out)/speed, x: xe, y: last.y})
	}
	tr := newTrack(EventTrackID(i), kind, r, pts)
	tr.look = lk
	return tr
}
