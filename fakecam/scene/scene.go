// Package scene renders deterministic synthetic security-camera frames with
// ground truth: a background (indoor, street, parking), people and vehicles
// that walk or drive through it, enter and leave the view and occlude each
// other, day or night lighting with sensor noise, and scripted events such
// as "a person loiters in zone entrance from 20 s to 35 s".
//
// The same Config (seed, camera id) and frame index always give the same
// pixels and the same objects. Render is random access and safe for
// concurrent use; GroundTruth returns the objects without drawing pixels.
//
// The package is pure Go and imports nothing else of the project, so that
// training code can use it without cgo.
package scene

import (
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"math"
	"sort"
	"strings"
	"time"
)

// Background names accepted in Config.Background.
const (
	BackgroundIndoor  = "indoor"
	BackgroundStreet  = "street"
	BackgroundParking = "parking"
)

// Object labels.
const (
	LabelPerson  = "person"
	LabelVehicle = "vehicle"
)

// Event kinds accepted in Event.Kind.
const (
	EventLoiter      = "loiter"
	EventEnter       = "enter"
	EventVehicleStop = "vehicle_stop"
)

// Limits of Config fields.
const (
	MinSize      = 64
	MaxSize      = 4096
	MaxObjects   = 64
	MaxEventTime = 1000 * time.Hour
	MinVisible   = 0.25 // objects less visible than this fraction of their box are left out of the ground truth
	eventIDBase  = 1
	randomIDTag  = 1_000_000
)

// ErrInvalidConfig is returned (wrapped) by New for a Config it cannot render.
var ErrInvalidConfig = errors.New("invalid scene config")

// Config describes one camera's scene.
type Config struct {
	Width      int     `json:"width"` // frame size in pixels, even, e.g. 640x360
	Height     int     `json:"height"`
	FPS        float64 `json:"fps"`        // frames per second (for time <-> index)
	Background string  `json:"background"` // "indoor" | "street" | "parking"; empty means "street"
	Night      bool    `json:"night"`      // dark, low contrast, sensor noise
	Seed       int64   `json:"seed"`       // scenario seed
	CameraID   string  `json:"camera_id"`  // seed + camera id + frame index => identical pixels every run
	People     int     `json:"people"`     // mean number of concurrently visible people
	Vehicles   int     `json:"vehicles"`   // mean number of concurrently visible vehicles
	Zones      []Zone  `json:"zones,omitempty"`
	Events     []Event `json:"events,omitempty"` // scripted, e.g. loiter
	Variant    Variant `json:"variant,omitzero"` // camera placement and light; zero = the background's built-in layout
}

// Variant moves a scene away from its background's single built-in layout:
// where the ground lies in the frame, how steeply the camera looks at it, how
// high the camera hangs and how bright the light is. The zero value changes
// nothing (the same pixels as a Config without it); each zero field means
// its default. Detector evaluation uses it for layouts training never saw.
type Variant struct {
	// Horizon moves the background and every ground position down (> 0) or
	// up (< 0), as a fraction of the frame height: -0.12..0.12.
	Horizon float64 `json:"horizon,omitempty"`
	// Tilt stretches (> 0, a steeper view) or squeezes (< 0) the background
	// and ground positions vertically about mid-frame: -0.25..0.3.
	Tilt float64 `json:"tilt,omitempty"`
	// CameraHeight is the mounting height relative to the default camera:
	// objects appear 1/CameraHeight as big. 0 means 1; else 0.6..1.6.
	CameraHeight float64 `json:"camera_height,omitempty"`
	// Light multiplies the brightness of everything not self-lit
	// (dusk < 1 < glare). 0 means 1; else 0.35..1.5.
	Light float64 `json:"light,omitempty"`
}

// vmap maps a vertical position of the built-in layout (fraction of the
// height) to the variant's.
func (v Variant) vmap(f float64) float64 { return 0.5 + (1+v.Tilt)*(f-0.5) + v.Horizon }

// size is the factor on object sizes.
func (v Variant) size() float64 {
	if v.CameraHeight == 0 {
		return 1
	}
	return 1 / v.CameraHeight
}

// Zone is a named region of the frame.
type Zone struct {
	Name string     `json:"name"`
	Rect [4]float64 `json:"rect"` // normalised x0,y0,x1,y1 in [0,1]
}

// Event is a scripted happening in a zone.
type Event struct {
	Kind       string // "loiter" | "enter" | "vehicle_stop"
	Zone       string
	Label      string        // "person" or "vehicle"; empty means person for loiter/enter, vehicle for vehicle_stop
	Start, End time.Duration // JSON: "20s" (or nanoseconds)
}

