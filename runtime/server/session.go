package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/edgesim/edgesim/runtime/media"
	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/runtime/track"
	"github.com/edgesim/edgesim/wire"
)

// pliInterval rate-limits key frame requests.
const pliInterval = 500 * time.Millisecond

// frameInfoWait bounds waiting for a frame message that trails its video.
const frameInfoWait = 100 * time.Millisecond

// outputBacklog bounds inferred frames waiting for delivery per session.
const outputBacklog = 8

// maxFrameMessages is how many frame messages a session remembers while
// waiting for their video frame.
const maxFrameMessages = 512

type session struct {
	s      *Server
	id     string
	camera string
	label  string // the camera label in the metrics: camera, or "other" beyond the cap
	opened time.Time
	pc     *webrtc.PeerConnection
	stream *pipeline.Stream
	dc     atomic.Pointer[webrtc.DataChannel]

	framesMu  sync.Mutex
	frames    map[uint32]wire.FrameMessage
	order     []uint32
	arrived   chan struct{} // closed and replaced when a frame message arrives
	out       chan pipeline.Result
	sendText  func(string) error // the data channel, once open
	pending   sync.WaitGroup     // results in out or being delivered
	tracker   *track.Tracker
	engine    *rules.Engine
	closeOnce sync.Once
	done      chan struct{}
	remote    atomic.Value // string: the camera's address once connected
	answered  atomic.Bool  // the answer is sent: the session may be evicted until it connects
	connected atomic.Bool
	lastMedia atomic.Int64 // unix ns of the last video packet (or of connecting)
	video     atomic.Bool  // a video track is being read
	// released is set when the session gives its metric series back; no
	// series of its label is touched after that
	seriesMu sync.RWMutex
	released bool
	// the last frame with a capture time (delivery goroutine only)
	anchorRTP  uint32
	anchorTime time.Time
	pliMu      sync.Mutex
	lastPLI    time.Time
}

func (s *Server) newSession(camera string) *session {
	ss := &session{
		s: s, id: newID(), camera: camera, frames: map[uint32]wire.FrameMessage{},
		opened: time.Now(), tracker: track.New(), engine: rules.NewEngine(s.rules, camera), done: make(chan struct{}),
		arrived: make(chan struct{}), out: make(chan pipeline.Result, outputBacklog),
	}
	ss.sendText = func(msg string) error {
		if dc := ss.dc.Load(); dc != nil && dc.ReadyState() == webrtc.DataChannelStateOpen {
			return dc.SendText(msg)
		}
		return nil
	}
	return ss
}

func (s *Server) openSession(ctx context.Context, camera, offer string) (*session, string, error) {
	ss := s.newSession(camera)
	var evicted *session
	s.mu.Lock()
	switch {
	case s.draining.Load():
		s.mu.Unlock()
		return nil, "", ErrDraining
	case len(s.sessions) >= s.maxSessions:
		// a slot held by a session that has not connected is given to the
		// new offer: cheap offers that never connect cannot lock cameras out
		if evicted = s.oldestUnconnected(); evicted == nil {
			s.mu.Unlock()
			return nil, "", errFull
		}
		delete(s.sessions, evicted.id)
	}
	s.sessions[ss.id] = ss
	ss.label = s.takeSeries(camera)
	s.mu.Unlock()
	s.m.ActiveStreams.Inc()
	if evicted != nil {
		s.log.Warn("session limit reached: closing a session that has not connected", "session", evicted.id,
			"camera", evicted.camera, "waited", time.Since(evicted.opened).Round(time.Millisecond))
		evicted.close()
	}

	answer, err := ss.start(ctx, offer)
	if err != nil {
		ss.close()
		return nil, "", err
	}
	ss.answered.Store(true)
	s.log.Info("session opened", "session", ss.id, "camera", camera)
	return ss, answer, nil
}

// oldestUnconnected is the longest waiting answered session that has not
// connected; s.mu is held.
func (s *Server) oldestUnconnected() *session {
	var old *session
	for _, ss := range s.sessions {
		if ss.answered.Load() && !ss.connected.Load() && (old == nil || ss.opened.Before(old.opened)) {
			old = ss
		}
	}
	return old
}

// takeSeries returns the metric label for a new session of camera: the
// camera itself while fewer than maxCameraSeries cameras have series,
// "other" beyond; s.mu is held.
func (s *Server) takeSeries(camera string) string {
	label := camera
	if _, ok := s.series[camera]; !ok {
		named := len(s.series)
		if _, ok := s.series[metrics.OtherCamera]; ok {
			named--
		}
		if named >= s.maxCameraSeries {
			label = metrics.OtherCamera
		}
	}
	s.series[label]++
	return label
}

