// Package v1alpha1 is the external, versioned form of an edgesim scenario:
// the YAML a user writes (apiVersion edgesim.dev/v1alpha1, kind Scenario).
//
// These types only describe the document. Package scenarios decodes them
// strictly (with line and column of every field), validates them, applies
// defaults and profiles and converts them to the internal types the rest of
// edgesim uses. The JSON Schema for editors is generated from these types:
// the `doc` tag of a field is its description, `enum` lists allowed values
// and `es:"required"` marks required fields. A struct field tagged
// `es:"shorthand"` may be written as a bare scalar instead of the whole
// object (for example `loss: 1%` for `loss: {percent: 1%}`).
package v1alpha1

import (
	"github.com/edgesim/edgesim/units"
)

// APIVersion and Kind identify a scenario document.
const (
	APIVersion = "edgesim.dev/v1alpha1"
	Kind       = "Scenario"
)

// Scenario is one scenario document.
type Scenario struct {
	APIVersion string   `yaml:"apiVersion" doc:"Schema version; must be edgesim.dev/v1alpha1." enum:"edgesim.dev/v1alpha1" es:"required"`
	Kind       string   `yaml:"kind" doc:"Must be Scenario." enum:"Scenario" es:"required"`
	Metadata   Metadata `yaml:"metadata" es:"required"`
	Spec       Spec     `yaml:"spec" es:"required"`
}

// Metadata names the scenario.
type Metadata struct {
	Name        string            `yaml:"name" doc:"Scenario name: lower-case letters, digits and '-', used in report and resource names." es:"required"`
	Description string            `yaml:"description" doc:"Free text shown in reports."`
	Labels      map[string]string `yaml:"labels" doc:"Free-form key/value labels copied to reports."`
}

// Spec is the scenario itself.
type Spec struct {
	Seed       *int64           `yaml:"seed" doc:"Seed of every random choice (scenes, impairment draws, faults). Default 1."`
	Duration   *units.Duration  `yaml:"duration" doc:"How long the measured run lasts, e.g. 30s or 5m." es:"required"`
	Warmup     *units.Duration  `yaml:"warmup" doc:"Time before the measured run during which samples are discarded. Default 0s."`
	StartTime  *units.TimeOfDay `yaml:"startTime" doc:"Simulated time of day when the run starts (HH:MM), used by alert rules' timeOfDay windows. Default 12:00."`
	Provider   string           `yaml:"provider" doc:"Where the testbed runs. Default local (network namespaces)." enum:"local|kind|k3s|kubeconfig"`
	Kubeconfig string           `yaml:"kubeconfig" doc:"Path of the kubeconfig for provider kubeconfig, relative to the scenario file."`
	Hardware   []HardwareClass  `yaml:"hardware" doc:"Named hardware classes that the cloud and sites refer to with hardware: NAME."`
	Cloud      *Cloud           `yaml:"cloud" doc:"The cloud tier. Default: one node."`
	Sites      []Site           `yaml:"sites" doc:"Edge sites: each has edge nodes and cameras." es:"required"`
	Links      []Link           `yaml:"links" doc:"Impaired links between groups. Links not listed are lan links."`
	Workload   *Workload        `yaml:"workload" doc:"The detection workload and its alert rules."`
	Faults     []Fault          `yaml:"faults" doc:"Fault timeline."`
	Rollouts   []Rollout        `yaml:"rollouts" doc:"Model rollouts on the timeline: a new model shipped to the sites over their uplinks and hot-swapped, judged by a health gate."`
	SLO        *SLO             `yaml:"slo" doc:"Service-level objectives; the run fails when one is missed."`
	Report     *Report          `yaml:"report" doc:"Report formats and output directory."`
}

// Resources sizes a node.
type Resources struct {
	CPU    *units.MilliCPU `yaml:"cpu" doc:"CPU limit per node: cores (2) or millicores (500m)."`
	Memory *units.ByteSize `yaml:"memory" doc:"Memory limit per node, e.g. 512Mi or 2GB."`
}

