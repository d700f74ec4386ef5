// Package server is the edgenode HTTP and WebRTC front end: a WHIP endpoint
// (RFC 9725) that receives VP8 camera streams, decodes them with libvpx,
// feeds the inference pipeline, tracks objects, evaluates zone/dwell rules,
// and answers each inferred frame with detections on the camera's data
// channel (contract C3). It also serves /healthz, /readyz and model hot-swap.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"

	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/wire"
)

// Errors.
var (
	ErrBadConfig = errors.New("server: bad configuration")
	ErrDraining  = errors.New("server: draining")
)

// ICEConfig selects where the node accepts WebRTC media.
type ICEConfig struct {
	PortMin, PortMax uint16   // UDP port range; 0,0 = ephemeral
	Interfaces       []string // only these interfaces; empty = all
	PublicIPs        []string // 1:1 NAT: announce these IPs instead of the host ones
	IncludeLoopback  bool     // offer loopback candidates (tests, single-host setups)
	// RemoteNets limits the camera addresses ICE pairs with (including
	// peer-reflexive ones); empty = any.
	RemoteNets  []netip.Prefix
	DisableMDNS bool // do not use or answer mDNS candidates
}

// ModelLoader loads the model to hot-swap to.
type ModelLoader func(ctx context.Context) (pipeline.Model, error)

// Option configures a Server.
type Option func(*Server)

// WithNodeID names the node in detections and alerts.
func WithNodeID(id string) Option { return func(s *Server) { s.nodeID = id } }

// WithToken requires "Authorization: Bearer <token>" on WHIP and admin
// requests: without it anyone who reaches the node can publish (and ICE then
// pairs with whatever addresses the offer names) or swap the model.
func WithToken(t string) Option { return func(s *Server) { s.token = t } }

// WithMaxSessions bounds concurrent WHIP sessions (default 16); more are
// answered 503 with Retry-After.
func WithMaxSessions(n int) Option { return func(s *Server) { s.maxSessions = n } }

// WithDetectFPS sets the per-stream inference rate; 0 infers every frame.
func WithDetectFPS(fps float64) Option { return func(s *Server) { s.detectFPS = fps } }

// WithRules sets the zones and alert rules.
func WithRules(c *rules.Config) Option { return func(s *Server) { s.rules = c } }

// WithAlertSink receives every alert raised (e.g. a Forwarder's Enqueue).
func WithAlertSink(f func(wire.Alert)) Option { return func(s *Server) { s.alertSink = f } }

// WithICE sets ports, interfaces and public IPs for ICE.
func WithICE(c ICEConfig) Option { return func(s *Server) { s.ice = c } }

// WithClock injects the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithModelLoader enables hot-swap through POST /admin/model and ReloadModel.
func WithModelLoader(l ModelLoader) Option { return func(s *Server) { s.loader = l } }

// WithGatherTimeout bounds ICE gathering before the answer is sent (default 5 s).
func WithGatherTimeout(d time.Duration) Option { return func(s *Server) { s.gatherTimeout = d } }

// WithConnectTimeout bounds how long an answered session may take to
// connect (ICE and DTLS) before it is closed and its slot freed (default
// 10 s). While every slot is taken, a new offer also evicts the oldest
// session that has not connected yet.
func WithConnectTimeout(d time.Duration) Option { return func(s *Server) { s.connectTimeout = d } }

// WithIdleTimeout closes a connected session that has received no video
// packet for this long (default 15 s); 0 keeps idle sessions.
func WithIdleTimeout(d time.Duration) Option { return func(s *Server) { s.idleTimeout = d } }

// WithMaxCameraSeries bounds the distinct values of the camera label in
// the metrics (default 64); sessions beyond are counted as camera "other".
// A camera's series are deleted when its last session ends.
func WithMaxCameraSeries(n int) Option { return func(s *Server) { s.maxCameraSeries = n } }

// WithRetryAfter sets the Retry-After seconds sent with 503 (default 5).
func WithRetryAfter(sec int) Option { return func(s *Server) { s.retryAfter = sec } }

// Server is the WHIP front end. Create with New; Handler serves HTTP; Drain
// and Close end it.
type Server struct {
	p             *pipeline.Pipeline
	m             *metrics.Metrics
	nodeID        string
	token         string
	maxSessions   int
	detectFPS     float64
	rules         *rules.Config
	alertSink     func(wire.Alert)
	ice           ICEConfig
	now           func() time.Time
	log           *slog.Logger
	loader        ModelLoader
	gatherTimeout time.Duration
	retryAfter    int
	// session time bounds
	connectTimeout, idleTimeout time.Duration
	maxCameraSeries             int

	api      *webrtc.API
	mu       sync.Mutex
	sessions map[string]*session
	series   map[string]int // sessions per camera label in the metrics
	draining atomic.Bool
	reloadMu sync.Mutex
}

// New builds the server around a running pipeline and its metrics.
func New(p *pipeline.Pipeline, m *metrics.Metrics, opts ...Option) (*Server, error) {
	if p == nil || m == nil {
		return nil, fmt.Errorf("%w: pipeline and metrics are required", ErrBadConfig)
	}
	s := &Server{
		p: p, m: m, nodeID: "edgenode", maxSessions: 16, now: time.Now,
		log: slog.New(slog.DiscardHandler), gatherTimeout: 5 * time.Second, retryAfter: 5,
		sessions: map[string]*session{}, series: map[string]int{},
		connectTimeout: 10 * time.Second, idleTimeout: 15 * time.Second, maxCameraSeries: 64,
	}
	for _, o := range opts {
		o(s)
	}
	if s.maxSessions < 1 {
		return nil, fmt.Errorf("%w: max sessions must be at least 1", ErrBadConfig)
	}
	if s.connectTimeout <= 0 || s.idleTimeout < 0 {
		return nil, fmt.Errorf("%w: connect timeout must be positive and idle timeout not negative", ErrBadConfig)
	}
	if s.maxCameraSeries < 1 {
		return nil, fmt.Errorf("%w: max camera series must be at least 1", ErrBadConfig)
	}
	if s.detectFPS < 0 {
		return nil, fmt.Errorf("%w: detect fps must not be negative", ErrBadConfig)
	}
	api, err := s.newAPI()
	if err != nil {
		return nil, err
	}
	s.api = api
	return s, nil
}

