package media_test

import (
	"image"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/edgesim/edgesim/runtime/media"
)

func TestMedia(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Media Suite")
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// encodeFrames encodes n 160x120 frames with libvpx; a key frame every
// keyEvery frames.
func encodeFrames(n, keyEvery int) [][]byte {
	out, err := encodeRaw(n, keyEvery, 160, 120)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// packetize splits frames into RTP packets with small MTU so each frame
// has several packets.
func packetize(frames [][]byte) [][]*rtp.Packet {
	p := rtp.NewPacketizer(120, 96, 1, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewFixedSequencer(65500), 90000)
	var out [][]*rtp.Packet
	for _, f := range frames {
		out = append(out, p.Packetize(f, 9000))
	}
	return out
}

var _ = Describe("Assembler", func() {
	var frames [][]byte
	var pkts [][]*rtp.Packet
	BeforeEach(func() {
		frames = encodeFrames(12, 6)
		pkts = packetize(frames)
		Expect(len(pkts[0])).To(BeNumerically(">", 2), "a key frame spans several packets")
	})

	It("emits each frame on its last packet, across sequence wrap-around", func() {
		a := media.NewAssembler(0, 0)
		for i, fp := range pkts {
			for j, p := range fp {
				got, skipped := a.Push(p, t0)
				Expect(skipped).To(BeZero())
				if j < len(fp)-1 {
					Expect(got).To(BeEmpty())
					continue
				}
				Expect(got).To(HaveLen(1))
				Expect(got[0].Data).To(Equal(frames[i]))
				Expect(got[0].RTP).To(Equal(p.Timestamp))
				Expect(got[0].Keyframe).To(Equal(i%6 == 0))
			}
		}
		Expect(a.Incomplete).To(BeZero())
	})

	It("reassembles reordered and duplicated packets", func() {
		a := media.NewAssembler(0, 0)
		fp := pkts[0]
		order := []*rtp.Packet{fp[len(fp)-1], fp[1], fp[0], fp[1]}
		order = append(order, fp[2:len(fp)-1]...)
		var got []media.Frame
		for _, p := range order {
			f, _ := a.Push(p, t0)
			got = append(got, f...)
		}
		Expect(got).To(HaveLen(1))
		Expect(got[0].Data).To(Equal(frames[0]))
	})

	It("gives up a frame with a lost packet and waits for the next key frame", func() {
		a := media.NewAssembler(3, 0)
		var got []media.Frame
		skipped := 0
		for i, fp := range pkts {
			for j, p := range fp {
				if i == 1 && j == 0 {
					continue // lost
				}
				f, s := a.Push(p, t0)
				got = append(got, f...)
				skipped += s
			}
		}
		Expect(a.Incomplete).To(Equal(1))
		Expect(skipped).To(Equal(4), "frames 2-5 depend on the lost one")
		Expect(got).To(HaveLen(7)) // frame 0, then 6..11
		Expect(got[1].Keyframe).To(BeTrue())
		Expect(got[1].Data).To(Equal(frames[6]))
	})

	It("holds the frames after one lost whole until it gives the lost one up, then waits for a key frame", func() {
		a := media.NewAssembler(3, 0)
		var got []media.Frame
		skipped := 0
		for i, fp := range pkts {
			if i == 1 {
				continue // every packet of frame 1 lost
			}
			for _, p := range fp {
				f, s := a.Push(p, t0)
				got = append(got, f...)
				skipped += s
			}
		}
		Expect(a.Incomplete).To(Equal(1), "the lost frame")
		Expect(skipped).To(Equal(4), "frames 2-5 refer to the lost one: the decoder must not see them")
		Expect(got).To(HaveLen(7)) // frame 0, then 6..11
		Expect(got[1].Data).To(Equal(frames[6]))
	})

	It("emits in order a frame whose packets all came after the next frame's", func() {
		a := media.NewAssembler(3, 0)
		order := append(append(append([]*rtp.Packet{}, pkts[0]...), pkts[2]...), pkts[1]...)
		for _, fp := range pkts[3:] {
			order = append(order, fp...)
		}
		var got []media.Frame
		for _, p := range order {
			f, s := a.Push(p, t0)
			Expect(s).To(BeZero())
			got = append(got, f...)
		}
		Expect(a.Incomplete).To(BeZero())
		Expect(got).To(HaveLen(12))
		for i, f := range got {
			Expect(f.Data).To(Equal(frames[i]), "frame %d", i)
		}
	})

	It("gives a frame lost whole up by age when a time limit is set", func() {
		a := media.NewAssembler(100, 100*time.Millisecond)
		for _, p := range pkts[0] {
			_, _ = a.Push(p, t0)
		}
		var got []media.Frame
		for _, p := range pkts[2] {
			f, _ := a.Push(p, t0.Add(50*time.Millisecond))
			got = append(got, f...)
		}
		Expect(got).To(BeEmpty(), "frame 2 waits for frame 1")
		Expect(a.Pending()).To(Equal(1))
		_, skipped := a.Push(pkts[3][0], t0.Add(time.Second))
		Expect(a.Incomplete).To(Equal(1))
		Expect(skipped).To(Equal(1), "frame 2, an inter frame, once frame 1 is given up")
	})

	It("gives up by age when a time limit is set", func() {
		a := media.NewAssembler(100, 100*time.Millisecond)
		_, _ = a.Push(pkts[0][0], t0)
		got, _ := a.Push(pkts[1][0], t0.Add(time.Second))
		Expect(got).To(BeEmpty())
		Expect(a.Incomplete).To(Equal(1))
	})

	It("starts over when the sender's timestamps jump back", func() {
		a := media.NewAssembler(0, 0)
		for _, p := range pkts[0] {
			_, _ = a.Push(p, t0)
		}
		restarted := packetize(frames[:1])[0]
		var got []media.Frame
		for _, p := range restarted {
			p.Timestamp = pkts[0][0].Timestamp - 10*90000
			f, _ := a.Push(p, t0)
			got = append(got, f...)
		}
		Expect(a.Discontinuities).To(Equal(1))
		Expect(got).To(HaveLen(1))
		Expect(got[0].Keyframe).To(BeTrue())
	})

	It("stays bounded under an RTP flood", func() {
		a := media.NewAssembler(0, 0)
		payload := append([]byte{0x90, 0x80, 0x01}, make([]byte, 1000)...)
		for i := 0; i < 200_000; i++ {
			p := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i/5000) * 3000}, Payload: payload}
			_, _ = a.Push(p, t0)
		}
		Expect(a.Oversized).To(BeNumerically(">", 0))
		Expect(a.Incomplete).To(BeNumerically(">", 20))
		Expect(a.Pending()).To(BeNumerically("<=", media.DefaultMaxPending+1))
	})
})

