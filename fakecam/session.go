package fakecam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/edgesim/edgesim/wire"
)

// ErrConnect is wrapped by errors of establishing the WebRTC connection
// after the WHIP exchange (ICE, DTLS or the data channel did not come up).
var ErrConnect = errors.New("WebRTC connection failed")

// RTPMTU is the largest RTP payload (VP8 payload descriptor included) a
// camera puts in one packet; the capacity planner's calibration derives its
// packet sizes from it.
const RTPMTU = 1200

const (
	rtpMTU       = RTPMTU
	vp8Payload   = 96
	minBitrate   = 50_000
	connectLimit = 10 * time.Second
)

// sessionParams are what a session needs from its camera.
type sessionParams struct {
	cameraID     string
	endpoint     string // with ?camera=
	bitrate      int    // configured target, bits/s
	whip         *WHIPClient
	setting      func(*webrtc.SettingEngine)
	iceTimeouts  [3]time.Duration
	onKeyRequest func()
	onMessage    func([]byte)
	onBitrate    func(int)
	logger       logging.LoggerFactory
}

// pionLogger returns a logger factory for pion writing warnings and errors
// to w, or nothing if w is nil (libraries do not print).
func pionLogger(w io.Writer) logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelWarn
	f.ScopeLevels = map[string]logging.LogLevel{}
	f.Writer = w
	if w == nil {
		f.DefaultLogLevel = logging.LogLevelDisabled
		f.Writer = io.Discard
	}
	return f
}

// session is one published WebRTC connection: a sendonly VP8 track and the
// edgesim data channel.
type session struct {
	p       sessionParams
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	dc      *webrtc.DataChannel
	whipSes *WHIPSession
	bwe     atomic.Pointer[cc.BandwidthEstimator]
	needKey atomic.Bool // the next frame must be a keyframe (new session, PLI, FIR)
	closeMu sync.Mutex

	mu        sync.Mutex
	payloader codecs.VP8Payloader
	seq       uint16

	failOnce sync.Once
	failed   chan struct{}
	reason   atomic.Value // string
	done     chan struct{}
	wg       sync.WaitGroup
}

