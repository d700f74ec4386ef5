package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgesim/edgesim/evidence"
)

// SchemaVersion identifies the report.json format.
const SchemaVersion = "edgesim.dev/report/v1"

// Verdicts of a run.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictPartial = "partial" // interrupted: the gates could not be judged on a whole run
)

// Result is what [Analyze] computed from a [Run]: everything the renderers
// show. Durations are reported in milliseconds.
type Result struct {
	SchemaVersion string    `json:"schemaVersion"`
	Scenario      string    `json:"scenario"`
	Seed          int64     `json:"seed"`
	Provider      string    `json:"provider"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	DurationMs    float64   `json:"durationMs"`
	Partial       bool      `json:"partial"`
	PartialReason string    `json:"partialReason,omitempty"`
	// LinksNotEmulated is Run.LinksNotEmulated.
	LinksNotEmulated string `json:"linksNotEmulated,omitempty"`
	// Verdict is VerdictPass, VerdictFail or VerdictPartial.
	Verdict string `json:"verdict"`

	Phases    []PhaseResult  `json:"phases,omitempty"`
	Frames    FrameCounts    `json:"frames"`
	Latencies LatencyResults `json:"latency"`
	// LatencyTimeline holds per-site latency percentiles over time.
	LatencyTimeline []LatencyBucket `json:"latencyTimeline,omitempty"`
	// LatencyTimelineBucketS is the width of the timeline's buckets.
	LatencyTimelineBucketS float64       `json:"latencyTimelineBucketS,omitempty"`
	TimeToAlert            []AlertTiming `json:"timeToAlert,omitempty"`
	Accuracy               *Accuracy     `json:"accuracy,omitempty"`
	// AccuracyBy breaks accuracy down by placement, site and the model that
	// answered each frame of the scenario's own cameras (each scope when
	// there is more than one of it).
	AccuracyBy []AccuracyGroup `json:"accuracyBy,omitempty"`
	Links      []LinkResult    `json:"links,omitempty"`
	Uplink     []UplinkResult  `json:"uplink,omitempty"`
	Failover   []FailoverGap   `json:"failover,omitempty"`
	// FailoverSummaries sum up each fault's failover: gaps over its
	// cameras and the median time of each step of the breakdown.
	FailoverSummaries []FailoverSummary     `json:"failoverSummaries,omitempty"`
	Faults            []Fault               `json:"faults,omitempty"`
	ObservedFaults    []ObservedFault       `json:"observedFaults,omitempty"`
	SLOs              []SLOVerdict          `json:"slos"`
	Rollouts          []RolloutResult       `json:"rollouts,omitempty"`
	Warnings          []string              `json:"warnings,omitempty"`
	Diagnostics       []evidence.Diagnostic `json:"diagnostics,omitempty"`
	// Clusters are the run's Kubernetes clusters: create and ready times,
	// the control plane's memory, failover settings.
	Clusters []evidence.Cluster `json:"clusters,omitempty"`
	Alerts   int                `json:"alerts"`
	Cameras  []CameraOverview   `json:"cameras"`
	// Headroom is the host's headroom during the run; when it was
	// saturated, the report says so at its top (nil: not sampled).
	Headroom *Headroom `json:"headroom,omitempty"`

	run *Run // the input, kept for the raw samples file
}

// AccuracyGroup is the accuracy of one placement or site.
type AccuracyGroup struct {
	Scope        string  `json:"scope"` // "placement" | "site" | "model"
	Name         string  `json:"name"`
	FramesScored int     `json:"framesScored"`
	MeanAP50     float64 `json:"meanAP50"`
	Precision    float64 `json:"precision"`
	Recall       float64 `json:"recall"`
}

// PhaseResult is one phase's timing.
type PhaseResult struct {
	Name       string    `json:"name"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMs float64   `json:"durationMs"`
	Frames     int       `json:"frames"` // frames captured during the phase
}

// FrameCounts counts the frames the SLO figures are computed on (warm-up
// excluded) and those left out.
type FrameCounts struct {
	Sent       int     `json:"sent"`
	Answered   int     `json:"answered"`
	Unanswered int     `json:"unanswered"`
	Answer     float64 `json:"answeredFraction"`
	// Expected is how many answers the cameras' detection rates call for
	// (Sent unless a camera's DetectFPS is below its FPS); OfExpected is
	// Answered/Expected, at most 1.
	Expected   float64 `json:"expectedAnswers"`
	OfExpected float64 `json:"answeredOfExpected"`
	WarmUp     int     `json:"warmUp"` // captured during warm-up, not counted above
}

// CameraOverview is one camera's line in the report.
type CameraOverview struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Placement Placement `json:"placement"`
	Nodes     []string  `json:"nodes,omitempty"`
	Sent      int       `json:"sent"`
	Answered  int       `json:"answered"`
	Reference bool      `json:"reference,omitempty"` // a comparison mirror's camera (what-if)
}

