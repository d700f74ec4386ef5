// Package rules holds zone and dwell alert rules: an object whose box
// bottom-centre (where it stands) stays inside a zone for longer than a dwell
// time raises one alert per track, optionally only at night.
//
// Night is judged either by a time-of-day window on the frame's clock
// (night.from / night.to, e.g. 20:00 to 06:00, in night.timezone, default
// UTC) or, when night.luma_below is set, by the frame's mean luma (0..255)
// being below that value. Luma wins when both are set.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the content of the --rules file (YAML or JSON).
type Config struct {
	Zones []Zone `yaml:"zones" json:"zones"`
	Rules []Rule `yaml:"rules" json:"rules"`
	Night Night  `yaml:"night" json:"night"`
}

// Zone is a named rectangle in normalised frame coordinates x0,y0,x1,y1.
type Zone struct {
	Name string     `yaml:"name" json:"name"`
	Rect [4]float64 `yaml:"rect" json:"rect"`
	// Cameras limits the zone to these camera ids; empty = every camera.
	Cameras []string `yaml:"cameras,omitempty" json:"cameras,omitempty"`
}

// Rule raises an alert when an object of Label dwells in Zone longer than Dwell.
type Rule struct {
	Name      string        `yaml:"name" json:"name"`
	Zone      string        `yaml:"zone" json:"zone"`
	Label     string        `yaml:"label" json:"label"`
	Dwell     time.Duration `yaml:"dwell" json:"dwell"`
	NightOnly bool          `yaml:"night_only" json:"night_only"`
}

// Night says when it is night.
type Night struct {
	From      string  `yaml:"from" json:"from"` // HH:MM
	To        string  `yaml:"to" json:"to"`     // HH:MM
	Timezone  string  `yaml:"timezone" json:"timezone"`
	LumaBelow float64 `yaml:"luma_below" json:"luma_below"`
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("rules: invalid")

// Load reads and validates a rules file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: read %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML or JSON strictly (unknown fields are errors) and
// validates the result. Durations are written like "10s" or "1m30s".
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate collects every problem with its field path.
func (c *Config) Validate() error {
	var errs []string
	zones := map[string]bool{}
	for i, z := range c.Zones {
		p := fmt.Sprintf("zones[%d]", i)
		if z.Name == "" {
			errs = append(errs, p+".name: required")
		} else if zones[z.Name] {
			errs = append(errs, fmt.Sprintf("%s.name: duplicate zone %q", p, z.Name))
		}
		zones[z.Name] = true
		r := z.Rect
		for _, v := range r {
			if v < 0 || v > 1 {
				errs = append(errs, p+".rect: coordinates must be within [0,1] (normalised x0,y0,x1,y1)")
				break
			}
		}
		if r[2] <= r[0] || r[3] <= r[1] {
			errs = append(errs, p+".rect: need x0 < x1 and y0 < y1")
		}
	}
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			errs = append(errs, p+".name: required")
		}
		if !zones[r.Zone] {
			errs = append(errs, fmt.Sprintf("%s.zone: unknown zone %q (define it under zones)", p, r.Zone))
		}
		if r.Label == "" {
			errs = append(errs, p+".label: required (e.g. person or vehicle)")
		}
		if r.Dwell < 0 {
			errs = append(errs, p+".dwell: must not be negative")
		}
		if r.NightOnly && c.Night.LumaBelow <= 0 && (c.Night.From == "" || c.Night.To == "") {
			errs = append(errs, p+".night_only: set night.from and night.to, or night.luma_below")
		}
	}
	for _, f := range []struct{ name, v string }{{"night.from", c.Night.From}, {"night.to", c.Night.To}} {
		if f.v == "" {
			continue
		}
		if _, err := time.Parse("15:04", f.v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not HH:MM", f.name, f.v))
		}
	}
	if c.Night.Timezone != "" {
		if _, err := time.LoadLocation(c.Night.Timezone); err != nil {
			errs = append(errs, fmt.Sprintf("night.timezone: %v", err))
		}
	}
	if c.Night.LumaBelow < 0 || c.Night.LumaBelow > 255 {
		errs = append(errs, "night.luma_below: must be within 0..255")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(errs, "\n  "))
	}
	return nil
}

// IsNight reports whether a frame taken at t with mean luma is a night frame.
func (c *Config) IsNight(t time.Time, luma float64) bool {
	n := c.Night
	if n.LumaBelow > 0 {
		return luma < n.LumaBelow
	}
	if n.From == "" || n.To == "" {
		return false
	}
	loc := time.UTC
	if n.Timezone != "" {
		if l, err := time.LoadLocation(n.Timezone); err == nil {
			loc = l
		}
	}
	from, _ := time.Parse("15:04", n.From)
	to, _ := time.Parse("15:04", n.To)
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	f, e := from.Hour()*60+from.Minute(), to.Hour()*60+to.Minute()
	if f <= e {
		return m >= f && m < e
	}
	return m >= f || m < e // window across midnight
}

