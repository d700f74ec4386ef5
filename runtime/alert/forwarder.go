package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/wire"
)

// Forwarder defaults. The maximum backoff plus ProbeTimeout bound how long
// delivery takes to resume once the link heals (1.5 s).
const (
	DefaultBound      = 10000
	DefaultBatch      = 100
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 500 * time.Millisecond
	DefaultTimeout    = 5 * time.Second
	// ProbeTimeout bounds a try while the upstream is failing, so a
	// connection stalled by a partition is abandoned and the next try
	// dials afresh.
	ProbeTimeout = time.Second
)

// Clock is the forwarder's time source (inject one in tests).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

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

// WithHTTPClient sets the client.
func WithHTTPClient(c *http.Client) ForwarderOption { return func(f *Forwarder) { f.client = c } }

// WithBackoff sets the retry delays while the upstream is unreachable.
func WithBackoff(minDelay, maxDelay time.Duration) ForwarderOption {
	return func(f *Forwarder) { f.minBackoff, f.maxBackoff = minDelay, maxDelay }
}

// WithRegisterer registers the forwarder's metrics on reg.
func WithRegisterer(reg prometheus.Registerer) ForwarderOption {
	return func(f *Forwarder) { f.reg = reg }
}

// WithBatch caps the alerts sent in one POST (default DefaultBatch, at most
// MaxBatch).
func WithBatch(n int) ForwarderOption { return func(f *Forwarder) { f.batch = n } }

// WithTimeout bounds one delivery (default DefaultTimeout).
func WithTimeout(d time.Duration) ForwarderOption { return func(f *Forwarder) { f.timeout = d } }

// WithClock injects the clock timing the backoff.
func WithClock(c Clock) ForwarderOption { return func(f *Forwarder) { f.clock = c } }

// WithLogger logs delivery failures and refused alerts (default: discard).
func WithLogger(l *slog.Logger) ForwarderOption { return func(f *Forwarder) { f.log = l } }

// WithToken sends "Authorization: Bearer <token>" upstream.
func WithToken(t string) ForwarderOption { return func(f *Forwarder) { f.token = t } }

type entry struct {
	a    wire.Alert
	file string
	seq  uint64
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
	batch      int
	timeout    time.Duration
	clock      Clock
	log        *slog.Logger
	lastErr    string // Run's last failure, to log a streak once

	mu    sync.Mutex
	queue []entry
	seq   uint64
	wake  chan struct{}

	delivered prometheus.Counter
	dropped   *prometheus.CounterVec
	queued    prometheus.Gauge
	failures  *prometheus.CounterVec
}

// NewForwarder creates a forwarder to upstream (the cloud tier's base URL,
// e.g. http://10.0.0.1:8080) and loads alerts spooled by a previous run.
func NewForwarder(upstream string, opts ...ForwarderOption) (*Forwarder, error) {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q: give the cloud tier's base URL, e.g. http://10.0.0.1:8080", ErrBadUpstream, upstream)
	}
	f := &Forwarder{
		url: strings.TrimRight(upstream, "/") + "/v1/alerts", client: &http.Client{},
		bound: DefaultBound, minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, wake: make(chan struct{}, 1),
		batch: DefaultBatch, timeout: DefaultTimeout, clock: realClock{}, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(f)
	}
	if f.bound < 1 {
		return nil, fmt.Errorf("alert: spool bound must be at least 1, got %d", f.bound)
	}
	if f.batch < 1 || f.batch > MaxBatch {
		return nil, fmt.Errorf("alert: batch must be 1 to %d alerts, got %d", MaxBatch, f.batch)
	}
	if f.minBackoff <= 0 || f.maxBackoff < f.minBackoff || f.timeout <= 0 {
		return nil, fmt.Errorf("alert: backoff must satisfy 0 < min <= max and the timeout be positive, got %v, %v, %v", f.minBackoff, f.maxBackoff, f.timeout)
	}
	f.delivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "edgenode_alerts_delivered_total", Help: "Alerts accepted by the upstream (2xx)."})
	f.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgenode_alerts_dropped_total", Help: "Alerts given up, by reason (spool_full; rejected: the upstream named it invalid; invalid: refused at enqueue)."}, []string{"reason"})
	f.queued = prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgenode_alerts_queued", Help: "Alerts waiting for delivery."})
	f.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgenode_alert_delivery_failures_total", Help: "Failed delivery attempts, by upstream HTTP status or unreachable; the alerts stay queued."}, []string{"status"})
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
		f.queue = append(f.queue, entry{a: a, file: n, seq: seq})
	}
	for len(f.queue) > f.bound {
		f.dropOldestLocked()
	}
	f.queued.Set(float64(len(f.queue)))
	// Temp files left by a crash; a recent one may be another forwarder's
	// (replicas sharing a node's spool), still being written.
	tmps, _ := filepath.Glob(filepath.Join(f.dir, "*.tmp"))
	for _, t := range tmps {
		if st, err := os.Stat(t); err == nil && time.Since(st.ModTime()) > time.Minute {
			_ = os.Remove(t)
		}
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
// never blocks on the network. An alert failing wire.Alert.Validate is
// refused: the upstream would never accept it.
func (f *Forwarder) Enqueue(a wire.Alert) error {
	if err := a.Validate(); err != nil {
		f.dropped.WithLabelValues("invalid").Inc()
		return err
	}
	f.mu.Lock()
	e := entry{a: a, seq: f.seq}
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
	if err := syncDir(filepath.Dir(name)); err != nil {
		return fmt.Errorf("alert: spool: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable (a variable for tests).
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Run delivers queued alerts, oldest first and in batches, until ctx ends.
// While the upstream fails it retries with exponential backoff capped at
// the maximum, probing with one alert and a short timeout on a fresh
// connection, and a new alert cuts a long wait short, so delivery resumes
// soon after the link heals.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	size := f.batch
	for {
		if backoff > 0 && !f.sleep(ctx, backoff) {
			return nil
		}
		n := size
		if backoff > 0 {
			n = 1 // a probe
		}
		batch := f.head(n)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-f.wake:
				continue
			}
		}
		timeout := f.timeout
		if backoff > 0 {
			timeout = min(timeout, ProbeTimeout)
		}
		invalid, err := f.deliver(ctx, batch, timeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var st *statusError
			code := "unreachable"
			if errors.As(err, &st) {
				code = strconv.Itoa(st.code)
			}
			f.failures.WithLabelValues(code).Inc()
			if st != nil && st.code == http.StatusRequestEntityTooLarge && len(batch) > 1 {
				size = max(1, len(batch)/2)
				f.log.Warn("alert batch too large for the upstream, halving it", "alerts", len(batch), "err", err)
				continue
			}
			if backoff == 0 || err.Error() != f.lastErr {
				f.log.Warn("alert delivery failed, keeping the alerts queued", "queued", f.Pending(), "err", err)
			}
			f.lastErr = err.Error()
			f.client.CloseIdleConnections() // the next try dials afresh
			backoff = NextBackoff(backoff, f.minBackoff, f.maxBackoff)
			continue
		}
		if backoff > 0 {
			f.log.Info("alert delivery resumed", "queued", f.Pending())
		}
		f.lastErr = ""
		f.done(batch, invalid)
		backoff = 0
	}
}

// sleep waits d, or less once a new alert arrives; false when ctx ends.
func (f *Forwarder) sleep(ctx context.Context, d time.Duration) bool {
	deadline := f.clock.Now().Add(d)
	timer := f.clock.After(d)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer:
			return true
		case <-f.wake:
			if rest := deadline.Sub(f.clock.Now()); rest > f.minBackoff {
				deadline = f.clock.Now().Add(f.minBackoff)
				timer = f.clock.After(f.minBackoff)
			}
		}
	}
}

