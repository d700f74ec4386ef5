// Package vp8 encodes and decodes VP8 video with libvpx (cgo; needs
// libvpx-dev at build time). Decoding goes through pion/mediadevices' vpx
// codec. Encoding drives libvpx directly through a thin wrapper, because
// mediadevices' encoder hands libvpx wall-clock microseconds against a
// millisecond timebase (libvpx then assumes 30 fps whatever the rate, and
// the realised bitrate misses the target) and does not expose libvpx's
// real-time speed setting (cpu-used), which decides how many streams a core
// can encode.
//
// It is kept apart from fakecam/scene so that scene stays pure Go.
package vp8

import (
	"errors"
	"fmt"
	"image"
	"io"
	"sync"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
)

// ErrInvalidConfig is returned (wrapped) for encoder settings libvpx cannot use.
var ErrInvalidConfig = errors.New("invalid VP8 encoder config")

// Config are the encoder settings.
type Config struct {
	Width, Height    int
	FPS              float64
	Bitrate          int // target, bits per second (constant bitrate rate control)
	KeyframeInterval int // frames between forced keyframes; 0 = 10 s worth of frames
	// Speed is libvpx's cpu-used for real-time encoding, -16 (fastest) to
	// 16; 0 means -6, what WebRTC senders use on desktops.
	Speed int
}

// Encoder is a libvpx VP8 encoder (real-time, constant bitrate, no frame
// lag, error resilient). Encode, ForceKeyframe and SetBitrate may be called
// from different goroutines.
type Encoder struct {
	mu       sync.Mutex
	cfg      Config
	enc      *libvpxEncoder
	bitrate  int
	forceKey bool
	closed   bool
}

// NewEncoder creates a VP8 encoder.
func NewEncoder(cfg Config) (*Encoder, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 || cfg.Width > 8192 || cfg.Height > 8192 {
		return nil, fmt.Errorf("%w: size %dx%d: want positive even width and height", ErrInvalidConfig, cfg.Width, cfg.Height)
	}
	if !(cfg.FPS >= 0.1 && cfg.FPS <= 240) {
		return nil, fmt.Errorf("%w: fps %v: want between 0.1 and 240", ErrInvalidConfig, cfg.FPS)
	}
	if cfg.Bitrate < 10_000 || cfg.Bitrate > 1_000_000_000 {
		return nil, fmt.Errorf("%w: bitrate %d bit/s: want at least 10kbit and at most 1Gbit", ErrInvalidConfig, cfg.Bitrate)
	}
	if cfg.Speed < -16 || cfg.Speed > 16 {
		return nil, fmt.Errorf("%w: speed %d: want -16..16", ErrInvalidConfig, cfg.Speed)
	}
	if cfg.Speed == 0 {
		cfg.Speed = -6
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = int(10*cfg.FPS + 0.5)
	}
	enc, err := newLibvpxEncoder(cfg)
	if err != nil {
		return nil, err
	}
	return &Encoder{cfg: cfg, enc: enc, bitrate: cfg.Bitrate}, nil
}

// Config returns the encoder's settings.
func (e *Encoder) Config() Config { return e.cfg }

// Encode encodes one frame (4:2:0, the configured size) shown at frame
// index pts (indices may skip: rate control then knows that time passed)
// and reports whether the result is a keyframe. The result may be empty if
// libvpx dropped the frame.
func (e *Encoder) Encode(img *image.YCbCr, pts int64) ([]byte, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, false, io.ErrClosedPipe
	}
	if img.SubsampleRatio != image.YCbCrSubsampleRatio420 || img.Rect.Dx() != e.cfg.Width || img.Rect.Dy() != e.cfg.Height {
		return nil, false, fmt.Errorf("vp8: frame %v %v: want 4:2:0 %dx%d", img.Rect.Size(), img.SubsampleRatio, e.cfg.Width, e.cfg.Height)
	}
	data, key, err := e.enc.encode(img, pts, e.forceKey)
	if err != nil {
		return nil, false, fmt.Errorf("vp8 encode: %w", err)
	}
	e.forceKey = false
	return data, key, nil
}

// ForceKeyframe makes the next encoded frame a keyframe.
func (e *Encoder) ForceKeyframe() {
	e.mu.Lock()
	e.forceKey = true
	e.mu.Unlock()
}

// SetBitrate changes the target bitrate (bits per second) from the next frame on.
func (e *Encoder) SetBitrate(bps int) {
	bps = min(max(bps, 10_000), 1_000_000_000)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || bps == e.bitrate {
		return
	}
	if e.enc.setBitrate(bps) == nil {
		e.bitrate = bps
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
	if !e.closed {
		e.closed = true
		e.enc.close()
	}
	return nil
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
