// Package fakecam is a synthetic camera fleet: each camera renders a
// deterministic scene (fakecam/scene), encodes it as VP8 with libvpx
// (fakecam/vp8) and publishes it over WebRTC with WHIP (RFC 9725). Before
// every frame it sends the frame's id, RTP timestamp and capture time on the
// "edgesim" data channel; the receiver answers with detections on the same
// channel and the camera measures glass-to-detection latency on its own
// clock, counts frames that were never answered, and reconnects (to the next
// endpoint of its list) when the connection is lost.
package fakecam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/wire"
)

// Reconnect records one lost connection and how long it took to publish again.
type Reconnect struct {
	At       time.Time `json:"at"`       // when the loss was noticed
	Reason   string    `json:"reason"`   // e.g. "ICE/DTLS failed", "data channel closed"
	From     string    `json:"from"`     // endpoint that was lost
	To       string    `json:"to"`       // endpoint connected again ("" if still trying)
	TookMS   float64   `json:"took_ms"`  // from At to connected again
	Attempts int       `json:"attempts"` // connection attempts
	LastErr  string    `json:"last_error,omitempty"`
}

// Latency summarises glass-to-detection latencies in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Stats are a camera's counters.
type Stats struct {
	Camera           string        `json:"camera"`
	Endpoint         string        `json:"endpoint"` // current (or last) endpoint
	Connected        bool          `json:"connected"`
	FramesCaptured   uint64        `json:"frames_captured"`
	FramesSent       uint64        `json:"frames_sent"`
	FramesAnswered   uint64        `json:"frames_answered"`
	FramesUnanswered uint64        `json:"frames_unanswered"` // sent or not, never answered in time
	FramesNotSent    uint64        `json:"frames_not_sent"`   // captured while disconnected
	FramesSkipped    uint64        `json:"frames_skipped"`    // ticks missed because encoding fell behind
	LateAnswers      uint64        `json:"late_answers"`      // answers after the answer timeout or for unknown frames
	Keyframes        uint64        `json:"keyframes"`
	KeyframeRequests uint64        `json:"keyframe_requests"` // PLI/FIR received
	BytesSent        uint64        `json:"bytes_sent"`        // RTP bytes
	BitrateBPS       float64       `json:"bitrate_bps"`       // mean RTP bitrate while connected
	TargetBPS        int           `json:"target_bps"`        // current encoder target
	EncodeMS         float64       `json:"encode_ms"`         // mean render+encode time per frame
	Latency          Latency       `json:"latency"`
	Reconnects       []Reconnect   `json:"reconnects"`
	Events           []scene.Event `json:"events,omitempty"` // the scripted events and their windows
	Error            string        `json:"error,omitempty"`
}

type pendingFrame struct {
	frame   uint64
	rtp     uint32
	capture time.Time
	sent    bool
}

// bitrateLine is one line of bitrate-<camera>.jsonl, written every second.
type bitrateLine struct {
	TMS         float64 `json:"t_ms"` // since the camera started
	TargetBPS   int     `json:"target_bps"`
	EstimateBPS int     `json:"estimate_bps"` // congestion controller, 0 if unknown
	SentBPS     float64 `json:"sent_bps"`     // RTP bits sent in the last second
}

// Camera is one synthetic camera. Create it with NewCamera, run it with Run.
type Camera struct {
	cfg   Config
	o     options
	sc    *scene.Scene
	fps   float64
	w, h  int
	whip  *WHIPClient // first connection, with retries
	whip1 *WHIPClient // reconnects, one attempt per endpoint
	m     *metrics

	mu         sync.Mutex
	st         Stats
	lat        []float64
	pending    map[uint64]*pendingFrame
	byRTP      map[uint32]uint64
	cur        *session
	encodeSum  time.Duration
	sendStart  time.Time
	sendTime   time.Duration
	out        *outputs
	rtpBase    uint32
	rng        *rand.Rand
	answered   chan struct{} // signalled when pending becomes empty at stop
	stopping   bool
	lastAnswer time.Time
}

