// Package metrics holds the Prometheus metrics of the edgenode runtime. All of
// them are registered on a Registerer the caller injects, never the global one.
package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons used as the reason label of edgenode_frames_dropped_total.
const (
	ReasonQueueFull   = "queue_full"   // every worker busy and the shared queue full
	ReasonStale       = "stale"        // replaced by a newer frame of the same stream, or too old when a worker got to it
	ReasonDecodeError = "decode_error" // libvpx refused the frame
	ReasonIncomplete  = "incomplete"   // RTP packets of the frame missing; frame given up
	ReasonSkipped     = "skipped"      // not sampled: the camera sends faster than the detect fps
	ReasonNoKeyframe  = "no_keyframe"  // waiting for a key frame after a loss or at stream start
	ReasonInferError  = "infer_error"  // the detector returned an error
	ReasonDraining    = "draining"     // arrived while the node was shutting down
	ReasonBacklog     = "backlog"      // inferred, but the session's delivery backlog was full
)

// OtherCamera is the camera label of the sessions beyond the cap on
// distinct camera labels.
const OtherCamera = "other"

// Metrics is the set of edgenode metrics. Create it once per process (or per
// test) with New.
type Metrics struct {
	FramesReceived   *prometheus.CounterVec // camera
	FramesDecoded    prometheus.Counter
	FramesInferred   prometheus.Counter
	FramesDropped    *prometheus.CounterVec // camera, reason
	InferenceSeconds prometheus.Histogram
	E2ELatency       prometheus.Histogram
	ReceiveToSend    prometheus.Histogram
	Detections       *prometheus.CounterVec // camera, label
	Alerts           *prometheus.CounterVec // camera, zone, label
	QueueDepth       prometheus.Gauge
	ActiveStreams    prometheus.Gauge
	ModelInfo        *prometheus.GaugeVec   // name, version, sha256
	ModelReloads     *prometheus.CounterVec // result
	SessionsRejected *prometheus.CounterVec // reason
}

// ErrRegister is returned when a metric cannot be registered (usually because
// a second Metrics was created on the same registry).
var ErrRegister = errors.New("metrics: register")

// New creates the metrics and registers them on reg. A nil reg gives working,
// unregistered metrics.
func New(reg prometheus.Registerer) (*Metrics, error) {
	latencyBuckets := []float64{.001, .0025, .005, .01, .02, .03, .05, .075, .1, .15, .2, .3, .5, .75, 1, 1.5, 2.5, 5}
	m := &Metrics{
		FramesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgenode_frames_received_total", Help: "Video frames assembled from RTP, per camera.",
		}, []string{"camera"}),
		FramesDecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgenode_frames_decoded_total", Help: "Video frames decoded by libvpx.",
		}),
		FramesInferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgenode_frames_inferred_total", Help: "Frames run through the detector.",
		}),
		FramesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgenode_frames_dropped_total", Help: "Frames not inferred, per camera and reason.",
		}, []string{"camera", "reason"}),
		InferenceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgenode_inference_duration_seconds", Help: "Time the detector took for one frame.",
			Buckets: latencyBuckets,
		}),
		E2ELatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edgenode_e2e_latency_seconds",
			Help:    "Camera capture time to detections sent, where the camera sent its capture time (clocks of camera and node must agree).",
			Buckets: latencyBuckets,
		}),
		ReceiveToSend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgenode_receive_to_send_seconds", Help: "Last RTP packet of a frame received to its detections sent, inside the node.",
			Buckets: latencyBuckets,
		}),
		Detections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgenode_detections_total", Help: "Detections sent back to cameras, per camera and label.",
		}, []string{"camera", "label"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgenode_alerts_total", Help: "Alerts raised by zone/dwell rules.",
		}, []string{"camera", "zone", "label"}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgenode_queue_depth", Help: "Streams waiting for a free inference worker.",
		}),
		ActiveStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgenode_active_streams", Help: "WHIP sessions currently open.",
		}),
		ModelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgenode_model_info", Help: "The model in use (value 1).",
		}, []string{"name", "version", "sha256"}),
		ModelReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgenode_model_reloads_total", Help: "Model hot-swap attempts by result.",
		}, []string{"result"}),
		SessionsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgenode_sessions_rejected_total", Help: "WHIP offers refused, by reason.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.FramesReceived, m.FramesDecoded, m.FramesInferred, m.FramesDropped, m.InferenceSeconds,
		m.E2ELatency, m.ReceiveToSend, m.Detections, m.Alerts, m.QueueDepth, m.ActiveStreams,
		m.ModelInfo, m.ModelReloads, m.SessionsRejected,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRegister, err)
		}
	}
	return m, nil
}

// SetModel makes name/version/sha256 the only series of edgenode_model_info.
func (m *Metrics) SetModel(name, version, sha256 string) {
	m.ModelInfo.Reset()
	m.ModelInfo.WithLabelValues(name, version, sha256).Set(1)
}

// ForgetCamera deletes every series labelled with camera (when its last
// session ends), so that cameras coming and going do not grow /metrics.
func (m *Metrics) ForgetCamera(camera string) {
	l := prometheus.Labels{"camera": camera}
	m.FramesReceived.DeletePartialMatch(l)
	m.FramesDropped.DeletePartialMatch(l)
	m.Detections.DeletePartialMatch(l)
	m.Alerts.DeletePartialMatch(l)
}
