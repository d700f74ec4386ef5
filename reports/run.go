// Package reports turns the samples a testbed run collected into results
// (latency percentiles, time-to-alert, detection accuracy, bandwidth per
// link, failover gaps, SLO verdicts).
//
// The input is [Run], a plain JSON-serialisable record of what a run
// observed: a testbed fills it, [Analyze] computes a [Result] and
// [ExitCode] turns the verdicts into a process exit code. Both encode as
// JSON ([WriteJSON], [WriteSamples]); the package
// github.com/edgesim/edgesim/reports/render turns a Result into
// report.html (with plots), report.md and junit.xml, and links the
// plotting code only where it is used. The package never reads the wall
// clock: every time it reports comes from the input.
package reports

import (
	"image"
	"time"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/units"
	"github.com/edgesim/edgesim/wire"
)

// SamplesSchemaVersion identifies the raw samples file format (a [Run]).
const SamplesSchemaVersion = "edgesim.dev/samples/v1"

// Placement says which tier ran a camera's detection.
type Placement string

// Placements a camera can have.
const (
	PlacementEdge  Placement = "edge"
	PlacementCloud Placement = "cloud"
)

// Phase names with a meaning for the analysis. Frames captured during the
// warm-up phase are reported separately and excluded from the SLO figures.
const (
	PhaseProvision = "provision"
	PhaseWarmUp    = "warm-up"
	PhaseRun       = "run"
	PhaseTearDown  = "tear-down"
)

// Run is everything one scenario run produced: the input of [Analyze] and
// the content of the raw samples file. Durations are nanoseconds in JSON.
type Run struct {
	SchemaVersion string        `json:"schemaVersion,omitempty"`
	Scenario      string        `json:"scenario"`
	Seed          int64         `json:"seed"`
	Provider      string        `json:"provider"`
	Duration      time.Duration `json:"durationNs"` // planned length of the run phase
	Start         time.Time     `json:"start"`
	End           time.Time     `json:"end"`
	// Partial is set when the run was interrupted (Ctrl-C, fatal error);
	// PartialReason says why.
	Partial       bool   `json:"partial,omitempty"`
	PartialReason string `json:"partialReason,omitempty"`
	// LinksNotEmulated says why the provider ran without emulating the
	// links (e.g. a cluster that refuses privileged pods): the traffic
	// crossed the real network unimpaired, link faults were not carried
	// out and the link SLOs are not exercised. "" = the links were
	// emulated.
	LinksNotEmulated string `json:"linksNotEmulated,omitempty"`

	Phases  []Phase         `json:"phases,omitempty"`
	Cameras []Camera        `json:"cameras"`
	Events  []ScriptedEvent `json:"events,omitempty"`
	Alerts  []wire.Alert    `json:"alerts,omitempty"` // as the cloud tier received them
	Links   []LinkSeries    `json:"links,omitempty"`
	Faults  []Fault         `json:"faults,omitempty"`
	// ObservedFaults are things that went wrong without being scripted,
	// e.g. a process that crashed.
	ObservedFaults []ObservedFault `json:"observedFaults,omitempty"`
	LinkDelays     []LinkDelay     `json:"linkDelays,omitempty"`
	// Diagnostics is evidence a provider gathered when the run failed,
	// e.g. kubectl's view of nodes, pods and Service endpoints.
	Diagnostics []evidence.Diagnostic `json:"diagnostics,omitempty"`
	// ClusterEvents are node and pod changes a cluster provider observed
	// (empty for the local provider).
	ClusterEvents []evidence.ClusterEvent `json:"clusterEvents,omitempty"`
	// Clusters are the Kubernetes clusters a provider built for the run,
	// with what it measured of them (empty for the local provider).
	Clusters []evidence.Cluster `json:"clusters,omitempty"`
	SLO      SLOSpec            `json:"slo"`
	// Rollouts are the model rollouts the timeline ran.
	Rollouts []RolloutRun `json:"rollouts,omitempty"`
	// Host is the testbed host's own load during the run (see Headroom).
	Host *HostSamples `json:"host,omitempty"`
	// Warnings are the testbed's own, e.g. a tear-down step that failed
	// but that destroying the testbed made moot; the report lists them.
	Warnings []string `json:"warnings,omitempty"`
}