// NewCamera validates cfg and prepares a camera.
func NewCamera(cfg Config, opts ...Option) (*Camera, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.KeyframeInterval == 0 {
		cfg.KeyframeInterval = max(1, int(10*cfg.Scene.FPS+0.5))
	}
	seed := uint64(cfg.Scene.Seed)
	for _, b := range []byte(cfg.ID) {
		seed = seed*1099511628211 ^ uint64(b)
	}
	c := &Camera{cfg: cfg, o: o, rng: rand.New(rand.NewPCG(seed, 0x636d))}
	c.st.Camera = cfg.ID
	c.st.Events = cfg.Scene.Events
	c.rtpBase = c.rng.Uint32()
	if cfg.IVF == "" {
		sc := cfg.Scene
		if sc.CameraID == "" {
			sc.CameraID = cfg.ID
		}
		var err error
		if c.sc, err = scene.New(sc); err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrInvalidConfig, cfg.ID, err)
		}
		c.fps, c.w, c.h = c.sc.Config().FPS, sc.Width, sc.Height
	}
	hc := o.httpClient
	if hc == nil {
		// A camera is a device of its own, with connections of its own.
		// Sharing one pool, the cameras of a fleet would send their
		// offers down one keep-alive connection, which a Kubernetes
		// Service balances once: every session of the fleet would land
		// on one replica of the edgenode.
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c.whip = &WHIPClient{HTTP: hc, Token: cfg.Token, Retry: o.retry, rand: rand.New(rand.NewPCG(seed, 1))}
	r1 := o.retry
	r1.Attempts = 1
	c.whip1 = &WHIPClient{HTTP: hc, Token: cfg.Token, Retry: r1}
	var err error
	if c.m, err = newMetrics(o.reg); err != nil {
		return nil, err
	}
	return c, nil
}

// ID returns the camera id.
func (c *Camera) ID() string { return c.cfg.ID }

// Scene returns the camera's scene (nil when replaying an IVF file).
func (c *Camera) Scene() *scene.Scene { return c.sc }

// Stats returns a snapshot of the camera's counters.
func (c *Camera) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Reconnects = append([]Reconnect(nil), c.st.Reconnects...)
	s.Events = append([]scene.Event(nil), c.st.Events...)
	s.Latency = summarize(c.lat)
	s.Connected = c.cur != nil
	sendTime := c.sendTime
	if c.cur != nil && !c.sendStart.IsZero() {
		sendTime += c.o.clock.Now().Sub(c.sendStart)
	}
	if sendTime > 0 {
		s.BitrateBPS = float64(s.BytesSent) * 8 / sendTime.Seconds()
	}
	if n := s.FramesSent; n > 0 {
		s.EncodeMS = float64(c.encodeSum.Microseconds()) / 1000 / float64(n)
	}
	return s
}

