package scenarios

import (
	"time"

	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/units"
)

// Scenario is a decoded, validated scenario with every default applied,
// profiles expanded and relative paths resolved. It is the type the rest of
// edgesim uses; the YAML form is package v1alpha1.
type Scenario struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	// File is the scenario file it was loaded from ("" for data without a
	// file); BaseDir is the directory relative paths were resolved against.
	File    string `yaml:"file"`
	BaseDir string `yaml:"baseDir"`

	Seed       int64           `yaml:"seed"`
	Duration   time.Duration   `yaml:"duration"`
	Warmup     time.Duration   `yaml:"warmup"`
	StartTime  units.TimeOfDay `yaml:"startTime"`
	Provider   Provider        `yaml:"provider"`
	Kubeconfig string          `yaml:"kubeconfig,omitempty"` // absolute path, provider kubeconfig only

	Cloud    Cloud     `yaml:"cloud"`
	Sites    []Site    `yaml:"sites"`
	Links    []Link    `yaml:"links"`
	Workload Workload  `yaml:"workload"`
	Faults   []Fault   `yaml:"faults"`
	Rollouts []Rollout `yaml:"rollouts,omitempty"`
	SLO      SLO       `yaml:"slo"`
	Report   Report    `yaml:"report"`

	// Warnings are things that do not stop a run but probably distort
	// what it measures (a camera network slower than the cameras, jitter
	// larger than the delay, ...), located like errors.
	Warnings ErrorList `yaml:"warnings,omitempty"`
}

// Provider names the testbed backend.
type Provider string

// Providers.
const (
	ProviderLocal      Provider = "local"
	ProviderKind       Provider = "kind"
	ProviderK3s        Provider = "k3s"
	ProviderKubeconfig Provider = "kubeconfig"
)

// Resources of one node; zero values mean unlimited.
type Resources struct {
	CPU    units.MilliCPU `yaml:"cpu"`
	Memory units.ByteSize `yaml:"memory"`
	// Class is the name of the hardware class (spec.hardware) the
	// resources come from; "" when the node gives them inline.
	Class string `yaml:"class,omitempty"`
}

// Node is one cloud or edge node.
type Node struct {
	Name      string    `yaml:"name"`           // cloud-1, <site>-edge-1
	Site      string    `yaml:"site,omitempty"` // "" for cloud nodes
	Resources Resources `yaml:"resources"`
}

// Cloud is the cloud tier.
type Cloud struct {
	Nodes []Node `yaml:"nodes"`
}

// Site is one edge site.
type Site struct {
	Name    string        `yaml:"name"`
	Nodes   []Node        `yaml:"nodes"`
	Cameras []CameraGroup `yaml:"cameras"`
	// Model is the site's own detection model (its workload.model); nil
	// when its edge nodes run the scenario's (Workload.Model). See
	// Scenario.SiteModel.
	Model *Model `yaml:"model,omitempty"`
}

// CameraGroup is a set of identical cameras of a site.
type CameraGroup struct {
	Name      string        `yaml:"name"`
	Site      string        `yaml:"site"`
	CameraIDs []string      `yaml:"cameraIds"` // <site>-<group>-1, ...
	Width     int           `yaml:"width"`
	Height    int           `yaml:"height"`
	FPS       float64       `yaml:"fps"`
	Bitrate   units.BitRate `yaml:"bitrate"`
	Scene     Scene         `yaml:"scene"`
	Zones     []Zone        `yaml:"zones,omitempty"`
	Events    []Event       `yaml:"events,omitempty"`
}

// Scene configures the synthetic scene of each camera of a group.
type Scene struct {
	Background string `yaml:"background"` // indoor | street | parking
	Night      bool   `yaml:"night"`
	People     int    `yaml:"people"`
	Vehicles   int    `yaml:"vehicles"`
}

// Zone is a named, normalised rectangle x0, y0, x1, y1 in 0..1.
type Zone struct {
	Name string     `yaml:"name"`
	Rect [4]float64 `yaml:"rect"`
}