// dial creates the peer connection, publishes it with WHIP and waits until
// ICE, DTLS and the data channel are up. On error nothing is left open.
func dial(ctx context.Context, p sessionParams, seq uint16) (_ *session, err error) {
	s := &session{p: p, failed: make(chan struct{}), done: make(chan struct{}), seq: seq}
	s.payloader.EnablePictureID = true

	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        vp8Payload,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register VP8: %w", err)
	}
	reg := &interceptor.Registry{}
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(p.bitrate),
			gcc.SendSideBWEMinBitrate(min(minBitrate, p.bitrate)),
			gcc.SendSideBWEMaxBitrate(p.bitrate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
			gcc.WithLoggerFactory(p.logger),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("congestion control: %w", err)
	}
	ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
		s.bwe.Store(&e)
		e.OnTargetBitrateChange(func(bps int) {
			if p.onBitrate != nil {
				p.onBitrate(bps)
			}
		})
	})
	reg.Add(ccf)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, reg); err != nil {
		return nil, fmt.Errorf("TWCC: %w", err)
	}
	// A sender needs only these: retransmissions on NACK and sender reports.
	// (pion's defaults add receive-side interceptors and per-packet stats.)
	nackResponder, err := nack.NewResponderInterceptor(nack.WithResponderLoggerFactory(p.logger))
	if err != nil {
		return nil, fmt.Errorf("NACK: %w", err)
	}
	reg.Add(nackResponder)
	senderReports, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(p.logger))
	if err != nil {
		return nil, fmt.Errorf("RTCP reports: %w", err)
	}
	reg.Add(senderReports)
	se := webrtc.SettingEngine{LoggerFactory: p.logger}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	t := p.iceTimeouts
	se.SetICETimeouts(t[0], t[1], t[2])
	if p.setting != nil {
		p.setting(&se)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	s.pc, err = api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	defer func() {
		if err != nil {
			s.close(context.WithoutCancel(ctx))
		}
	}()
	s.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "edgesim-"+p.cameraID)
	if err != nil {
		return nil, fmt.Errorf("video track: %w", err)
	}
	tr, err := s.pc.AddTransceiverFromTrack(s.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, fmt.Errorf("add track: %w", err)
	}
	ordered := true
	s.dc, err = s.pc.CreateDataChannel(wire.DataChannelLabel, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return nil, fmt.Errorf("data channel: %w", err)
	}
	dcOpen := make(chan struct{})
	connected := make(chan struct{})
	var openOnce, connOnce sync.Once
	s.dc.OnOpen(func() { openOnce.Do(func() { close(dcOpen) }) })
	s.dc.OnClose(func() { s.fail("data channel closed") })
	s.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if p.onMessage != nil {
			p.onMessage(m.Data)
		}
	})
	s.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			connOnce.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed:
			s.fail("ICE/DTLS failed")
		case webrtc.PeerConnectionStateClosed:
			s.fail("connection closed")
		}
	})
	s.wg.Add(1)
	go s.readRTCP(tr.Sender())

	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.whipSes, err = p.whip.Publish(ctx, p.endpoint, s.pc.LocalDescription().SDP)
	if err != nil {
		return nil, err
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.whipSes.Answer}); err != nil {
		return nil, &WHIPError{Endpoint: p.endpoint, Status: 201, Err: ErrWHIPBadAnswer, Cause: err,
			Hint: "the SDP answer does not fit the offer (one sendonly VP8 track and a data channel)"}
	}
	timer := time.NewTimer(connectLimit)
	defer timer.Stop()
	for _, ch := range []chan struct{}{connected, dcOpen} {
		select {
		case <-ch:
		case <-s.failed:
			return nil, fmt.Errorf("%w: %s to %s", ErrConnect, s.reason.Load(), p.endpoint)
		case <-timer.C:
			return nil, fmt.Errorf("%w: not connected to %s within %v (ICE/DTLS or data channel); is UDP to the server blocked?", ErrConnect, p.endpoint, connectLimit)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s, nil
}

func (s *session) fail(reason string) {
	s.failOnce.Do(func() {
		s.reason.Store(reason)
		close(s.failed)
	})
}

// Failed is closed when the connection is lost.
func (s *session) Failed() <-chan struct{} { return s.failed }

// Reason says why the session failed.
func (s *session) Reason() string {
	r, _ := s.reason.Load().(string)
	return r
}

func (s *session) readRTCP(sender *webrtc.RTPSender) {
	defer s.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if s.p.onKeyRequest != nil {
					s.p.onKeyRequest()
				}
			}
		}
	}
}

// estimate returns the congestion controller's target bitrate, or 0.
func (s *session) estimate() int {
	if e := s.bwe.Load(); e != nil {
		return (*e).GetTargetBitrate()
	}
	return 0
}

// sendFrame announces the frame on the data channel, then sends it as RTP.
// It returns the number of bytes of RTP payload and headers written.
func (s *session) sendFrame(msg wire.FrameMessage, data []byte) (int, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	if err := s.dc.SendText(string(b)); err != nil {
		return 0, fmt.Errorf("data channel: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	payloads := s.payloader.Payload(rtpMTU, data)
	n := 0
	for i, pl := range payloads {
		pkt := &rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: i == len(payloads)-1, PayloadType: vp8Payload, SequenceNumber: s.seq, Timestamp: msg.RTP},
			Payload: pl,
		}
		s.seq++
		if err := s.track.WriteRTP(pkt); err != nil {
			return n, fmt.Errorf("rtp: %w", err)
		}
		n += pkt.MarshalSize()
	}
	return n, nil
}

// nextSeq returns the next RTP sequence number (to continue after a reconnect).
func (s *session) nextSeq() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// close ends the WHIP session (DELETE) and the peer connection.
func (s *session) close(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	var errs []error
	if s.whipSes != nil {
		if err := s.p.whip.Delete(ctx, s.whipSes); err != nil {
			errs = append(errs, err)
		}
		s.whipSes = nil
	}
	if s.pc != nil {
		if err := s.pc.Close(); err != nil {
			errs = append(errs, err)
		}
		s.pc = nil
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