// Object is one visible person or vehicle in a frame.
type Object struct {
	TrackID   int
	Label     string          // "person" | "vehicle"
	Box       image.Rectangle // visible box in pixel coords of the frame
	Occlusion float64         // 0..1 fraction hidden by nearer objects
	Zones     []string        // zones containing the box's bottom-centre
}

// Frame is one rendered frame and its ground truth.
type Frame struct {
	Index        int
	PTS          time.Duration
	Image        *image.YCbCr // 4:2:0; nil from GroundTruth
	Objects      []Object
	ActiveEvents []string // "kind:zone" of events whose window contains PTS
}

// ConfigError lists every problem found in a Config; it wraps ErrInvalidConfig.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %s", ErrInvalidConfig, strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Scene renders frames of one camera. It is immutable after New.
type Scene struct {
	cfg    Config
	layout layout
	bg     *image.YCbCr // background without objects and without temporal noise
	noise  *noise
	key    uint64 // seed mixed with camera id
	events []*track
	people spawner
	cars   spawner
}

// New validates cfg and prepares the scene (the background is drawn once).
func New(cfg Config) (*Scene, error) {
	if cfg.Background == "" {
		cfg.Background = BackgroundStreet
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	cfg.Zones = append([]Zone(nil), cfg.Zones...)
	cfg.Events = append([]Event(nil), cfg.Events...)
	h := fnv.New64a()
	_, _ = h.Write([]byte(cfg.CameraID))
	s := &Scene{
		cfg:    cfg,
		layout: layouts[cfg.Background].warp(cfg.Variant),
		key:    mix(uint64(cfg.Seed) ^ mix(h.Sum64())),
	}
	s.people = newSpawner(s, kindPerson, cfg.People)
	s.cars = newSpawner(s, kindVehicle, cfg.Vehicles)
	for i, ev := range cfg.Events {
		s.events = append(s.events, s.eventTrack(i, ev))
	}
	s.bg = s.drawBackground()
	s.noise = newNoise(newRNG(s.key, 0x6e6f697365), cfg.Width, cfg.Night)
	return s, nil
}

// Config returns the scene's configuration with defaults applied.
func (s *Scene) Config() Config { return s.cfg }

// IndexAt returns the index of the frame shown at time t.
func (s *Scene) IndexAt(t time.Duration) int {
	return int(math.Floor(t.Seconds()*s.cfg.FPS + 1e-9))
}

// PTS returns the presentation time of frame index.
func (s *Scene) PTS(index int) time.Duration {
	return time.Duration(math.Round(float64(index) / s.cfg.FPS * float64(time.Second)))
}

// GroundTruth returns the objects and active events of frame index without
// drawing it (Image is nil).
func (s *Scene) GroundTruth(index int) Frame {
	f, _ := s.frame(index)
	return f
}

// Render draws frame index and returns it with its ground truth.
func (s *Scene) Render(index int) Frame {
	img := image.NewYCbCr(image.Rect(0, 0, s.cfg.Width, s.cfg.Height), image.YCbCrSubsampleRatio420)
	f, _ := s.RenderInto(index, img)
	return f
}

// RenderInto is Render drawing into img, overwriting all of it, so that a
// caller can reuse one image per goroutine. img must be 4:2:0 of the
// scene's size, as image.NewYCbCr makes it.
func (s *Scene) RenderInto(index int, img *image.YCbCr) (Frame, error) {
	if img == nil || img.SubsampleRatio != image.YCbCrSubsampleRatio420 || img.Rect != s.bg.Rect ||
		img.YStride != s.bg.YStride || img.CStride != s.bg.CStride || len(img.Y) != len(s.bg.Y) || len(img.Cb) != len(s.bg.Cb) {
		return Frame{}, fmt.Errorf("scene: RenderInto needs a 4:2:0 image of %v from image.NewYCbCr", s.bg.Rect)
	}
	f, placed := s.frame(index)
	copy(img.Y, s.bg.Y)
	copy(img.Cb, s.bg.Cb)
	copy(img.Cr, s.bg.Cr)
	c := canvas{img: img, night: s.cfg.Night, light: s.cfg.Variant.Light}
	for _, p := range placed {
		p.draw(&c)
	}
	s.noise.add(img, newRNG(s.key, 0x6e6f697365, uint64(int64(index))))
	f.Image = img
	return f, nil
}

func validate(cfg Config) error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if cfg.Width < MinSize || cfg.Width > MaxSize || cfg.Width%2 != 0 {
		add("width %d: must be even and between %d and %d", cfg.Width, MinSize, MaxSize)
	}
	if cfg.Height < MinSize || cfg.Height > MaxSize || cfg.Height%2 != 0 {
		add("height %d: must be even and between %d and %d", cfg.Height, MinSize, MaxSize)
	}
	if !(cfg.FPS >= 0.1 && cfg.FPS <= 240) {
		add("fps %v: must be between 0.1 and 240", cfg.FPS)
	}
	if _, ok := layouts[cfg.Background]; !ok {
		add("background %q: use one of indoor, street, parking", cfg.Background)
	}
	if cfg.People < 0 || cfg.People > MaxObjects {
		add("people %d: must be between 0 and %d", cfg.People, MaxObjects)
	}
	if cfg.Vehicles < 0 || cfg.Vehicles > MaxObjects {
		add("vehicles %d: must be between 0 and %d", cfg.Vehicles, MaxObjects)
	}
	v := cfg.Variant
	if !(v.Horizon >= -0.12 && v.Horizon <= 0.12) {
		add("variant.horizon %v: must be between -0.12 and 0.12", v.Horizon)
	}
	if !(v.Tilt >= -0.25 && v.Tilt <= 0.3) {
		add("variant.tilt %v: must be between -0.25 and 0.3", v.Tilt)
	}
	if v.CameraHeight != 0 && !(v.CameraHeight >= 0.6 && v.CameraHeight <= 1.6) {
		add("variant.camera_height %v: must be 0 (default) or between 0.6 and 1.6", v.CameraHeight)
	}
	if v.Light != 0 && !(v.Light >= 0.35 && v.Light <= 1.5) {
		add("variant.light %v: must be 0 (default) or between 0.35 and 1.5", v.Light)
	}
	zones := map[string]bool{}
	for i, z := range cfg.Zones {
		if z.Name == "" {
			add("zones[%d].name: must not be empty", i)
		} else if zones[z.Name] {
			add("zones[%d].name %q: duplicate zone name", i, z.Name)
		}
		zones[z.Name] = true
		r := z.Rect
		ok := true
		for _, v := range r {
			if !(v >= 0 && v <= 1) {
				ok = false
			}
		}
		if !ok || r[0] >= r[2] || r[1] >= r[3] {
			add("zones[%d].rect %v: want normalised x0,y0,x1,y1 in [0,1] with x0<x1 and y0<y1", i, r)
		}
	}
	for i, ev := range cfg.Events {
		switch ev.Kind {
		case EventLoiter, EventEnter, EventVehicleStop:
		default:
			add("events[%d].kind %q: use one of loiter, enter, vehicle_stop", i, ev.Kind)
		}
		if !zones[ev.Zone] || ev.Zone == "" {
			add("events[%d].zone %q: not a zone of this camera (define it under zones)", i, ev.Zone)
		}
		switch ev.Label {
		case "", LabelPerson, LabelVehicle:
		default:
			add("events[%d].label %q: use person or vehicle", i, ev.Label)
		}
		if ev.Start < 0 || ev.End <= ev.Start || ev.End > MaxEventTime {
			add("events[%d]: window %v..%v: want 0 <= start < end <= %v", i, ev.Start, ev.End, MaxEventTime)
		}
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// placed is an object positioned in one frame.
type placed struct {
	tr      *track
	full    rect // unclipped box, pixels
	vis     image.Rectangle
	footY   float64
	phase   float64
	facing  float64
	visFrac float64
}

func (p placed) draw(c *canvas) {
	if p.tr.kind == kindPerson {
		drawPerson(c, p.full, p.facing, p.phase, &p.tr.look)
	} else {
		drawVehicle(c, p.full, p.facing, &p.tr.look)
	}
}

// frame computes the ground truth of frame index and the objects to draw in
// painter's order (far to near).
func (s *Scene) frame(index int) (Frame, []placed) {
	pts := s.PTS(index)
	t := pts.Seconds()
	f := Frame{Index: index, PTS: pts}
	for _, ev := range s.cfg.Events {
		if pts >= ev.Start && pts < ev.End {
			f.ActiveEvents = append(f.ActiveEvents, ev.Kind+":"+ev.Zone)
		}
	}
	var ps []placed
	bounds := image.Rect(0, 0, s.cfg.Width, s.cfg.Height)
	consider := func(tr *track) {
		x, y, dir, dist, ok := tr.at(t)
		if !ok {
			return
		}
		full := s.boxAt(tr, x, y)
		vis := full.pixels().Intersect(bounds)
		if vis.Empty() {
			return
		}
		frac := float64(vis.Dx()*vis.Dy()) / math.Max(1, full.area())
		ps = append(ps, placed{tr: tr, full: full, vis: vis, footY: y, facing: dir,
			phase: dist * float64(s.cfg.Width) / math.Max(1, 0.45*full.h()) * math.Pi, visFrac: frac})
	}
	for _, tr := range s.events {
		consider(tr)
	}
	s.people.each(t, consider)
	s.cars.each(t, consider)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].footY != ps[j].footY {
			return ps[i].footY < ps[j].footY
		}
		return ps[i].tr.id < ps[j].tr.id
	})
	for i, p := range ps {
		if p.visFrac < MinVisible {
			continue
		}
		var nearer []image.Rectangle
		for _, q := range ps[i+1:] {
			if r := q.vis.Intersect(p.vis); !r.Empty() {
				nearer = append(nearer, r)
			}
		}
		o := Object{
			TrackID:   p.tr.id,
			Label:     p.tr.label(),
			Box:       p.vis,
			Occlusion: float64(unionArea(nearer)) / float64(p.vis.Dx()*p.vis.Dy()),
		}
		bx := (float64(p.vis.Min.X) + float64(p.vis.Max.X)) / 2 / float64(s.cfg.Width)
		by := float64(p.vis.Max.Y) / float64(s.cfg.Height)
		for _, z := range s.cfg.Zones {
			if bx >= z.Rect[0] && bx <= z.Rect[2] && by >= z.Rect[1] && by <= z.Rect[3] {
				o.Zones = append(o.Zones, z.Name)
			}
		}
		f.Objects = append(f.Objects, o)
	}
	sort.Slice(f.Objects, func(i, j int) bool { return f.Objects[i].TrackID < f.Objects[j].TrackID })
	return f, ps
}

