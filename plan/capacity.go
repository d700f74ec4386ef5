package plan

import "time"

// The capacity report: what `edgesim plan` writes (report.json), what the
// renderers draw (Markdown, HTML with plots) and what shards merge into.
// It is the one contract between the sweep runner, the renderers and the
// validation runner.

// Capacity report identity.
const (
	CapacityAPIVersion = "edgesim.dev/v1alpha1"
	CapacityKind       = "CapacityReport"
)

// CapacityReport is a plan's result: every swept curve, the capacity
// figures per site type, and the validation table against emulation.
type CapacityReport struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"` // the plan's name
	Generated  time.Time `json:"generated"`
	Seed       int64     `json:"seed"`
	// Simulated is each sweep point's simulated duration.
	Simulated time.Duration `json:"simulated"`
	// Sites and Cameras size the planned fleet (at its own camera counts).
	Sites   int `json:"sites"`
	Cameras int `json:"cameras"`

	Calibration CalibrationInfo `json:"calibration"`
	Objectives  []Objective     `json:"objectives"`
	// Shard is set on a shard's partial report; nil on a whole one.
	Shard *Shard `json:"shard,omitempty"`

	Curves   []Curve            `json:"curves"`
	Capacity []SiteTypeCapacity `json:"capacity"`
	// Validation is nil when the report carries no validation; renderers
	// then say so ("no validation: run edgesim plan --validate").
	Validation *Validation `json:"validation,omitempty"`
	// Warnings are shown at the top of every rendering (an old or foreign
	// calibration, a test-fixture calibration, a refused sweep value).
	Warnings []string `json:"warnings,omitempty"`
	Stats    RunStats `json:"stats"`
	// Partial is what a shard's report carries for the merge (its share
	// of every simulation, before any figure is derived); nil on a whole
	// report.
	Partial *Partial `json:"partial,omitempty"`
}

// CalibrationInfo says which calibration the figures come from.
type CalibrationInfo struct {
	Path        string     `json:"path"`
	Provenance  Provenance `json:"provenance"`
	TestFixture bool       `json:"testFixture,omitempty"`
	// InSitu are the calibration's entries measured inside running
	// edgenodes (Class.InSitu), which the simulator draws from instead of
	// the isolated ones.
	InSitu []string `json:"inSitu,omitempty"`
}

// Objective is one SLO the sweep points are checked against, as checks
// name it (Check.Objective without the site type).
type Objective struct {
	Name  string  `json:"name"` // e.g. "latency p95 (s)"
	Limit float64 `json:"limit"`
}

// Shard is which slice of the sites a partial report simulated.
type Shard struct {
	Index int `json:"index"` // 0-based
	Count int `json:"count"`
}

// CurveKey is every swept dimension except cameras per node.
type CurveKey struct {
	Hardware     string    `json:"hardware"` // calibration class of the edge nodes
	Model        string    `json:"model"`
	DetectFPS    float64   `json:"detectFps"`
	Link         string    `json:"link"` // the WAN's profile or trace name
	Placement    Placement `json:"placement"`
	NodesPerSite int       `json:"nodesPerSite"` // 0: each site's own, as the scenario has it
	// CloudNodes is the cloud tier the curve ran with (cloud placement:
	// the largest swept size, or the scenario's); Hardware is then the
	// cloud nodes' class, since the edge nodes carry no video.
	CloudNodes int `json:"cloudNodes,omitempty"`
}

// Curve is one sweep of cameras per node at one key.
type Curve struct {
	Key    CurveKey     `json:"key"`
	Points []CurvePoint `json:"points"`
	// Knees per site type: the largest cameras per node that, with every
	// smaller swept value, meets every objective (0: the smallest fails).
	Knees []TypeKnee `json:"knees"`
}

// TypeKnee is one site type's knee on a curve.
type TypeKnee struct {
	Type           string `json:"type"`
	CamerasPerNode int    `json:"camerasPerNode"`
	// None says why there is no knee (CamerasPerNode 0).
	None string `json:"none,omitempty"`
}

// CurvePoint is one simulated point of a curve. Types are the per-site-type
// figures (no per-site detail: a fleet's sites would not fit a report).
type CurvePoint struct {
	CamerasPerNode int          `json:"camerasPerNode"`
	Types          []TypeResult `json:"types"`
	Checks         []Check      `json:"checks"`
	Met            bool         `json:"met"`
	// Failover summarises the point's failover gaps when its timeline
	// kills or partitions something.
	Failover *FailoverSummary `json:"failover,omitempty"`
	// Emulated marks points measured by emulation (validation), drawn
	// over the simulated curves; nil when none was run at this point.
	Emulated *EmulatedPoint `json:"emulated,omitempty"`
}