func summarize(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	q := func(p float64) float64 { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Latency{Count: len(s), Mean: sum / float64(len(s)), P50: q(0.5), P95: q(0.95), P99: q(0.99), Max: s[len(s)-1]}
}

// Run streams until ctx ends or Config.Duration of video has been sent,
// then ends the WHIP session, flushes the output files and returns. It
// returns an error only if the camera could not start (bad IVF file, output
// directory, or no endpoint accepted the first connection).
func (c *Camera) Run(ctx context.Context) (err error) {
	defer c.whip.client().CloseIdleConnections() // the camera's own: see NewCamera
	src, err := c.openSource()
	if err != nil {
		c.setError(err)
		return err
	}
	defer src.close()
	if c.o.outDir != "" {
		if c.out, err = openOutputs(c.o.outDir, c.cfg.ID, c.sc != nil); err != nil {
			c.setError(err)
			return err
		}
		defer func() {
			if cerr := c.out.close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	ses, idx, err := c.connectFirst(ctx)
	if err != nil {
		c.setError(err)
		return err
	}
	c.setSession(ses, c.cfg.Endpoints[idx])

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.supervise(runCtx, ses, idx)
	}()
	c.stream(runCtx, src)
	c.mu.Lock()
	if !c.sendStart.IsZero() { // the bitrate counts streaming time, not the drain
		c.sendTime += c.o.clock.Now().Sub(c.sendStart)
		c.sendStart = time.Time{}
	}
	c.mu.Unlock()
	cancel()
	wg.Wait()
	c.drain()
	c.mu.Lock()
	last := c.cur
	c.cur = nil
	if !c.sendStart.IsZero() {
		c.sendTime += c.o.clock.Now().Sub(c.sendStart)
		c.sendStart = time.Time{}
	}
	c.mu.Unlock()
	if last != nil {
		closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		_ = last.close(closeCtx)
		cancelClose()
	}
	return nil
}

func (c *Camera) openSource() (source, error) {
	if c.sc != nil {
		return newSceneSource(c.sc, int(c.cfg.Bitrate), c.cfg.KeyframeInterval, c.cfg.EncoderSpeed)
	}
	s, err := loadIVF(c.cfg.IVF)
	if err != nil {
		return nil, err
	}
	c.w, c.h, c.fps = s.width, s.height, s.fps
	if c.fps == 0 {
		c.fps = c.cfg.Scene.FPS
	}
	if !(c.fps >= 0.1 && c.fps <= 240) {
		c.fps = 10 // neither the file nor the config says
	}
	s.target = int(c.cfg.Bitrate)
	return s, nil
}

func (c *Camera) setError(err error) {
	c.mu.Lock()
	c.st.Error = err.Error()
	c.mu.Unlock()
}

func (c *Camera) params(idx int, whip *WHIPClient) (sessionParams, error) {
	ep, err := withCamera(c.cfg.Endpoints[idx], c.cfg.ID)
	if err != nil {
		return sessionParams{}, err
	}
	return sessionParams{
		cameraID:     c.cfg.ID,
		endpoint:     ep,
		bitrate:      int(c.cfg.Bitrate),
		whip:         whip,
		setting:      c.o.setting,
		iceTimeouts:  c.o.iceTimeouts,
		onKeyRequest: c.onKeyRequest,
		onMessage:    c.onMessage,
		logger:       pionLogger(c.o.pionLog),
	}, nil
}

// connectFirst tries every endpoint in order (each with retries).
func (c *Camera) connectFirst(ctx context.Context) (*session, int, error) {
	var errs []error
	for i := range c.cfg.Endpoints {
		p, err := c.params(i, c.whip)
		if err != nil {
			return nil, 0, err
		}
		s, err := dial(ctx, p, uint16(c.rng.Uint32()))
		if err == nil {
			return s, i, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, fmt.Errorf("camera %s: no WHIP endpoint accepted the stream: %w", c.cfg.ID, errors.Join(errs...))
}

// supervise waits for the current session to fail, then reconnects to the
// next endpoints in turn, with backoff after each full round, until it
// succeeds or ctx ends.
func (c *Camera) supervise(ctx context.Context, ses *session, idx int) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ses.Failed():
		}
		from := c.cfg.Endpoints[idx]
		rec := Reconnect{At: c.o.clock.Now(), Reason: ses.Reason(), From: from}
		seq := ses.nextSeq()
		c.mu.Lock()
		c.cur = nil
		if !c.sendStart.IsZero() {
			c.sendTime += rec.At.Sub(c.sendStart)
			c.sendStart = time.Time{}
		}
		c.mu.Unlock()
		c.m.reconnects.WithLabelValues(c.cfg.ID).Inc()
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = ses.close(closeCtx) // the old server may be gone: best effort DELETE
		cancel()

		backoff := c.o.retry.Initial
		if backoff <= 0 {
			backoff = DefaultRetry().Initial
		}
		for ses = nil; ses == nil; {
			for range c.cfg.Endpoints {
				if ctx.Err() != nil {
					c.recordReconnect(rec)
					return
				}
				idx = (idx + 1) % len(c.cfg.Endpoints)
				rec.Attempts++
				p, err := c.params(idx, c.whip1)
				if err == nil {
					var s *session
					if s, err = dial(ctx, p, seq); err == nil {
						ses = s
						break
					}
				}
				rec.LastErr = err.Error()
			}
			if ses != nil {
				break
			}
			select {
			case <-ctx.Done():
				c.recordReconnect(rec)
				return
			case <-c.o.clock.After(c.whip.jitter(backoff)):
			}
			backoff = min(2*backoff, max(c.o.retry.Max, backoff))
		}
		rec.To = c.cfg.Endpoints[idx]
		rec.TookMS = float64(c.o.clock.Now().Sub(rec.At).Microseconds()) / 1000
		rec.LastErr = ""
		c.recordReconnect(rec)
		c.setSession(ses, rec.To)
	}
}

func (c *Camera) recordReconnect(r Reconnect) {
	c.mu.Lock()
	c.st.Reconnects = append(c.st.Reconnects, r)
	c.mu.Unlock()
}

func (c *Camera) setSession(s *session, endpoint string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = s
	c.st.Endpoint = endpoint
	c.sendStart = c.o.clock.Now()
	s.needKey.Store(true)
}

func (c *Camera) onKeyRequest() {
	c.mu.Lock()
	c.st.KeyframeRequests++
	s := c.cur
	c.mu.Unlock()
	if s != nil {
		s.needKey.Store(true)
	}
}

// stream captures frames at the frame rate until ctx ends or the duration is reached.
func (c *Camera) stream(ctx context.Context, src source) {
	period := time.Duration(float64(time.Second) / c.fps)
	if c.o.startOffset > 0 {
		select {
		case <-ctx.Done():
			return
		case <-c.o.clock.After(c.o.startOffset):
		}
	}
	start := c.o.clock.Now()
	tk := c.o.clock.NewTicker(period)
	defer tk.Stop()
	last := -1
	nextReport := time.Second
	var bytesAtReport uint64
	now := start
	for {
		i := int(math.Round(float64(now.Sub(start)) / float64(period)))
		if i > last {
			if c.cfg.Duration > 0 && time.Duration(float64(i)*float64(period)) >= c.cfg.Duration {
				return
			}
			if last >= 0 && i > last+1 {
				c.mu.Lock()
				c.st.FramesSkipped += uint64(i - last - 1)
				c.mu.Unlock()
			}
			last = i
			if !c.capture(ctx, src, i, now) {
				return
			}
			c.expire(now)
		}
		if el := now.Sub(start); el >= nextReport {
			c.mu.Lock()
			sent := c.st.BytesSent
			est := 0
			if c.cur != nil {
				est = c.cur.estimate()
			}
			c.mu.Unlock()
			c.out.writeBitrate(bitrateLine{TMS: float64(el.Milliseconds()), TargetBPS: src.bitrate(), EstimateBPS: est,
				SentBPS: float64(sent-bytesAtReport) * 8})
			bytesAtReport = sent
			nextReport += time.Second
		}
		select {
		case <-ctx.Done():
			return
		case now = <-tk.C():
		}
	}
}

// capture takes frame i at time t: renders and encodes it on a worker and
// sends it if connected. It returns false if ctx ended.
func (c *Camera) capture(ctx context.Context, src source, i int, t time.Time) bool {
	rtpTS := c.rtpBase + uint32(math.Round(float64(i)*90000/c.fps))
	c.mu.Lock()
	s := c.cur
	c.st.FramesCaptured++
	c.mu.Unlock()
	c.m.captured.WithLabelValues(c.cfg.ID).Inc()

	if s == nil {
		src.unsent()
		c.writeGroundTruth(src.groundTruth(i), i, rtpTS, t)
		c.mu.Lock()
		c.st.FramesNotSent++
		c.st.FramesUnanswered++
		c.mu.Unlock()
		c.m.unanswered.WithLabelValues(c.cfg.ID).Inc()
		c.out.writeLatency(wire.LatencyLine{Frame: uint64(i), RTP: rtpTS, CaptureUS: t.UnixMicro()})
		return true
	}
	// bitrate follows the congestion controller, capped by the configured target
	target := int(c.cfg.Bitrate)
	if est := s.estimate(); est > 0 && est < target {
		target = est
	}
	if target != src.bitrate() {
		src.setBitrate(target)
	}
	if c.o.pool != nil {
		select {
		case c.o.pool <- struct{}{}:
		case <-ctx.Done():
			return false
		}
	}
	t0 := time.Now()
	needKey := s.needKey.Swap(false)
	data, key, gt, err := src.frame(i, needKey)
	took := time.Since(t0)
	if c.o.pool != nil {
		<-c.o.pool
	}
	if gt == nil {
		gt = src.groundTruth(i)
	}
	c.writeGroundTruth(gt, i, rtpTS, t)
	if err != nil || data == nil {
		if needKey {
			s.needKey.Store(true)
		}
		c.mu.Lock()
		c.st.FramesNotSent++
		c.st.FramesUnanswered++
		if err != nil {
			c.st.Error = err.Error()
		}
		c.mu.Unlock()
		c.out.writeLatency(wire.LatencyLine{Frame: uint64(i), RTP: rtpTS, CaptureUS: t.UnixMicro()})
		return true
	}
	p := &pendingFrame{frame: uint64(i), rtp: rtpTS, capture: t, sent: true}
	c.mu.Lock()
	if c.pending == nil {
		c.pending, c.byRTP = map[uint64]*pendingFrame{}, map[uint32]uint64{}
	}
	c.pending[p.frame] = p
	c.byRTP[rtpTS] = p.frame
	c.encodeSum += took
	c.mu.Unlock()
	n, err := s.sendFrame(wire.FrameMessage{Type: wire.TypeFrame, Frame: uint64(i), RTP: rtpTS, CaptureUS: t.UnixMicro()}, data)
	c.mu.Lock()
	c.st.TargetBPS = target
	c.st.BytesSent += uint64(n)
	if err != nil {
		p.sent = false
		c.st.FramesNotSent++
	} else {
		c.st.FramesSent++
		if key {
			c.st.Keyframes++
		}
	}
	c.mu.Unlock()
	c.m.bytes.WithLabelValues(c.cfg.ID).Add(float64(n))
	if err == nil {
		c.m.sent.WithLabelValues(c.cfg.ID).Inc()
	}
	c.m.target.WithLabelValues(c.cfg.ID).Set(float64(target) / 8)
	return true
}

func (c *Camera) writeGroundTruth(f *scene.Frame, i int, rtpTS uint32, t time.Time) {
	if f == nil || c.out == nil {
		return
	}
	l := wire.GroundTruthLine{Frame: uint64(i), RTP: rtpTS, PTSMS: float64(f.PTS.Microseconds()) / 1000, CaptureUS: t.UnixMicro(),
		Width: c.w, Height: c.h, Objects: make([]wire.GroundTruthObject, 0, len(f.Objects)), Events: f.ActiveEvents}
	for _, o := range f.Objects {
		l.Objects = append(l.Objects, wire.GroundTruthObject{Track: o.TrackID, Label: o.Label,
			Box: [4]int{o.Box.Min.X, o.Box.Min.Y, o.Box.Max.X, o.Box.Max.Y}, Occlusion: math.Round(o.Occlusion*1000) / 1000, Zones: o.Zones})
	}
	c.out.writeGroundTruth(l)
}

// onMessage handles a data channel message from the receiver.
func (c *Camera) onMessage(data []byte) {
	arrival := c.o.clock.Now()
	typ, err := wire.MessageType(data)
	if err != nil || typ != wire.TypeDetections {
		return
	}
	var m wire.DetectionsMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return
	}
	c.mu.Lock()
	p, ok := c.pending[m.Frame]
	if !ok || p.rtp != m.RTP {
		if f, ok2 := c.byRTP[m.RTP]; ok2 {
			p, ok = c.pending[f], true
		}
	}
	if !ok || p == nil {
		c.st.LateAnswers++
		c.mu.Unlock()
		return
	}
	delete(c.pending, p.frame)
	delete(c.byRTP, p.rtp)
	lat := arrival.Sub(p.capture)
	ms := float64(lat.Microseconds()) / 1000
	c.lat = append(c.lat, ms)
	c.st.FramesAnswered++
	c.lastAnswer = arrival
	if c.stopping && len(c.pending) == 0 && c.answered != nil {
		close(c.answered)
		c.answered = nil
	}
	c.mu.Unlock()
	c.m.answered.WithLabelValues(c.cfg.ID).Inc()
	c.m.latency.WithLabelValues(c.cfg.ID).Observe(lat.Seconds())
	c.out.writeLatency(wire.LatencyLine{Frame: p.frame, RTP: p.rtp, CaptureUS: p.capture.UnixMicro(), Sent: true, Answered: true,
		LatencyMS: ms, Node: m.Node, Model: m.Model, InferMS: m.InferMS, DecodeMS: m.DecodeMS, WaitMS: m.WaitMS, NodeMS: m.NodeMS,
		Detections: m.Detections})
}