// Event is a scripted scene event, in run time (0 = start of measurement).
type Event struct {
	Kind    string        `yaml:"kind"` // loiter | enter | vehicle_stop
	Zone    string        `yaml:"zone"`
	Label   string        `yaml:"label"` // person | vehicle
	Start   time.Duration `yaml:"start"`
	End     time.Duration `yaml:"end"`
	Cameras []string      `yaml:"cameras,omitempty"` // camera ids that see it
}

// EndpointKind is the kind of group a link endpoint names.
type EndpointKind string

// Endpoint kinds.
const (
	EndpointCameras EndpointKind = "cameras"
	EndpointSite    EndpointKind = "site"
	EndpointCloud   EndpointKind = "cloud"
)

// Endpoint is one end of a link: a site's cameras, a site's edge nodes, or
// the cloud.
type Endpoint struct {
	Kind EndpointKind `yaml:"kind"`
	Site string       `yaml:"site,omitempty"` // "" for the cloud
}

func (e Endpoint) String() string {
	if e.Kind == EndpointCloud {
		return "cloud"
	}
	return string(e.Kind) + ":" + e.Site
}

// Link is an impaired link between two groups. Up is the direction from A
// to B (toward the cloud), Down from B to A.
type Link struct {
	Name     string   `yaml:"name"`
	A        Endpoint `yaml:"a"`
	B        Endpoint `yaml:"b"`
	Profile  string   `yaml:"profile"` // "" when none was named
	LinkSpec `yaml:",inline"`
}

// LinkSpec is the behaviour of a link in both directions.
type LinkSpec struct {
	Up   Direction `yaml:"up"`
	Down Direction `yaml:"down"`
}

// Distribution of the delay around its mean.
type Distribution string

// Delay distributions, as netem names them.
const (
	DistributionNormal       Distribution = "normal"
	DistributionUniform      Distribution = "uniform"
	DistributionPareto       Distribution = "pareto"
	DistributionParetoNormal Distribution = "paretonormal"
)

// Direction is the full behaviour of one direction of a link. Zero values
// mean no impairment; Rate 0 and Trace "" mean unlimited capacity.
type Direction struct {
	Delay            time.Duration `yaml:"delay"`
	Jitter           time.Duration `yaml:"jitter"`
	DelayCorrelation units.Percent `yaml:"delayCorrelation"`
	Distribution     Distribution  `yaml:"distribution"`
	Loss             Loss          `yaml:"loss"`
	Reorder          Reorder       `yaml:"reorder,omitempty"`
	KeepOrder        bool          `yaml:"keepOrder,omitempty"` // jitter never reorders
	Duplicate        Probability   `yaml:"duplicate,omitempty"`
	Corrupt          Probability   `yaml:"corrupt,omitempty"`

	Rate            units.BitRate   `yaml:"rate,omitempty"`
	Queue           QueueLimit      `yaml:"queue,omitempty"`
	QueueDiscipline QueueDiscipline `yaml:"queueDiscipline,omitempty"`
	Burst           units.ByteSize  `yaml:"burst,omitempty"`

	Trace     string `yaml:"trace,omitempty"` // absolute path of a Mahimahi trace; replaces Rate
	TraceOnce bool   `yaml:"traceOnce,omitempty"`
}

// LossModel selects the loss process.
type LossModel string

// Loss models.
const (
	LossNone           LossModel = ""
	LossBernoulli      LossModel = "bernoulli"
	LossGilbertElliott LossModel = "gilbertElliott"
	LossMarkov4        LossModel = "markov4"
)

// Loss is the loss process of a direction. Only the fields of Model apply.
type Loss struct {
	Model          LossModel      `yaml:"model,omitempty"`
	Percent        units.Percent  `yaml:"percent,omitempty"`     // bernoulli
	Correlation    units.Percent  `yaml:"correlation,omitempty"` // bernoulli
	GilbertElliott GilbertElliott `yaml:"gilbertElliott,omitempty"`
	Markov4        Markov4        `yaml:"markov4,omitempty"`
}