// LatencyResults are the end-to-end latency distributions (capture to
// detections back at the camera, answered frames only).
type LatencyResults struct {
	Overall    Distribution   `json:"overall"`
	Sites      []LatencyGroup `json:"sites"`
	Placements []LatencyGroup `json:"placements"`
	// Models breaks the answered frames of the scenario's own cameras (not
	// a comparison mirror's) down by the model that answered them
	// (FrameSample.Model), when more than one did.
	Models  []LatencyGroup `json:"models,omitempty"`
	Cameras []LatencyGroup `json:"cameras"`
	WarmUp  *Distribution  `json:"warmUp,omitempty"`
	// Breakdown is where the answered frames' latency went, part by part
	// (BreakdownParts), over the frames whose node reported its share;
	// empty when none did. Each part's percentiles are its own: they do
	// not add up to the latency's.
	Breakdown []LatencyGroup `json:"breakdown,omitempty"`
}

// The parts of a latency breakdown, in the frame's order.
const (
	PartOutsideNode = "camera and network"          // capture, encode, send, links, WebRTC, the answer's way back
	PartDecode      = "node: reassembly and decode" // last packet in to decoded
	PartWait        = "node: waiting for a worker"  // decoded to a worker taking it
	PartInference   = "node: inference"
	PartAfter       = "node: tracking, rules, send" // inference done to the answer sent
)

// BreakdownParts lists the parts in order.
var BreakdownParts = []string{PartOutsideNode, PartDecode, PartWait, PartInference, PartAfter}

// LatencyGroup is the distribution of one site, placement or camera.
type LatencyGroup struct {
	Name string `json:"name"`
	Distribution
}

// LatencyBucket is one site's latency during one time bucket.
type LatencyBucket struct {
	Site       string  `json:"site"`
	OffsetS    float64 `json:"offsetS"` // bucket start, seconds after Result.Start
	Count      int     `json:"count"`
	Unanswered int     `json:"unanswered"`
	// Expected is how many answers the detection rates call for in the
	// bucket (Count + Unanswered without a DetectFPS).
	Expected float64 `json:"expectedAnswers"`
	P50Ms    float64 `json:"p50Ms"`
	P95Ms    float64 `json:"p95Ms"`
	MaxMs    float64 `json:"maxMs"`
}