// HardwareClass is a named size of node (an edge box model, a cloud VM
// type), enforced like inline resources.
type HardwareClass struct {
	Name      string `yaml:"name" doc:"Class name (lower-case letters, digits, '-') that the cloud and sites give as hardware." es:"required"`
	Resources `yaml:",inline"`
}

// Cloud is the cloud tier.
type Cloud struct {
	Nodes     *int       `yaml:"nodes" doc:"Number of cloud nodes, named cloud-1, cloud-2, ... Default 1."`
	Hardware  string     `yaml:"hardware" doc:"Hardware class (a name from spec.hardware) of each cloud node; instead of resources."`
	Resources *Resources `yaml:"resources" doc:"Resources of each cloud node; instead of hardware."`
}

// Site is an edge site: edge nodes plus camera groups.
type Site struct {
	Name      string        `yaml:"name" doc:"Site name (lower-case letters, digits, '-'). Edge nodes are named <site>-edge-1, ..." es:"required"`
	Nodes     *int          `yaml:"nodes" doc:"Number of edge nodes. Default 1."`
	Hardware  string        `yaml:"hardware" doc:"Hardware class (a name from spec.hardware) of each edge node; instead of resources."`
	Resources *Resources    `yaml:"resources" doc:"Resources of each edge node; instead of hardware."`
	Cameras   []CameraGroup `yaml:"cameras" doc:"Camera groups at this site."`
	Workload  *SiteWorkload `yaml:"workload" doc:"What this site's edge nodes run differently from spec.workload."`
}

// SiteWorkload is the part of the workload a site can set for itself.
type SiteWorkload struct {
	Model *Model `yaml:"model" doc:"The detection model of this site's edge nodes (placement edge). Default: spec.workload.model."`
}

// CameraGroup is a set of identical cameras.
type CameraGroup struct {
	Name       string         `yaml:"name" doc:"Group name; cameras are named <site>-<group>-1, ... Default cam."`
	Count      *int           `yaml:"count" doc:"Number of cameras in the group. Default 1."`
	Resolution *Resolution    `yaml:"resolution" doc:"Frame size WIDTHxHEIGHT, even numbers. Default 640x360."`
	FPS        *float64       `yaml:"fps" doc:"Frames per second sent by each camera. Default 15."`
	Bitrate    *units.BitRate `yaml:"bitrate" doc:"Target VP8 bit rate per camera, e.g. 800Kbit. Default 1Mbit."`
	Scene      *Scene         `yaml:"scene" doc:"What the synthetic camera sees."`
	Zones      []Zone         `yaml:"zones" doc:"Named zones of the image used by events and alert rules."`
	Events     []Event        `yaml:"events" doc:"Scripted events, e.g. a person loitering in a zone."`
}

// Scene configures the synthetic scene generator.
type Scene struct {
	Background string `yaml:"background" doc:"Backdrop. Default street." enum:"indoor|street|parking"`
	Night      bool   `yaml:"night" doc:"Dark, low-contrast frames with sensor noise."`
	People     *int   `yaml:"people" doc:"Mean number of people visible at once. Default 2."`
	Vehicles   *int   `yaml:"vehicles" doc:"Mean number of vehicles visible at once. Default 1."`
}

// Zone is a named rectangle of the image in normalised coordinates.
type Zone struct {
	Name string    `yaml:"name" doc:"Zone name referenced by events and alert rules." es:"required"`
	Rect []float64 `yaml:"rect" len:"4" doc:"[x0, y0, x1, y1], normalised to 0..1, x0 < x1 and y0 < y1." es:"required"`
}

// Event is a scripted event in a camera's scene.
type Event struct {
	Kind     string          `yaml:"kind" doc:"What happens." enum:"loiter|enter|vehicle_stop" es:"required"`
	Zone     string          `yaml:"zone" doc:"Zone of this camera group where it happens." es:"required"`
	Label    string          `yaml:"label" doc:"Object class. Default person (vehicle for vehicle_stop)." enum:"person|vehicle"`
	At       *units.Duration `yaml:"at" doc:"Start, from the beginning of the measured run." es:"required"`
	Duration *units.Duration `yaml:"duration" doc:"How long it lasts. Default 10s."`
	Cameras  []int           `yaml:"cameras" doc:"1-based indexes of the group's cameras that see the event. Default: all."`
}

