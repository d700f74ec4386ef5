// Package whiptest is an in-process WHIP receiver for tests, in the spirit
// of net/http/httptest: a real pion answerer on loopback that accepts WHIP
// offers, depacketizes and decodes the VP8 video with libvpx, ties each
// frame to the id the camera announced on the "edgesim" data channel, and
// answers with a detections message per frame, like edgenode does.
package whiptest

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/edgesim/edgesim/fakecam/vp8"
	"github.com/edgesim/edgesim/wire"
)

// Frame is one decoded frame.
type Frame struct {
	Camera   string
	Frame    uint64 // id announced by the camera; 0 if none
	RTP      uint32
	Keyframe bool
	Image    *image.YCbCr // nil unless KeepImages
	Arrived  time.Time
}

// Responder computes the detections sent back for a decoded frame.
type Responder func(f Frame, img *image.YCbCr) []wire.Detection

// Options configure a Server.
type Options struct {
	Token      string    // if set, POST and DELETE must carry "Authorization: Bearer <Token>"
	KeepImages bool      // keep decoded images in Frames
	Respond    Responder // nil: answer every frame with no detections
	NoAnswer   bool      // decode but never answer
	NoDecode   bool      // only reassemble frames (cheap; for benchmarks of the sender); implies NoAnswer
	Node       string    // node id in answers (default "whiptest")
	// Net, if set, carries the media over this network (e.g. a pion vnet
	// with a shaped link) instead of a UDP socket on 127.0.0.1. The WHIP
	// exchange stays on loopback HTTP.
	Net transport.Net
}

// Server is a WHIP receiver listening on 127.0.0.1.
type Server struct {
	URL  string // WHIP endpoint, http://127.0.0.1:port/whip
	opts Options

	http *http.Server
	ln   net.Listener
	udp  net.PacketConn
	mux  ice.UDPMux
	api  *webrtc.API

	mu       sync.Mutex
	sessions map[string]*peer
	frames   []Frame
	nextID   int
	deletes  int
	posts    int
	bytes    int
	closed   bool
	wg       sync.WaitGroup
	killed   atomic.Bool
}

type peer struct {
	id     string
	camera string
	pc     *webrtc.PeerConnection
	dc     atomic.Pointer[webrtc.DataChannel]
	ssrc   atomic.Uint32
	mu     sync.Mutex
	ids    map[uint32]uint64 // rtp timestamp -> frame id, announced before the frame was decoded
	late   map[uint32]int    // rtp timestamp -> index in Server.frames of a frame decoded before its announcement
}

// New starts a receiver.
func New(opts Options) (*Server, error) {
	if opts.Node == "" {
		opts.Node = "whiptest"
	}
	var err error
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, ln: ln, sessions: map[string]*peer{}}
	silent := logging.NewDefaultLoggerFactory()
	silent.DefaultLogLevel, silent.Writer = logging.LogLevelDisabled, io.Discard
	if opts.Net == nil {
		if s.udp, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			ln.Close()
			return nil, err
		}
		s.mux = webrtc.NewICEUDPMux(silent.NewLogger("udpmux"), s.udp)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}},
		PayloadType: 96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		s.Close()
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, reg, webrtc.WithInterceptorLoggerFactory(silent)); err != nil {
		s.Close()
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: silent}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if opts.Net != nil {
		se.SetNet(opts.Net)
	} else {
		se.SetICEUDPMux(s.mux)
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	s.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip", s.handlePost)
	mux.HandleFunc("DELETE /whip/{id}", s.handleDelete)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.URL = "http://" + ln.Addr().String() + "/whip"
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

func (s *Server) authorized(r *http.Request) bool {
	return s.opts.Token == "" || r.Header.Get("Authorization") == "Bearer "+s.opts.Token
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/sdp") {
		http.Error(w, "want application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.nextID++
	s.posts++
	p := &peer{id: fmt.Sprint(s.nextID), camera: r.URL.Query().Get("camera"), ids: map[uint32]uint64{}, late: map[uint32]int{}}
	s.mu.Unlock()
	if p.camera == "" {
		p.camera = "cam-" + p.id
	}
	p.pc, err = s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != wire.DataChannelLabel {
			return
		}
		p.dc.Store(dc)
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			var fm wire.FrameMessage
			if json.Unmarshal(m.Data, &fm) != nil || fm.Type != "frame" {
				return
			}
			s.mu.Lock()
			p.mu.Lock()
			if i, ok := p.late[fm.RTP]; ok {
				s.frames[i].Frame = fm.Frame
				delete(p.late, fm.RTP)
			} else {
				p.ids[fm.RTP] = fm.Frame
			}
			p.mu.Unlock()
			s.mu.Unlock()
		})
	})
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.ssrc.Store(uint32(tr.SSRC()))
		s.receive(p, tr)
	})
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		_ = p.pc.Close()
		http.Error(w, "bad offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		_ = p.pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(answer); err != nil {
		_ = p.pc.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	s.mu.Lock()
	s.sessions[p.id] = p
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+p.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, p.pc.LocalDescription().SDP)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	p, ok := s.sessions[r.PathValue("id")]
	delete(s.sessions, r.PathValue("id"))
	if ok {
		s.deletes++
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_ = p.pc.Close()
	w.WriteHeader(http.StatusOK)
}