func (s *Server) newAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("server: register VP8: %w", err)
	}
	ir := &interceptor.Registry{}
	// NACKs at the interval the capacity planner's simulator assumes.
	nackEvery := webrtc.WithNackGeneratorOptions(nack.GeneratorInterval(pipeline.NACKInterval))
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, nackEvery); err != nil {
		return nil, fmt.Errorf("server: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	c := s.ice
	if c.PortMin != 0 || c.PortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(c.PortMin, c.PortMax); err != nil {
			return nil, fmt.Errorf("%w: ICE port range %d-%d: %w", ErrBadConfig, c.PortMin, c.PortMax, err)
		}
	}
	if len(c.Interfaces) > 0 {
		allowed := map[string]bool{}
		for _, i := range c.Interfaces {
			allowed[i] = true
		}
		se.SetInterfaceFilter(func(name string) bool { return allowed[name] })
	}
	if len(c.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: c.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("%w: public IPs %v: %w", ErrBadConfig, c.PublicIPs, err)
		}
	}
	se.SetIncludeLoopbackCandidate(c.IncludeLoopback)
	if len(c.RemoteNets) > 0 {
		nets := append([]netip.Prefix(nil), c.RemoteNets...)
		se.SetRemoteIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			if !ok {
				return false
			}
			a = a.Unmap()
			for _, n := range nets {
				if n.Contains(a) {
					return true
				}
			}
			return false
		})
	}
	if c.DisableMDNS {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Handler serves WHIP (/whip, /whip/{id}), /healthz, /readyz and
// /admin/model.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("OPTIONS /whip", s.handleOptions)
	mux.HandleFunc("POST /whip", s.handlePost)
	mux.HandleFunc("OPTIONS /whip/{id}", s.handleOptions)
	mux.HandleFunc("DELETE /whip/{id}", s.handleDelete)
	mux.HandleFunc("PATCH /whip/{id}", s.handlePatch)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("POST /admin/model", sameOrigin(http.HandlerFunc(s.handleReload)))
	return mux
}

// Ready reports whether the node takes another stream: a model is loaded,
// it is not draining, and sessions and the inference queue have room. The
// reason says why not.
func (s *Server) Ready() (bool, string) {
	if s.draining.Load() {
		return false, "draining"
	}
	if s.Sessions() >= s.maxSessions {
		return false, "session limit reached"
	}
	if !s.p.HasCapacity() {
		return false, "inference queue full"
	}
	return true, "model " + s.p.Model().String()
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	ok, why := s.Ready()
	w.Header().Set("Content-Type", "text/plain")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(why + "\n"))
}

// Remotes returns the address of each connected camera by camera id.
func (s *Server) Remotes() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, ss := range s.sessions {
		if a, ok := ss.remote.Load().(string); ok {
			out[ss.camera] = a
		}
	}
	return out
}

// Sessions returns the number of open WHIP sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// ReloadModel loads the model again through the ModelLoader and swaps it in
// without interrupting streams.
func (s *Server) ReloadModel(ctx context.Context) (pipeline.ModelInfo, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.loader == nil {
		return pipeline.ModelInfo{}, fmt.Errorf("%w: no model loader configured", ErrBadConfig)
	}
	m, err := s.loader(ctx)
	if err == nil {
		err = s.p.SwapModel(m)
	}
	if err != nil {
		s.m.ModelReloads.WithLabelValues("failure").Inc()
		s.log.Warn("model reload failed, keeping the current model", "err", err, "model", s.p.Model().String())
		return s.p.Model(), err
	}
	s.m.ModelReloads.WithLabelValues("success").Inc()
	s.log.Info("model reloaded", "model", m.Info().String())
	return m.Info(), nil
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	info, err := s.ReloadModel(r.Context())
	if err != nil {
		http.Error(w, "model reload failed, still serving "+info.String()+": "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("serving " + info.String() + "\n"))
}

// Drain stops taking sessions (readyz turns 503, offers get 503), lets the
// pipeline finish the frames it accepted, sends their detections, and then
// closes every session. It returns when done or when ctx ends.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	err := s.p.Drain(ctx)
	if err == nil {
		err = s.waitDelivered(ctx)
	}
	s.closeAll()
	return err
}

// Close closes every session at once.
func (s *Server) Close() error {
	s.draining.Store(true)
	s.closeAll()
	return nil
}

// sessionList is a snapshot of the open sessions.
func (s *Server) sessionList() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	return all
}

// waitDelivered waits until every session has sent what was inferred.
func (s *Server) waitDelivered(ctx context.Context) error {
	all := s.sessionList()
	for _, ss := range all {
		done := make(chan struct{})
		go func() { ss.pending.Wait(); close(done) }()
		select {
		case <-done:
		case <-ss.done:
		case <-ctx.Done():
			return fmt.Errorf("server: drain: %w", ctx.Err())
		}
	}
	return nil
}

func (s *Server) closeAll() {
	all := s.sessionList()
	for _, ss := range all {
		ss.close()
	}
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