// boxAt returns the unclipped pixel box of track tr with its foot (bottom
// centre) at normalised x, y.
func (s *Scene) boxAt(tr *track, x, y float64) rect {
	W, H := float64(s.cfg.Width), float64(s.cfg.Height)
	var w, h float64
	if tr.kind == kindPerson {
		h = s.layout.personHeight(y) * H
		w = tr.look.aspect * h
	} else {
		w = s.layout.vehicleWidth(y) * W
		h = tr.look.aspect * w
	}
	return rect{x0: x*W - w/2, y0: y*H - h, x1: x*W + w/2, y1: y * H}
}

// halfWidth returns half the width of an object of kind at foot y, normalised to the frame width.
func (s *Scene) halfWidth(kind int, aspect, y float64) float64 {
	if kind == kindPerson {
		return s.layout.personHeight(y) * float64(s.cfg.Height) * aspect / 2 / float64(s.cfg.Width)
	}
	return s.layout.vehicleWidth(y) / 2
}

// unionArea returns the area covered by the union of rs.
func unionArea(rs []image.Rectangle) int {
	if len(rs) == 0 {
		return 0
	}
	if len(rs) == 1 {
		return rs[0].Dx() * rs[0].Dy()
	}
	var xs, ys []int
	for _, r := range rs {
		xs = append(xs, r.Min.X, r.Max.X)
		ys = append(ys, r.Min.Y, r.Max.Y)
	}
	sort.Ints(xs)
	sort.Ints(ys)
	area := 0
	for i := 0; i+1 < len(xs); i++ {
		if xs[i] == xs[i+1] {
			continue
		}
		for j := 0; j+1 < len(ys); j++ {
			if ys[j] == ys[j+1] {
				continue
			}
			p := image.Pt(xs[i], ys[j])
			for _, r := range rs {
				if p.In(r) {
					area += (xs[i+1] - xs[i]) * (ys[j+1] - ys[j])
					break
				}
			}
		}
	}
	return area
}

// rect is a float rectangle in pixels.
type rect struct{ x0, y0, x1, y1 float64 }

func (r rect) w() float64    { return r.x1 - r.x0 }
func (r rect) h() float64    { return r.y1 - r.y0 }
func (r rect) area() float64 { return r.w() * r.h() }
func (r rect) pixels() image.Rectangle {
	return image.Rect(int(math.Round(r.x0)), int(math.Round(r.y0)), int(math.Round(r.x1)), int(math.Round(r.y1)))
}