// Phase is one timed step of a run.
type Phase struct {
	Name  string    `json:"name"` // PhaseProvision, PhaseWarmUp, PhaseRun, PhaseTearDown or any other
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Camera is one synthetic camera and every frame it sent.
type Camera struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Placement Placement `json:"placement"`
	// Nodes are the edgenode ids that served this camera during the run.
	Nodes  []string `json:"nodes,omitempty"`
	Width  int      `json:"width,omitempty"`
	Height int      `json:"height,omitempty"`
	// Bitrate is the camera's configured VP8 bit rate (optional).
	Bitrate units.BitRate `json:"bitrate,omitempty"`
	// FramesSent is the camera's own frame counter; when set it must equal
	// len(Frames) (a consistency check).
	FramesSent uint64 `json:"framesSent,omitempty"`
	// FPS is the camera's frame rate and DetectFPS the rate the runtime
	// infers its frames at (both optional). With DetectFPS < FPS only that
	// share of frames is expected to be answered: the answered-frames gate
	// and failover's lost answers take it into account.
	FPS       float64       `json:"fps,omitempty"`
	DetectFPS float64       `json:"detectFps,omitempty"`
	Frames    []FrameSample `json:"frames"`
	// Truth holds the generator's ground truth, one entry per frame that
	// should be scored (frames without an entry are not scored).
	Truth []TruthFrame `json:"truth,omitempty"`
	// Reconnects are the camera's lost connections and when it was
	// connected again.
	Reconnects []Reconnect `json:"reconnects,omitempty"`
	// Reference marks a camera that exists only for a comparison (a
	// site's cloud-placement mirror): its figures are reported beside the
	// SLO gates as a what-if, never gated.
	Reference bool `json:"reference,omitempty"`
}

// Reconnect is one lost connection of a camera, on the camera's clock.
type Reconnect struct {
	Lost      time.Time `json:"lost"`               // when the camera noticed the loss
	Connected time.Time `json:"connected,omitzero"` // connected again (zero: never)
	From      string    `json:"from,omitempty"`     // endpoint it was connected to
	To        string    `json:"to,omitempty"`       // endpoint it connected to again
}

// FrameSample is what the camera saw for one frame it sent.
type FrameSample struct {
	Frame    uint64        `json:"frame"`
	Capture  time.Time     `json:"capture"`
	Answered bool          `json:"answered"`
	Latency  time.Duration `json:"latencyNs,omitempty"` // capture to detections back at the camera
	Node     string        `json:"node,omitempty"`      // edgenode that answered
	Model    string        `json:"model,omitempty"`     // the model that answered, as the edgenode named it (name@version)
	// Where the answer's time went inside the node, as it reported it
	// (zero when it did not): its last packet's arrival to decoded, decoded
	// to a worker taking it, inference, and arrival to the answer sent.
	Decode time.Duration `json:"decodeNs,omitempty"`
	Wait   time.Duration `json:"waitNs,omitempty"`
	Infer  time.Duration `json:"inferNs,omitempty"`
	InNode time.Duration `json:"inNodeNs,omitempty"`
	// Detections are those the edgenode returned for this frame.
	Detections []Detection `json:"detections,omitempty"`
}

// Box is a pixel rectangle x0,y0,x1,y1 (x1,y1 exclusive), as on the wire.
type Box [4]int

// BoxOf converts an image rectangle.
func BoxOf(r image.Rectangle) Box { return Box{r.Min.X, r.Min.Y, r.Max.X, r.Max.Y} }

// Rect converts the box to an image rectangle.
func (b Box) Rect() image.Rectangle { return image.Rect(b[0], b[1], b[2], b[3]) }

// Detection is one detection the runtime returned.
type Detection struct {
	Label string  `json:"label"`
	Score float32 `json:"score"`
	Box   Box     `json:"box"`
	Track int     `json:"track,omitempty"`
}

// TruthFrame is the ground truth of one frame.
type TruthFrame struct {
	Frame   uint64        `json:"frame"`
	Objects []TruthObject `json:"objects"`
}

// TruthObject is one object the scene generator placed in a frame.
type TruthObject struct {
	TrackID   int     `json:"track"`
	Label     string  `json:"label"`
	Box       Box     `json:"box"`
	Occlusion float64 `json:"occlusion,omitempty"` // 0..1 fraction hidden
}

