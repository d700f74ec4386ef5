package media

import (
	"errors"
	"fmt"
	"image"
	"io"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
)

// ErrDecode wraps libvpx decode failures; the stream continues with the next
// frame.
var ErrDecode = errors.New("media: vp8 decode")

// errNoInput tells the libvpx wrapper that the frame fed produced no image.
var errNoInput = errors.New("media: no input")

// Limits of what the decoder accepts; a key frame claiming a larger picture
// is refused before libvpx allocates for it.
const (
	MaxFrameBytes = 1 << 20
	MaxWidth      = 3840
	MaxHeight     = 2160
)

// KeyframeSize returns the picture size a VP8 key frame declares (RFC 6386
// section 9.1), ok false when vp8 is not a key frame.
func KeyframeSize(vp8 []byte) (w, h int, ok bool) {
	if !IsKeyframe(vp8) {
		return 0, 0, false
	}
	w = int(vp8[6]) | int(vp8[7]&0x3f)<<8
	h = int(vp8[8]) | int(vp8[9]&0x3f)<<8
	return w, h, true
}

// oneShot hands the wrapped decoder exactly the frame being decoded.
type oneShot struct{ data []byte }

func (o *oneShot) Read(p []byte) (int, error) {
	if o.data == nil {
		return 0, errNoInput
	}
	n := copy(p, o.data)
	o.data = nil
	return n, nil
}

// Decoder decodes a VP8 stream with libvpx (cgo, through pion/mediadevices).
// Not safe for concurrent use; Close frees the libvpx context.
type Decoder struct {
	in  *oneShot
	dec codec.VideoDecoder
}

// NewDecoder creates a VP8 decoder.
func NewDecoder() (*Decoder, error) {
	in := &oneShot{}
	d, err := vpx.NewDecoder(in, prop.Media{})
	if err != nil {
		return nil, fmt.Errorf("%w: init: %w", ErrDecode, err)
	}
	return &Decoder{in: in, dec: d}, nil
}

// Decode decodes one complete VP8 frame. Frames that decode but show no
// picture return (nil, nil).
func (d *Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrDecode)
	}
	if len(frame) > MaxFrameBytes {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrDecode, len(frame), MaxFrameBytes)
	}
	if w, h, ok := KeyframeSize(frame); ok && (w == 0 || h == 0 || w > MaxWidth || h > MaxHeight) {
		return nil, fmt.Errorf("%w: key frame of %dx%d outside 1x1..%dx%d", ErrDecode, w, h, MaxWidth, MaxHeight)
	}
	d.in.data = frame
	img, release, err := d.dec.Read()
	d.in.data = nil
	if errors.Is(err, errNoInput) || errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if release != nil {
		defer release()
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected image type %T", ErrDecode, img)
	}
	return y, nil
}

// Close frees the decoder.
func (d *Decoder) Close() error {
	if d.dec == nil {
		return nil
	}
	err := d.dec.Close()
	d.dec = nil
	return err
}