// Link impairs the traffic between two groups in both directions. The
// settings at link level apply to both directions; up (from the first
// endpoint to the second) and down override them per direction.
type Link struct {
	Name       string   `yaml:"name" doc:"Link name used in metrics and fault targets. Default <site>-cameras, <site>-uplink or <siteA>-<siteB>."`
	Between    []string `yaml:"between" len:"2" doc:"The two endpoints: cameras:<site>, site:<site> or cloud. List the lower tier first (cameras before site before cloud) so that up means toward the cloud." es:"required"`
	Profile    string   `yaml:"profile" doc:"Named profile the link starts from; fields below override it." enum:"lan|wifi|4g|5g|satellite"`
	Impairment `yaml:",inline"`
	Rate       *Rate       `yaml:"rate" doc:"Bandwidth per direction, with its queue."`
	Trace      *Trace      `yaml:"trace" doc:"Mahimahi trace files giving time-varying capacity per direction (replace rate)."`
	Up         *Impairment `yaml:"up" doc:"Overrides for the up direction (first endpoint to second)."`
	Down       *Impairment `yaml:"down" doc:"Overrides for the down direction (second endpoint to first)."`
}

// Impairment is the delay, loss and mangling of one direction (or both).
type Impairment struct {
	Delay        *units.Duration `yaml:"delay" doc:"One-way delay, e.g. 30ms."`
	Jitter       *units.Duration `yaml:"jitter" doc:"Delay variation (standard deviation for normal, half-width for uniform)."`
	Correlation  *units.Percent  `yaml:"correlation" doc:"Correlation of successive delay draws, 0-100%."`
	Distribution string          `yaml:"distribution" doc:"Delay distribution. Default normal." enum:"normal|uniform|pareto|paretonormal"`
	Loss         *Loss           `yaml:"loss" doc:"Packet loss: a percentage (1%), or {percent, correlation}, {gilbertElliott} or {markov4}."`
	Reorder      *Reorder        `yaml:"reorder" doc:"Send a share of packets at once (no delay) so they overtake others."`
	KeepOrder    *bool           `yaml:"keepOrder" doc:"Deliver packets in the order they were sent: jitter then delays a packet at least as long as the one before it, as a cellular or Wi-Fi link that retransmits in order does. Default false: jitter reorders, as Linux netem does."`
	Duplicate    *Probability    `yaml:"duplicate" doc:"Duplicate a share of packets."`
	Corrupt      *Probability    `yaml:"corrupt" doc:"Flip a random bit in a share of packets."`
}

// Loss is one loss model: Bernoulli (percent, correlation), Gilbert-Elliott
// or the 4-state Markov model, with netem's semantics.
type Loss struct {
	Percent        *units.Percent  `yaml:"percent" doc:"Independent (Bernoulli) loss probability." es:"shorthand"`
	Correlation    *units.Percent  `yaml:"correlation" doc:"Correlation with the previous packet's loss draw (netem's simple correlation)."`
	GilbertElliott *GilbertElliott `yaml:"gilbertElliott" doc:"Two-state bursty loss model."`
	Markov4        *Markov4        `yaml:"markov4" doc:"Four-state Markov loss model (netem loss state)."`
}

// GilbertElliott is the two-state loss model. Its fields keep the classic
// meaning: netem's 'loss gemodel p r 1-h 1-k' takes 100%-h and 100%-k.
type GilbertElliott struct {
	P *units.Percent `yaml:"p" doc:"Probability of moving from the good to the bad state, per packet." es:"required"`
	R *units.Percent `yaml:"r" doc:"Probability of moving from the bad to the good state. Default 100%-p."`
	H *units.Percent `yaml:"h" doc:"Probability that a packet gets through in the bad state. Default 0%."`
	K *units.Percent `yaml:"k" doc:"Probability that a packet gets through in the good state. Default 100%."`
}