// GilbertElliott is the two-state loss model with the classic meaning of
// its parameters: P good->bad, R bad->good, H delivery probability in the
// bad state, K delivery probability in the good state (netem's gemodel
// arguments are P, R, 100%-H, 100%-K).
type GilbertElliott struct {
	P units.Percent `yaml:"p"`
	R units.Percent `yaml:"r"`
	H units.Percent `yaml:"h"`
	K units.Percent `yaml:"k"`
}

// Markov4 is netem's 4-state loss model (state 1 good reception, 2 good
// reception within a burst, 3 burst loss, 4 isolated loss).
type Markov4 struct {
	P13 units.Percent `yaml:"p13"`
	P31 units.Percent `yaml:"p31"`
	P32 units.Percent `yaml:"p32"`
	P23 units.Percent `yaml:"p23"`
	P14 units.Percent `yaml:"p14"`
}

// Probability is a share of packets with a correlation.
type Probability struct {
	Percent     units.Percent `yaml:"percent"`
	Correlation units.Percent `yaml:"correlation"`
}

// Reorder sends Percent of packets without delay (every Gap-th packet when
// Gap > 0).
type Reorder struct {
	Percent     units.Percent `yaml:"percent"`
	Correlation units.Percent `yaml:"correlation"`
	Gap         int           `yaml:"gap"`
}

// QueueLimit bounds a rate limiter's queue in bytes or packets (one is set).
type QueueLimit struct {
	Bytes   units.ByteSize `yaml:"bytes,omitempty"`
	Packets int            `yaml:"packets,omitempty"`
}

// QueueDiscipline is what a full queue drops.
type QueueDiscipline string

// Queue disciplines.
const (
	DropTail QueueDiscipline = "droptail"
	DropHead QueueDiscipline = "drophead"
)

// Placement is where detection runs.
type Placement string

// Placements.
const (
	PlacementEdge  Placement = "edge"
	PlacementCloud Placement = "cloud"
)

// Workload is the detection workload.
type Workload struct {
	Model     Model       `yaml:"model"`
	Placement Placement   `yaml:"placement"`
	DetectFPS float64     `yaml:"detectFps"`
	Threshold float64     `yaml:"threshold"` // 0: the model's own threshold
	Alerts    []AlertRule `yaml:"alerts"`
}

// Model names the detector: a directory (Path), a model embedded in
// edgenode (Embedded), or neither for the embedded default model.
type Model struct {
	Name     string `yaml:"name"`
	Variant  string `yaml:"variant,omitempty"`
	Path     string `yaml:"path,omitempty"`     // absolute directory, or ""
	Embedded string `yaml:"embedded,omitempty"` // <name>/<version> in runtime/models, or "" (the default model)
}

// SiteModel is the model the edge nodes of the named site run: the site's
// own, or else the scenario's.
func (s *Scenario) SiteModel(site string) Model {
	for _, st := range s.Sites {
		if st.Name == site && st.Model != nil {
			return *st.Model
		}
	}
	return s.Workload.Model
}

// Ref is the model as edgenode's --model (and its config file's model)
// takes it: the directory, embedded:<name>/<version>, or "" for the
// embedded default model.
func (m Model) Ref() string {
	switch {
	case m.Path != "":
		return m.Path
	case m.Embedded != "":
		return detector.EmbeddedPrefix + m.Embedded
	}
	return ""
}

// AlertRule raises an alert when an object with one of Labels stays in Zone
// for Dwell, within Window when set, at Sites.
type AlertRule struct {
	Name   string        `yaml:"name"`
	Zone   string        `yaml:"zone"`
	Labels []string      `yaml:"labels"`
	Dwell  time.Duration `yaml:"dwell"`
	Window *TimeWindow   `yaml:"window,omitempty"`
	Sites  []string      `yaml:"sites"` // resolved: every site with the zone when not given
}