// AlertTiming is the time-to-alert of one scripted event.
type AlertTiming struct {
	Camera  string    `json:"camera"`
	Kind    string    `json:"kind"`
	Zone    string    `json:"zone"`
	Label   string    `json:"label,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Alerted bool      `json:"alerted"`
	AlertID string    `json:"alertId,omitempty"`
	AlertAt time.Time `json:"alertAt,omitzero"`
	// TimeToAlertMs is event start to the alert's arrival at the cloud.
	TimeToAlertMs float64 `json:"timeToAlertMs,omitempty"`
	// Track is the event's own object in the ground truth (0: unknown).
	Track int `json:"track,omitempty"`
	// OtherAlerts are alerts of the camera, zone and label raised in the
	// event's matching window (its start to the next such event, else the
	// end of the run) that were for another object, or whose object the
	// ground truth could not identify: reported, not counted for the event.
	OtherAlerts []OtherAlert `json:"otherAlerts,omitempty"`
	Reference   bool         `json:"reference,omitempty"` // on a comparison mirror's camera (what-if)
}

// OtherAlert is an alert that did not count for the event it came during.
type OtherAlert struct {
	ID string    `json:"id,omitempty"`
	At time.Time `json:"at"` // arrival at the cloud
	// Track is the ground-truth track the alert's object was matched to
	// (0: not identified).
	Track int `json:"track,omitempty"`
}

// LinkResult is the traffic of one link in one direction.
type LinkResult struct {
	Link           string    `json:"link"`
	Direction      string    `json:"direction"`
	Site           string    `json:"site,omitempty"`
	Uplink         bool      `json:"uplink,omitempty"`
	Reference      bool      `json:"reference,omitempty"` // comparison only, not gated
	Bytes          uint64    `json:"bytes"`
	Packets        uint64    `json:"packets"`
	Dropped        uint64    `json:"dropped"`
	MeanBitsPerS   float64   `json:"meanBitsPerSecond"`
	PeakBitsPerS   float64   `json:"peakBitsPerSecond"`
	SeriesOffsetS  []float64 `json:"seriesOffsetS,omitempty"` // interval ends, seconds after Result.Start
	SeriesBitsPerS []float64 `json:"seriesBitsPerSecond,omitempty"`
}

// UplinkResult compares the uplink traffic of sites by placement: what
// detection at the edge saves over streaming video to the cloud.
type UplinkResult struct {
	Placement         Placement `json:"placement"`
	Sites             []string  `json:"sites"`
	Cameras           int       `json:"cameras"`
	Bytes             uint64    `json:"bytes"`
	MeanBitsPerS      float64   `json:"meanBitsPerSecond"`
	PerCameraBitsPerS float64   `json:"perCameraBitsPerSecond"`
	// VsEdge is this placement's per-camera rate divided by the edge
	// placement's (set on the cloud row when both are present).
	VsEdge float64 `json:"vsEdge,omitempty"`
}

// FailoverGap is one camera's outage after one fault.
type FailoverGap struct {
	Fault     int       `json:"fault"` // index into Result.Faults
	FaultKind string    `json:"faultKind"`
	Target    string    `json:"target"`
	Camera    string    `json:"camera"`
	FaultAt   time.Time `json:"faultAt"`
	Recovered bool      `json:"recovered"`
	// RecoveredAt is the arrival of the first answer for a frame captured
	// after the fault took effect, from a node the fault did not take down
	// (or from that node once restarted); RecoveredBy is that node.
	RecoveredAt time.Time `json:"recoveredAt,omitzero"`
	RecoveredBy string    `json:"recoveredBy,omitempty"`
	// GapMs is fault time to RecoveredAt, or to the end of the run when the
	// camera never recovered.
	GapMs      float64 `json:"gapMs"`
	FramesLost int     `json:"framesLost"` // unanswered frames captured from the fault to the recovering frame
	// FramesInFlight were captured before the fault took effect and
	// answered after it was injected: answers already on their way, not a
	// recovery.
	FramesInFlight int `json:"framesInFlight,omitempty"`
	// FramesFromFaulted were captured after the fault took effect and still
	// answered by the faulted node (before it was restarted): not a
	// recovery either.
	FramesFromFaulted int  `json:"framesFromFaulted,omitempty"`
	Reference         bool `json:"reference,omitempty"` // a comparison mirror's camera (what-if)
	// AnswersLost is FramesLost times the share of frames the camera's
	// detection rate calls for (equal to FramesLost without a DetectFPS).
	AnswersLost int `json:"answersLost"`
	// Steps break the gap down, in order of the chain below; a step that
	// was not observed is left out (the local provider has no node or pod
	// steps).
	Steps []FailoverStep `json:"steps,omitempty"`
}

// The steps of a failover, in the order of the chain from the fault to
// detections flowing again. Steps can overlap in time: a camera may
// reconnect to a surviving replica before its old node is even NotReady.
const (
	StepNodeNotReady = "node NotReady"         // the fault's node reported NotReady
	StepPodsEvicted  = "pods evicted"          // the first pod on that node was deleted
	StepScheduled    = "replacement scheduled" // a new pod of that pod's workload was bound
	StepReady        = "replacement ready"     // that new pod became ready
	StepReconnected  = "camera reconnected"    // the camera connected again after losing its connection
	StepFlowing      = "detections flowing"    // first answer for a frame captured after the fault
)

// stepOrder lists the failover steps in chain order.
var stepOrder = []string{StepNodeNotReady, StepPodsEvicted, StepScheduled, StepReady, StepReconnected, StepFlowing}

// FailoverStep is one observed step of a camera's failover.
type FailoverStep struct {
	Name         string    `json:"name"` // one of the Step* constants
	At           time.Time `json:"at"`
	SinceFaultMs float64   `json:"sinceFaultMs"`
}

// FailoverSummary sums up the failover after one fault over the cameras
// it affected (those with an answered frame before it).
type FailoverSummary struct {
	Fault     int       `json:"fault"` // index into Result.Faults
	FaultKind string    `json:"faultKind"`
	Target    string    `json:"target"`
	FaultAt   time.Time `json:"faultAt"`
	// Cameras are the affected cameras whose gap was measured; Recovered
	// counts those that got answers again before the end of the run.
	Cameras   []string `json:"cameras"`
	Recovered int      `json:"recovered"`
	// GapP50Ms and GapMaxMs are the median (nearest rank) and largest gap
	// over Cameras; a camera that never recovered counts with its gap up
	// to the end of the run.
	GapP50Ms    float64 `json:"gapP50Ms"`
	GapMaxMs    float64 `json:"gapMaxMs"`
	FramesLost  int     `json:"framesLost"`
	AnswersLost int     `json:"answersLost"`
	// Steps are the observed steps in chain order.
	Steps []FailoverStepSummary `json:"steps,omitempty"`
}

// FailoverStepSummary is one step of a fault's failover over its cameras.
// Node and pod steps are the same for every camera of the fault.
type FailoverStepSummary struct {
	Name string `json:"name"` // one of the Step* constants
	// Cameras counts the cameras the step was observed for (all of the
	// fault's cameras for node and pod steps).
	Cameras int `json:"cameras"`
	// SinceFaultMs is the median (nearest rank) over those cameras,
	// MaxSinceFaultMs the latest.
	SinceFaultMs    float64 `json:"sinceFaultMs"`
	MaxSinceFaultMs float64 `json:"maxSinceFaultMs"`
}

// SLOVerdict is the outcome of one gate.
type SLOVerdict struct {
	Name      string `json:"name"`
	Threshold string `json:"threshold"` // human readable, e.g. "<= 150ms"
	Measured  string `json:"measured"`
	Pass      bool   `json:"pass"`
	Reason    string `json:"reason"`
	// NotExercised is set when nothing in the run exercised the gate (no
	// fault hit a camera, no scripted event, no ground truth): it did not
	// pass. It fails the run unless the scenario allows it.
	NotExercised bool `json:"notExercised,omitempty"`
	// WhatIf marks the figure of a comparison mirror under the same
	// threshold: shown beside the gates, never gated.
	WhatIf bool `json:"whatIf,omitempty"`
	// Gated says whether the verdict counts for the run's verdict and exit
	// code (false for what-ifs and for allowed not-exercised gates).
	Gated bool `json:"gated"`
	// ThresholdValue and MeasuredValue in Unit, for machines.
	ThresholdValue float64 `json:"thresholdValue"`
	MeasuredValue  float64 `json:"measuredValue"`
	Unit           string  `json:"unit"`
}

// Run returns the input the result was computed from (nil after the
// result was decoded from JSON).
func (r *Result) Run() *Run { return r.run }

// Latency returns the latency distribution of a camera, site or placement
// (looked up in that order), or the overall one for "". An unknown name
// gives an empty distribution.
func (r *Result) Latency(name string) Distribution {
	if name == "" {
		return r.Latencies.Overall
	}
	for _, groups := range [][]LatencyGroup{r.Latencies.Cameras, r.Latencies.Sites, r.Latencies.Placements, r.Latencies.Models} {
		for _, g := range groups {
			if g.Name == name {
				return g.Distribution
			}
		}
	}
	return Distribution{}
}

// SLO returns the verdict with the given name (as in report.md), if any;
// a what-if carries its own name.
func (r *Result) SLO(name string) (SLOVerdict, bool) {
	for _, v := range r.SLOs {
		if v.Name == name {
			return v, true
		}
	}
	return SLOVerdict{}, false
}

// Failed returns the gated verdicts that did not hold (failed, or not
// exercised when the scenario does not allow that).
func (r *Result) Failed() []SLOVerdict {
	var out []SLOVerdict
	for _, v := range r.SLOs {
		if v.Gated && !v.Pass {
			out = append(out, v)
		}
	}
	return out
}

// Summary is a one-line verdict for a terminal, e.g.
// "FAIL: 2 of 8 SLOs failed: e2e latency p99 (site b) 173ms (<= 150ms); ...".
func (r *Result) Summary() string {
	failed := r.Failed()
	gated, waived, whatIf := 0, 0, 0
	for _, v := range r.SLOs {
		switch {
		case v.WhatIf:
			whatIf++
		case v.Gated:
			gated++
		default:
			waived++
		}
	}
	var b strings.Builder
	b.WriteString(strings.ToUpper(r.Verdict))
	switch {
	case len(failed) > 0:
		fmt.Fprintf(&b, ": %d of %d SLOs failed: ", len(failed), gated)
		for i, v := range failed {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s %s (%s)", v.Name, v.Measured, v.Threshold)
		}
	case gated > 0:
		fmt.Fprintf(&b, ": all %d SLOs hold", gated)
	case waived == 0:
		b.WriteString(": no SLOs defined")
	default:
		b.WriteString(": no SLO exercised")
	}
	if waived > 0 {
		fmt.Fprintf(&b, " (%d not exercised, allowed by the scenario)", waived)
	}
	if whatIf > 0 {
		fmt.Fprintf(&b, "; %d what-if figures of the comparison mirror, not gated", whatIf)
	}
	if r.Partial {
		b.WriteString(" (partial run)")
	}
	if r.LinksNotEmulated != "" {
		b.WriteString(" (links not emulated)")
	}
	return b.String()
}

// LinksBanner is the warning a report puts at its top when the links were
// not emulated, "" otherwise.
func (r *Result) LinksBanner() string {
	if r.LinksNotEmulated == "" {
		return ""
	}
	return "LINKS NOT EMULATED (" + r.LinksNotEmulated + "): the traffic crossed the cluster's own network unimpaired, so no figure includes a link's delay, loss or rate; link faults were not carried out and the link SLOs are not exercised."
}
