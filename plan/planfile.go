package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
)

// Plan file identity.
const (
	PlanAPIVersion = "edgesim.dev/v1alpha1"
	PlanKind       = "Plan"
)

// planFile is a plan file as written (decoded strictly, like scenarios).
type planFile struct {
	APIVersion string   `yaml:"apiVersion" es:"required"`
	Kind       string   `yaml:"kind" es:"required"`
	Metadata   planMeta `yaml:"metadata" es:"required"`
	Spec       planSpec `yaml:"spec" es:"required"`
}

type planMeta struct {
	Name        string `yaml:"name" es:"required"`
	Description string `yaml:"description"`
}

type planSpec struct {
	// Scenario is a path relative to the plan file, or a scenario inline.
	Scenario    yaml.Node       `yaml:"scenario" es:"required"`
	Calibration string          `yaml:"calibration"`
	Seed        *int64          `yaml:"seed"`
	Duration    *units.Duration `yaml:"duration"`
	Sites       []planSites     `yaml:"sites"`
	Sweep       planSweep       `yaml:"sweep" es:"required"`
	Cloud       *planCloud      `yaml:"cloud"`
	Objectives  *planObjectives `yaml:"objectives"`
	NodeLoss    bool            `yaml:"nodeLoss"`
}

type planSites struct {
	Site  string `yaml:"site" es:"required"`
	Count int    `yaml:"count" es:"required"`
	Type  string `yaml:"type"`
}

type planSweep struct {
	CamerasPerNode []int       `yaml:"camerasPerNode" es:"required"`
	NodesPerSite   []int       `yaml:"nodesPerSite"`
	Hardware       []string    `yaml:"hardware"`
	DetectFPS      []float64   `yaml:"detectFps"`
	Link           []yaml.Node `yaml:"link"`
	Placement      []string    `yaml:"placement"`
	Model          []string    `yaml:"model"`
}

type planCloud struct {
	Hardware []string `yaml:"hardware"`
	Nodes    []int    `yaml:"nodes"`
}

type planObjectives struct {
	LatencyP50     *units.Duration `yaml:"latencyP50"`
	LatencyP95     *units.Duration `yaml:"latencyP95"`
	TimeToAlertP95 *units.Duration `yaml:"timeToAlertP95"`
	DroppedMax     *units.Percent  `yaml:"droppedMax"`
	UplinkMax      *units.BitRate  `yaml:"uplinkMax"`
}

// Plan is a loaded and validated plan file: a scenario and the sweeps to
// run over it.
type Plan struct {
	Name, Description string
	// File is the plan file (absolute); ScenarioFile the scenario's ("" when
	// inline).
	File, ScenarioFile string
	// Scenario is the scenario as written (its own WAN links).
	Scenario *scenarios.Scenario
	// Calibration is the calibration file named by the plan (absolute), ""
	// when it names none (then the command line must).
	Calibration string
	// Seed and Duration override the scenario's when set (Duration 0: the
	// scenario's).
	Seed     int64
	Duration time.Duration
	Sites    []SiteScale
	Sweep    Sweep
	Cloud    CloudSweep
	// Objectives are the plan's own or the scenario's SLOs mapped onto the
	// simulator's; ObjectiveNotes say which SLOs the simulator cannot judge
	// and how the others were mapped.
	Objectives     Objectives
	ObjectiveNotes []string
	NodeLoss       bool

	// links holds the scenario with each swept WAN link, by link name.
	links map[string]*scenarios.Scenario
	// Source holds the files a cluster run needs: the plan, and the
	// scenario when it is a separate file.
	planData, scenarioData []byte
}

// SiteScale replicates one of the scenario's sites Count times as one site
// type.
type SiteScale struct {
	Site  string
	Count int
	Type  string
}

// Sweep lists the values of every swept dimension; an empty list keeps
// the scenario's own value.
type Sweep struct {
	CamerasPerNode []int
	NodesPerSite   []int
	Hardware       []string
	DetectFPS      []float64
	Links          []string // names of the link values
	Placements     []Placement
	Models         []string
}

// CloudSweep is the cloud tier for cloud placement: its classes and the
// sizes to find the smallest that meets the objectives.
type CloudSweep struct {
	Hardware []string
	Nodes    []int
}

// ScenarioLink is the key name of a curve whose WAN links are the
// scenario's own.
const ScenarioLink = "scenario"

// LoadPlan reads, decodes strictly and validates a plan file. Every problem
// is reported at once with its line, column and field path (a
// scenarios.ErrorList).
func LoadPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: read the plan file: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return ParsePlan(path, data, filepath.Dir(abs))
}

