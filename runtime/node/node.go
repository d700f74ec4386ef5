// Package node assembles a whole edgenode process: the model, the inference
// pipeline, the WHIP server, alert forwarding (edge) or the alert inbox
// (cloud), /metrics, and graceful drain. cmd/edgenode's serve command and
// tests that need a real node in-process both use it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgesim/edgesim/runtime/alert"
	"github.com/edgesim/edgesim/runtime/cnn"
	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/runtime/server"
	"github.com/edgesim/edgesim/wire"
)

// Modes.
const (
	ModeEdge  = "edge"
	ModeCloud = "cloud"
)

// Config is everything `edgenode serve` can be told.
type Config struct {
	Listen        string        // HTTP listen address, e.g. :8080
	NodeID        string        // name in detections, alerts and logs
	Mode          string        // edge | cloud
	Token         string        // bearer token for WHIP, admin and alert reads; empty = open
	MaxConns      int           // open HTTP connections; at the bound a new one closes the longest waiting idle one
	HeaderTimeout time.Duration // a connection must send its request headers within this
	MaxSessions   int           // concurrent WHIP sessions
	DetectFPS     float64       // inferences per second per stream; 0 = every frame
	Workers       int           // inference workers; 0 = GOMAXPROCS (follows the cgroup CPU quota)
	QueueDepth    int           // streams waiting for a worker before frames are shed
	MaxFrameAge   time.Duration // frames older than this when a worker is free are dropped as stale
	RulesFile     string        // zones and alert rules (YAML or JSON)
	Upstream      string        // cloud tier base URL for alerts; empty = do not forward
	UpstreamToken string        // bearer token for the upstream
	SpoolDir      string        // where undelivered alerts wait on disk; empty = memory only
	SpoolBound    int           // max alerts waiting
	AlertsFile    string        // cloud mode: JSONL file of received alerts
	ICE           server.ICEConfig
	ModelDir      string        // model directory; empty = the embedded default model
	DrainTimeout  time.Duration // how long SIGTERM waits for in-flight frames
}

// DefaultConfig returns the defaults of the serve command.
func DefaultConfig() Config {
	return Config{
		Listen: ":8080", NodeID: "edgenode", Mode: ModeEdge, MaxSessions: 16, DetectFPS: 5,
		QueueDepth: pipeline.DefaultQueueDepth, MaxFrameAge: pipeline.DefaultMaxAge,
		SpoolBound: alert.DefaultBound, DrainTimeout: 10 * time.Second,
		MaxConns: 256, HeaderTimeout: 3 * time.Second,
	}
}

// ErrConfig is wrapped by every configuration problem.
var ErrConfig = errors.New("bad configuration")

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...)) }
	if c.Mode != ModeEdge && c.Mode != ModeCloud {
		bad("--mode %q: use edge or cloud", c.Mode)
	}
	if c.NodeID == "" {
		bad("--node-id must not be empty")
	}
	if c.MaxSessions < 1 {
		bad("--max-sessions must be at least 1")
	}
	if c.DetectFPS < 0 {
		bad("--detect-fps must not be negative (0 = every frame)")
	}
	if c.Workers < 0 {
		bad("--workers must not be negative (0 = one per CPU)")
	}
	if c.QueueDepth < 1 {
		bad("--queue-depth must be at least 1")
	}
	if c.MaxConns < 1 {
		bad("--max-conns must be at least 1")
	}
	if c.HeaderTimeout <= 0 {
		bad("--header-timeout must be positive")
	}
	if c.SpoolBound < 1 {
		bad("--spool-bound must be at least 1")
	}
	if (c.ICE.PortMin == 0) != (c.ICE.PortMax == 0) || c.ICE.PortMin > c.ICE.PortMax {
		bad("--ice-ports %d-%d: give both ends, low-high", c.ICE.PortMin, c.ICE.PortMax)
	}
	for _, ip := range c.ICE.PublicIPs {
		if net.ParseIP(ip) == nil {
			bad("--public-ip %q is not an IP address", ip)
		}
	}
	return errors.Join(errs...)
}

// Option configures a Node.
type Option func(*Node)