// releaseSeries gives a session's label back; the last session of a label
// deletes its series.
func (s *Server) releaseSeries(label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.series[label]--; s.series[label] <= 0 {
		delete(s.series, label)
		s.m.ForgetCamera(label)
	}
}

// count runs f with the session's metric label unless the session has given
// its series back.
func (ss *session) count(f func(label string)) {
	ss.seriesMu.RLock()
	defer ss.seriesMu.RUnlock()
	if !ss.released {
		f(ss.label)
	}
}

func (ss *session) start(ctx context.Context, offer string) (string, error) {
	s := ss.s
	stream, err := s.p.AddStream(ss.label, ss.sink)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDraining, err)
	}
	ss.stream = stream
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("server: new peer connection: %w", err)
	}
	ss.pc = pc
	pc.OnTrack(ss.onTrack)
	pc.OnDataChannel(ss.onDataChannel)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			ss.lastMedia.Store(time.Now().UnixNano())
			ss.connected.Store(true)
			if sctp := pc.SCTP(); sctp != nil {
				if pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
					ss.remote.Store(pair.Remote.Address)
					s.log.Info("session connected", "session", ss.id, "camera", ss.camera,
						"local", fmt.Sprintf("%s:%d", pair.Local.Address, pair.Local.Port),
						"remote", fmt.Sprintf("%s:%d", pair.Remote.Address, pair.Remote.Port))
				}
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go ss.close()
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: cannot answer: %w", ErrBadOffer, err)
	}
	gathered := gatherWait(pc, s.gatherTimeout)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("server: set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	go ss.watch()
	go ss.deliverLoop()
	return pc.LocalDescription().SDP, nil
}

// watch closes the session when it does not connect within the connect
// timeout, or when connected it receives no video for the idle timeout.
func (ss *session) watch() {
	s := ss.s
	tick := max(min(s.connectTimeout, s.idleTimeout)/5, 10*time.Millisecond)
	if s.idleTimeout == 0 {
		tick = max(s.connectTimeout/5, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ss.done:
			return
		case <-t.C:
		}
		now := time.Now()
		switch {
		case !ss.connected.Load():
			if now.Sub(ss.opened) >= s.connectTimeout {
				s.log.Warn("session did not connect in time, closing", "session", ss.id, "camera", ss.camera, "timeout", s.connectTimeout)
				ss.close()
				return
			}
		case s.idleTimeout > 0 && now.Sub(time.Unix(0, ss.lastMedia.Load())) >= s.idleTimeout:
			s.log.Warn("session sent no video, closing", "session", ss.id, "camera", ss.camera, "timeout", s.idleTimeout)
			ss.close()
			return
		}
	}
}

func (ss *session) close() {
	ss.closeOnce.Do(func() {
		close(ss.done)
		s := ss.s
		s.mu.Lock()
		delete(s.sessions, ss.id)
		s.mu.Unlock()
		s.m.ActiveStreams.Dec()
		if ss.stream != nil {
			ss.stream.Close()
		}
		if ss.pc != nil {
			_ = ss.pc.Close()
		}
		ss.seriesMu.Lock()
		ss.released = true
		ss.seriesMu.Unlock()
		s.releaseSeries(ss.label)
		s.log.Info("session closed", "session", ss.id, "camera", ss.camera)
	})
}

func (ss *session) onDataChannel(dc *webrtc.DataChannel) {
	if dc.Label() != wire.DataChannelLabel {
		return
	}
	ss.dc.Store(dc)
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if !msg.IsString || len(msg.Data) > 4096 {
			return
		}
		var fm wire.FrameMessage
		if err := json.Unmarshal(msg.Data, &fm); err != nil || fm.Type != wire.TypeFrame {
			return
		}
		ss.remember(fm)
	})
}

func (ss *session) remember(fm wire.FrameMessage) {
	ss.framesMu.Lock()
	defer ss.framesMu.Unlock()
	if _, ok := ss.frames[fm.RTP]; !ok {
		ss.order = append(ss.order, fm.RTP)
	}
	ss.frames[fm.RTP] = fm
	close(ss.arrived)
	ss.arrived = make(chan struct{})
	for len(ss.order) > maxFrameMessages {
		delete(ss.frames, ss.order[0])
		ss.order = ss.order[1:]
	}
}

