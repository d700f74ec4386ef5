package scenarios

import (
	"time"

	"github.com/edgesim/edgesim/units"
)

// Scenario is a decoded, validated scenario with every default applied,
// profiles expanded and relative paths resolved. It is the type the rest of
// edgesim uses; the YAML form is package v1alpha1.
type Scenario struct {
	Name        string
	Description string
	Labels      map[string]string
	// File is the scenario file it was loaded from ("" for data without a
	// file); BaseDir is the directory relative paths were resolved against.
	File    string
	BaseDir string

	Seed       int64
	Duration   time.Duration
	Warmup     time.Duration
	StartTime  units.TimeOfDay
	Provider   Provider
	Kubeconfig string // absolute path, provider kubeconfig only

	Cloud    Cloud
	Sites    []Site
	Links    []Link
	Workload Workload
	Faults   []Fault
	SLO      SLO
	Report   Report

	// Warnings are things that do not stop a run but probably distort
	// what it measures (a camera network slower than the cameras, jitter
	// larger than the delay, ...), located like errors.
	Warnings ErrorList
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
	CPU    units.MilliCPU
	Memory units.ByteSize
}

// Node is one cloud or edge node.
type Node struct {
	Name      string // cloud-1, <site>-edge-1
	Site      string // "" for cloud nodes
	Resources Resources
}

// Cloud is the cloud tier.
type Cloud struct {
	Nodes []Node
}

// Site is one edge site.
type Site struct {
	Name    string
	Nodes   []Node
	Cameras []CameraGroup
}

// CameraGroup is a set of identical cameras of a site.
type CameraGroup struct {
	Name      string
	Site      string
	CameraIDs []string // <site>-<group>-1, ...
	Width     int
	Height    int
	FPS       float64
	Bitrate   units.BitRate
	Scene     Scene
	Zones     []Zone
	Events    []Event
}

// Scene configures the synthetic scene of each camera of a group.
type Scene struct {
	Background string // indoor | street | parking
	Night      bool
	People     int
	Vehicles   int
}

// Zone is a named, normalised rectangle x0, y0, x1, y1 in 0..1.
type Zone struct {
	Name string
	Rect [4]float64
}

// Event is a scripted scene event, in run time (0 = start of measurement).
type Event struct {
	Kind    string // loiter | enter | vehicle_stop
	Zone    string
	Label   string // person | vehicle
	Start   time.Duration
	End     time.Duration
	Cameras []string // camera ids that see it
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
	Kind EndpointKind
	Site string // "" for the cloud
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
	Name    string
	A, B    Endpoint
	Profile string // "" when none was named
	LinkSpec
}

// LinkSpec is the behaviour of a link in both directions.
type LinkSpec struct {
	Up, Down Direction
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
	Delay            time.Duration
	Jitter           time.Duration
	DelayCorrelation units.Percent
	Distribution     Distribution
	Loss             Loss
	Reorder          Reorder
	Duplicate        Probability
	Corrupt          Probability

	Rate            units.BitRate
	Queue           QueueLimit
	QueueDiscipline QueueDiscipline
	Burst           units.ByteSize

	Trace     string // absolute path of a Mahimahi trace; replaces Rate
	TraceOnce bool
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
	Model          LossModel
	Percent        units.Percent // bernoulli
	Correlation    units.Percent // bernoulli
	GilbertElliott GilbertElliott
	Markov4        Markov4
}

// GilbertElliott is the two-state loss model with the classic meaning of
// its parameters: P good->bad, R bad->good, H delivery probability in the
// bad state, K delivery probability in the good state (netem's gemodel
// arguments are P, R, 100%-H, 100%-K).
type GilbertElliott struct {
	P, R, H, K units.Percent
}

// Markov4 is netem's 4-state loss model (state 1 good reception, 2 good
// reception within a burst, 3 burst loss, 4 isolated loss).
type Markov4 struct {
	P13, P31, P32, P23, P14 units.Percent
}

// Probability is a share of packets with a correlation.
type Probability struct {
	Percent     units.Percent
	Correlation units.Percent
}

// Reorder sends Percent of packets without delay (every Gap-th packet when
// Gap > 0).
type Reorder struct {
	Percent     units.Percent
	Correlation units.Percent
	Gap         int
}

// QueueLimit bounds a rate limiter's queue in bytes or packets (one is set).
type QueueLimit struct {
	Bytes   units.ByteSize
	Packets int
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
	Model     Model
	Placement Placement
	DetectFPS float64
	Threshold float64 // 0: the model's own threshold
	Alerts    []AlertRule
}

// Model names the detector; Path "" means the embedded default model.
type Model struct {
	Name    string
	Variant string
	Path    string // absolute directory, or ""
}

// AlertRule raises an alert when an object with one of Labels stays in Zone
// for Dwell, within Window when set, at Sites.
type AlertRule struct {
	Name   string
	Zone   string
	Labels []string
	Dwell  time.Duration
	Window *TimeWindow
	Sites  []string // resolved: every site with the zone when not given
}

// TimeWindow is a daily window [From, To), wrapping past midnight.
type TimeWindow struct {
	From, To units.TimeOfDay
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
	Name   string
	At     time.Duration
	Action FaultAction
	Target FaultTarget
	// Duration: for restart the down time; for pause, partition and degrade
	// how long until restored (0 = until the end of the run).
	Duration time.Duration
	Degrade  *Degradation // degrade only
	Trace    *TraceSwitch // traceSwitch only
}

// FaultTarget is what a fault was aimed at (one of Node, Site, Link) and the
// nodes and links that resolves to.
type FaultTarget struct {
	Node, Site, Link string
	Nodes            []string // node-level actions
	Links            []string // link-level actions
}

// Degradation moves links to new settings over Ramp.
type Degradation struct {
	Ramp  time.Duration
	Links []LinkChange
}

// LinkChange is the complete target behaviour of one link.
type LinkChange struct {
	Link string
	To   LinkSpec
}

// TraceSwitch replaces the trace files of the targeted links ("" keeps a
// direction unchanged).
type TraceSwitch struct {
	Up, Down string // absolute paths
	Once     bool
}

// SLO are the objectives gated at the end of a run; zero values are not
// gated.
type SLO struct {
	E2ELatency  []LatencyObjective // sorted by percentile
	TimeToAlert time.Duration
	FailoverMax time.Duration
	UplinkMax   units.BitRate
	RecallMin   units.Percent
}

// LatencyObjective bounds one latency percentile.
type LatencyObjective struct {
	Percentile float64 // 0 < p <= 100
	Max        time.Duration
}

// Report selects the report outputs.
type Report struct {
	Formats []string // json, html, markdown, junit
	Dir     string   // as written, relative to the working directory
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
