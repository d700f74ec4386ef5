// Package importers turns other tools' network-impairment files (Chaos Mesh
// NetworkChaos, Fogify x-fogify, containerlab `tools netem set` command
// lines, Testground LinkShape JSON) into an edgesim scenario: commented
// YAML that loads with scenarios.Load.
//
// A mapping is exact, or it says what it approximated or dropped: every
// conversion that is not one to one is a Note with Approximate set, written
// as a comment next to what it concerns. Input that cannot be mapped at all
// (an unknown action, a selector with no mapping) is an error naming the
// field and its line, and no output is produced.
package importers

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// Formats are the input formats Import understands.
var Formats = []string{"chaosmesh", "fogify", "containerlab", "testground"}

// Input is one input file.
type Input struct {
	Name string // used in notes and errors
	Data []byte
}

// Options say how the inputs' own names map to scenario endpoints.
type Options struct {
	// Map maps labels (Chaos Mesh labelSelectors, Fogify service or label,
	// containerlab node) to endpoints.
	Map []MapEntry
	// From and To are the sending and receiving endpoint where the input
	// does not name them (Testground; containerlab's peer; a Chaos Mesh
	// experiment without a target).
	From, To string
	// Name is the scenario name; "" derives it from the input.
	Name string
	// Duration of the scenario when the input gives none (default 60s).
	Duration time.Duration
}

// MapEntry maps KEY=VALUE in the input to an endpoint.
type MapEntry struct {
	Key, Value string
	Endpoint   string // cloud, site:NAME or cameras:NAME
}

func (m MapEntry) String() string { return m.Key + "=" + m.Value + ":" + m.Endpoint }

// ParseMapEntry parses KEY=VALUE:ENDPOINT, e.g. app=camera:site:store-1.
func ParseMapEntry(s string) (MapEntry, error) {
	key, rest, ok := strings.Cut(s, "=")
	value, ep, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || key == "" || value == "" {
		return MapEntry{}, fmt.Errorf("--map %q: write KEY=VALUE:ENDPOINT, e.g. app=camera:site:store-1 (ENDPOINT is cloud, site:NAME or cameras:NAME)", s)
	}
	if _, err := parseEndpoint(ep); err != nil {
		return MapEntry{}, fmt.Errorf("--map %q: %v", s, err)
	}
	return MapEntry{Key: key, Value: value, Endpoint: ep}, nil
}

// Note is one remark about the mapping, written as a YAML comment.
type Note struct {
	File  string
	Line  int
	Field string
	// Approximate is set when the output does not mean exactly what the
	// input did (something dropped or approximated); --strict fails on it.
	Approximate bool
	Msg         string
}

func (n Note) String() string {
	var b strings.Builder
	if n.File != "" {
		b.WriteString(n.File)
		if n.Line > 0 {
			fmt.Fprintf(&b, ":%d", n.Line)
		}
		b.WriteString(" ")
	}
	if n.Field != "" {
		b.WriteString(n.Field + ": ")
	}
	if n.Approximate {
		b.WriteString("APPROXIMATE: ")
	}
	b.WriteString(n.Msg)
	return b.String()
}

// Result is the imported scenario.
type Result struct {
	YAML  []byte
	Notes []Note
}

// Approximations are the notes that mark a change of meaning.
func (r *Result) Approximations() []Note {
	var out []Note
	for _, n := range r.Notes {
		if n.Approximate {
			out = append(out, n)
		}
	}
	return out
}

// Import converts inputs of format into one scenario. Errors are a
// scenarios.ErrorList whose entries name file, line and field.
func Import(format string, inputs []Input, opts Options) (*Result, error) {
	var fn func(*builder, Input)
	switch format {
	case "chaosmesh":
		fn = (*builder).chaosMesh
	case "fogify":
		fn = (*builder).fogify
	case "containerlab":
		fn = (*builder).containerlab
	case "testground":
		fn = (*builder).testground
	default:
		return nil, fmt.Errorf("unknown format %q; use one of %s", format, strings.Join(Formats, ", "))
	}
	for _, f := range []struct{ name, v string }{{"--from", opts.From}, {"--to", opts.To}} {
		if _, err := parseEndpoint(f.v); f.v != "" && err != nil {
			return nil, fmt.Errorf("%s: %v", f.name, err)
		}
	}
	b := &builder{opts: opts, links: map[string]*linkOut{}}
	for _, in := range inputs {
		fn(b, in)
	}
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	if len(b.linkOrder) == 0 && len(b.faults) == 0 {
		return nil, scenarios.ErrorList{{File: names(inputs), Msg: "nothing to import: no impairment found"}}
	}
	return b.render(format, inputs)
}