// TimeWindow is a daily window [From, To), wrapping past midnight.
type TimeWindow struct {
	From units.TimeOfDay `yaml:"from"`
	To   units.TimeOfDay `yaml:"to"`
}

// FaultAction is what a fault does.
type FaultAction string

// Fault actions.
const (
	FaultKill        FaultAction = "kill"
	FaultRestart     FaultAction = "restart"
	FaultPause       FaultAction = "pause"
	FaultPartition   FaultAction = "partition"
	FaultDegrade     FaultAction = "degrade"
	FaultTraceSwitch FaultAction = "traceSwitch"
)

// Fault is one entry of the timeline, at an absolute run time.
type Fault struct {
	Name   string        `yaml:"name"`
	At     time.Duration `yaml:"at"`
	Action FaultAction   `yaml:"action"`
	Target FaultTarget   `yaml:"target"`
	// Duration: for restart the down time; for pause, partition and degrade
	// how long until restored (0 = until the end of the run).
	Duration time.Duration `yaml:"duration"`
	Degrade  *Degradation  `yaml:"degrade,omitempty"` // degrade only
	Trace    *TraceSwitch  `yaml:"trace,omitempty"`   // traceSwitch only
}

// FaultTarget is what a fault was aimed at (one of Node, Site, Link) and the
// nodes and links that resolves to.
type FaultTarget struct {
	Node  string   `yaml:"node"`
	Site  string   `yaml:"site"`
	Link  string   `yaml:"link"`
	Nodes []string `yaml:"nodes,omitempty"` // node-level actions
	Links []string `yaml:"links,omitempty"` // link-level actions
}

// Degradation moves links to new settings over Ramp.
type Degradation struct {
	Ramp  time.Duration `yaml:"ramp"`
	Links []LinkChange  `yaml:"links"`
}

// LinkChange is the complete target behaviour of one link.
type LinkChange struct {
	Link string   `yaml:"link"`
	To   LinkSpec `yaml:"to"`
}

// TraceSwitch replaces the trace files of the targeted links ("" keeps a
// direction unchanged).
type TraceSwitch struct {
	Up   string `yaml:"up,omitempty"`
	Down string `yaml:"down,omitempty"` // absolute paths
	Once bool   `yaml:"once"`
}

// SLO are the objectives gated at the end of a run; zero values are not
// gated.
type SLO struct {
	E2ELatency  []LatencyObjective `yaml:"e2eLatency"` // sorted by percentile
	TimeToAlert time.Duration      `yaml:"timeToAlert"`
	FailoverMax time.Duration      `yaml:"failoverMax"`
	UplinkMax   units.BitRate      `yaml:"uplinkMax"`
	RecallMin   units.Percent      `yaml:"recallMin"`
	// AllowNotExercised lets a gate nothing exercised pass the run.
	AllowNotExercised bool `yaml:"allowNotExercised"`
}

// LatencyObjective bounds one latency percentile.
type LatencyObjective struct {
	Percentile float64       `yaml:"percentile"` // 0 < p <= 100
	Max        time.Duration `yaml:"max"`
}

// Report selects the report outputs.
type Report struct {
	Formats []string `yaml:"formats"` // json, html, markdown, junit
	Dir     string   `yaml:"dir"`     // as written, relative to the working directory
}

// Node returns the node with the given name.
func (s *Scenario) Node(name string) (Node, bool) {
	for _, n := range s.Nodes() {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Nodes returns every cloud and edge node.
func (s *Scenario) Nodes() []Node {
	out := append([]Node(nil), s.Cloud.Nodes...)
	for _, site := range s.Sites {
		out = append(out, site.Nodes...)
	}
	return out
}

// Link returns the link with the given name.
func (s *Scenario) Link(name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// Cameras returns the number of cameras in the scenario.
func (s *Scenario) Cameras() int {
	n := 0
	for _, site := range s.Sites {
		for _, g := range site.Cameras {
			n += len(g.CameraIDs)
		}
	}
	return n
}