// ParsePlan decodes and validates a plan held in data; name is the file
// name for messages and dir the directory relative paths start from.
func ParsePlan(name string, data []byte, dir string) (*Plan, error) {
	var pf planFile
	loc := scenarios.DecodeStrict(name, data, &pf)
	if !loc.Decoded() {
		return nil, loc.Err()
	}
	p := &Plan{Name: pf.Metadata.Name, Description: pf.Metadata.Description, File: filepath.Join(dir, filepath.Base(name)),
		NodeLoss: pf.Spec.NodeLoss, links: map[string]*scenarios.Scenario{}, planData: data}
	if pf.APIVersion != "" && pf.APIVersion != PlanAPIVersion {
		loc.Errorf("apiVersion", "%q is not supported; use %s", pf.APIVersion, PlanAPIVersion)
	}
	if pf.Kind != "" && pf.Kind != PlanKind {
		loc.Errorf("kind", "%q: a plan file has kind: %s (a scenario is run with edgesim run)", pf.Kind, PlanKind)
	}
	if pf.Metadata.Name == "" {
		loc.Errorf("metadata.name", "a plan needs a name")
	}
	s := &pf.Spec
	if s.Calibration != "" {
		p.Calibration = abspath(dir, s.Calibration)
	}
	if s.Seed != nil {
		p.Seed = *s.Seed
	}
	if s.Duration != nil {
		if p.Duration = s.Duration.Std(); p.Duration <= 0 {
			loc.Errorf("spec.duration", "must be positive, e.g. 60s")
		}
	}
	root, scName, scDir := p.scenarioNode(loc, name, dir, &s.Scenario)
	if root != nil {
		p.Scenario = p.loadScenario(loc, root, scName, scDir, "spec.scenario")
	}
	p.sweep(loc, s)
	if p.Scenario != nil {
		p.sites(loc, s.Sites)
		p.linkValues(loc, root, scName, scDir, dir, s.Sweep.Link)
		p.objectives(loc, s.Objectives)
	}
	if err := loc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func abspath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// scenarioNode returns the scenario's root node, the file name its
// problems are reported in and the directory its relative paths start from.
func (p *Plan) scenarioNode(loc *scenarios.Locator, name, dir string, n *yaml.Node) (*yaml.Node, string, string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			loc.Errorf("spec.scenario", "give a scenario file (relative to the plan file) or a scenario inline")
			return nil, "", ""
		}
		path := abspath(dir, n.Value)
		data, err := os.ReadFile(path)
		if err != nil {
			loc.Errorf("spec.scenario", "cannot read the scenario %s: %v", n.Value, err)
			return nil, "", ""
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
			// LoadFile reports the file's own problems with its positions.
			_, lerr := scenarios.LoadFile(path)
			loc.Errorf("spec.scenario", "the scenario %s is not valid:\n%v", n.Value, lerr)
			return nil, "", ""
		}
		p.ScenarioFile, p.scenarioData = path, data
		return doc.Content[0], path, filepath.Dir(path)
	case yaml.MappingNode:
		return n, name, dir
	case 0:
		return nil, "", "" // missing: the decoder said so
	}
	loc.Errorf("spec.scenario", "give a scenario file (relative to the plan file) or a scenario inline (a mapping)")
	return nil, "", ""
}

// loadScenario loads a scenario node; its problems join the plan's.
func (p *Plan) loadScenario(loc *scenarios.Locator, root *yaml.Node, name, dir, path string) *scenarios.Scenario {
	sc, err := scenarios.LoadNode(name, root, dir)
	if err != nil {
		var list scenarios.ErrorList
		if p.ScenarioFile == "" && asList(err, &list) {
			loc.Add(list.WithPathPrefix(path)...)
			return nil
		}
		loc.Errorf(path, "the scenario is not valid:\n%v", err)
		return nil
	}
	return sc
}

func asList(err error, list *scenarios.ErrorList) bool {
	l, ok := err.(scenarios.ErrorList)
	*list = l
	return ok
}

