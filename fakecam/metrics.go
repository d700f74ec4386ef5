package fakecam

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the cameras, labelled by camera id.
type metrics struct {
	captured, sent, answered, unanswered, bytes, reconnects *prometheus.CounterVec
	target                                                  *prometheus.GaugeVec
	latency                                                 *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"camera"})
	}
	m := &metrics{
		captured:   counter("fakecam_frames_captured_total", "Frames captured by the camera."),
		sent:       counter("fakecam_frames_sent_total", "Frames encoded and sent over WebRTC."),
		answered:   counter("fakecam_frames_answered_total", "Frames whose detections came back on the data channel."),
		unanswered: counter("fakecam_frames_unanswered_total", "Frames never answered within the answer timeout (including frames not sent)."),
		bytes:      counter("fakecam_rtp_bytes_total", "RTP bytes sent."),
		reconnects: counter("fakecam_reconnects_total", "Connections lost and re-established."),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fakecam_encoder_target_bitrate_bytes_per_second",
			Help: "Current VP8 encoder target bitrate in bytes per second."}, []string{"camera"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fakecam_glass_to_detection_seconds",
			Help:    "Capture to detection arrival, measured on the camera's clock.",
			Buckets: prometheus.ExponentialBuckets(0.01, 1.6, 14)}, []string{"camera"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, cv := range []**prometheus.CounterVec{&m.captured, &m.sent, &m.answered, &m.unanswered, &m.bytes, &m.reconnects} {
		if *cv, err = register(reg, *cv); err != nil {
			return nil, err
		}
	}
	if m.target, err = register(reg, m.target); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name (several cameras share one registry).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