// Object is a tracked detection of a frame.
type Object struct {
	TrackID int
	Label   string
	Box     image.Rectangle
}

// Observation is what the engine needs to know about one inferred frame.
type Observation struct {
	Time          time.Time // when the frame was captured (or received)
	Width, Height int       // frame size in pixels
	Luma          float64   // mean luma 0..255 (for night by luminance)
	Objects       []Object
}

// Hit is one alert raised by a rule.
type Hit struct {
	Rule, Zone, Label string
	TrackID           int
	FirstSeen, Raised time.Time
}

type key struct {
	rule  int
	track int
}

type dwell struct {
	first, last time.Time
	fired       bool
}

// Grace is how long a track may be missing from a zone (a missed detection,
// a short occlusion) before its dwell time starts again.
const Grace = 1500 * time.Millisecond

// Engine evaluates the rules for one camera. Not safe for concurrent use.
type Engine struct {
	cfg    *Config
	camera string
	zones  map[string]Zone
	state  map[key]*dwell
}

// NewEngine returns the rule state of one camera.
func NewEngine(cfg *Config, camera string) *Engine {
	e := &Engine{cfg: cfg, camera: camera, zones: map[string]Zone{}, state: map[key]*dwell{}}
	if cfg != nil {
		for _, z := range cfg.Zones {
			if len(z.Cameras) == 0 || contains(z.Cameras, camera) {
				e.zones[z.Name] = z
			}
		}
	}
	return e
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ZonesOf returns the names of this camera's zones holding the box's
// bottom-centre.
func (e *Engine) ZonesOf(box image.Rectangle, w, h int) []string {
	var out []string
	if e.cfg == nil {
		return nil
	}
	for _, z := range e.cfg.Zones {
		if _, ok := e.zones[z.Name]; ok && inZone(z, box, w, h) {
			out = append(out, z.Name)
		}
	}
	return out
}

func inZone(z Zone, box image.Rectangle, w, h int) bool {
	if w <= 0 || h <= 0 {
		return false
	}
	x := (float64(box.Min.X) + float64(box.Max.X)) / 2 / float64(w)
	y := float64(box.Max.Y) / float64(h)
	return x >= z.Rect[0] && x <= z.Rect[2] && y >= z.Rect[1] && y <= z.Rect[3]
}

// Observe feeds one frame and returns the alerts it raises. Each track
// raises a rule at most once while it stays in the zone; being out of the
// zone (or day breaking for a night-only rule) for longer than Grace resets it.
func (e *Engine) Observe(o Observation) []Hit {
	if e.cfg == nil || len(e.cfg.Rules) == 0 {
		return nil
	}
	night := e.cfg.IsNight(o.Time, o.Luma)
	var hits []Hit
	for ri, r := range e.cfg.Rules {
		z, ok := e.zones[r.Zone]
		if !ok || (r.NightOnly && !night) {
			continue
		}
		for _, ob := range o.Objects {
			if ob.Label != r.Label || !inZone(z, ob.Box, o.Width, o.Height) {
				continue
			}
			k := key{ri, ob.TrackID}
			st, ok := e.state[k]
			if !ok {
				st = &dwell{first: o.Time}
				e.state[k] = st
			}
			st.last = o.Time
			if !st.fired && o.Time.Sub(st.first) >= r.Dwell {
				st.fired = true
				hits = append(hits, Hit{Rule: r.Name, Zone: r.Zone, Label: r.Label, TrackID: ob.TrackID, FirstSeen: st.first, Raised: o.Time})
			}
		}
	}
	for k, st := range e.state {
		if o.Time.Sub(st.last) > Grace {
			delete(e.state, k)
		}
	}
	return hits
}

// NightLuma is the night.luma_below the testbed gives edgenode for rules
// limited to a time window: the simulated time of day is not the wall clock
// the processes see, so night is judged by the scenes' light (fakecam's
// night scenes are darker, its day scenes brighter).
const NightLuma = 70

// MeanLuma is a frame's mean luma (0..255) as edgenode judges night by
// it (Night.LumaBelow): every 8th pixel's luma of every 8th row.
func MeanLuma(img image.Image) float64 {
	y, ok := img.(*image.YCbCr)
	if !ok {
		return 128
	}
	b := y.Rect
	var sum, n int
	for yy := b.Min.Y; yy < b.Max.Y; yy += 8 {
		row := y.Y[(yy-b.Min.Y)*y.YStride:]
		for xx := 0; xx < b.Dx(); xx += 8 {
			sum += int(row[xx])
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}