var _ = Describe("Decoder", func() {
	It("decodes libvpx frames, reports corrupt ones and recovers on the next key frame", func() {
		frames := encodeFrames(8, 4)
		d, err := media.NewDecoder()
		Expect(err).NotTo(HaveOccurred())
		defer d.Close()
		img, err := d.Decode(frames[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Bounds()).To(Equal(image.Rect(0, 0, 160, 120)))
		bad := append([]byte(nil), frames[1]...)
		bad[0], bad[1], bad[2] = 0xff, 0xff, 0xff
		_, err = d.Decode(bad)
		Expect(err).To(MatchError(media.ErrDecode))
		_, err = d.Decode(nil)
		Expect(err).To(MatchError(media.ErrDecode))
		_, err = d.Decode(make([]byte, media.MaxFrameBytes+1))
		Expect(err).To(MatchError(media.ErrDecode))
		img, err = d.Decode(frames[4])
		Expect(err).NotTo(HaveOccurred())
		Expect(img).NotTo(BeNil())
		Expect(media.IsKeyframe(frames[4])).To(BeTrue())
		Expect(media.IsKeyframe(frames[5])).To(BeFalse())
		w, h, ok := media.KeyframeSize(frames[4])
		Expect([]any{w, h, ok}).To(Equal([]any{160, 120, true}))
		huge := append([]byte(nil), frames[4]...)
		huge[7], huge[9] = 0x3f, 0x3f
		_, err = d.Decode(huge)
		Expect(err).To(MatchError(ContainSubstring("outside")))
	})
})
