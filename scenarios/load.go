package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// maxFileSize bounds scenario files; real ones are a few KB.
const maxFileSize = 4 << 20

// maxTraceSize bounds Mahimahi trace files (the published ones are 0.3-1.2 MB).
const maxTraceSize = 256 << 20

// LoadFile reads, decodes, validates and resolves the scenario at path.
// Relative paths in it (traces, models, kubeconfig) are resolved against the
// file's directory. Any problem is returned as an ErrorList holding every
// problem found, each with file:line:col and field path.
func LoadFile(path string) (*Scenario, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the scenario: %v", unwrapPathError(err))}}
	}
	if info.IsDir() {
		return nil, ErrorList{{File: path, Msg: "is a directory; pass a scenario file such as scenarios/examples/quickstart.yaml"}}
	}
	if info.Size() > maxFileSize {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("file is %d bytes; scenario files are limited to %d", info.Size(), maxFileSize)}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the scenario: %v", unwrapPathError(err))}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	s, err := Load(path, data, filepath.Dir(abs))
	if s != nil {
		s.File = abs
	}
	return s, err
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Load decodes, validates and resolves a scenario held in data. name is used
// in error messages (usually the file name); baseDir is the directory that
// relative paths are resolved against ("" for the working directory).
func Load(name string, data []byte, baseDir string) (*Scenario, error) {
	ext, d := decodeExternal(name, data)
	if ext == nil || d.budget {
		return nil, d.errs.sorted()
	}
	c := &converter{d: d, base: baseDir}
	s := c.convert(ext)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	c.sense(s)
	s.Warnings = c.warns.sorted()
	return s, nil
}

// Decode decodes data strictly into the external type without validating
// cross-references or applying defaults. Most callers want Load.
func Decode(name string, data []byte) (*v1alpha1.Scenario, error) {
	ext, d := decodeExternal(name, data)
	if len(d.errs) > 0 {
		return ext, d.errs.sorted()
	}
	return ext, nil
}

func decodeExternal(name string, data []byte) (*v1alpha1.Scenario, *decoder) {
	d := newDecoder(name)
	if len(data) > maxFileSize {
		d.errs = append(d.errs, &FieldError{File: name, Msg: fmt.Sprintf("scenario is %d bytes; the limit is %d", len(data), maxFileSize)})
		return nil, d
	}
	root := d.parse(data)
	if root == nil {
		return nil, d
	}
	for root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "a scenario is a YAML mapping that starts with apiVersion: %s; got %s", v1alpha1.APIVersion, kindName(root))
		return nil, d
	}
	var ext v1alpha1.Scenario
	d.decode(root, reflect.ValueOf(&ext).Elem(), "")
	return &ext, d
}

// converter validates the external scenario and builds the internal one.
type converter struct {
	d     *decoder
	base  string
	warns ErrorList
}

