package fakecam

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// WriteIVF writes VP8 frames as an IVF file (a 32-byte header, then a
// 12-byte header per frame) with a time base of 1/fps s (to a thousandth of
// a frame per second), so that Config.IVF replays them at that rate: the
// same bytes for every receiver.
func WriteIVF(w io.Writer, width, height int, fps float64, frames [][]byte) error {
	rate := uint32(math.Round(fps * 1000))
	if width <= 0 || height <= 0 || rate == 0 || fps > 240 || len(frames) == 0 {
		return fmt.Errorf("%w: want a size, a frame rate up to 240 and at least one frame", ErrBadIVF)
	}
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], "VP80")
	binary.LittleEndian.PutUint16(hdr[12:], uint16(width))
	binary.LittleEndian.PutUint16(hdr[14:], uint16(height))
	binary.LittleEndian.PutUint32(hdr[16:], rate) // time base 1000/rate s
	binary.LittleEndian.PutUint32(hdr[20:], 1000)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(frames)))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for i, data := range frames {
		fh := make([]byte, 12)
		binary.LittleEndian.PutUint32(fh, uint32(len(data)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(i))
		if _, err := w.Write(append(fh, data...)); err != nil {
			return err
		}
	}
	return nil
}