// head returns up to n of the oldest queued alerts.
func (f *Forwarder) head(n int) []entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]entry(nil), f.queue[:min(n, len(f.queue))]...)
}

// done removes a delivered batch (a prefix of the queue when it was taken;
// alerts dropped meanwhile for the bound are gone already) and its spool
// files. invalid names the alerts the upstream refused for good.
func (f *Forwarder) done(batch []entry, invalid map[string]string) {
	for _, e := range batch {
		if e.file != "" {
			_ = os.Remove(e.file)
		}
		if why, bad := invalid[e.a.ID]; bad {
			f.dropped.WithLabelValues("rejected").Inc()
			f.log.Error("alert refused by the upstream as invalid, dropped", "id", e.a.ID, "err", why)
			continue
		}
		f.delivered.Inc()
	}
	last := batch[len(batch)-1].seq
	f.mu.Lock()
	defer f.mu.Unlock()
	i := 0
	for i < len(f.queue) && f.queue[i].seq <= last {
		i++
	}
	f.queue = f.queue[i:]
	f.queued.Set(float64(len(f.queue)))
}

// statusError is an upstream answer that does not settle the batch.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("alert: upstream answered %d: %s", e.code, e.body)
}

// deliver posts a batch. It returns nil when the upstream recorded every
// alert except those it names invalid (a 422 Rejection naming alerts of
// this batch); any other answer is an error and the batch stays queued.
func (f *Forwarder) deliver(ctx context.Context, batch []entry, timeout time.Duration) (map[string]string, error) {
	as := make([]wire.Alert, len(batch))
	for i, e := range batch {
		as[i] = e.a
	}
	b, err := json.Marshal(as)
	if err != nil {
		return nil, fmt.Errorf("alert: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	switch {
	case err != nil:
		return nil, fmt.Errorf("alert: reading the upstream's answer: %w", err)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil, nil
	case resp.StatusCode == http.StatusUnprocessableEntity:
		if invalid := namedInvalid(body, as); len(invalid) > 0 {
			return invalid, nil
		}
	}
	return nil, &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(body[:min(len(body), 200)]))}
}

// namedInvalid returns the alerts of as a Rejection body names.
func namedInvalid(body []byte, as []wire.Alert) map[string]string {
	var rej Rejection
	if json.Unmarshal(body, &rej) != nil {
		return nil
	}
	sent := make(map[string]bool, len(as))
	for _, a := range as {
		sent[a.ID] = true
	}
	out := map[string]string{}
	for _, r := range rej.Invalid {
		if sent[r.ID] {
			out[r.ID] = r.Error
		}
	}
	return out
}

// NextBackoff is the wait after a failed try that followed a wait of prev
// (0: the first failure): doubling from lo, at most hi. The fleet
// simulator retries lost alerts with it too.
func NextBackoff(prev, lo, hi time.Duration) time.Duration {
	return min(max(prev*2, lo), hi)
}