// Markov4 is netem's 4-state loss model (loss state p13 p31 p32 p23 p14).
type Markov4 struct {
	P13 *units.Percent `yaml:"p13" doc:"Good reception to burst loss." es:"required"`
	P31 *units.Percent `yaml:"p31" doc:"Burst loss to good reception. Default 100%-p13."`
	P32 *units.Percent `yaml:"p32" doc:"Burst loss to bad reception (within a burst). Default 0%."`
	P23 *units.Percent `yaml:"p23" doc:"Bad reception back to burst loss. Default 100%."`
	P14 *units.Percent `yaml:"p14" doc:"Good reception to isolated loss. Default 0%."`
}

// Probability is a percentage with an optional correlation.
type Probability struct {
	Percent     *units.Percent `yaml:"percent" doc:"Share of packets affected." es:"shorthand"`
	Correlation *units.Percent `yaml:"correlation" doc:"Correlation with the previous packet's draw."`
}

// Reorder sends a share of packets immediately so they overtake delayed ones.
type Reorder struct {
	Percent     *units.Percent `yaml:"percent" doc:"Share of packets sent without delay." es:"shorthand"`
	Correlation *units.Percent `yaml:"correlation" doc:"Correlation with the previous packet's draw."`
	Gap         *int           `yaml:"gap" doc:"Reorder only every gap-th packet (netem's gap). Default 0: any packet."`
}

// Rate limits bandwidth per direction with a token bucket and a queue.
// A bare rate (rate: 10Mbit) applies to both directions.
type Rate struct {
	Both            *units.BitRate  `yaml:"both" doc:"The same rate in both directions; rate: 10Mbit is short for rate: {both: 10Mbit}." es:"shorthand"`
	Up              *units.BitRate  `yaml:"up" doc:"Rate from the first endpoint to the second, e.g. 10Mbit. Not 10mbps (ambiguous)."`
	Down            *units.BitRate  `yaml:"down" doc:"Rate from the second endpoint to the first."`
	Queue           *QueueLimit     `yaml:"queue" doc:"Queue limit per direction: bytes (100KB) or packets (200packets). Default 100 ms at the rate, at least 16 packets."`
	QueueDiscipline string          `yaml:"queueDiscipline" doc:"What is dropped when the queue is full. Default droptail." enum:"droptail|drophead"`
	Burst           *units.ByteSize `yaml:"burst" doc:"Token bucket depth. Default 1 MTU (1500B) or 1 ms at the rate, whichever is larger."`
}

// Trace gives time-varying capacity per direction from Mahimahi trace files.
type Trace struct {
	Up   string `yaml:"up" doc:"Mahimahi trace file for the up direction, relative to the scenario file."`
	Down string `yaml:"down" doc:"Mahimahi trace file for the down direction, relative to the scenario file."`
	Once bool   `yaml:"once" doc:"Play the trace once; the link stops delivering at its end instead of repeating it."`
}

// Workload is the detection workload.
type Workload struct {
	Model     *Model      `yaml:"model" doc:"The detection model. Default: the embedded model."`
	Placement string      `yaml:"placement" doc:"Where detection runs: at the edge nodes or in the cloud (video is shipped up). Default edge." enum:"edge|cloud"`
	DetectFPS *float64    `yaml:"detectFPS" doc:"Frames per second analysed per camera (others are skipped). Default 5."`
	Threshold *float64    `yaml:"threshold" doc:"Detection score threshold 0..1. Default: the model's own."`
	Alerts    []AlertRule `yaml:"alerts" doc:"Alert rules evaluated on the edge."`
}