// FailoverSummary condenses FailoverGap records.
type FailoverSummary struct {
	Cameras     int           `json:"cameras"` // cameras a fault affected
	Unrecovered int           `json:"unrecovered"`
	GapP50      time.Duration `json:"gapP50"`
	GapP95      time.Duration `json:"gapP95"`
	GapMax      time.Duration `json:"gapMax"`
	FramesLost  int           `json:"framesLost"`
}

// EmulatedPoint is what an emulated run of the same point measured.
type EmulatedPoint struct {
	LatencyP50     time.Duration `json:"latencyP50"`
	LatencyP95     time.Duration `json:"latencyP95"`
	UplinkMeanBits float64       `json:"uplinkMeanBitsPerSecond"`
}

// SiteTypeCapacity answers the planning questions for one site type.
type SiteTypeCapacity struct {
	Type string `json:"type"`
	// Knees: per curve key, the knee of this type.
	Knees []KeyKnee `json:"knees"`
	// Uplink per site at each placement, at the knee (or at the plan's own
	// cameras per site when no knee was swept).
	Uplink []UplinkFigure `json:"uplink"`
	// CloudTier sizes the cloud tier for cloud placement; empty when the
	// plan sweeps no cloud placement.
	CloudTier []CloudTierFigure `json:"cloudTier,omitempty"`
	// NodeLoss is the effect of losing one edge node, without and with a
	// spare; empty when the plan asks for no node-loss study.
	NodeLoss []NodeLossFigure `json:"nodeLoss,omitempty"`
}

// KeyKnee is a knee with the key it was found at.
type KeyKnee struct {
	Key            CurveKey `json:"key"`
	CamerasPerNode int      `json:"camerasPerNode"`
	None           string   `json:"none,omitempty"` // as TypeKnee's
}

// UplinkFigure is the WAN uplink one site needs.
type UplinkFigure struct {
	Key            CurveKey `json:"key"`
	CamerasPerSite int      `json:"camerasPerSite"`
	MeanBits       float64  `json:"meanBitsPerSecond"`
	MaxBits        float64  `json:"maxBitsPerSecond"`
}

// CloudTierFigure is the smallest cloud tier that meets every objective
// for the fleet's cameras under cloud placement.
type CloudTierFigure struct {
	Key      CurveKey `json:"key"`
	Hardware string   `json:"hardware"` // cloud node class
	Nodes    int      `json:"nodes"`    // 0: none of the swept sizes met the objectives
	Cameras  int      `json:"cameras"`  // cameras the tier served
	Met      bool     `json:"met"`
}

// NodeLossFigure is one site losing one edge node.
type NodeLossFigure struct {
	Key            CurveKey        `json:"key"`
	CamerasPerNode int             `json:"camerasPerNode"`
	Spare          bool            `json:"spare"` // one node more than the knee needs
	Failover       FailoverSummary `json:"failover"`
	LatencyP95     time.Duration   `json:"latencyP95"` // over the whole run
	Met            bool            `json:"met"`
}

// Validation is the table of simulated against emulated figures.
type Validation struct {
	// Machine, Commit and Commands say where and how the emulated side ran.
	Machine  string          `json:"machine"`
	Commit   string          `json:"commit"`
	Commands []string        `json:"commands"`
	Rows     []ValidationRow `json:"rows"`
}

// Error kinds of a validation row.
const (
	ErrorRelative = "relative" // |sim-emu|/emu
	ErrorAbsolute = "absolute" // |sim-emu| in the row's unit
)

// ValidationRow is one figure at one point, both ways.
type ValidationRow struct {
	Scenario       string  `json:"scenario"`
	CamerasPerNode int     `json:"camerasPerNode"`
	Figure         string  `json:"figure"` // "latency p50", "latency p95", "uplink bytes", "frames dropped", "failover gap", "time to alert"
	Unit           string  `json:"unit"`   // "s", "bytes", "frames"
	Emulated       float64 `json:"emulated"`
	Simulated      float64 `json:"simulated"`
	ErrorKind      string  `json:"errorKind"`
	Error          float64 `json:"error"`
	// Target is the largest error allowed (0: no target, reported only).
	Target float64 `json:"target"`
	// Exercised is false when either side measured nothing (no alert, no
	// fault): the row is then not met and says why in Note. A row without
	// a target is reported only: never met, its Note says so.
	Exercised bool   `json:"exercised"`
	Met       bool   `json:"met"`
	Note      string `json:"note,omitempty"`
	// Site is the site the figure is of; "" for the whole scenario (the
	// knee, "knee", in "cameras/node").
	Site string `json:"site,omitempty"`
}

// RunStats describe the simulation work behind the report.
type RunStats struct {
	Points       int           `json:"points"`
	Events       uint64        `json:"events"`
	Packets      uint64        `json:"packets"`
	Wall         time.Duration `json:"wall"`
	CPUSeconds   float64       `json:"cpuSeconds"`
	PeakRSSBytes uint64        `json:"peakRssBytes"`
}
