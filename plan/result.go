package plan

import "time"

// FrameCounts follow the frames of a set of cameras from capture to answer.
// Every captured frame ends in exactly one of the counts after Captured,
// or is still in flight when the run ends (InFlight).
type FrameCounts struct {
	Captured   uint64 `json:"captured"`
	NotSent    uint64 `json:"notSent"`    // the camera had no session (reconnecting after a node loss)
	LinkLost   uint64 `json:"linkLost"`   // a packet was lost or corrupted on a link (runtime: incomplete)
	NodeDown   uint64 `json:"nodeDown"`   // reached a killed node, or was in it when it died
	NoKeyframe uint64 `json:"noKeyframe"` // undecodable until the next keyframe (runtime: no_keyframe)
	Skipped    uint64 `json:"skipped"`    // not sampled at the detect fps (runtime: skipped)
	Replaced   uint64 `json:"replaced"`   // a newer frame of the stream replaced it (runtime: stale)
	TooOld     uint64 `json:"tooOld"`     // older than the max age when a worker took it (runtime: stale)
	QueueFull  uint64 `json:"queueFull"`  // the node's queue was full (runtime: queue_full)
	Inferred   uint64 `json:"inferred"`
	AnswerLost uint64 `json:"answerLost"` // the answer was lost on the way back
	Answered   uint64 `json:"answered"`   // the answer reached the camera
}

// Dropped is every frame that was sent and got no inference for a reason
// other than sampling.
func (c FrameCounts) Dropped() uint64 {
	return c.LinkLost + c.NodeDown + c.NoKeyframe + c.Replaced + c.TooOld + c.QueueFull
}

// DroppedShare is the share of the sampled frames (captured, sent and not
// skipped by sampling) that got no answer: Dropped plus AnswerLost. It is
// the figure the "dropped share" objective checks; sampled is false when
// no frame was sampled, and the share then means nothing.
func (c FrameCounts) DroppedShare() (share float64, sampled bool) {
	n := c.Captured - c.NotSent - c.Skipped
	if n == 0 {
		return 0, false
	}
	return float64(c.Dropped()+c.AnswerLost) / float64(n), true
}

func (c *FrameCounts) add(o FrameCounts) {
	c.Captured += o.Captured
	c.NotSent += o.NotSent
	c.LinkLost += o.LinkLost
	c.NodeDown += o.NodeDown
	c.NoKeyframe += o.NoKeyframe
	c.Skipped += o.Skipped
	c.Replaced += o.Replaced
	c.TooOld += o.TooOld
	c.QueueFull += o.QueueFull
	c.Inferred += o.Inferred
	c.AnswerLost += o.AnswerLost
	c.Answered += o.Answered
}

// LinkTotals are the netem model's totals of one link direction.
type LinkTotals struct {
	OfferedBytes uint64  `json:"offeredBytes"`
	Bytes        uint64  `json:"bytes"` // delivered
	Packets      uint64  `json:"packets"`
	Dropped      uint64  `json:"droppedPackets"`
	BitsPerSec   float64 `json:"bitsPerSecond"` // delivered bytes over the run
}

// SiteResult are one site's figures.
type SiteResult struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Cameras    int           `json:"cameras"`
	Frames     FrameCounts   `json:"frames"`
	Uplink     LinkTotals    `json:"uplink"`   // WAN, site to cloud
	Downlink   LinkTotals    `json:"downlink"` // WAN, cloud to site
	LatencyP50 time.Duration `json:"latencyP50"`
	LatencyP95 time.Duration `json:"latencyP95"`
	// AlertsExpected counts scripted events that a rule covers; Alerted
	// those whose alert reached the cloud.
	AlertsExpected int `json:"alertsExpected"`
	Alerted        int `json:"alerted"`

	latency, tta Histogram
}

// LatencyHistogram is a copy of the site's latency histogram, capture to
// answer of every answered frame, to pool the runs of one fleet under
// several seeds.
func (r *SiteResult) LatencyHistogram() Histogram { return r.latency.clone() }

// TypeResult are the figures of every site of one type.
type TypeResult struct {
	Type    string      `json:"type"`
	Sites   int         `json:"sites"`
	Cameras int         `json:"cameras"`
	Frames  FrameCounts `json:"frames"`
	// Latency is capture to answer at the camera, of every answered frame.
	LatencyP50 time.Duration `json:"latencyP50"`
	LatencyP95 time.Duration `json:"latencyP95"`
	// UplinkMeanBits and UplinkMaxBits are per site, in bit/s.
	UplinkMeanBits float64       `json:"uplinkMeanBitsPerSecond"`
	UplinkMaxBits  float64       `json:"uplinkMaxBitsPerSecond"`
	AlertsExpected int           `json:"alertsExpected"`
	Alerted        int           `json:"alerted"`
	TimeToAlertP50 time.Duration `json:"timeToAlertP50"`
	TimeToAlertP95 time.Duration `json:"timeToAlertP95"`

	latency, tta Histogram
}

// TimeToAlertHistogram is a copy of the type's time-to-alert histogram,
// event start to the alert at the cloud of every alerted event.
func (t *TypeResult) TimeToAlertHistogram() Histogram { return t.tta.clone() }

// FailoverGap is one camera's gap after one fault, with the reports'
// meaning: from the fault to the answer for the first frame captured after
// it that was answered; Recovered false means none was, and the gap runs
// to the end. FramesLost are the frames sent in the gap.
type FailoverGap struct {
	Fault      int           `json:"fault"`
	Site       string        `json:"site"`
	Camera     int           `json:"camera"` // index within the site
	Recovered  bool          `json:"recovered"`
	Gap        time.Duration `json:"gap"`
	FramesLost int           `json:"framesLost"`
}

// Stats describe the simulation itself.
type Stats struct {
	Events  uint64 `json:"events"`  // events taken off the heaps
	Packets uint64 `json:"packets"` // packets offered to netem models
}

// Result is everything a simulation measured.
type Result struct {
	Seed      int64         `json:"seed"`
	Duration  time.Duration `json:"duration"`
	Placement Placement     `json:"placement"`
	Types     []TypeResult  `json:"types"`
	Sites     []SiteResult  `json:"sites"`
	Failover  []FailoverGap `json:"failover"`
	Stats     Stats         `json:"stats"`
}