// Model selects the detector.
type Model struct {
	Name    string `yaml:"name" doc:"Model name, the key of its inference cost in a plan calibration. Default default (the embedded model), or the variant's version."`
	Variant string `yaml:"variant" doc:"A model embedded in edgenode, by version: v2 (the default), v2-int8, v2-pruned, v2-distilled (runtime/models/edgesim-det/). Works with every provider. Instead of path."`
	Path    string `yaml:"path" doc:"Directory with manifest.json and weights, relative to the scenario file; it must load (the manifest matches the weights). On kind and K3s it is shipped in a ConfigMap (at most 1 MiB of files). Instead of variant. Default: the embedded model."`
}

// AlertRule raises an alert when an object of a label stays in a zone.
type AlertRule struct {
	Name      string          `yaml:"name" doc:"Rule name used in reports. Default <zone>-<labels>."`
	Zone      string          `yaml:"zone" doc:"Zone name (of the sites' camera groups)." es:"required"`
	Labels    []string        `yaml:"labels" doc:"Object classes that trigger it. Default [person]." enum:"person|vehicle"`
	Dwell     *units.Duration `yaml:"dwell" doc:"How long an object must stay in the zone. Default 0s (on entry)."`
	TimeOfDay *TimeWindow     `yaml:"timeOfDay" doc:"Active only within this daily window."`
	Sites     []string        `yaml:"sites" doc:"Sites the rule applies to. Default: every site with the zone."`
}

// TimeWindow is a daily window; it wraps past midnight when to <= from.
type TimeWindow struct {
	From *units.TimeOfDay `yaml:"from" doc:"Start, HH:MM." es:"required"`
	To   *units.TimeOfDay `yaml:"to" doc:"End, HH:MM (exclusive)." es:"required"`
}

// Fault is one entry of the fault timeline.
type Fault struct {
	Name     string          `yaml:"name" doc:"Fault name used in reports. Default <action>-<n>."`
	At       *units.Duration `yaml:"at" doc:"When, from the start of the measured run. Exactly one of at and after."`
	After    *units.Duration `yaml:"after" doc:"When, relative to the previous fault's start."`
	Action   string          `yaml:"action" doc:"What happens." enum:"kill|restart|pause|partition|degrade|traceSwitch" es:"required"`
	Target   FaultTarget     `yaml:"target" doc:"What it happens to: exactly one of node, site, link." es:"required"`
	Duration *units.Duration `yaml:"duration" doc:"For restart: down time before the start (default 5s). For pause, partition and degrade: how long until restored (default: until the end)."`
	Degrade  *Degrade        `yaml:"degrade" doc:"For degrade: the link settings to move to."`
	Trace    *Trace          `yaml:"trace" doc:"For traceSwitch: the new trace files."`
}

// FaultTarget names what a fault affects.
type FaultTarget struct {
	Node string `yaml:"node" doc:"A node name: cloud-N or <site>-edge-N."`
	Site string `yaml:"site" doc:"A site: all of its edge nodes (kill, restart, pause), or all of its links to the cloud and other sites (partition, degrade); its camera network stays up."`
	Link string `yaml:"link" doc:"A link name."`
}

// Degrade moves a link's settings to new values, optionally ramping.
type Degrade struct {
	Ramp       *units.Duration `yaml:"ramp" doc:"Time over which delay, jitter, loss and rate move linearly to the new values. Default 0s (a step)."`
	Impairment `yaml:",inline"`
	Rate       *Rate `yaml:"rate" doc:"New rates."`
}

// SLO are the objectives gated at the end of a run.
type SLO struct {
	E2ELatency  map[string]units.Duration `yaml:"e2eLatency" keys:"^p[0-9]+(\\.[0-9]+)?$" doc:"Glass-to-detection latency percentiles, e.g. {p50: 150ms, p99: 400ms}."`
	TimeToAlert *units.Duration           `yaml:"timeToAlert" doc:"Maximum time from an event's start to its alert reaching the cloud."`
	FailoverMax *units.Duration           `yaml:"failoverMax" doc:"Maximum gap from a fault to the first detection delivered again per camera."`
	UplinkMax   *units.BitRate            `yaml:"uplinkMax" doc:"Maximum mean bandwidth per site uplink (site to cloud), e.g. 2Mbit."`
	RecallMin   *units.Percent            `yaml:"recallMin" doc:"Minimum detection recall against ground truth (IoU 0.5), e.g. 80%."`
	// AllowNotExercised lets a run pass whose gates nothing exercised.
	AllowNotExercised *bool `yaml:"allowNotExercised" doc:"Let the run pass when nothing exercised a gate (no fault hit a camera, no event alerted, no ground truth); such a gate is reported as not exercised either way. Default false: an unexercised gate fails the run."`
}