// waitFrame returns the camera's frame message for rtp. The message is sent
// before the frame but travels over SCTP and may arrive a little after the
// video; a session that sends frame messages gets up to frameInfoWait for
// it. Browsers send none and are not delayed.
func (ss *session) waitFrame(rtp uint32) (wire.FrameMessage, bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ss.framesMu.Lock()
		fm, ok := ss.frames[rtp]
		expect := len(ss.order) > 0
		arrived := ss.arrived
		ss.framesMu.Unlock()
		if ok || !expect {
			return fm, ok
		}
		if timer == nil {
			timer = time.NewTimer(frameInfoWait)
		}
		select {
		case <-arrived:
		case <-timer.C:
			return wire.FrameMessage{}, false
		case <-ss.done:
			return wire.FrameMessage{}, false
		}
	}
}

func (ss *session) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if tr.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	if !ss.video.CompareAndSwap(false, true) {
		// ValidateOffer refuses offers with more video; each track would
		// cost a decoder
		ss.s.log.Warn("ignoring a second video track: one video track per session", "session", ss.id, "camera", ss.camera)
		return
	}
	go ss.readTrack(tr)
}

// readTrack feeds one video track into the session's ingest until the
// session ends.
func (ss *session) readTrack(tr *webrtc.TrackRemote) {
	ssrc := uint32(tr.SSRC())
	in, err := ss.newIngest(func(now time.Time) { ss.requestKeyframe(ssrc, now) })
	if err != nil {
		ss.s.log.Error("no VP8 decoder", "err", err)
		ss.close()
		return
	}
	defer in.close()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		ss.lastMedia.Store(time.Now().UnixNano())
		in.push(pkt, ss.s.now())
	}
}

// ingest depacketizes, decodes and samples one video track. Decoding every
// frame is required (VP8 inter frames depend on their predecessors); only
// sampled frames reach the pipeline.
type ingest struct {
	ss          *session
	asm         *media.Assembler
	dec         *media.Decoder
	interval    uint32
	lastSampled uint32
	sampled     bool
	keyframe    func(now time.Time)
}

func (ss *session) newIngest(keyframe func(now time.Time)) (*ingest, error) {
	dec, err := media.NewDecoder()
	if err != nil {
		return nil, err
	}
	in := &ingest{
		ss: ss, dec: dec, asm: media.NewAssembler(media.DefaultMaxPending, pipeline.AssemblyMaxWait),
		keyframe: keyframe,
	}
	in.interval = pipeline.SampleInterval(ss.s.detectFPS)
	return in, nil
}

func (in *ingest) close() { _ = in.dec.Close() }

func (in *ingest) drop(reason string, n int) {
	if n > 0 {
		in.ss.count(func(l string) { in.ss.s.m.FramesDropped.WithLabelValues(l, reason).Add(float64(n)) })
	}
}

func (in *ingest) push(pkt *rtp.Packet, now time.Time) {
	incomplete := in.asm.Incomplete
	frames, skipped := in.asm.Push(pkt, now)
	in.drop(metrics.ReasonIncomplete, in.asm.Incomplete-incomplete)
	in.drop(metrics.ReasonNoKeyframe, skipped)
	if n := skipped + len(frames); n > 0 {
		in.ss.count(func(l string) { in.ss.s.m.FramesReceived.WithLabelValues(l).Add(float64(n)) })
	}
	if in.asm.NeedKeyframe() {
		in.keyframe(now)
	}
	for _, f := range frames {
		img, err := in.dec.Decode(f.Data)
		if err != nil {
			in.drop(metrics.ReasonDecodeError, 1)
			in.asm.RequestKeyframe()
			in.keyframe(now)
			continue
		}
		if img == nil {
			continue
		}
		in.ss.s.m.FramesDecoded.Inc()
		if pipeline.SkipSample(in.interval, in.lastSampled, in.sampled, f.RTP) {
			in.drop(metrics.ReasonSkipped, 1)
			continue
		}
		in.lastSampled, in.sampled = f.RTP, true
		in.ss.stream.Submit(pipeline.Frame{RTP: f.RTP, Received: f.Arrived, Decoded: in.ss.s.now(), Image: img})
	}
}