// expire counts frames older than the answer timeout as unanswered.
func (c *Camera) expire(now time.Time) {
	c.mu.Lock()
	var old []*pendingFrame
	for f, p := range c.pending {
		if now.Sub(p.capture) >= c.o.answerTimeout {
			old = append(old, p)
			delete(c.pending, f)
			delete(c.byRTP, p.rtp)
		}
	}
	c.st.FramesUnanswered += uint64(len(old))
	c.mu.Unlock()
	sort.Slice(old, func(i, j int) bool { return old[i].frame < old[j].frame })
	for _, p := range old {
		c.m.unanswered.WithLabelValues(c.cfg.ID).Inc()
		c.out.writeLatency(wire.LatencyLine{Frame: p.frame, RTP: p.rtp, CaptureUS: p.capture.UnixMicro(), Sent: p.sent})
	}
}

// drain waits for answers to frames in flight, then counts the rest as
// unanswered. It stops waiting when all are answered, when nothing has been
// answered for half a second (a receiver that infers only some frames never
// answers the others), or after the answer timeout, at most 2 s.
func (c *Camera) drain() {
	c.mu.Lock()
	c.stopping = true
	var wait chan struct{}
	if len(c.pending) > 0 && c.cur != nil {
		wait = make(chan struct{})
		c.answered = wait
	}
	c.lastAnswer = c.o.clock.Now()
	c.mu.Unlock()
	if wait != nil {
		deadline := c.o.clock.After(min(c.o.answerTimeout, 2*time.Second))
	loop:
		for {
			select {
			case <-wait:
				break loop
			case <-deadline:
				break loop
			case <-c.o.clock.After(100 * time.Millisecond):
				c.mu.Lock()
				quiet := c.o.clock.Now().Sub(c.lastAnswer) >= 500*time.Millisecond
				c.mu.Unlock()
				if quiet {
					break loop
				}
			}
		}
	}
	c.mu.Lock()
	c.answered = nil
	c.mu.Unlock()
	c.expire(time.Unix(math.MaxInt32*4, 0))
}

// outputs are a camera's JSONL files.
type outputs struct {
	mu          sync.Mutex
	gt, lat, br *jsonl
}

func openOutputs(dir, id string, groundTruth bool) (*outputs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	o := &outputs{}
	var err error
	if groundTruth {
		if o.gt, err = newJSONL(filepath.Join(dir, "groundtruth-"+id+".jsonl")); err != nil {
			return nil, err
		}
	}
	if o.lat, err = newJSONL(filepath.Join(dir, "latency-"+id+".jsonl")); err != nil {
		o.close()
		return nil, err
	}
	if o.br, err = newJSONL(filepath.Join(dir, "bitrate-"+id+".jsonl")); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *outputs) writeGroundTruth(v any) {
	if o != nil && o.gt != nil {
		o.gt.write(v)
	}
}

func (o *outputs) writeLatency(v any) {
	if o != nil {
		o.lat.write(v)
	}
}

func (o *outputs) writeBitrate(v any) {
	if o != nil {
		o.br.write(v)
	}
}

func (o *outputs) close() error {
	var errs []error
	for _, j := range []*jsonl{o.gt, o.lat, o.br} {
		if j != nil {
			errs = append(errs, j.close())
		}
	}
	return errors.Join(errs...)
}