// receive reassembles VP8 frames, decodes them and answers.
func (s *Server) receive(p *peer, tr *webrtc.TrackRemote) {
	dec, err := vp8.NewDecoder()
	if err != nil {
		return
	}
	defer dec.Close()
	var cur []*rtp.Packet
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if len(cur) > 0 && pkt.Timestamp != cur[0].Timestamp {
			cur = cur[:0] // the previous frame never completed
		}
		cur = append(cur, pkt)
		if !pkt.Marker {
			continue
		}
		data, ok := assemble(cur)
		ts := pkt.Timestamp
		cur = cur[:0]
		if !ok {
			continue
		}
		if s.opts.NoDecode {
			s.mu.Lock()
			s.frames = append(s.frames, Frame{Camera: p.camera, RTP: ts, Keyframe: vp8.IsKeyframe(data), Arrived: time.Now()})
			s.bytes += len(data)
			s.mu.Unlock()
			continue
		}
		img, err := dec.Decode(data)
		if err != nil {
			continue
		}
		s.mu.Lock()
		p.mu.Lock()
		id, known := p.ids[ts]
		delete(p.ids, ts)
		f := Frame{Camera: p.camera, Frame: id, RTP: ts, Keyframe: vp8.IsKeyframe(data), Arrived: time.Now()}
		if s.opts.KeepImages {
			f.Image = img
		}
		if !known {
			if len(p.late) > 1000 {
				clear(p.late) // a browser: no announcements at all
			}
			p.late[ts] = len(s.frames)
		}
		s.frames = append(s.frames, f)
		p.mu.Unlock()
		s.mu.Unlock()
		s.answer(p, f, img)
	}
}

// assemble joins the VP8 payloads of one frame's packets (all with the same
// timestamp, the last with the marker bit) if none is missing.
func assemble(pkts []*rtp.Packet) ([]byte, bool) {
	first := pkts[0].SequenceNumber
	sort.Slice(pkts, func(i, j int) bool { return pkts[i].SequenceNumber-first < pkts[j].SequenceNumber-first })
	var data []byte
	for i, p := range pkts {
		if p.SequenceNumber-pkts[0].SequenceNumber != uint16(i) {
			return nil, false
		}
		var v codecs.VP8Packet
		pl, err := v.Unmarshal(p.Payload)
		if err != nil || (i == 0) != (v.S == 1 && v.PID == 0) {
			return nil, false
		}
		data = append(data, pl...)
	}
	return data, len(data) > 0
}

func (s *Server) answer(p *peer, f Frame, img *image.YCbCr) {
	dc := p.dc.Load()
	if s.opts.NoAnswer || dc == nil || s.killed.Load() {
		return
	}
	m := wire.DetectionsMessage{Type: wire.TypeDetections, Frame: f.Frame, RTP: f.RTP, Node: s.opts.Node, Model: "whiptest@0",
		Width: img.Rect.Dx(), Height: img.Rect.Dy(), Detections: []wire.Detection{}}
	if s.opts.Respond != nil {
		if d := s.opts.Respond(f, img); d != nil {
			m.Detections = d
		}
	}
	b, _ := json.Marshal(m)
	_ = dc.SendText(string(b))
}

// Frames returns the decoded frames so far, in arrival order.
func (s *Server) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

// Bytes returns the VP8 payload bytes received in complete frames (NoDecode only).
func (s *Server) Bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Sessions returns the number of live sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Posts returns the number of offers received; Deletes the number of sessions ended by DELETE.
func (s *Server) Posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// Deletes returns the number of sessions ended by DELETE.
func (s *Server) Deletes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deletes
}

// RequestKeyframe sends a PLI to every session's camera.
func (s *Server) RequestKeyframe() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, p := range s.sessions {
		if ssrc := p.ssrc.Load(); ssrc != 0 {
			errs = append(errs, p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}))
		}
	}
	return errors.Join(errs...)
}

// CloseSessions closes every session from the server side (DTLS close),
// as a receiver that drains or restarts does; the server keeps accepting.
func (s *Server) CloseSessions() {
	s.mu.Lock()
	peers := s.sessions
	s.sessions = map[string]*peer{}
	s.mu.Unlock()
	for _, p := range peers {
		_ = p.pc.Close()
	}
}

// Kill simulates a crashed receiver: its UDP socket and HTTP listener go
// away without any goodbye, so cameras only notice through ICE timeouts.
func (s *Server) Kill() {
	s.killed.Store(true)
	if s.udp != nil {
		_ = s.udp.Close()
	}
	s.Close()
}

// Close shuts the receiver down, closing every session.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	peers := s.sessions
	s.sessions = map[string]*peer{}
	s.mu.Unlock()
	_ = s.http.Close()
	for _, p := range peers {
		_ = p.pc.Close()
	}
	if s.mux != nil {
		_ = s.mux.Close()
		_ = s.udp.Close()
	}
	s.wg.Wait()
}