func names(in []Input) string {
	var s []string
	for _, i := range in {
		s = append(s, i.Name)
	}
	return strings.Join(s, ", ")
}

// endpoint is a link end: cameras:S, site:S or cloud.
type endpoint struct{ kind, site string }

func (e endpoint) String() string {
	if e.kind == "cloud" {
		return "cloud"
	}
	return e.kind + ":" + e.site
}

func (e endpoint) rank() int {
	return map[string]int{"cameras": 0, "site": 1, "cloud": 2}[e.kind]
}

func parseEndpoint(s string) (endpoint, error) {
	if s == "cloud" {
		return endpoint{kind: "cloud"}, nil
	}
	kind, site, ok := strings.Cut(s, ":")
	if !ok || (kind != "site" && kind != "cameras") || site == "" {
		return endpoint{}, fmt.Errorf("%q is not an endpoint; write cloud, site:NAME or cameras:NAME (links join groups, not single nodes)", s)
	}
	return endpoint{kind: kind, site: site}, nil
}

// shape is one direction's (or both directions') impairment, in edgesim's
// units; nil fields are not set.
type shape struct {
	delay, jitter  *units.Duration
	correlation    *units.Percent
	distribution   string
	loss, lossCorr *units.Percent
	duplicate      *v1alpha1.Probability
	corrupt        *v1alpha1.Probability
	reorder        *v1alpha1.Reorder
	rate           *units.BitRate
	queue          *v1alpha1.QueueLimit
	burst          *units.ByteSize
}

func (s shape) impairment() v1alpha1.Impairment {
	im := v1alpha1.Impairment{Delay: s.delay, Jitter: s.jitter, Correlation: s.correlation, Distribution: s.distribution,
		Duplicate: s.duplicate, Corrupt: s.corrupt, Reorder: s.reorder}
	if s.loss != nil {
		im.Loss = &v1alpha1.Loss{Percent: s.loss, Correlation: s.lossCorr}
	}
	return im
}

func (s shape) empty() bool {
	return s.impairment() == (v1alpha1.Impairment{}) && s.rate == nil
}

type linkOut struct {
	a, b  endpoint
	spec  v1alpha1.Link
	notes []Note
}

type faultOut struct {
	spec  v1alpha1.Fault
	notes []Note
}

type builder struct {
	opts      Options
	errs      scenarios.ErrorList
	notes     []Note // about the whole scenario
	sites     []string
	links     map[string]*linkOut
	linkOrder []string
	faults    []faultOut
	duration  time.Duration // longest timed action, 0 if none
	name      string
}

