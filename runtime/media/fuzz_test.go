package media_test

import (
	"image"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/edgesim/edgesim/runtime/internal/vp8test"
	"github.com/edgesim/edgesim/runtime/media"
)

// FuzzDepacketizeDecode feeds arbitrary RTP payloads through the frame
// assembler and the libvpx decoder: nothing may panic, and memory stays
// bounded. The input is split into packets at 0xff 0x00 markers; each
// packet's first byte picks marker bit and timestamp step.
func FuzzDepacketizeDecode(f *testing.F) {
	frames, err := encodeRaw(3, 2, 32, 32)
	if err != nil {
		f.Fatal(err)
	}
	for _, fr := range frames {
		f.Add(append([]byte{0x11, 0x10}, fr...)) // one packet per frame, S bit set, marker
	}
	huge := append([]byte(nil), frames[0]...)
	huge[6], huge[7], huge[8], huge[9] = 0xff, 0x3f, 0xff, 0x3f // claims 16383x16383
	f.Add(append([]byte{0x11, 0x10}, huge...))
	f.Add([]byte{0x80, 0x10, 0xff, 0x00, 0x81, 0x00, 0x01, 0x02})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, err := media.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		a := media.NewAssembler(4, 50*time.Millisecond)
		now := time.Unix(0, 0)
		var seq uint16
		var ts uint32
		vp8 := codecs.VP8Packet{}
		for len(data) > 0 {
			end := len(data)
			for i := 0; i+1 < len(data); i++ {
				if data[i] == 0xff && data[i+1] == 0x00 {
					end = i
					break
				}
			}
			chunk := data[:end]
			if end+2 <= len(data) {
				data = data[end+2:]
			} else {
				data = nil
			}
			if len(chunk) == 0 {
				continue
			}
			ctl := chunk[0]
			ts += uint32(ctl>>4) * 3000
			seq++
			now = now.Add(10 * time.Millisecond)
			pkt := &rtp.Packet{Header: rtp.Header{Marker: ctl&1 == 1, SequenceNumber: seq, Timestamp: ts}, Payload: chunk[1:]}
			_, _ = vp8.Unmarshal(pkt.Payload)
			frames, _ := a.Push(pkt, now)
			for _, fr := range frames {
				if img, err := dec.Decode(fr.Data); err == nil && img != nil && img.Bounds().Empty() {
					t.Fatalf("decoded an empty image")
				}
			}
			if a.Pending() > 5 {
				t.Fatalf("pending frames %d beyond bound", a.Pending())
			}
		}
	})
}

// encodeRaw encodes n w x h frames of a textured, moving pattern with
// libvpx; a key frame every keyEvery frames.
func encodeRaw(n, keyEvery, w, h int) ([][]byte, error) {
	return vp8test.Encode(n, keyEvery, w, h, 300_000, 10, func(img *image.YCbCr, i int) {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Y[y*img.YStride+x] = uint8((x*x*31 + y*y*17 + x*y*7 + i*13) % 251)
			}
		}
		for k := range img.Cb {
			img.Cb[k], img.Cr[k] = 128, 128
		}
	})
}
