package netem

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, shared by every engine.
const (
	MetricBytes      = "edgesim_link_bytes_total"
	MetricPackets    = "edgesim_link_packets_total"
	MetricDropped    = "edgesim_link_packets_dropped_total"
	MetricQueueDelay = "edgesim_link_queue_delay_seconds"
	// MetricRelayErrors counts, per remote host, the datagrams it could
	// not exchange with its relay (Host.RelayErrors).
	MetricRelayErrors = "edgesim_relay_errors_total"
)

var (
	descBytes   = prometheus.NewDesc(MetricBytes, "Bytes delivered by an emulated link, per direction.", []string{"link", "direction"}, nil)
	descPackets = prometheus.NewDesc(MetricPackets, "Packets delivered by an emulated link, per direction.", []string{"link", "direction"}, nil)
	descDropped = prometheus.NewDesc(MetricDropped, "Packets an emulated link dropped, per direction and reason.", []string{"link", "direction", "reason"}, nil)
	descRelay   = prometheus.NewDesc(MetricRelayErrors, "Datagrams a remote host could not exchange with its relay.", []string{"host"}, nil)
)

type statser interface{ Stats() []LinkStats }

// relayStatser is an engine with remote hosts.
type relayStatser interface{ Hosts() []*Host }

// metrics exports engine totals at scrape time (no per-packet cost for the
// counters) and observes queue delays in a histogram.
type metrics struct {
	mu      sync.Mutex
	engines []statser
	hist    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{}
	if reg == nil {
		return m, nil
	}
	m.hist = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricQueueDelay,
		Help:    "Time packets spent in an emulated link's bottleneck queue.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 us .. 3.3 s
	}, []string{"link", "direction"})
	if err := reg.Register(m.hist); err != nil {
		return nil, fmt.Errorf("netem: register metrics (one engine per registry): %w", err)
	}
	if err := reg.Register(m); err != nil {
		reg.Unregister(m.hist)
		return nil, fmt.Errorf("netem: register metrics (one engine per registry): %w", err)
	}
	return m, nil
}

func (m *metrics) queueObserver(link, dir string) func(time.Duration) {
	if m.hist == nil {
		return nil
	}
	o := m.hist.WithLabelValues(link, dir)
	return func(d time.Duration) { o.Observe(d.Seconds()) }
}

func (m *metrics) forget(e statser) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.engines {
		if x == e {
			m.engines = append(m.engines[:i], m.engines[i+1:]...)
			return
		}
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBytes
	ch <- descPackets
	ch <- descDropped
	ch <- descRelay
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	engines := append([]statser(nil), m.engines...)
	m.mu.Unlock()
	for _, e := range engines {
		for _, s := range e.Stats() {
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.Bytes), s.Link, s.Direction)
			ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.Packets), s.Link, s.Direction)
			for _, r := range reasons {
				ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Drops[r]), s.Link, s.Direction, r)
			}
		}
		if r, ok := e.(relayStatser); ok {
			for _, h := range r.Hosts() {
				if h.remote != nil {
					ch <- prometheus.MustNewConstMetric(descRelay, prometheus.CounterValue, float64(h.RelayErrors()), h.name)
				}
			}
		}
	}
}