func (b *builder) errorf(file string, line int, field, format string, args ...any) {
	b.errs = append(b.errs, &scenarios.FieldError{File: file, Line: line, Path: field, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) addSite(e endpoint) {
	if e.site != "" && !slices.Contains(b.sites, e.site) {
		b.sites = append(b.sites, e.site)
	}
}

// link returns the link between from and to (creating it), and whether
// from -> to is its up direction.
func (b *builder) link(from, to endpoint) (*linkOut, bool, error) {
	a, c := from, to
	up := true
	if a.rank() > c.rank() || (a.rank() == c.rank() && a.site > c.site) {
		a, c, up = c, a, false
	}
	switch {
	case a == c:
		return nil, false, fmt.Errorf("both ends map to %s; a link joins two different groups", a)
	case a.kind == "cameras" && c.kind == "cameras":
		return nil, false, fmt.Errorf("%s and %s: cameras do not talk to each other in edgesim", a, c)
	case a.kind == "cameras" && c.kind == "site" && a.site != c.site:
		return nil, false, fmt.Errorf("%s can only link to site:%s or cloud, not %s", a, a.site, c)
	}
	key := a.String() + "|" + c.String()
	if l, ok := b.links[key]; ok {
		return l, up, nil
	}
	b.addSite(a)
	b.addSite(c)
	l := &linkOut{a: a, b: c, spec: v1alpha1.Link{Name: linkName(a, c), Between: []string{a.String(), c.String()}}}
	b.links[key] = l
	b.linkOrder = append(b.linkOrder, key)
	return l, up, nil
}

// linkName follows the documented default names of docs/scenarios.md.
func linkName(a, c endpoint) string {
	switch {
	case a.kind == "cameras" && c.kind == "site":
		return a.site + "-cameras"
	case a.kind == "cameras":
		return a.site + "-cameras-cloud"
	case c.kind == "cloud":
		return a.site + "-uplink"
	}
	return a.site + "-" + c.site
}

// setStatic sets s on the link for the whole run: in the direction
// from -> to, or both when both is set. Fields an earlier input set to
// other values are overridden, and an APPROXIMATE note at "at" says so.
func (l *linkOut) setStatic(s shape, up, both bool, at Note) {
	var dst *v1alpha1.Impairment
	switch {
	case both:
		dst = &l.spec.Impairment
	case up:
		if l.spec.Up == nil {
			l.spec.Up = &v1alpha1.Impairment{}
		}
		dst = l.spec.Up
	default:
		if l.spec.Down == nil {
			l.spec.Down = &v1alpha1.Impairment{}
		}
		dst = l.spec.Down
	}
	clash := merge(dst, s.impairment())
	if s.rate != nil || s.queue != nil || s.burst != nil {
		if l.spec.Rate == nil {
			l.spec.Rate = &v1alpha1.Rate{}
		}
		r := l.spec.Rate
		old := *r
		setRate(r, s.rate, up, both)
		if s.queue != nil {
			r.Queue = s.queue
		}
		if s.burst != nil {
			r.Burst = s.burst
		}
		clash = append(clash, merge(&old, *r)...)
	}
	if len(clash) > 0 {
		at.Approximate = true
		at.Msg = fmt.Sprintf("overrides %s that an earlier input set on %s differently; the inputs' impairments are not stacked", strings.Join(clash, ", "), l.spec.Name)
		l.notes = append(l.notes, at)
	}
}

// merge copies the set (non-zero) fields of src into dst and returns the
// YAML names of those dst already had with another value.
func merge[T any](dst *T, src T) []string {
	var clash []string
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range sv.NumField() {
		f := sv.Field(i)
		if f.IsZero() {
			continue
		}
		if d := dv.Field(i); !d.IsZero() && !reflect.DeepEqual(d.Interface(), f.Interface()) {
			name, _, _ := strings.Cut(sv.Type().Field(i).Tag.Get("yaml"), ",")
			clash = append(clash, name)
		}
		dv.Field(i).Set(f)
	}
	return clash
}

// setRate sets v on r's direction (both, up or down); nil leaves r as is.
func setRate(r *v1alpha1.Rate, v *units.BitRate, up, both bool) {
	switch {
	case v == nil:
	case both:
		r.Both = v
	case up:
		r.Up = v
	default:
		r.Down = v
	}
}

// degradeRate is the rate block of a degrade fault.
func degradeRate(s shape, up, both bool) *v1alpha1.Rate {
	if s.rate == nil {
		return nil
	}
	r := &v1alpha1.Rate{Queue: s.queue, Burst: s.burst}
	setRate(r, s.rate, up, both)
	return r
}

func (b *builder) addFault(f v1alpha1.Fault, notes []Note) {
	end := time.Duration(0)
	if f.At != nil {
		end = f.At.Std()
	}
	if f.Duration != nil {
		end += f.Duration.Std()
	}
	if end > b.duration {
		b.duration = end
	}
	b.faults = append(b.faults, faultOut{spec: f, notes: notes})
}

func ptr[T any](v T) *T { return &v }

func pct(v float64) *units.Percent { return ptr(units.Percent(v)) }

func dur(d time.Duration) *units.Duration { return ptr(units.Duration(d)) }

// sortedNotes orders notes by file and line.
func sortedNotes(n []Note) []Note {
	out := slices.Clone(n)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}
