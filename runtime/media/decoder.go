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

// MaxFrameBytes is the largest VP8 frame the decoder accepts.
const MaxFrameBytes = 1 << 20

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