func (p *Plan) sweep(loc *scenarios.Locator, s *planSpec) {
	w := &s.Sweep
	if len(w.CamerasPerNode) == 0 {
		loc.Errorf("spec.sweep.camerasPerNode", "list the cameras per edge node to sweep, e.g. [4, 8, 12, 16]")
	}
	positive := func(path string, vs []int) []int {
		for i, v := range vs {
			if v < 1 {
				loc.Errorf(fmt.Sprintf("%s[%d]", path, i), "must be at least 1")
			}
		}
		return slices.Compact(slices.Sorted(slices.Values(vs)))
	}
	p.Sweep.CamerasPerNode = positive("spec.sweep.camerasPerNode", w.CamerasPerNode)
	p.Sweep.NodesPerSite = positive("spec.sweep.nodesPerSite", w.NodesPerSite)
	for i, v := range w.DetectFPS {
		if v < 0 {
			loc.Errorf(fmt.Sprintf("spec.sweep.detectFps[%d]", i), "must not be negative (0: every frame)")
		}
	}
	p.Sweep.DetectFPS = slices.Compact(slices.Sorted(slices.Values(w.DetectFPS)))
	names := func(path string, vs []string) []string {
		for i, v := range vs {
			if v == "" {
				loc.Errorf(fmt.Sprintf("%s[%d]", path, i), "must not be empty")
			} else if slices.Index(vs, v) != i {
				loc.Errorf(fmt.Sprintf("%s[%d]", path, i), "%q is listed twice", v)
			}
		}
		return slices.Clone(vs)
	}
	p.Sweep.Hardware = names("spec.sweep.hardware", w.Hardware)
	p.Sweep.Models = names("spec.sweep.model", w.Model)
	for i, v := range names("spec.sweep.placement", w.Placement) {
		if v != string(PlacementEdge) && v != string(PlacementCloud) {
			loc.Errorf(fmt.Sprintf("spec.sweep.placement[%d]", i), "%q: use edge or cloud", v)
		}
		p.Sweep.Placements = append(p.Sweep.Placements, Placement(v))
	}
	if c := s.Cloud; c != nil {
		p.Cloud.Hardware = names("spec.cloud.hardware", c.Hardware)
		p.Cloud.Nodes = positive("spec.cloud.nodes", c.Nodes)
	}
}

func (p *Plan) sites(loc *scenarios.Locator, in []planSites) {
	for i, s := range in {
		path := fmt.Sprintf("spec.sites[%d]", i)
		if !slices.ContainsFunc(p.Scenario.Sites, func(x scenarios.Site) bool { return x.Name == s.Site }) {
			var have []string
			for _, x := range p.Scenario.Sites {
				have = append(have, x.Name)
			}
			loc.Errorf(path+".site", "the scenario has no site %q (it has %s)", s.Site, strings.Join(have, ", "))
		}
		if slices.IndexFunc(in, func(x planSites) bool { return x.Site == s.Site }) != i {
			loc.Errorf(path+".site", "site %q is scaled twice", s.Site)
		}
		if s.Count < 1 {
			loc.Errorf(path+".count", "must be at least 1")
		}
		p.Sites = append(p.Sites, SiteScale{Site: s.Site, Count: s.Count, Type: cmpOr(s.Type, s.Site)})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// linkValues loads the scenario once per swept WAN link: each value (a
// name and the link fields of the scenario language: profile, delay, loss,
// rate, trace, ...) replaces every site's site-to-cloud link.
func (p *Plan) linkValues(loc *scenarios.Locator, root *yaml.Node, scName, scDir, planDir string, values []yaml.Node) {
	for i := range values {
		v := &values[i]
		path := fmt.Sprintf("spec.sweep.link[%d]", i)
		if v.Kind != yaml.MappingNode {
			loc.Errorf(path, "a link value is a mapping: {name: 4g, profile: 4g} or {name: rural, trace: {up: up.trace, down: down.trace}}")
			continue
		}
		var name string
		fields := &yaml.Node{Kind: yaml.MappingNode}
		for j := 0; j+1 < len(v.Content); j += 2 {
			k, val := v.Content[j], v.Content[j+1]
			switch k.Value {
			case "name":
				name = val.Value
			case "between":
				loc.Errorf(path+".between", "a link value applies to every site's site-to-cloud link; leave out between")
			default:
				val = copyNode(val)
				if k.Value == "trace" {
					absTraces(val, planDir)
				}
				fields.Content = append(fields.Content, k, val)
			}
		}
		if name == "" {
			loc.Errorf(path+".name", "a link value needs a name for the report, e.g. 4g")
			continue
		}
		if _, dup := p.links[name]; dup || name == ScenarioLink {
			loc.Errorf(path+".name", "%q is used twice or reserved", name)
			continue
		}
		doc := withWAN(root, p.Scenario, fields)
		if doc == nil {
			loc.Errorf(path, "the scenario has no spec to put the link in")
			continue
		}
		sc, err := scenarios.LoadNode(scName, doc, scDir)
		if err != nil {
			loc.Errorf(path, "the scenario with this link is not valid:\n%v", err)
			continue
		}
		p.links[name] = sc
		p.Sweep.Links = append(p.Sweep.Links, name)
	}
}

// absTraces makes a trace value's relative file names absolute against
// the plan file's directory.
func absTraces(n *yaml.Node, dir string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if k, v := n.Content[j], n.Content[j+1]; (k.Value == "up" || k.Value == "down") && v.Kind == yaml.ScalarNode && v.Value != "" {
			v.Value = abspath(dir, v.Value)
		}
	}
}

func copyNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = copyNode(x)
	}
	return &c
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// withWAN returns a copy of the scenario document in which every site's
// site-to-cloud link has the given fields (keeping its name).
func withWAN(root *yaml.Node, sc *scenarios.Scenario, fields *yaml.Node) *yaml.Node {
	doc := copyNode(root)
	spec := mapValue(doc, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return nil
	}
	links := mapValue(spec, "links")
	if links == nil {
		links = &yaml.Node{Kind: yaml.SequenceNode}
		spec.Content = append(spec.Content, scalar("links"), links)
	}
	for _, s := range sc.Sites {
		site := "site:" + s.Name
		l := &yaml.Node{Kind: yaml.MappingNode}
		kept := links.Content[:0]
		for _, old := range links.Content {
			b := mapValue(old, "between")
			if b != nil && len(b.Content) == 2 && (b.Content[0].Value == site && b.Content[1].Value == "cloud" ||
				b.Content[1].Value == site && b.Content[0].Value == "cloud") {
				if name := mapValue(old, "name"); name != nil {
					l.Content = append(l.Content, scalar("name"), name)
				}
				continue
			}
			kept = append(kept, old)
		}
		links.Content = kept
		between := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{scalar(site), scalar("cloud")}}
		l.Content = append(l.Content, scalar("between"), between)
		l.Content = append(l.Content, copyNode(fields).Content...)
		links.Content = append(links.Content, l)
	}
	return doc
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			return n.Content[j+1]
		}
	}
	return nil
}

