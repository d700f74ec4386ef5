package calibrate

import (
	"context"
	"fmt"
	"image"
	"slices"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/srtp/v3"
	"golang.org/x/net/ipv4"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/vp8"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/units"
)

// Video is what fakecam renders and encodes: a scene at a size, frame rate
// and bitrate, for a length of video.
type Video struct {
	Width, Height int
	FPS           float64
	Bitrate       units.BitRate
	// Scene gives background, night, people, vehicles and seed; its size
	// and frame rate are Width, Height and FPS.
	Scene    scene.Config
	Duration time.Duration // of video
	// KeyframeInterval and Speed are the encoder's (0: fakecam's defaults,
	// as scenario cameras use them).
	KeyframeInterval int
	Speed            int
}

// Frames is the number of frames of v.
func (v Video) Frames() int { return max(1, int(v.Duration.Seconds()*v.FPS+0.5)) }

// Frame is one encoded frame.
type Frame struct {
	Data []byte
	Key  bool
	// Took is the time from asking the scene for the frame to having it
	// encoded, as fakecam's capture measures it.
	Took time.Duration
}

// Encode renders v's scene and encodes it with fakecam's VP8 encoder, as a
// camera does: frame i of the scene at index i. Frames libvpx dropped are
// left out.
func Encode(ctx context.Context, v Video, stage string, progress ProgressFunc) ([]Frame, error) {
	sc := v.Scene
	sc.Width, sc.Height, sc.FPS = v.Width, v.Height, v.FPS
	if sc.CameraID == "" {
		sc.CameraID = "calibrate"
	}
	s, err := scene.New(sc)
	if err != nil {
		return nil, err
	}
	enc, err := vp8.NewEncoder(vp8.Config{Width: v.Width, Height: v.Height, FPS: v.FPS, Bitrate: int(v.Bitrate),
		KeyframeInterval: v.KeyframeInterval, Speed: v.Speed})
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	buf := image.NewYCbCr(image.Rect(0, 0, v.Width, v.Height), image.YCbCrSubsampleRatio420)
	n := v.Frames()
	out := make([]Frame, 0, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		f, err := s.RenderInto(i, buf)
		if err != nil {
			return nil, err
		}
		data, key, err := enc.Encode(f.Image, int64(i))
		if err != nil {
			return nil, err
		}
		took := time.Since(t0)
		if len(data) > 0 {
			out = append(out, Frame{Data: slices.Clone(data), Key: key, Took: took})
		}
		if i%10 == 9 || i == n-1 {
			progress.report(stage, i+1, n)
		}
	}
	if len(out) == 0 || !out[0].Key {
		return nil, fmt.Errorf("calibrate: the encoder produced no keyframe first")
	}
	return out, nil
}

// EncodingStats is what an encoding measurement saw besides its tables.
type EncodingStats struct {
	Frames, Keyframes, Dropped int
	// MeanBitrate is the encoded bits per second of video.
	MeanBitrate float64
}

// MeasureEncoding encodes v and returns its frame-size process: the
// median distance between keyframes (the encoder's configured interval
// when the video holds a single keyframe), the keyframe and inter-frame
// size tables and the packet sizes of Packetization.
func MeasureEncoding(ctx context.Context, v Video, progress ProgressFunc) (plan.Encoding, EncodingStats, error) {
	stage := fmt.Sprintf("encoding %s@%gfps", v.Bitrate, v.FPS)
	frames, err := Encode(ctx, v, stage, progress)
	if err != nil {
		return plan.Encoding{}, EncodingStats{}, err
	}
	var keys, inter, took []float64
	var keyAt []int
	total := 0
	for i, f := range frames {
		total += len(f.Data)
		took = append(took, f.Took.Seconds())
		if f.Key {
			keys = append(keys, float64(len(f.Data)))
			keyAt = append(keyAt, i)
		} else {
			inter = append(inter, float64(len(f.Data)))
		}
	}
	if len(inter) == 0 {
		return plan.Encoding{}, EncodingStats{}, fmt.Errorf("calibrate: %s: every frame was a keyframe; measure a longer video", stage)
	}
	interval := v.KeyframeInterval
	if interval <= 0 {
		interval = int(10*v.FPS + 0.5) // vp8.NewEncoder's default
	}
	if len(keyAt) > 1 {
		var gaps []int
		for i := 1; i < len(keyAt); i++ {
			gaps = append(gaps, keyAt[i]-keyAt[i-1])
		}
		slices.Sort(gaps)
		interval = gaps[len(gaps)/2]
	}
	e := plan.Encoding{Bitrate: v.Bitrate, FPS: v.FPS, KeyframeInterval: interval}
	if e.KeyframeBytes, err = Table(keys, DefaultLevels); err != nil {
		return plan.Encoding{}, EncodingStats{}, err
	}
	if e.InterBytes, err = Table(inter, DefaultLevels); err != nil {
		return plan.Encoding{}, EncodingStats{}, err
	}
	if e.EncodeSeconds, err = Table(took, DefaultLevels); err != nil {
		return plan.Encoding{}, EncodingStats{}, err
	}
	e.PayloadBytes, e.OverheadBytes = Packetization()
	st := EncodingStats{Frames: len(frames), Keyframes: len(keys), Dropped: v.Frames() - len(frames),
		MeanBitrate: float64(total) * 8 / (float64(v.Frames()) / v.FPS)}
	return e, st, nil
}

// Packet overhead below SRTP that the stack's constants do not give: a
// UDP header and an IPv4 header without options (the testbed's links are
// IPv4).
const udpHeaderBytes = 8

// Packetization returns the media bytes one RTP packet of a camera carries
// and the bytes each packet adds on the wire, derived from the real
// stack: fakecam's RTP payload limit (fakecam.RTPMTU) cut by pion's VP8
// payloader with picture IDs as fakecam configures it (its descriptor is
// the rest of the payload), an RTP header carrying the transport-wide
// sequence number extension (fakecam registers TWCC), the SRTP auth tag of
// the profile two pion peers negotiate (AEAD AES-256-GCM, pion's first
// choice), a UDP header and an IPv4 header.
func Packetization() (payload, overhead int) {
	p := codecs.VP8Payloader{EnablePictureID: true}
	const media = 10 * fakecam.RTPMTU
	pkts := p.Payload(fakecam.RTPMTU, make([]byte, media))
	sum := 0
	for _, pl := range pkts {
		sum += len(pl)
	}
	descriptor := (sum - media) / len(pkts)
	h := rtp.Header{Version: 2, PayloadType: 96}
	_ = h.SetExtension(1, []byte{0, 0}) // transport-wide sequence number: 2 bytes
	tag, err := srtp.ProtectionProfileAeadAes256Gcm.AEADAuthTagLen()
	if err != nil {
		panic(err) // a constant of the srtp package
	}
	return len(pkts[0]) - descriptor, descriptor + h.MarshalSize() + tag + udpHeaderBytes + ipv4.HeaderLen
}
