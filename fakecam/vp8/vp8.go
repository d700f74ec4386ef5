// Package vp8 encodes and decodes VP8 video with libvpx through
// pion/mediadevices (cgo; needs libvpx-dev at build time).
//
// It is kept apart from fakecam/scene so that scene stays pure Go.
package vp8

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// ErrInvalidConfig is returned (wrapped) for encoder settings libvpx cannot use.
var ErrInvalidConfig = errors.New("invalid VP8 encoder config")

// Config are the encoder settings.
type Config struct {
	Width, Height    int
	FPS              float64
	Bitrate          int  // target, bits per second
	KeyframeInterval int  // frames between forced keyframes; 0 = 10 s worth of frames
	CBR              bool // constant bitrate rate control (default variable)
}

// Encoder is a libvpx VP8 encoder. Encode, ForceKeyframe and SetBitrate may
// be called from different goroutines.
type Encoder struct {
	mu      sync.Mutex
	cfg     Config
	enc     codec.ReadCloser
	ctrl    codec.EncoderController
	pending *image.YCbCr
	bitrate int
	closed  bool
}

// NewEncoder creates a VP8 encoder.
func NewEncoder(cfg Config) (*Encoder, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("%w: size %dx%d: want positive even width and height", ErrInvalidConfig, cfg.Width, cfg.Height)
	}
	if cfg.FPS <= 0 {
		return nil, fmt.Errorf("%w: fps %v: want > 0", ErrInvalidConfig, cfg.FPS)
	}
	if cfg.Bitrate < 10_000 {
		return nil, fmt.Errorf("%w: bitrate %d bit/s: want at least 10kbit", ErrInvalidConfig, cfg.Bitrate)
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = int(10*cfg.FPS + 0.5)
	}
	p, err := vpx.NewVP8Params()
	if err != nil {
		return nil, fmt.Errorf("libvpx: %w", err)
	}
	p.BitRate = libvpxRate(cfg.Bitrate, cfg.FPS)
	p.KeyFrameInterval = cfg.KeyframeInterval
	p.Deadline = time.Microsecond // VPX_DL_REALTIME
	p.LagInFrames = 0
	p.ErrorResilient = vpx.ErrorResilientDefault
	p.RateControlUndershootPercent = 25
	p.RateControlOvershootPercent = 15
	p.RateControlMinQuantizer = 0
	p.RateControlMaxQuantizer = 56
	if cfg.CBR {
		p.RateControlEndUsage = vpx.RateControlCBR
	}
	e := &Encoder{cfg: cfg, bitrate: cfg.Bitrate}
	src := video.ReaderFunc(func() (image.Image, func(), error) {
		if e.pending == nil {
			return nil, func() {}, io.EOF
		}
		img := e.pending
		e.pending = nil
		return img, func() {}, nil
	})
	enc, err := p.BuildVideoEncoder(src, prop.Media{Video: prop.Video{Width: cfg.Width, Height: cfg.Height, FrameRate: float32(cfg.FPS)}})
	if err != nil {
		return nil, fmt.Errorf("libvpx VP8 encoder: %w", err)
	}
	e.enc = enc
	e.ctrl = enc.Controller()
	return e, nil
}

// Config returns the encoder's settings.
func (e *Encoder) Config() Config { return e.cfg }

// Encode encodes one frame (4:2:0, the configured size) and reports whether
// the result is a keyframe. libvpx paces its rate control by the wall clock
// between calls, so call Encode at the frame rate.
func (e *Encoder) Encode(img *image.YCbCr) ([]byte, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, false, io.ErrClosedPipe
	}
	if img.SubsampleRatio != image.YCbCrSubsampleRatio420 || img.Rect.Dx() != e.cfg.Width || img.Rect.Dy() != e.cfg.Height {
		return nil, false, fmt.Errorf("vp8: frame %v %v: want 4:2:0 %dx%d", img.Rect.Size(), img.SubsampleRatio, e.cfg.Width, e.cfg.Height)
	}
	e.pending = img
	data, release, err := e.enc.Read()
	release()
	if err != nil {
		return nil, false, fmt.Errorf("vp8 encode: %w", err)
	}
	return data, IsKeyframe(data), nil
}

// ForceKeyframe makes the next encoded frame a keyframe.
func (e *Encoder) ForceKeyframe() {
	if kf, ok := e.ctrl.(codec.KeyFrameController); ok {
		_ = kf.ForceKeyFrame()
	}
}

// SetBitrate changes the target bitrate (bits per second) from the next frame on.
func (e *Encoder) SetBitrate(bps int) {
	if bps < 10_000 {
		bps = 10_000
	}
	e.mu.Lock()
	e.bitrate = bps
	e.mu.Unlock()
	if bc, ok := e.ctrl.(codec.BitRateController); ok {
		_ = bc.SetBitRate(libvpxRate(bps, e.cfg.FPS))
	}
}

// Bitrate returns the current target bitrate in bits per second.
func (e *Encoder) Bitrate() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bitrate
}

// Close frees the encoder.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.enc.Close()
}

// libvpxRate converts a target bitrate into the one to configure.
// mediadevices hands libvpx frame times in microseconds against a
// millisecond timebase, so libvpx sees frames 1000x too long, computes a
// frame rate below 0.1 fps and falls back to assuming 30 fps (vp8
// onyx_if.c, vp8_new_framerate). Its per-frame budget is then target/30;
// scaling the target by 30/fps makes the realised rate the requested one
// for real-time encoding (frames at least 10 ms apart).
func libvpxRate(bps int, fps float64) int {
	return int(math.Min(float64(bps)*30/fps, 1e9))
}

// IsKeyframe reports whether data is a VP8 keyframe (RFC 6386 section 9.1).
func IsKeyframe(data []byte) bool {
	return len(data) >= 3 && data[0]&1 == 0
}

// Decoder is a libvpx VP8 decoder; not safe for concurrent use.
type Decoder struct {
	dec  codec.VideoDecoder
	next []byte
}

var errNoInput = errors.New("no input")

// NewDecoder creates a VP8 decoder.
func NewDecoder() (*Decoder, error) {
	d := &Decoder{}
	dec, err := vpx.NewDecoder(readerFunc(func(p []byte) (int, error) {
		if d.next == nil {
			return 0, errNoInput
		}
		if len(d.next) > len(p) {
			return 0, fmt.Errorf("vp8: frame of %d bytes exceeds the decoder buffer", len(d.next))
		}
		n := copy(p, d.next)
		d.next = nil
		return n, nil
	}), prop.Media{})
	if err != nil {
		return nil, fmt.Errorf("libvpx VP8 decoder: %w", err)
	}
	d.dec = dec
	return d, nil
}

// Decode decodes one complete VP8 frame.
func (d *Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	if len(frame) == 0 {
		return nil, errors.New("vp8 decode: empty frame")
	}
	d.next = frame
	img, release, err := d.dec.Read()
	d.next = nil
	if err != nil {
		return nil, fmt.Errorf("vp8 decode: %w", err)
	}
	release()
	y, ok := img.(*image.YCbCr)
	if !ok {
		return nil, fmt.Errorf("vp8 decode: unexpected image type %T", img)
	}
	return y, nil
}

// Close frees the decoder.
func (d *Decoder) Close() error { return d.dec.Close() }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