func (c *converter) errorf(path, format string, args ...any) {
	// A value that could not be decoded is reported once, by the decoder;
	// checks of what it would have meant only repeat the problem.
	for p := path; p != ""; {
		if c.d.bad[p] {
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	c.d.errs = append(c.d.errs, c.locate(path, fmt.Sprintf(format, args...)))
}

// warnf records something that does not stop a run but probably distorts
// what it measures.
func (c *converter) warnf(path, format string, args ...any) {
	c.warns = append(c.warns, c.locate(path, fmt.Sprintf(format, args...)))
}

// locate builds a FieldError at the position of path or its nearest
// ancestor that has one.
func (c *converter) locate(path, msg string) *FieldError {
	e := &FieldError{File: c.d.file, Path: path, Msg: msg}
	for p := path; ; {
		if at, ok := c.d.pos[p]; ok {
			e.Line, e.Col = at.line, at.col
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return e
}

var nameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (c *converter) checkName(path, name, what string, maxLen int) bool {
	switch {
	case name == "":
		c.errorf(path, "%s must not be empty", what)
	case len(name) > maxLen:
		c.errorf(path, "%s %q is longer than %d characters", what, name, maxLen)
	case !nameRe.MatchString(name):
		c.errorf(path, "%s %q must be lower-case letters, digits and '-', starting and ending with a letter or digit", what, name)
	default:
		return true
	}
	return false
}

func (c *converter) enum(path, value string, allowed []string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	c.errorf(path, "%q is not allowed%s", value, hint(value, allowed))
	return false
}

func (c *converter) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.base, p)
}

func dur(d *units.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Std()
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func (c *converter) convert(ext *v1alpha1.Scenario) *Scenario {
	if ext.APIVersion != "" && ext.APIVersion != v1alpha1.APIVersion {
		c.errorf("apiVersion", "%q is not supported; use %s", ext.APIVersion, v1alpha1.APIVersion)
	}
	if ext.Kind != "" && ext.Kind != v1alpha1.Kind {
		c.errorf("kind", "%q is not supported; use %s", ext.Kind, v1alpha1.Kind)
	}
	s := &Scenario{
		Name:        ext.Metadata.Name,
		Description: ext.Metadata.Description,
		Labels:      ext.Metadata.Labels,
		BaseDir:     c.base,
	}
	if _, ok := c.d.pos["metadata.name"]; ok || ext.Metadata.Name != "" {
		c.checkName("metadata.name", ext.Metadata.Name, "name", 40)
	}
	sp := ext.Spec
	s.Seed = 1
	if sp.Seed != nil {
		s.Seed = *sp.Seed
	}
	if sp.Duration != nil {
		s.Duration = sp.Duration.Std()
		if s.Duration <= 0 {
			c.errorf("spec.duration", "must be positive, e.g. 30s")
		} else if s.Duration > 24*time.Hour {
			c.errorf("spec.duration", "%s is longer than 24h", s.Duration)
		}
	} else if _, ok := c.d.pos["spec.duration"]; ok {
		c.errorf("spec.duration", "must be set, e.g. 30s")
	}
	s.Warmup = dur(sp.Warmup, 0)
	if s.Warmup < 0 {
		c.errorf("spec.warmup", "must not be negative")
	}
	s.StartTime = units.TimeOfDay(12 * time.Hour)
	if sp.StartTime != nil {
		s.StartTime = *sp.StartTime
	}
	s.Provider = ProviderLocal
	if sp.Provider != "" {
		if c.enum("spec.provider", sp.Provider, []string{"local", "kind", "k3s", "kubeconfig"}) {
			s.Provider = Provider(sp.Provider)
		}
	}
	switch {
	case s.Provider == ProviderKubeconfig && sp.Kubeconfig == "":
		c.errorf("spec.kubeconfig", "provider kubeconfig needs spec.kubeconfig: the path of the cluster's kubeconfig file")
	case s.Provider != ProviderKubeconfig && sp.Kubeconfig != "":
		c.errorf("spec.kubeconfig", "only used with provider: kubeconfig")
	case sp.Kubeconfig != "":
		s.Kubeconfig = c.path(sp.Kubeconfig)
		if _, err := os.Stat(s.Kubeconfig); err != nil {
			c.errorf("spec.kubeconfig", "cannot read %s: %v", sp.Kubeconfig, unwrapPathError(err))
		}
	}

	// Cloud.
	nCloud := 1
	var cloudRes Resources
	if sp.Cloud != nil {
		nCloud = intOr(sp.Cloud.Nodes, 1)
		if nCloud < 1 || nCloud > 16 {
			c.errorf("spec.cloud.nodes", "must be between 1 and 16, got %d", nCloud)
			nCloud = max(1, min(nCloud, 16))
		}
		cloudRes = c.resources("spec.cloud.resources", sp.Cloud.Resources)
	}
	for i := 1; i <= nCloud; i++ {
		s.Cloud.Nodes = append(s.Cloud.Nodes, Node{Name: fmt.Sprintf("cloud-%d", i), Resources: cloudRes})
	}

	// Sites.
	if len(sp.Sites) == 0 {
		if _, ok := c.d.pos["spec.sites"]; ok {
			c.errorf("spec.sites", "needs at least one site")
		}
	}
	siteIdx := map[string]int{}
	for i, site := range sp.Sites {
		p := fmt.Sprintf("spec.sites[%d]", i)
		if c.checkName(p+".name", site.Name, "site name", 30) {
			if _, dup := siteIdx[site.Name]; dup {
				c.errorf(p+".name", "site %q is defined twice", site.Name)
			} else if site.Name == "cloud" {
				c.errorf(p+".name", "\"cloud\" is reserved for the cloud tier; choose another site name")
			}
		}
		siteIdx[site.Name] = i
		s.Sites = append(s.Sites, c.site(p, site, s.Duration))
	}

	s.Links = c.links(sp.Links, s.Sites, siteIdx)
	s.Workload = c.workload(sp.Workload, s)
	s.Faults = c.faults(sp.Faults, s)
	s.SLO = c.slo(sp.SLO, s)
	s.Report = c.report(sp.Report, s.Name)
	return s
}

func (c *converter) resources(p string, r *v1alpha1.Resources) Resources {
	var out Resources
	if r == nil {
		return out
	}
	if r.CPU != nil {
		out.CPU = *r.CPU
		if out.CPU <= 0 {
			c.errorf(p+".cpu", "must be positive, e.g. 500m or 2")
		}
	}
	if r.Memory != nil {
		out.Memory = *r.Memory
		if out.Memory < 16*units.MiB {
			c.errorf(p+".memory", "%s is too small; edgenode needs at least 16Mi", out.Memory)
		}
	}
	return out
}

func (c *converter) site(p string, in v1alpha1.Site, runDur time.Duration) Site {
	out := Site{Name: in.Name}
	n := intOr(in.Nodes, 1)
	if n < 1 || n > 16 {
		c.errorf(p+".nodes", "must be between 1 and 16, got %d", n)
		n = max(1, min(n, 16))
	}
	res := c.resources(p+".resources", in.Resources)
	for i := 1; i <= n; i++ {
		out.Nodes = append(out.Nodes, Node{Name: fmt.Sprintf("%s-edge-%d", in.Name, i), Site: in.Name, Resources: res})
	}
	groups := map[string]bool{}
	for i, g := range in.Cameras {
		gp := fmt.Sprintf("%s.cameras[%d]", p, i)
		name := g.Name
		if name == "" {
			name = "cam"
		}
		if c.checkName(gp+".name", name, "camera group name", 20) && groups[name] {
			c.errorf(gp+".name", "camera group %q is defined twice at site %q; give each group a name", name, in.Name)
		}
		groups[name] = true
		out.Cameras = append(out.Cameras, c.cameraGroup(gp, in.Name, name, g, runDur))
	}
	return out
}

func (c *converter) cameraGroup(p, site, name string, g v1alpha1.CameraGroup, runDur time.Duration) CameraGroup {
	out := CameraGroup{Name: name, Site: site, Width: 640, Height: 360, FPS: 15, Bitrate: units.Mbit}
	count := intOr(g.Count, 1)
	if count < 1 || count > 256 {
		c.errorf(p+".count", "must be between 1 and 256, got %d", count)
		count = max(1, min(count, 256))
	}
	for i := 1; i <= count; i++ {
		out.CameraIDs = append(out.CameraIDs, fmt.Sprintf("%s-%s-%d", site, name, i))
	}
	if g.Resolution != nil {
		out.Width, out.Height = g.Resolution.Width, g.Resolution.Height
	}
	if g.FPS != nil {
		out.FPS = *g.FPS
		if out.FPS <= 0 || out.FPS > 60 {
			c.errorf(p+".fps", "must be above 0 and at most 60, got %g", out.FPS)
		}
	}
	if g.Bitrate != nil {
		out.Bitrate = *g.Bitrate
		if out.Bitrate < 50*units.Kbit || out.Bitrate > 50*units.Mbit {
			c.errorf(p+".bitrate", "%s is outside 50Kbit..50Mbit", out.Bitrate)
		}
	}
	out.Scene = Scene{Background: "street", People: 2, Vehicles: 1}
	if sc := g.Scene; sc != nil {
		if sc.Background != "" && c.enum(p+".scene.background", sc.Background, []string{"indoor", "street", "parking"}) {
			out.Scene.Background = sc.Background
		}
		out.Scene.Night = sc.Night
		out.Scene.People = intOr(sc.People, 2)
		out.Scene.Vehicles = intOr(sc.Vehicles, 1)
		for _, f := range []struct {
			name string
			v    int
		}{{"people", out.Scene.People}, {"vehicles", out.Scene.Vehicles}} {
			if f.v < 0 || f.v > 20 {
				c.errorf(p+".scene."+f.name, "must be between 0 and 20, got %d", f.v)
			}
		}
	}
	zones := map[string]bool{}
	for i, z := range g.Zones {
		zp := fmt.Sprintf("%s.zones[%d]", p, i)
		if c.checkName(zp+".name", z.Name, "zone name", 30) && zones[z.Name] {
			c.errorf(zp+".name", "zone %q is defined twice in this camera group", z.Name)
		}
		zones[z.Name] = true
		var r [4]float64
		if len(z.Rect) != 4 {
			if z.Rect != nil {
				c.errorf(zp+".rect", "needs 4 numbers [x0, y0, x1, y1], got %d", len(z.Rect))
			}
		} else {
			copy(r[:], z.Rect)
			if slices.ContainsFunc(r[:], func(v float64) bool { return v < 0 || v > 1 }) {
				c.errorf(zp+".rect", "coordinates are normalised to 0..1, got %v", z.Rect)
			} else if r[0] >= r[2] || r[1] >= r[3] {
				c.errorf(zp+".rect", "needs x0 < x1 and y0 < y1, got %v", z.Rect)
			}
		}
		out.Zones = append(out.Zones, Zone{Name: z.Name, Rect: r})
	}
	for i, e := range g.Events {
		ep := fmt.Sprintf("%s.events[%d]", p, i)
		ev := Event{Kind: e.Kind, Zone: e.Zone, Label: e.Label}
		if e.Kind != "" {
			c.enum(ep+".kind", e.Kind, []string{"loiter", "enter", "vehicle_stop"})
		}
		if ev.Label == "" {
			ev.Label = "person"
			if e.Kind == "vehicle_stop" {
				ev.Label = "vehicle"
			}
		} else if c.enum(ep+".label", e.Label, []string{"person", "vehicle"}) && e.Kind == "vehicle_stop" && e.Label != "vehicle" {
			c.errorf(ep+".label", "a vehicle_stop event is about a vehicle; drop the label or use kind loiter or enter")
		}
		if e.Zone != "" && !zones[e.Zone] {
			c.errorf(ep+".zone", "zone %q is not defined in this camera group%s", e.Zone, hint(e.Zone, slices.Sorted(mapKeys(zones))))
		}
		ev.Start = dur(e.At, 0)
		ev.End = ev.Start + dur(e.Duration, 10*time.Second)
		switch {
		case ev.Start < 0:
			c.errorf(ep+".at", "must not be negative")
		case runDur > 0 && ev.Start >= runDur:
			c.errorf(ep+".at", "%s is not before the end of the run (%s)", ev.Start, runDur)
		}
		if e.Duration != nil && e.Duration.Std() <= 0 {
			c.errorf(ep+".duration", "must be positive")
		}
		if len(e.Cameras) == 0 {
			ev.Cameras = slices.Clone(out.CameraIDs)
		}
		for j, idx := range e.Cameras {
			if idx < 1 || idx > count {
				c.errorf(fmt.Sprintf("%s.cameras[%d]", ep, j), "camera %d does not exist; the group has cameras 1..%d", idx, count)
				continue
			}
			ev.Cameras = append(ev.Cameras, out.CameraIDs[idx-1])
		}
		out.Events = append(out.Events, ev)
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func tierRank(k EndpointKind) int {
	switch k {
	case EndpointCameras:
		return 0
	case EndpointSite:
		return 1
	}
	return 2
}

func (c *converter) endpoint(p, s string, siteIdx map[string]int) (Endpoint, bool) {
	if s == "cloud" {
		return Endpoint{Kind: EndpointCloud}, true
	}
	kind, site, ok := strings.Cut(s, ":")
	if !ok || (kind != "cameras" && kind != "site") {
		c.errorf(p, "%q is not an endpoint; write cameras:<site>, site:<site> or cloud", s)
		return Endpoint{}, false
	}
	if _, found := siteIdx[site]; !found {
		c.errorf(p, "site %q is not defined%s", site, hint(site, slices.Sorted(mapKeys(siteIdx))))
		return Endpoint{}, false
	}
	return Endpoint{Kind: EndpointKind(kind), Site: site}, true
}

func defaultLinkName(a, b Endpoint) string {
	switch {
	case a.Kind == EndpointCameras && b.Kind == EndpointSite:
		return a.Site + "-cameras"
	case a.Kind == EndpointCameras && b.Kind == EndpointCloud:
		return a.Site + "-cameras-cloud"
	case a.Kind == EndpointSite && b.Kind == EndpointCloud:
		return a.Site + "-uplink"
	}
	return a.Site + "-" + b.Site
}

func pairKey(a, b Endpoint) string {
	x, y := a.String(), b.String()
	if x > y {
		x, y = y, x
	}
	return x + "|" + y
}

func (c *converter) links(in []v1alpha1.Link, sites []Site, siteIdx map[string]int) []Link {
	var out []Link
	pairs := map[string]bool{}
	names := map[string]bool{}
	for i, l := range in {
		p := fmt.Sprintf("spec.links[%d]", i)
		if len(l.Between) != 2 {
			if l.Between != nil {
				c.errorf(p+".between", "needs exactly two endpoints, e.g. [site:store-1, cloud]; got %d", len(l.Between))
			}
			continue
		}
		a, okA := c.endpoint(p+".between[0]", l.Between[0], siteIdx)
		b, okB := c.endpoint(p+".between[1]", l.Between[1], siteIdx)
		if !okA || !okB {
			continue
		}
		switch {
		case a == b:
			c.errorf(p+".between", "both ends are %s; a link joins two different groups", a)
			continue
		case tierRank(a.Kind) > tierRank(b.Kind):
			c.errorf(p+".between", "list the lower tier first, [%s, %s], so that up means toward the cloud", b, a)
			continue
		case a.Kind == EndpointCameras && b.Kind == EndpointSite && a.Site != b.Site:
			c.errorf(p+".between", "cameras of site %q can only link to site:%s or cloud", a.Site, a.Site)
			continue
		case a.Kind == EndpointCameras && b.Kind == EndpointCameras:
			c.errorf(p+".between", "cameras do not talk to each other; link cameras to their site or to the cloud")
			continue
		}
		if pairs[pairKey(a, b)] {
			c.errorf(p+".between", "another link already joins %s and %s", a, b)
			continue
		}
		pairs[pairKey(a, b)] = true
		link := Link{Name: l.Name, A: a, B: b, Profile: l.Profile}
		if link.Name == "" {
			link.Name = defaultLinkName(a, b)
		} else {
			c.checkName(p+".name", link.Name, "link name", 40)
		}
		if names[link.Name] {
			c.errorf(p+".name", "link name %q is used twice; give the link a name", link.Name)
		}
		names[link.Name] = true
		if l.Profile != "" {
			if spec, ok := Profile(l.Profile); ok {
				link.LinkSpec = spec
			} else {
				c.errorf(p+".profile", "unknown profile %q%s", l.Profile, hint(l.Profile, ProfileNames()))
			}
		}
		link.LinkSpec = c.applyLink(p, link.LinkSpec, l.Impairment, l.Rate, l.Trace, l.Up, l.Down)
		out = append(out, link)
	}
	// Implicit lan links for every site without an explicit one.
	lan, _ := Profile("lan")
	for _, site := range sites {
		for _, pair := range [][2]Endpoint{
			{{Kind: EndpointCameras, Site: site.Name}, {Kind: EndpointSite, Site: site.Name}},
			{{Kind: EndpointSite, Site: site.Name}, {Kind: EndpointCloud}},
		} {
			a, b := pair[0], pair[1]
			if a.Kind == EndpointCameras && (len(site.Cameras) == 0 || pairs[pairKey(a, Endpoint{Kind: EndpointCloud})]) {
				continue
			}
			if pairs[pairKey(a, b)] {
				continue
			}
			name := defaultLinkName(a, b)
			if names[name] {
				continue
			}
			names[name] = true
			out = append(out, Link{Name: name, A: a, B: b, Profile: "lan", LinkSpec: lan})
		}
	}
	return out
}

// applyLink applies link-level settings on top of base: impairments to both
// directions, rate and trace per direction, then the up/down overrides.
func (c *converter) applyLink(p string, base LinkSpec, both v1alpha1.Impairment, rate *v1alpha1.Rate, trace *v1alpha1.Trace, up, down *v1alpha1.Impairment) LinkSpec {
	out := base
	out.Up = c.applyImpairment(p, out.Up, both)
	out.Down = c.applyImpairment(p, out.Down, both)
	if rate != nil {
		out.Up, out.Down = c.applyRate(p+".rate", out.Up, out.Down, rate)
	}
	if trace != nil {
		tp := p + ".trace"
		if trace.Up == "" && trace.Down == "" {
			c.errorf(tp, "set up, down or both to Mahimahi trace files")
		}
		keepQueue := rate != nil && rate.Queue != nil
		for _, x := range []struct {
			file, name string
			d          *Direction
		}{{trace.Up, "up", &out.Up}, {trace.Down, "down", &out.Down}} {
			if x.file == "" {
				continue
			}
			x.d.Trace, x.d.TraceOnce = c.tracePath(tp+"."+x.name, x.file), trace.Once
			x.d.Rate, x.d.Burst = 0, 0
			if !keepQueue {
				x.d.Queue = QueueLimit{} // the profile's queue was sized for its rate
			}
		}
		if rate != nil && ((trace.Up != "" && rate.Up != nil) || (trace.Down != "" && rate.Down != nil)) {
			c.errorf(tp, "a direction has both a rate and a trace; the trace gives the capacity, remove one")
		}
	}
	if up != nil {
		out.Up = c.applyImpairment(p+".up", out.Up, *up)
	}
	if down != nil {
		out.Down = c.applyImpairment(p+".down", out.Down, *down)
	}
	out.Up, out.Down = withRateDefaults(out.Up), withRateDefaults(out.Down)
	c.checkDirection(p, out.Up)
	c.checkDirection(p, out.Down)
	return out
}

func (c *converter) checkDirection(p string, d Direction) {
	if d.Reorder.Percent > 0 && d.Delay == 0 {
		c.errorf(p+".reorder", "reordering needs a delay: packets are reordered by sending some without the delay")
	}
}

func (c *converter) applyImpairment(p string, d Direction, im v1alpha1.Impairment) Direction {
	if im.Delay != nil {
		d.Delay = im.Delay.Std()
		if d.Delay < 0 {
			c.errorf(p+".delay", "must not be negative, got %s", d.Delay)
		} else if d.Delay > 10*time.Second {
			c.errorf(p+".delay", "%s is more than 10s", d.Delay)
		}
	}
	if im.Jitter != nil {
		d.Jitter = im.Jitter.Std()
		if d.Jitter < 0 {
			c.errorf(p+".jitter", "must not be negative, got %s", d.Jitter)
		}
	}
	if im.Correlation != nil {
		d.DelayCorrelation = *im.Correlation
	}
	if im.Distribution != "" {
		if c.enum(p+".distribution", im.Distribution, []string{"normal", "uniform", "pareto", "paretonormal"}) {
			d.Distribution = Distribution(im.Distribution)
		}
	}
	if d.Distribution == "" && d.Jitter > 0 {
		d.Distribution = DistributionNormal
	}
	if im.Loss != nil {
		d.Loss = c.loss(p+".loss", *im.Loss)
	}
	if r := im.Reorder; r != nil {
		d.Reorder = Reorder{Gap: intOr(r.Gap, 0)}
		if r.Percent != nil {
			d.Reorder.Percent = *r.Percent
		} else {
			c.errorf(p+".reorder.percent", "set the share of packets to reorder, e.g. 1%%")
		}
		if r.Correlation != nil {
			d.Reorder.Correlation = *r.Correlation
		}
		if d.Reorder.Gap < 0 {
			c.errorf(p+".reorder.gap", "must not be negative")
		}
	}
	if im.Duplicate != nil {
		d.Duplicate = c.probability(p+".duplicate", *im.Duplicate)
	}
	if im.Corrupt != nil {
		d.Corrupt = c.probability(p+".corrupt", *im.Corrupt)
	}
	return d
}

func (c *converter) probability(p string, in v1alpha1.Probability) Probability {
	var out Probability
	if in.Percent == nil {
		c.errorf(p+".percent", "set the share of packets, e.g. 0.1%%")
	} else {
		out.Percent = *in.Percent
	}
	if in.Correlation != nil {
		out.Correlation = *in.Correlation
	}
	return out
}

func pct(p *units.Percent, def units.Percent) units.Percent {
	if p == nil {
		return def
	}
	return *p
}

func (c *converter) loss(p string, in v1alpha1.Loss) Loss {
	set := 0
	for _, b := range []bool{in.Percent != nil, in.GilbertElliott != nil, in.Markov4 != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.errorf(p, "set exactly one loss model: percent, gilbertElliott or markov4")
		return Loss{}
	}
	switch {
	case in.Percent != nil:
		return Loss{Model: LossBernoulli, Percent: *in.Percent, Correlation: pct(in.Correlation, 0)}
	case in.Correlation != nil:
		c.errorf(p+".correlation", "only applies to percent loss; the state models carry their own memory")
	}
	if ge := in.GilbertElliott; ge != nil {
		if ge.P == nil {
			c.errorf(p+".gilbertElliott.p", "set p, the probability of entering the bad state")
			return Loss{}
		}
		out := GilbertElliott{P: *ge.P, R: pct(ge.R, 100-*ge.P), H: pct(ge.H, 0), K: pct(ge.K, 100)}
		if out.R == 0 {
			c.errorf(p+".gilbertElliott.r", "r = 0%% never leaves the bad state; the link would stay lossy forever")
		}
		return Loss{Model: LossGilbertElliott, GilbertElliott: out}
	}
	m := in.Markov4
	if m.P13 == nil {
		c.errorf(p+".markov4.p13", "set p13, the probability of entering a loss burst")
		return Loss{}
	}
	out := Markov4{P13: *m.P13, P31: pct(m.P31, 100-*m.P13), P32: pct(m.P32, 0), P23: pct(m.P23, 100), P14: pct(m.P14, 0)}
	if float64(out.P13)+float64(out.P14) > 100 {
		c.errorf(p+".markov4", "p13 + p14 = %g%%; leaving the good state cannot be more likely than 100%%", float64(out.P13+out.P14))
	}
	if float64(out.P31)+float64(out.P32) > 100 {
		c.errorf(p+".markov4", "p31 + p32 = %g%%; leaving the burst state cannot be more likely than 100%%", float64(out.P31+out.P32))
	}
	return Loss{Model: LossMarkov4, Markov4: out}
}

func (c *converter) applyRate(p string, up, down Direction, r *v1alpha1.Rate) (Direction, Direction) {
	if r.Both != nil {
		if r.Up != nil || r.Down != nil {
			c.errorf(p+".both", "set both, or up and down, not a mix")
		}
		rr := *r
		rr.Up, rr.Down = r.Both, r.Both
		r = &rr
	}
	for _, x := range []struct {
		name string
		v    *units.BitRate
		d    *Direction
	}{{"up", r.Up, &up}, {"down", r.Down, &down}} {
		if x.v == nil {
			continue
		}
		if *x.v < 8*units.Kbit {
			c.errorf(p+"."+x.name, "%s is too low; the smallest useful rate is 8Kbit", *x.v)
		}
		x.d.Rate = *x.v
		x.d.Trace = ""
		// Derived from the old rate: recomputed unless given below.
		x.d.Queue, x.d.Burst = QueueLimit{}, 0
	}
	for _, d := range []*Direction{&up, &down} {
		if r.Queue != nil {
			d.Queue = QueueLimit{Bytes: r.Queue.Bytes, Packets: r.Queue.Packets}
		}
		if r.QueueDiscipline != "" && c.enum(p+".queueDiscipline", r.QueueDiscipline, []string{"droptail", "drophead"}) {
			d.QueueDiscipline = QueueDiscipline(r.QueueDiscipline)
		}
		if r.Burst != nil {
			d.Burst = *r.Burst
			if d.Burst < mtu {
				c.errorf(p+".burst", "%s is below one packet (1500B); the link could never send a full-size packet", d.Burst)
			}
		}
	}
	if r.Up == nil && r.Down == nil && up.Rate == 0 && down.Rate == 0 {
		c.errorf(p, "set up, down or both, e.g. {up: 10Mbit, down: 50Mbit}")
	}
	return up, down
}

func (c *converter) tracePath(p, rel string) string {
	abs := c.path(rel)
	if err := checkMahimahiTrace(abs, rel); err != nil {
		c.errorf(p, "%v", err)
	}
	return abs
}

// checkMahimahiTrace verifies that path is a Mahimahi mm-link trace: one
// non-negative integer millisecond per line, non-decreasing, no empty
// lines, last value above zero.
func checkMahimahiTrace(file, path string) error {
	info, err := os.Stat(file)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read trace %s: %v", path, unwrapPathError(err))
	case !info.Mode().IsRegular():
		return fmt.Errorf("trace %s is not a regular file", path)
	case info.Size() > maxTraceSize:
		return fmt.Errorf("trace %s is %d bytes; traces are limited to %d", path, info.Size(), maxTraceSize)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read trace %s: %v", path, unwrapPathError(err))
	}
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return fmt.Errorf("trace %s is empty; a Mahimahi trace has one millisecond timestamp per line", path)
	}
	prev := int64(-1)
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		v, err := strconv.ParseInt(line, 10, 64)
		switch {
		case line == "":
			return fmt.Errorf("trace %s line %d is empty; Mahimahi traces have no empty lines", path, i+1)
		case err != nil || v < 0:
			return fmt.Errorf("trace %s line %d: %q is not a non-negative integer number of milliseconds", path, i+1, line)
		case v < prev:
			return fmt.Errorf("trace %s line %d: %d is before the previous timestamp %d; timestamps must not decrease", path, i+1, v, prev)
		}
		prev = v
	}
	if prev <= 0 {
		return fmt.Errorf("trace %s: the last timestamp must be above 0 (it is the period of the trace)", path)
	}
	return nil
}

func (c *converter) workload(in *v1alpha1.Workload, s *Scenario) Workload {
	out := Workload{Model: Model{Name: "default"}, Placement: PlacementEdge, DetectFPS: 5}
	if in == nil {
		return out
	}
	p := "spec.workload"
	if m := in.Model; m != nil {
		if m.Name != "" {
			out.Model.Name = m.Name
		}
		out.Model.Variant = m.Variant
		if m.Path != "" {
			out.Model.Path = c.path(m.Path)
			if _, err := os.Stat(filepath.Join(out.Model.Path, "manifest.json")); err != nil {
				c.errorf(p+".model.path", "%s has no readable manifest.json: %v", m.Path, unwrapPathError(err))
			}
		}
	}
	if in.Placement != "" && c.enum(p+".placement", in.Placement, []string{"edge", "cloud"}) {
		out.Placement = Placement(in.Placement)
	}
	if in.DetectFPS != nil {
		out.DetectFPS = *in.DetectFPS
		if out.DetectFPS <= 0 || out.DetectFPS > 60 {
			c.errorf(p+".detectFPS", "must be above 0 and at most 60, got %g", out.DetectFPS)
		}
	}
	if in.Threshold != nil {
		out.Threshold = *in.Threshold
		if out.Threshold <= 0 || out.Threshold >= 1 {
			c.errorf(p+".threshold", "must be between 0 and 1 (exclusive), got %g", out.Threshold)
		}
	}
	zonesBySite := map[string]map[string]bool{}
	allZones := map[string]bool{}
	for _, site := range s.Sites {
		zonesBySite[site.Name] = map[string]bool{}
		for _, g := range site.Cameras {
			for _, z := range g.Zones {
				zonesBySite[site.Name][z.Name] = true
				allZones[z.Name] = true
			}
		}
	}
	names := map[string]bool{}
	for i, r := range in.Alerts {
		rp := fmt.Sprintf("%s.alerts[%d]", p, i)
		rule := AlertRule{Name: r.Name, Zone: r.Zone, Labels: r.Labels, Dwell: dur(r.Dwell, 0)}
		if len(rule.Labels) == 0 {
			rule.Labels = []string{"person"}
		}
		for j, l := range r.Labels {
			c.enum(fmt.Sprintf("%s.labels[%d]", rp, j), l, []string{"person", "vehicle"})
		}
		if rule.Name == "" {
			rule.Name = r.Zone + "-" + strings.Join(rule.Labels, "-")
		} else {
			c.checkName(rp+".name", rule.Name, "rule name", 40)
		}
		if names[rule.Name] {
			c.errorf(rp+".name", "rule name %q is used twice", rule.Name)
		}
		names[rule.Name] = true
		if rule.Dwell < 0 {
			c.errorf(rp+".dwell", "must not be negative")
		}
		if tw := r.TimeOfDay; tw != nil && tw.From != nil && tw.To != nil {
			rule.Window = &TimeWindow{From: *tw.From, To: *tw.To}
			if s.Duration > 0 && !windowOverlaps(*rule.Window, s.StartTime, 0, s.Duration) {
				c.errorf(rp+".timeOfDay", "the rule is never active: the run covers %s-%s and the window is %s-%s; set spec.startTime (e.g. %q)",
					s.StartTime, units.TimeOfDay((s.StartTime.Since()+s.Duration)%(24*time.Hour)), tw.From, tw.To, tw.From.String())
			}
		}
		for j, site := range r.Sites {
			if _, ok := zonesBySite[site]; !ok {
				c.errorf(fmt.Sprintf("%s.sites[%d]", rp, j), "site %q is not defined%s", site, hint(site, slices.Sorted(mapKeys(zonesBySite))))
				continue
			}
			if r.Zone != "" && !zonesBySite[site][r.Zone] {
				c.errorf(fmt.Sprintf("%s.sites[%d]", rp, j), "site %q has no camera group with zone %q", site, r.Zone)
				continue
			}
			rule.Sites = append(rule.Sites, site)
		}
		if r.Zone != "" {
			if !allZones[r.Zone] {
				c.errorf(rp+".zone", "zone %q is not defined by any camera group%s", r.Zone, hint(r.Zone, slices.Sorted(mapKeys(allZones))))
			} else if len(r.Sites) == 0 {
				for _, site := range s.Sites {
					if zonesBySite[site.Name][r.Zone] {
						rule.Sites = append(rule.Sites, site.Name)
					}
				}
			}
		}
		out.Alerts = append(out.Alerts, rule)
	}
	return out
}

var (
	nodeActions = []string{"kill", "restart", "pause"}
	linkActions = []string{"partition", "degrade", "traceSwitch"}
)

func (c *converter) faults(in []v1alpha1.Fault, s *Scenario) []Fault {
	var out []Fault
	prevAt := time.Duration(-1)
	names := map[string]bool{}
	for i, f := range in {
		p := fmt.Sprintf("spec.faults[%d]", i)
		fault := Fault{Name: f.Name, Action: FaultAction(f.Action), Duration: dur(f.Duration, 0)}
		if fault.Name == "" {
			fault.Name = fmt.Sprintf("%s-%d", f.Action, i+1)
		} else {
			c.checkName(p+".name", fault.Name, "fault name", 40)
		}
		if names[fault.Name] {
			c.errorf(p+".name", "fault name %q is used twice", fault.Name)
		}
		names[fault.Name] = true
		switch {
		case f.At != nil && f.After != nil:
			c.errorf(p+".after", "set either at (from the start) or after (from the previous fault), not both")
		case f.At != nil:
			fault.At = f.At.Std()
		case f.After != nil:
			if prevAt < 0 {
				c.errorf(p+".after", "the first fault has no previous fault; use at")
			}
			fault.At = max(prevAt, 0) + f.After.Std()
		default:
			c.errorf(p+".at", "set when the fault happens: at (from the start) or after (from the previous fault)")
		}
		switch {
		case fault.At < 0 || (f.After != nil && f.After.Std() < 0):
			c.errorf(p+".at", "must not be negative")
		case s.Duration > 0 && fault.At >= s.Duration:
			c.errorf(p+".at", "the fault at %s is not before the end of the run (%s)", fault.At, s.Duration)
		}
		prevAt = fault.At
		if fault.Duration < 0 {
			c.errorf(p+".duration", "must not be negative")
		}
		if f.Action != "" && c.enum(p+".action", f.Action, append(slices.Clone(nodeActions), linkActions...)) {
			if fault.Action == FaultRestart && f.Duration == nil {
				fault.Duration = 5 * time.Second
			}
			if f.Duration != nil && fault.Action == FaultKill {
				c.errorf(p+".duration", "a killed node stays down; use action restart to bring it back after a duration")
			}
			if f.Duration != nil && fault.Action == FaultTraceSwitch {
				c.errorf(p+".duration", "a trace switch is permanent; add another traceSwitch later to switch back")
			}
			fault.Target = c.faultTarget(p+".target", f, s)
		}
		if f.Degrade != nil && fault.Action != FaultDegrade {
			c.errorf(p+".degrade", "only used with action degrade")
		}
		if f.Trace != nil && fault.Action != FaultTraceSwitch {
			c.errorf(p+".trace", "only used with action traceSwitch")
		}
		if fault.Action == FaultDegrade {
			if f.Degrade == nil {
				c.errorf(p+".degrade", "action degrade needs the new settings, e.g. degrade: {ramp: 10s, delay: 400ms, loss: 5%%}")
			} else {
				fault.Degrade = c.degrade(p+".degrade", *f.Degrade, fault.Target.Links, s)
			}
		}
		if fault.Action == FaultTraceSwitch {
			if f.Trace == nil {
				c.errorf(p+".trace", "action traceSwitch needs trace: {up: FILE, down: FILE}")
			} else {
				ts := &TraceSwitch{Once: f.Trace.Once}
				if f.Trace.Up == "" && f.Trace.Down == "" {
					c.errorf(p+".trace", "set up, down or both to Mahimahi trace files")
				}
				if f.Trace.Up != "" {
					ts.Up = c.tracePath(p+".trace.up", f.Trace.Up)
				}
				if f.Trace.Down != "" {
					ts.Down = c.tracePath(p+".trace.down", f.Trace.Down)
				}
				fault.Trace = ts
			}
		}
		out = append(out, fault)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

func (c *converter) faultTarget(p string, f v1alpha1.Fault, s *Scenario) FaultTarget {
	t := FaultTarget{Node: f.Target.Node, Site: f.Target.Site, Link: f.Target.Link}
	set := 0
	for _, v := range []string{t.Node, t.Site, t.Link} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		c.errorf(p, "set exactly one of node, site or link")
		return t
	}
	action := f.Action
	nodeLevel := slices.Contains(nodeActions, action)
	var nodeNames, siteNames, linkNames []string
	for _, n := range s.Nodes() {
		nodeNames = append(nodeNames, n.Name)
	}
	for _, site := range s.Sites {
		siteNames = append(siteNames, site.Name)
	}
	for _, l := range s.Links {
		linkNames = append(linkNames, l.Name)
	}
	switch {
	case t.Node != "":
		if !nodeLevel {
			c.errorf(p+".node", "%s acts on links; target a link or a site", action)
		} else if !slices.Contains(nodeNames, t.Node) {
			c.errorf(p+".node", "node %q does not exist%s", t.Node, hint(t.Node, nodeNames))
		} else {
			t.Nodes = []string{t.Node}
		}
	case t.Site != "":
		if !slices.Contains(siteNames, t.Site) {
			c.errorf(p+".site", "site %q is not defined%s", t.Site, hint(t.Site, siteNames))
			break
		}
		if action == string(FaultTraceSwitch) {
			c.errorf(p+".site", "traceSwitch targets one link; name it with link")
			break
		}
		for _, site := range s.Sites {
			if site.Name != t.Site {
				continue
			}
			if nodeLevel {
				for _, n := range site.Nodes {
					t.Nodes = append(t.Nodes, n.Name)
				}
			}
		}
		if !nodeLevel {
			// The site's links to the rest of the fleet (cloud, other
			// sites); its own camera network stays up, as in a WAN outage.
			for _, l := range s.Links {
				if (l.A.Site == t.Site) != (l.B.Site == t.Site) {
					t.Links = append(t.Links, l.Name)
				}
			}
			if len(t.Links) == 0 {
				c.errorf(p+".site", "site %q has no links to the rest of the fleet", t.Site)
			}
		}
	case t.Link != "":
		if nodeLevel {
			c.errorf(p+".link", "%s acts on nodes; target a node or a site", action)
		} else if !slices.Contains(linkNames, t.Link) {
			c.errorf(p+".link", "link %q does not exist%s", t.Link, hint(t.Link, linkNames))
		} else {
			t.Links = []string{t.Link}
		}
	}
	return t
}

func (c *converter) degrade(p string, in v1alpha1.Degrade, links []string, s *Scenario) *Degradation {
	out := &Degradation{Ramp: dur(in.Ramp, 0)}
	if out.Ramp < 0 {
		c.errorf(p+".ramp", "must not be negative")
	}
	if reflect.ValueOf(in.Impairment).IsZero() && in.Rate == nil {
		c.errorf(p, "set at least one new value: delay, jitter, loss, rate, ...")
	}
	for _, name := range links {
		l, _ := s.Link(name)
		before := len(c.d.errs)
		spec := c.applyLink(p, l.LinkSpec, in.Impairment, in.Rate, nil, nil, nil)
		out.Links = append(out.Links, LinkChange{Link: name, To: spec})
		if len(c.d.errs) > before {
			break // the same problems would repeat for every link
		}
	}
	return out
}

var percentileRe = regexp.MustCompile(`^p(\d+(\.\d+)?)$`)

func (c *converter) slo(in *v1alpha1.SLO, s *Scenario) SLO {
	var out SLO
	if in == nil {
		return out
	}
	p := "spec.slo"
	for _, k := range slices.Sorted(mapKeys(in.E2ELatency)) {
		v := in.E2ELatency[k]
		m := percentileRe.FindStringSubmatch(k)
		if m == nil {
			c.errorf(p+".e2eLatency."+k, "%q is not a percentile; write p50, p95, p99 or p99.9", k)
			continue
		}
		pc, _ := strconv.ParseFloat(m[1], 64)
		if pc <= 0 || pc > 100 {
			c.errorf(p+".e2eLatency."+k, "percentile %g is outside (0, 100]", pc)
			continue
		}
		if v.Std() <= 0 {
			c.errorf(p+".e2eLatency."+k, "must be positive")
		}
		out.E2ELatency = append(out.E2ELatency, LatencyObjective{Percentile: pc, Max: v.Std()})
	}
	sort.Slice(out.E2ELatency, func(i, j int) bool { return out.E2ELatency[i].Percentile < out.E2ELatency[j].Percentile })
	for i := 1; i < len(out.E2ELatency); i++ {
		if out.E2ELatency[i].Max < out.E2ELatency[i-1].Max {
			c.errorf(p+".e2eLatency", "p%g (%s) is below p%g (%s); a higher percentile cannot be faster",
				out.E2ELatency[i].Percentile, out.E2ELatency[i].Max, out.E2ELatency[i-1].Percentile, out.E2ELatency[i-1].Max)
		}
	}
	out.TimeToAlert = dur(in.TimeToAlert, 0)
	if in.TimeToAlert != nil {
		if out.TimeToAlert <= 0 {
			c.errorf(p+".timeToAlert", "must be positive")
		}
		if len(s.Workload.Alerts) == 0 {
			c.errorf(p+".timeToAlert", "needs at least one alert rule in spec.workload.alerts")
		}
		hasEvent, matched := false, false
		for _, site := range s.Sites {
			for _, g := range site.Cameras {
				for _, ev := range g.Events {
					hasEvent = true
					matched = matched || eventRaisesAlert(site.Name, ev, s)
				}
			}
		}
		switch {
		case !hasEvent:
			c.errorf(p+".timeToAlert", "needs a scripted event (cameras[].events) to time the alert from")
		case len(s.Workload.Alerts) > 0 && !matched:
			c.errorf(p+".timeToAlert", "no scripted event can raise an alert: no event's zone, label and site match an alert rule active at that time of day")
		}
	}
	out.FailoverMax = dur(in.FailoverMax, 0)
	if in.FailoverMax != nil {
		if out.FailoverMax <= 0 {
			c.errorf(p+".failoverMax", "must be positive")
		}
		if len(s.Faults) == 0 {
			c.errorf(p+".failoverMax", "needs at least one fault in spec.faults to fail over from")
		}
	}
	if in.UplinkMax != nil {
		out.UplinkMax = *in.UplinkMax
		if out.UplinkMax <= 0 {
			c.errorf(p+".uplinkMax", "must be positive")
		}
	}
	if in.RecallMin != nil {
		out.RecallMin = *in.RecallMin
	}
	return out
}

// eventRaisesAlert reports whether some alert rule covers the event's zone,
// label and site and is active (time of day) at some point of the event.
func eventRaisesAlert(site string, ev Event, s *Scenario) bool {
	for _, r := range s.Workload.Alerts {
		if r.Zone != ev.Zone || !slices.Contains(r.Labels, ev.Label) || !slices.Contains(r.Sites, site) {
			continue
		}
		if r.Window == nil || windowOverlaps(*r.Window, s.StartTime, ev.Start, ev.End) {
			return true
		}
	}
	return false
}

// windowOverlaps reports whether the daily window w is active at any time of
// the run interval [from, to) when the run starts at start.
func windowOverlaps(w TimeWindow, start units.TimeOfDay, from, to time.Duration) bool {
	const day = 24 * time.Hour
	if to-from >= day {
		return true
	}
	// Check every window boundary inside the interval, and its start.
	at := func(d time.Duration) units.TimeOfDay {
		return units.TimeOfDay(((start.Since()+d)%day + day) % day)
	}
	if at(from).Within(w.From, w.To) {
		return true
	}
	for _, edge := range []units.TimeOfDay{w.From, w.To} {
		offset := (edge.Since() - at(from).Since() + day) % day
		if from+offset < to && at(from+offset).Within(w.From, w.To) {
			return true
		}
	}
	return false
}

// ReportFormats lists the report formats.
var ReportFormats = []string{"json", "html", "markdown", "junit"}

func (c *converter) report(in *v1alpha1.Report, name string) Report {
	out := Report{Formats: slices.Clone(ReportFormats), Dir: filepath.Join("edgesim-report", name)}
	if in == nil {
		return out
	}
	if len(in.Formats) > 0 {
		out.Formats = nil
		for i, f := range in.Formats {
			fp := fmt.Sprintf("spec.report.formats[%d]", i)
			if !c.enum(fp, f, ReportFormats) {
				continue
			}
			if slices.Contains(out.Formats, f) {
				c.errorf(fp, "%q is listed twice", f)
				continue
			}
			out.Formats = append(out.Formats, f)
		}
	}
	if in.Dir != "" {
		out.Dir = in.Dir
	}
	return out
}