// objectives takes the plan's own objectives, or maps the scenario's SLOs
// onto the simulator's and says what it cannot judge.
func (p *Plan) objectives(loc *scenarios.Locator, in *planObjectives) {
	o := &p.Objectives
	if in != nil {
		if in.LatencyP50 != nil {
			o.LatencyP50 = in.LatencyP50.Std()
		}
		if in.LatencyP95 != nil {
			o.LatencyP95 = in.LatencyP95.Std()
		}
		if in.TimeToAlertP95 != nil {
			o.TimeToAlertP95 = in.TimeToAlertP95.Std()
		}
		if in.DroppedMax != nil {
			if o.DroppedMax = in.DroppedMax.Fraction(); o.DroppedMax <= 0 || o.DroppedMax > 1 {
				loc.Errorf("spec.objectives.droppedMax", "a share between 0%% and 100%%, e.g. 1%%")
			}
		}
		if in.UplinkMax != nil {
			o.UplinkMax = in.UplinkMax.BitsPerSecond()
		}
		p.ObjectiveNotes = append(p.ObjectiveNotes, "objectives from the plan file (the scenario's SLOs are not used)")
	} else {
		slo := p.Scenario.SLO
		for _, l := range slo.E2ELatency {
			switch l.Percentile {
			case 50:
				o.LatencyP50 = l.Max
			case 95:
				o.LatencyP95 = l.Max
			default:
				p.ObjectiveNotes = append(p.ObjectiveNotes, fmt.Sprintf(
					"slo.e2eLatency p%g is not judged: the simulator's latency objectives are p50 and p95", l.Percentile))
			}
		}
		if slo.TimeToAlert > 0 {
			o.TimeToAlertP95 = slo.TimeToAlert
			p.ObjectiveNotes = append(p.ObjectiveNotes,
				"slo.timeToAlert (the slowest alert in edgesim run) is judged on the p95 of time to alert, at the site types with a scripted event; an event whose alert never arrived fails it")
		}
		if slo.UplinkMax > 0 {
			o.UplinkMax = slo.UplinkMax.BitsPerSecond()
			p.ObjectiveNotes = append(p.ObjectiveNotes, "slo.uplinkMax is judged on each site type's mean WAN uplink per site")
		}
		if slo.FailoverMax > 0 {
			p.ObjectiveNotes = append(p.ObjectiveNotes,
				"slo.failoverMax is not judged at sweep points: failover gaps are reported (point failover, node loss) but do not move the knee")
		}
		if slo.RecallMin > 0 {
			p.ObjectiveNotes = append(p.ObjectiveNotes,
				"slo.recallMin is not judged: the simulator does not model detection quality (every scripted object is detected)")
		}
	}
	if o.LatencyP50 < 0 || o.LatencyP95 < 0 || o.TimeToAlertP95 < 0 || o.UplinkMax < 0 {
		loc.Errorf("spec.objectives", "objectives must not be negative")
	}
	if *o == (Objectives{}) {
		loc.Errorf("spec.objectives", "no objective to find a knee against: the scenario has no SLO the simulator judges "+
			"(e2eLatency p50/p95, timeToAlert, uplinkMax); set spec.objectives, e.g. {latencyP95: 500ms, droppedMax: 1%%}")
	}
}

// scenarioFor is the scenario with a swept WAN link (ScenarioLink: its own).
func (p *Plan) scenarioFor(link string) *scenarios.Scenario {
	if sc, ok := p.links[link]; ok {
		return sc
	}
	return p.Scenario
}
