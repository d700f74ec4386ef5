package scenarios

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// maxFileSize bounds scenario files; real ones are a few KB.
const maxFileSize = 4 << 20

// LoadFile reads, decodes, validates and resolves the scenario at path.
// Relative paths in it (traces, models, kubeconfig) are resolved against the
// file's directory. Any problem is returned as an ErrorList holding every
// problem found, each with file:line:col and field path.
func LoadFile(path string, opts ...LoadOption) (*Scenario, error) {
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
	s, err := Load(path, data, filepath.Dir(abs), opts...)
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
func Load(name string, data []byte, baseDir string, opts ...LoadOption) (*Scenario, error) {
	ext, d := decodeExternal(name, data)
	return d.load(ext, baseDir, opts)
}

// LoadOption changes how a scenario is loaded.
type LoadOption func(*converter)

// AllowOutsidePaths lets a scenario's trace files and report.dir lie
// outside the scenario file's directory (absolute paths, "..", symbolic
// links that lead out). Without it such paths are refused: a scenario is
// often someone else's file, and edgesim reads and writes as root.
func AllowOutsidePaths() LoadOption { return func(c *converter) { c.allowOutside = true } }

// LoadNode decodes, validates and resolves a scenario held in a YAML node
// of another file (an inline scenario of a plan file): problems carry the
// node's lines and columns, in file name.
func LoadNode(name string, root *yaml.Node, baseDir string, opts ...LoadOption) (*Scenario, error) {
	d := newDecoder(name)
	return d.load(d.decodeRoot(root), baseDir, opts)
}

func (d *decoder) load(ext *v1alpha1.Scenario, baseDir string, opts []LoadOption) (*Scenario, error) {
	if ext == nil || d.budget {
		return nil, d.errs.sorted()
	}
	c := &converter{d: d, base: baseDir}
	for _, o := range opts {
		o(c)
	}
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
	return d.decodeRoot(root), d
}

// decodeRoot decodes a scenario's root node.
func (d *decoder) decodeRoot(root *yaml.Node) *v1alpha1.Scenario {
	for root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "a scenario is a YAML mapping that starts with apiVersion: %s; got %s", v1alpha1.APIVersion, kindName(root))
		return nil
	}
	var ext v1alpha1.Scenario
	d.decode(root, reflect.ValueOf(&ext).Elem(), "")
	return &ext
}

// converter validates the external scenario and builds the internal one.
type converter struct {
	d    *decoder
	base string
	// allowOutside: paths may leave base (AllowOutsidePaths).
	allowOutside bool
	warns        ErrorList
	classes      map[string]Resources // spec.hardware by name
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

// inTree resolves rel (the value at field path fp) against the scenario's
// directory and reports whether it stays inside it: no absolute path, no
// "..", no symbolic link that leads out. Otherwise it records an error,
// unless AllowOutsidePaths was given.
func (c *converter) inTree(fp, rel, what string) (string, bool) {
	abs := c.path(rel)
	if c.allowOutside || rel == "" {
		return abs, true
	}
	refuse := func(why string) (string, bool) {
		c.errorf(fp, "%s %q %s; give a path below the scenario's directory, or pass --allow-outside-paths to allow it", what, rel, why)
		return abs, false
	}
	if !filepath.IsLocal(rel) {
		return refuse("leaves the scenario's directory")
	}
	base := c.base
	if base == "" {
		base = "."
	}
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		return abs, true // nothing there to lead out of
	}
	// The longest part of the path that exists, with its links followed.
	for p := abs; ; p = filepath.Dir(p) {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			if r, err := filepath.Rel(realBase, real); err != nil || !filepath.IsLocal(r) && r != "." {
				return refuse("leads out of the scenario's directory through a symbolic link")
			}
			return abs, true
		}
		if p == base || p == filepath.Dir(p) {
			return abs, true
		}
	}
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

	// Hardware classes, then the cloud.
	c.classes = c.hardware(sp.Hardware)
	nCloud := 1
	var cloudRes Resources
	if sp.Cloud != nil {
		nCloud = intOr(sp.Cloud.Nodes, 1)
		if nCloud < 1 || nCloud > 16 {
			c.errorf("spec.cloud.nodes", "must be between 1 and 16, got %d", nCloud)
			nCloud = max(1, min(nCloud, 16))
		}
		cloudRes = c.nodeResources("spec.cloud", sp.Cloud.Hardware, sp.Cloud.Resources)
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
	c.siteModels(sp.Sites, s)
	s.Faults = c.faults(sp.Faults, s)
	s.Rollouts = c.rollouts(sp.Rollouts, s)
	s.SLO = c.slo(sp.SLO, s)
	s.Report = c.report(sp.Report, s.Name)
	return s
}

// hardware checks the named hardware classes and returns them by name.
func (c *converter) hardware(classes []v1alpha1.HardwareClass) map[string]Resources {
	out := map[string]Resources{}
	for i, h := range classes {
		p := fmt.Sprintf("spec.hardware[%d]", i)
		ok := c.checkName(p+".name", h.Name, "hardware class name", 30)
		if _, dup := out[h.Name]; ok && dup {
			c.errorf(p+".name", "hardware class %q is defined twice", h.Name)
		}
		if h.CPU == nil && h.Memory == nil {
			c.errorf(p, "hardware class %q gives neither cpu nor memory; give one or both, e.g. {name: %s, cpu: \"1\", memory: 1Gi}", h.Name, h.Name)
		}
		r := c.resources(p, &h.Resources)
		r.Class = h.Name
		out[h.Name] = r
	}
	return out
}

// nodeResources resolves the resources of the nodes of a tier (the cloud
// or a site, at path p): a hardware class by name, or inline resources.
func (c *converter) nodeResources(p, class string, inline *v1alpha1.Resources) Resources {
	if class == "" {
		return c.resources(p+".resources", inline)
	}
	if inline != nil {
		c.errorf(p+".hardware", "give either hardware (a class of spec.hardware) or resources, not both")
		return Resources{}
	}
	r, ok := c.classes[class]
	if !ok {
		names := slices.Sorted(maps.Keys(c.classes))
		if len(names) == 0 {
			c.errorf(p+".hardware", "no hardware class %q: spec.hardware defines none; define it there, e.g. hardware: [{name: %s, cpu: \"1\", memory: 1Gi}]", class, class)
		} else {
			msg := fmt.Sprintf("no hardware class %q in spec.hardware (defined: %s)", class, strings.Join(names, ", "))
			if m := didYouMean(class, names); m != "" {
				msg += fmt.Sprintf("; did you mean %q?", m)
			}
			c.errorf(p+".hardware", "%s", msg)
		}
	}
	return r
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
	res := c.nodeResources(p, in.Hardware, in.Resources)
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