// ScriptedEvent is an event the scenario scripted on a camera (e.g. a
// person loitering in a zone), in absolute time on the testbed's clock.
type ScriptedEvent struct {
	Camera string `json:"camera"`
	Kind   string `json:"kind"` // "loiter" | "enter" | "vehicle_stop"
	Zone   string `json:"zone"`
	Label  string `json:"label,omitempty"` // "" matches an alert of any label
	// Track is the ground-truth track id of the object the event scripts
	// (TruthObject.TrackID); only an alert for that object counts for the
	// event. 0 when unknown: any alert of the camera, zone and label counts.
	Track int       `json:"track,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// LinkSeries is the traffic one emulated link carried in one direction.
type LinkSeries struct {
	Link      string `json:"link"`
	Direction string `json:"direction"`
	Site      string `json:"site,omitempty"`
	// Uplink marks the site-to-cloud direction of a site's backhaul: the
	// traffic compared between edge and cloud placement.
	Uplink bool `json:"uplink,omitempty"`
	// Reference marks a link that exists only for a comparison (such as a
	// site's cloud-placement mirror): reported, but not gated by the
	// uplink SLO.
	Reference bool `json:"reference,omitempty"`
	// Samples are cumulative counter readings, in time order.
	Samples []CounterSample `json:"samples,omitempty"`
	// Totals as the engine reported them at the end of the run.
	TotalBytes   uint64 `json:"totalBytes"`
	TotalPackets uint64 `json:"totalPackets"`
	TotalDropped uint64 `json:"totalDropped,omitempty"`
}

// CounterSample is a reading of a link's cumulative counters.
type CounterSample struct {
	At      time.Time `json:"at"`
	Bytes   uint64    `json:"bytes"`
	Packets uint64    `json:"packets"`
	Dropped uint64    `json:"dropped,omitempty"`
}

// Fault is one injected fault of the scenario's timeline.
type Fault struct {
	At     time.Time `json:"at"`     // when the injection started
	Kind   string    `json:"kind"`   // kill, pause, partition, degrade, restart, ...
	Target string    `json:"target"` // node, site, link or camera id
	Detail string    `json:"detail,omitempty"`
	// Effective is when the injection had completed: frames captured
	// after it are the first a failover can answer (zero: At).
	Effective time.Time `json:"effective,omitzero"`
	// Failed is the injection's error: the fault did not happen as
	// scripted, so no failover was tested.
	Failed string `json:"failed,omitempty"`
	// Nodes are the edgenode ids a node fault took down (the target node
	// and, on a cluster, the pods on it). Their answers are not a
	// recovery, unless for frames captured after Restored.
	Nodes []string `json:"nodes,omitempty"`
	// Restored is when the faulted node was started again (zero: never).
	Restored time.Time `json:"restored,omitzero"`
	// Cameras affected by the fault. When empty, the cameras whose id,
	// site or serving nodes equal Target are taken.
	Cameras []string `json:"cameras,omitempty"`
}

// ObservedFault is something that went wrong during the run without being
// injected.
type ObservedFault struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // e.g. "crash"
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// Leg names the part of a camera's path a link delay applies to.
const (
	LegAccess   = "access"   // camera host <-> edge node
	LegBackhaul = "backhaul" // edge site <-> cloud
)

// LinkDelay is the configured one-way delay of a link, used to check that
// no measured latency beats physics.
type LinkDelay struct {
	Link   string        `json:"link"`
	Site   string        `json:"site"`
	Leg    string        `json:"leg"` // LegAccess | LegBackhaul
	OneWay time.Duration `json:"oneWayNs"`
}

// SLOSpec holds the gates of a scenario. Zero values are not checked.
type SLOSpec struct {
	Latency []LatencySLO `json:"latency,omitempty"`
	// TimeToAlertMax bounds event start to first alert at the cloud for
	// every scripted event; a missing alert fails it.
	TimeToAlertMax time.Duration `json:"timeToAlertMaxNs,omitempty"`
	// FailoverMax bounds fault time to first answered frame again, for
	// every affected camera.
	FailoverMax time.Duration `json:"failoverMaxNs,omitempty"`
	// UplinkMaxBitsPerSecond bounds the mean bit rate of every uplink.
	UplinkMaxBitsPerSecond float64 `json:"uplinkMaxBitsPerSecond,omitempty"`
	// RecallMin and PrecisionMin bound the detector's recall and precision
	// over all classes (IoU 0.5).
	RecallMin    float64 `json:"recallMin,omitempty"`
	PrecisionMin float64 `json:"precisionMin,omitempty"`
	// AnsweredMin bounds the fraction of frames that got detections back.
	AnsweredMin float64 `json:"answeredMin,omitempty"`
	// AllowNotExercised lets a gate that nothing in the run exercised (no
	// fault hit a camera, no event, no ground truth) pass the run; by
	// default such a gate fails it.
	AllowNotExercised bool `json:"allowNotExercised,omitempty"`
}

// LatencySLO bounds one end-to-end latency percentile, over all cameras or
// one site or placement.
type LatencySLO struct {
	Percentile float64       `json:"percentile"` // e.g. 95
	Max        time.Duration `json:"maxNs"`
	Site       string        `json:"site,omitempty"`
	Placement  Placement     `json:"placement,omitempty"`
}