// WithRegistry uses reg for /metrics (default: a new registry with Go and
// process collectors).
func WithRegistry(reg *prometheus.Registry) Option { return func(n *Node) { n.reg = reg } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// WithModel uses an already loaded model instead of Config.ModelDir (tests).
func WithModel(m pipeline.Model) Option { return func(n *Node) { n.model = m } }

// Node is one running edgenode.
type Node struct {
	cfg   Config
	reg   *prometheus.Registry
	log   *slog.Logger
	model pipeline.Model

	m      *metrics.Metrics
	p      *pipeline.Pipeline
	s      *server.Server
	fwd    *alert.Forwarder
	store  *alert.Store
	ln     net.Listener
	conns  *connLimit
	http   *http.Server
	mu     sync.Mutex
	closed bool
}

// LoadModel loads dir, or the embedded default model when dir is empty.
func LoadModel(dir string) (pipeline.Model, error) { return cnn.Load(dir) }

// New loads the model and rules, builds the pipeline and the server, and
// binds the listen address. Nothing is left running if it fails.
func New(cfg Config, opts ...Option) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(n)
	}
	if n.reg == nil {
		n.reg = prometheus.NewRegistry()
		n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	defer func() {
		if err != nil {
			n.teardown()
		}
	}()
	var rc *rules.Config
	if cfg.RulesFile != "" {
		if rc, err = rules.Load(cfg.RulesFile); err != nil {
			return nil, err
		}
	}
	if n.model == nil {
		if n.model, err = LoadModel(cfg.ModelDir); err != nil {
			return nil, err
		}
	}
	if n.m, err = metrics.New(n.reg); err != nil {
		return nil, err
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if n.p, err = pipeline.New(n.model, pipeline.WithMetrics(n.m), pipeline.WithWorkers(workers),
		pipeline.WithQueueDepth(cfg.QueueDepth), pipeline.WithMaxAge(cfg.MaxFrameAge)); err != nil {
		return nil, err
	}
	sopts := []server.Option{
		server.WithNodeID(cfg.NodeID), server.WithToken(cfg.Token), server.WithMaxSessions(cfg.MaxSessions),
		server.WithDetectFPS(cfg.DetectFPS), server.WithRules(rc), server.WithICE(cfg.ICE), server.WithLogger(n.log),
		server.WithModelLoader(func(context.Context) (pipeline.Model, error) { return LoadModel(cfg.ModelDir) }),
	}
	if cfg.Mode == ModeCloud {
		if n.store, err = alert.NewStore(alert.WithJSONL(cfg.AlertsFile), alert.WithStoreRegisterer(n.reg), alert.WithStoreToken(cfg.Token)); err != nil {
			return nil, err
		}
	}
	if cfg.Upstream != "" {
		if n.fwd, err = alert.NewForwarder(cfg.Upstream, alert.WithSpoolDir(cfg.SpoolDir), alert.WithBound(cfg.SpoolBound),
			alert.WithRegisterer(n.reg), alert.WithToken(cfg.UpstreamToken), alert.WithLogger(n.log)); err != nil {
			return nil, err
		}
	}
	if n.store != nil || n.fwd != nil {
		sopts = append(sopts, server.WithAlertSink(n.raise))
	}
	if n.s, err = server.New(n.p, n.m, sopts...); err != nil {
		return nil, err
	}
	if n.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", n.s.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	if n.store != nil {
		h := n.store.Handler()
		mux.Handle("GET /v1/alerts", wire.RequireBearer(server.Realm, cfg.Token, h))
		mux.Handle("/v1/alerts", h)
	}
	// Every request is short (the longest, an offer, waits at most for ICE
	// gathering), so the whole exchange is bounded; the connection limit
	// bounds descriptors, and the header timeout frees what a slow client
	// holds so that cameras get in.
	n.conns = newConnLimit(cfg.MaxConns)
	n.ln = n.conns.Listener(n.ln)
	n.http = &http.Server{
		Handler: mux, ReadHeaderTimeout: cfg.HeaderTimeout, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		ConnState: n.conns.ConnState,
	}
	return n, nil
}

// Exposed reports whether the bound address addr (host:port) is reachable
// from other hosts: any address but loopback.
func Exposed(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// raise takes an alert from this node's own rules: a cloud node records it
// in its own store, exactly like an alert posted by an edge node; with an
// upstream it is also queued for delivery.
func (n *Node) raise(a wire.Alert) {
	if n.store != nil {
		if _, err := n.store.Add(a); err != nil {
			n.log.Error("alert not stored", "id", a.ID, "err", err)
		}
	}
	if n.fwd != nil {
		if err := n.fwd.Enqueue(a); err != nil {
			n.log.Error("alert not queued", "id", a.ID, "err", err)
		}
	}
}

// Addr is the bound HTTP address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Server returns the WHIP server (readiness, sessions).
func (n *Node) Server() *server.Server { return n.s }

// Metrics returns the node's metrics.
func (n *Node) Metrics() *metrics.Metrics { return n.m }

// Alerts returns the cloud-mode alert store: alerts posted by edge nodes and
// the node's own (nil in edge mode).
func (n *Node) Alerts() *alert.Store { return n.store }

// Forwarder returns the alert forwarder (nil without an upstream).
func (n *Node) Forwarder() *alert.Forwarder { return n.fwd }

// Reload hot-swaps the model from the model directory.
func (n *Node) Reload(ctx context.Context) (pipeline.ModelInfo, error) { return n.s.ReloadModel(ctx) }

// Run serves until ctx ends, then drains: no new sessions, in-flight frames
// finish and their detections are sent, sessions close. Undelivered alerts
// stay in the spool directory; without one, delivery goes on until the drain
// deadline. It returns nil after a clean drain.
func (n *Node) Run(ctx context.Context) error {
	fwdCtx, stopFwd := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if n.fwd != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.fwd.Run(fwdCtx) }()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- n.http.Serve(n.ln) }()
	n.log.Info("edgenode serving", "addr", n.Addr(), "node", n.cfg.NodeID, "mode", n.cfg.Mode,
		"model", n.p.Model().String(), "workers", n.p.Workers())

	var err error
	select {
	case err = <-serveErr:
		err = fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	n.log.Info("draining")
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.DrainTimeout)
	defer cancel()
	if derr := n.s.Drain(dctx); derr != nil && err == nil {
		err = derr
	}
	_ = n.http.Shutdown(dctx)
	if n.fwd != nil && n.cfg.SpoolDir == "" {
		// memory-only queue: give the uplink until the drain deadline
		t := time.NewTicker(20 * time.Millisecond)
		for n.fwd.Pending() > 0 && dctx.Err() == nil {
			select {
			case <-t.C:
			case <-dctx.Done():
			}
		}
		t.Stop()
	}
	stopFwd()
	wg.Wait()
	n.teardown()
	return err
}

// teardown releases everything New made.
func (n *Node) teardown() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	if n.s != nil {
		_ = n.s.Close()
	}
	if n.ln != nil {
		_ = n.ln.Close()
	}
	if n.p != nil {
		_ = n.p.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
}