func (ss *session) requestKeyframe(ssrc uint32, now time.Time) {
	ss.pliMu.Lock()
	if now.Sub(ss.lastPLI) < pliInterval {
		ss.pliMu.Unlock()
		return
	}
	ss.lastPLI = now
	ss.pliMu.Unlock()
	_ = ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// sink runs on a pipeline worker, in frame order for this stream; it hands
// the result to the session's delivery goroutine so a late frame message
// never holds a worker.
func (ss *session) sink(res pipeline.Result) {
	if res.Err != nil {
		return
	}
	ss.pending.Add(1)
	select {
	case ss.out <- res:
	default:
		ss.pending.Done()
		ss.count(func(l string) { ss.s.m.FramesDropped.WithLabelValues(l, metrics.ReasonBacklog).Inc() })
	}
}

func (ss *session) deliverLoop() {
	for {
		select {
		case <-ss.done:
			return
		case res := <-ss.out:
			ss.deliver(res)
			ss.pending.Done()
		}
	}
}

// deliver tracks, answers the camera and evaluates the rules for one frame.
func (ss *session) deliver(res pipeline.Result) {
	s := ss.s
	m := s.m
	fm, known := ss.waitFrame(res.Frame.RTP)
	at := res.Frame.Received
	var capture time.Time
	switch {
	case known && fm.CaptureUS > 0:
		capture = time.UnixMicro(fm.CaptureUS)
		at = capture
		ss.anchorRTP, ss.anchorTime = res.Frame.RTP, capture
	case !ss.anchorTime.IsZero():
		// keep the rules on the camera's timeline when one message is lost
		at = ss.anchorTime.Add(time.Duration(int32(res.Frame.RTP-ss.anchorRTP)) * time.Second / 90000)
	}
	b := res.Frame.Image.Bounds()
	obs := make([]track.Observation, len(res.Detections))
	for i, d := range res.Detections {
		obs[i] = track.Observation{Label: d.Label, Box: d.Box}
	}
	ids := ss.tracker.Update(at, obs)
	msg := wire.DetectionsMessage{
		Type: wire.TypeDetections, Frame: fm.Frame, RTP: res.Frame.RTP, Node: s.nodeID, Model: res.Model.String(),
		Width: b.Dx(), Height: b.Dy(), InferMS: ms(res.Infer),
		Detections: make([]wire.Detection, len(res.Detections)),
	}
	if f := res.Frame; !f.Decoded.IsZero() {
		msg.DecodeMS, msg.WaitMS = ms(f.Decoded.Sub(f.Received)), ms(res.Started.Sub(f.Decoded))
	}
	objs := make([]rules.Object, len(res.Detections))
	for i, d := range res.Detections {
		box := d.Box.Sub(b.Min)
		msg.Detections[i] = wire.Detection{Label: d.Label, Score: d.Score, Box: [4]int{box.Min.X, box.Min.Y, box.Max.X, box.Max.Y}, Track: ids[i]}
		objs[i] = rules.Object{TrackID: ids[i], Label: d.Label, Box: box}
		ss.count(func(l string) { m.Detections.WithLabelValues(l, d.Label).Inc() })
	}
	msg.NodeMS = ms(s.now().Sub(res.Frame.Received))
	if data, err := json.Marshal(msg); err == nil {
		_ = ss.sendText(string(data))
	}
	now := s.now()
	m.ReceiveToSend.Observe(now.Sub(res.Frame.Received).Seconds())
	if !capture.IsZero() && now.After(capture) {
		m.E2ELatency.Observe(now.Sub(capture).Seconds())
	}
	if s.rules == nil || len(s.rules.Rules) == 0 {
		return
	}
	o := rules.Observation{Time: at, Width: b.Dx(), Height: b.Dy(), Objects: objs}
	if s.rules.Night.LumaBelow > 0 {
		o.Luma = rules.MeanLuma(res.Frame.Image)
	}
	for _, h := range ss.engine.Observe(o) {
		ss.count(func(l string) { m.Alerts.WithLabelValues(l, h.Zone, h.Label).Inc() })
		a := wire.Alert{
			ID:   wire.MakeID(s.nodeID, ss.camera, h.Rule, h.TrackID, h.FirstSeen),
			Node: s.nodeID, Camera: ss.camera, Zone: h.Zone, Label: h.Label, Rule: h.Rule,
			Track: h.TrackID, Frame: fm.Frame, FirstSeen: h.FirstSeen, Raised: now,
			DwellMS: h.Raised.Sub(h.FirstSeen).Milliseconds(),
		}
		if s.alertSink != nil {
			s.alertSink(a)
		}
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
