package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/wire"
)

// Forwarder defaults.
const (
	DefaultBound      = 10000
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// ErrBadUpstream is returned for an unusable upstream URL.
var ErrBadUpstream = errors.New("alert: bad upstream URL")

// ForwarderOption configures a Forwarder.
type ForwarderOption func(*Forwarder)

// WithSpoolDir persists queued alerts in dir (one file each) so they survive
// a restart; without it the queue lives in memory only.
func WithSpoolDir(dir string) ForwarderOption { return func(f *Forwarder) { f.dir = dir } }

// WithBound caps the queue (default 10000); beyond it the oldest alert is
// dropped and counted.
func WithBound(n int) ForwarderOption { return func(f *Forwarder) { f.bound = n } }

// WithHTTPClient sets the client (default: 5 s timeout).
func WithHTTPClient(c *http.Client) ForwarderOption { return func(f *Forwarder) { f.client = c } }

// WithBackoff sets the retry delays while the upstream is unreachable.
func WithBackoff(minDelay, maxDelay time.Duration) ForwarderOption {
	return func(f *Forwarder) { f.minBackoff, f.maxBackoff = minDelay, maxDelay }
}

// WithRegisterer registers the forwarder's metrics on reg.
func WithRegisterer(reg prometheus.Registerer) ForwarderOption {
	return func(f *Forwarder) { f.reg = reg }
}

// WithToken sends "Authorization: Bearer <token>" upstream.
func WithToken(t string) ForwarderOption { return func(f *Forwarder) { f.token = t } }

type entry struct {
	a    wire.Alert
	file string
}

// Forwarder delivers alerts to <upstream>/v1/alerts in order, keeping them
// in a bounded, optionally disk-backed queue while the uplink is down.
type Forwarder struct {
	url        string
	client     *http.Client
	dir        string
	bound      int
	minBackoff time.Duration
	maxBackoff time.Duration
	token      string
	reg        prometheus.Registerer

	mu    sync.Mutex
	queue []entry
	seq   uint64
	wake  chan struct{}

	delivered prometheus.Counter
	dropped   *prometheus.CounterVec
	queued    prometheus.Gauge
	failures  prometheus.Counter
}

// NewForwarder creates a forwarder to upstream (the cloud tier's base URL,
// e.g. http://10.0.0.1:8080) and loads alerts spooled by a previous run.
func NewForwarder(upstream string, opts ...ForwarderOption) (*Forwarder, error) {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q: give the cloud tier's base URL, e.g. http://10.0.0.1:8080", ErrBadUpstream, upstream)
	}
	f := &Forwarder{
		url: strings.TrimRight(upstream, "/") + "/v1/alerts", client: &http.Client{Timeout: 5 * time.Second},
		bound: DefaultBound, minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, wake: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(f)
	}
	if f.bound < 1 {
		return nil, fmt.Errorf("alert: spool bound must be at least 1, got %d", f.bound)
	}
	f.delivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "edgenode_alerts_delivered_total", Help: "Alerts accepted by the upstream (2xx)."})
	f.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgenode_alerts_dropped_total", Help: "Alerts given up, by reason (spool_full, rejected)."}, []string{"reason"})
	f.queued = prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgenode_alerts_queued", Help: "Alerts waiting for delivery."})
	f.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "edgenode_alert_delivery_failures_total", Help: "Failed delivery attempts (retried)."})
	if f.reg != nil {
		for _, c := range []prometheus.Collector{f.delivered, f.dropped, f.queued, f.failures} {
			if err := f.reg.Register(c); err != nil {
				return nil, fmt.Errorf("alert: register metrics: %w", err)
			}
		}
	}
	if f.dir != "" {
		if err := f.load(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (f *Forwarder) load() error {
	if err := os.MkdirAll(f.dir, 0o750); err != nil {
		return fmt.Errorf("alert: spool dir: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(f.dir, "*.json"))
	if err != nil {
		return fmt.Errorf("alert: spool dir: %w", err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		var a wire.Alert
		if err == nil {
			err = json.Unmarshal(b, &a)
		}
		if err != nil {
			_ = os.Remove(n) // a torn write from a crash; nothing to deliver
			continue
		}
		var seq uint64
		_, _ = fmt.Sscanf(filepath.Base(n), "%020d-", &seq)
		if seq >= f.seq {
			f.seq = seq + 1
		}
		f.queue = append(f.queue, entry{a: a, file: n})
	}
	for len(f.queue) > f.bound {
		f.dropOldestLocked()
	}
	f.queued.Set(float64(len(f.queue)))
	// leftover temp files
	tmps, _ := filepath.Glob(filepath.Join(f.dir, "*.tmp"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return nil
}

// Pending returns the number of alerts waiting for delivery.
func (f *Forwarder) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// Enqueue queues an alert for delivery (and writes it to the spool). It
// never blocks on the network.
func (f *Forwarder) Enqueue(a wire.Alert) error {
	f.mu.Lock()
	e := entry{a: a}
	if f.dir != "" {
		name := filepath.Join(f.dir, fmt.Sprintf("%020d-%s.json", f.seq, unsafeChars.ReplaceAllString(a.ID, "_")))
		if err := writeFile(name, a); err != nil {
			f.mu.Unlock()
			return err
		}
		e.file = name
	}
	f.seq++
	f.queue = append(f.queue, e)
	for len(f.queue) > f.bound {
		f.dropOldestLocked()
	}
	f.queued.Set(float64(len(f.queue)))
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

func (f *Forwarder) dropOldestLocked() {
	old := f.queue[0]
	f.queue = f.queue[1:]
	if old.file != "" {
		_ = os.Remove(old.file)
	}
	f.dropped.WithLabelValues("spool_full").Inc()
}

func writeFile(name string, a wire.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("alert: encode: %w", err)
	}
	tmp := name + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("alert: spool: %w", err)
	}
	_, err = fh.Write(b)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("alert: spool: %w", err)
	}
	return nil
}

// Run delivers queued alerts, oldest first, until ctx ends. While the
// upstream fails it retries with exponential backoff.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		f.mu.Lock()
		var head *entry
		if len(f.queue) > 0 {
			e := f.queue[0]
			head = &e
		}
		f.mu.Unlock()
		if head == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-f.wake:
				continue
			}
		}
		err := f.deliver(ctx, head.a)
		var perm *permanentError
		switch {
		case err == nil || errors.As(err, &perm):
			f.mu.Lock()
			if len(f.queue) > 0 && f.queue[0].a.ID == head.a.ID && f.queue[0].file == head.file {
				f.queue = f.queue[1:]
			}
			f.queued.Set(float64(len(f.queue)))
			f.mu.Unlock()
			if head.file != "" {
				_ = os.Remove(head.file)
			}
			if err == nil {
				f.delivered.Inc()
			} else {
				f.dropped.WithLabelValues("rejected").Inc()
			}
			backoff = 0
		default:
			if ctx.Err() != nil {
				return nil
			}
			f.failures.Inc()
			backoff = min(max(backoff*2, f.minBackoff), f.maxBackoff)
		}
	}
}

type permanentError struct{ code int }

func (e *permanentError) Error() string {
	return fmt.Sprintf("alert: upstream refused with %d", e.code)
}

func (f *Forwarder) deliver(ctx context.Context, a wire.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return &permanentError{code: 0}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &permanentError{code: resp.StatusCode}
	default:
		return fmt.Errorf("alert: upstream answered %d", resp.StatusCode)
	}
}