// Report selects report outputs.
type Report struct {
	Formats []string `yaml:"formats" doc:"Report formats. Default all four." enum:"json|html|markdown|junit"`
	Dir     string   `yaml:"dir" doc:"Output directory, relative to the scenario file's directory and inside it (edgesim run --allow-outside-paths lifts that). Default edgesim-report/<name> in the working directory."`
}

// Rollout ships a new model to the sites on the timeline, batch by batch,
// judges each batch with a health gate and rolls every site back when it
// fails.
type Rollout struct {
	Name           string          `yaml:"name" doc:"Rollout name used in reports. Default rollout-<n>."`
	At             *units.Duration `yaml:"at" doc:"When the rollout starts, from the start of the measured run." es:"required"`
	Model          string          `yaml:"model" doc:"Directory with the new model's manifest.json and weights, relative to the scenario file; it must load at validation." es:"required"`
	Sites          []string        `yaml:"sites" doc:"Sites to roll out to, in order. Default: every site, in spec order."`
	Strategy       RolloutStrategy `yaml:"strategy" doc:"How sites are batched: exactly one of rolling and canary." es:"required"`
	MaxUnavailable *int            `yaml:"maxUnavailable" doc:"Edge nodes of one site swapped at the same time. Default 1."`
	Gate           *RolloutGate    `yaml:"gate" doc:"Health gate judged over a window after each batch; a miss rolls every site back." es:"required"`
}

// RolloutStrategy batches the sites of a rollout.
type RolloutStrategy struct {
	Rolling *RollingStrategy `yaml:"rolling" doc:"Batches of a fixed number of sites, with a pause between batches."`
	Canary  *CanaryStrategy  `yaml:"canary" doc:"A first batch of N sites, judged by the gate, then all the other sites."`
}

// RollingStrategy rolls out by batches of sites.
type RollingStrategy struct {
	Batch *int            `yaml:"batch" doc:"Sites per batch. Default 1."`
	Pause *units.Duration `yaml:"pause" doc:"Wait after a batch passed its gate before the next batch starts. Default 0s."`
}

// CanaryStrategy rolls out to N sites first, then to the rest.
type CanaryStrategy struct {
	Sites *int            `yaml:"sites" doc:"Sites in the canary batch. Default 1."`
	Pause *units.Duration `yaml:"pause" doc:"Wait after the canary passed its gate before the rest. Default 0s."`
}

// RolloutGate is the health gate of a rollout, judged over the window
// after a batch's sites were swapped, on those sites' cameras and nodes.
type RolloutGate struct {
	Window             *units.Duration           `yaml:"window" doc:"How long the gate watches a batch after its last swap, e.g. 15s." es:"required"`
	E2ELatency         map[string]units.Duration `yaml:"e2eLatency" keys:"^p[0-9]+(\\.[0-9]+)?$" doc:"Maximum glass-to-detection latency percentiles in the window, e.g. {p95: 400ms}."`
	RecallMin          *units.Percent            `yaml:"recallMin" doc:"Minimum detection recall against ground truth (IoU 0.5) in the window, e.g. 60%."`
	CrashesMax         *int                      `yaml:"crashesMax" doc:"Most edgenode crashes allowed on the batch's nodes in the window. Default 0."`
	AlertsPerMinuteMax *float64                  `yaml:"alertsPerMinuteMax" doc:"Most alerts per minute raised by the batch's nodes in the window (an alert storm)."`
}
