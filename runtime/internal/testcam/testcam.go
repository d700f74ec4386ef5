// Package testcam is a minimal WHIP camera for the runtime's tests and
// benchmarks: VP8 frames from libvpx over WebRTC on loopback, a frame message
// before each frame, detections collected from the data channel.
package testcam

import (
	"bytes"
	"encoding/json"
	"image"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/edgesim/edgesim/wire"
)

// Camera is a minimal WHIP publisher: VP8 from libvpx,
// frame messages on the data channel, detections collected.
type Camera struct {
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	dc       *webrtc.DataChannel
	DCOpen   chan struct{}
	enc      codec.ReadCloser
	next     chan image.Image
	pack     rtp.Packetizer
	seq      rtp.Sequencer
	location string
	base     string

	mu         sync.Mutex
	stopOnce   sync.Once
	detections []wire.DetectionsMessage
	frame      uint64
}

// LoopbackAPI is a pion API that only uses loopback, without mDNS.
func LoopbackAPI() *webrtc.API {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// New prepares a w x h camera; Publish connects it.
func New(w, h int) (*Camera, error) {
	c := &Camera{DCOpen: make(chan struct{}), next: make(chan image.Image, 1)}
	pc, err := LoopbackAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	c.pc = pc
	c.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cam")
	if err != nil {
		return nil, err
	}
	sender, err := pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Sender().Read(buf); err != nil {
				return
			}
		}
	}()
	ordered := true
	c.dc, err = pc.CreateDataChannel(wire.DataChannelLabel, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return nil, err
	}
	c.dc.OnOpen(func() { close(c.DCOpen) })
	c.dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		var d wire.DetectionsMessage
		if json.Unmarshal(msg.Data, &d) == nil && d.Type == "detections" {
			c.mu.Lock()
			c.detections = append(c.detections, d)
			c.mu.Unlock()
		}
	})
	params, err := vpx.NewVP8Params()
	if err != nil {
		return nil, err
	}
	params.BitRate = 500_000
	params.KeyFrameInterval = 30
	c.enc, err = params.BuildVideoEncoder(video.ReaderFunc(func() (image.Image, func(), error) {
		return <-c.next, func() {}, nil
	}), prop.Media{Video: prop.Video{Width: w, Height: h, FrameFormat: frame.FormatI420, FrameRate: 10}})
	if err != nil {
		return nil, err
	}
	c.seq = rtp.NewRandomSequencer()
	c.pack = rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{EnablePictureID: true}, c.seq, 90000)
	return c, nil
}

// Offer creates the camera's offer with every candidate.
func (c *Camera) Offer() (string, error) {
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	<-gathered
	return c.pc.LocalDescription().SDP, nil
}

// Answered applies the server's answer; location is the session resource
// (relative to base) that Stop deletes.
func (c *Camera) Answered(base, location, answer string) error {
	c.base, c.location = base, location
	return c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
}

// Publish POSTs the offer; it returns the HTTP status and body on failure.
func (c *Camera) Publish(base, query, token string) (int, string, error) {
	offer, err := c.Offer()
	if err != nil {
		return 0, "", err
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/whip"+query, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, string(body), nil
	}
	return resp.StatusCode, string(body), c.Answered(base, resp.Header.Get("Location"), string(body))
}

// CheapOffer is a valid offer (ICE credentials, fingerprint, a loopback
// candidate) from a peer connection that is closed at once: it never
// connects, as a flooding client's would not.
func CheapOffer() (string, error) {
	pc, err := LoopbackAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return "", err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}

// Send encodes img and sends it with its frame message; corrupt mangles
// the encoded bytes first.
func (c *Camera) Send(img image.Image, corrupt bool) error {
	c.next <- img
	data, release, err := c.enc.Read()
	if err != nil {
		return err
	}
	payload := append([]byte(nil), data...)
	release()
	if corrupt {
		// an inter frame whose first partition claims more bytes than sent
		payload[0], payload[1], payload[2] = 0xff, 0xff, 0xff
	}
	pkts := c.pack.Packetize(payload, 9000)
	c.mu.Lock()
	c.frame++
	n := c.frame
	c.mu.Unlock()
	msg, err := json.Marshal(wire.FrameMessage{Type: wire.TypeFrame, Frame: n, RTP: pkts[0].Timestamp, CaptureUS: time.Now().UnixMicro()})
	if err != nil {
		return err
	}
	if err := c.dc.SendText(string(msg)); err != nil {
		return err
	}
	for _, p := range pkts {
		if err := c.track.WriteRTP(p); err != nil {
			return err
		}
	}
	return nil
}

// Got returns the detections received so far.
func (c *Camera) Got() []wire.DetectionsMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.DetectionsMessage(nil), c.detections...)
}

// Stop ends the WHIP session (DELETE) and closes the peer connection.
func (c *Camera) Stop() { c.stopOnce.Do(c.stop) }

func (c *Camera) stop() {
	if c.location != "" {
		req, _ := http.NewRequest(http.MethodDelete, c.base+c.location, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	_ = c.pc.Close()
	_ = c.enc.Close()
}

// Image draws a bright block whose position moves with i.
func Image(w, h, i int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(60)
			if x > (i*4)%w && x < (i*4)%w+40 && y > h/3 && y < h/3+60 {
				v = 220
			}
			img.Y[y*img.YStride+x] = v
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return img
}

// Post sends body with the given content type and header pairs.
func Post(url, ctype string, body []byte, hdr ...string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &http.Response{StatusCode: 0}, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// WriteRTP sends a raw RTP packet on the video track (floods, corrupt
// packets), numbered in sequence with the camera's own packets.
func (c *Camera) WriteRTP(p *rtp.Packet) error {
	p.SequenceNumber = c.seq.NextSequenceNumber()
	return c.track.WriteRTP(p)
}

// Stream sends 320x240 test images every interval until stop is closed or
// a send fails; with corruptEvery > 0 every corruptEvery-th frame is sent
// corrupted.
func (c *Camera) Stream(stop <-chan struct{}, interval time.Duration, corruptEvery int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
			if c.Send(Image(320, 240, i), corruptEvery > 0 && i%corruptEvery == corruptEvery-1) != nil {
				return
			}
		}
	}
}
