package vp8_test

import (
	"image"
	"math"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/vp8"
)

func psnr(a, b *image.YCbCr) float64 {
	var se float64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := float64(a.Y[y*a.YStride+x]) - float64(b.Y[y*b.YStride+x])
			se += d * d
		}
	}
	mse := se / float64(w*h)
	return 10 * math.Log10(255*255/math.Max(mse, 1e-9))
}

func newScene() *scene.Scene {
	GinkgoHelper()
	s, err := scene.New(scene.Config{Width: 320, Height: 180, FPS: 10, Seed: 3, CameraID: "vp8", People: 3, Vehicles: 1})
	Expect(err).NotTo(HaveOccurred())
	return s
}

var _ = Describe("VP8", func() {
	It("encodes frames that libvpx decodes back close to the original", func() {
		s := newScene()
		enc, err := vp8.NewEncoder(vp8.Config{Width: 320, Height: 180, FPS: 10, Bitrate: 600_000})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(enc.Close)
		dec, err := vp8.NewDecoder()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(dec.Close)
		for i := 0; i < 10; i++ {
			f := s.Render(i)
			data, key, err := enc.Encode(f.Image, int64(i))
			Expect(err).NotTo(HaveOccurred())
			Expect(data).NotTo(BeEmpty())
			Expect(key).To(Equal(i == 0), "frame %d", i)
			img, err := dec.Decode(data)
			Expect(err).NotTo(HaveOccurred())
			Expect(img.Rect).To(Equal(f.Image.Rect))
			if i == 0 {
				Expect(psnr(f.Image, img)).To(BeNumerically(">", 28))
			}
			Expect(psnr(f.Image, img)).To(BeNumerically(">", 20), "frame %d", i)
		}
	})

	It("makes a keyframe when asked", func() {
		s := newScene()
		enc, err := vp8.NewEncoder(vp8.Config{Width: 320, Height: 180, FPS: 10, Bitrate: 300_000})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(enc.Close)
		keys := []bool{}
		for i := 0; i < 6; i++ {
			if i == 4 {
				enc.ForceKeyframe()
			}
			_, key, err := enc.Encode(s.Render(i).Image, int64(i))
			Expect(err).NotTo(HaveOccurred())
			keys = append(keys, key)
		}
		Expect(keys).To(Equal([]bool{true, false, false, false, true, false}))
	})

	It("rejects bad settings and frames of the wrong size", func() {
		_, err := vp8.NewEncoder(vp8.Config{Width: 321, Height: 180, FPS: 10, Bitrate: 300_000})
		Expect(err).To(MatchError(vp8.ErrInvalidConfig))
		_, err = vp8.NewEncoder(vp8.Config{Width: 320, Height: 180, FPS: 10, Bitrate: 5})
		Expect(err).To(MatchError(ContainSubstring("at least 10kbit")))
		enc, err := vp8.NewEncoder(vp8.Config{Width: 320, Height: 180, FPS: 10, Bitrate: 300_000})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(enc.Close)
		_, _, err = enc.Encode(image.NewYCbCr(image.Rect(0, 0, 64, 64), image.YCbCrSubsampleRatio420), 0)
		Expect(err).To(MatchError(ContainSubstring("want 4:2:0 320x180")))
	})

	It("fails cleanly on garbage input to the decoder", func() {
		dec, err := vp8.NewDecoder()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(dec.Close)
		_, err = dec.Decode([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
		Expect(err).To(HaveOccurred())
		_, err = dec.Decode(nil)
		Expect(err).To(HaveOccurred())
	})

	It("hits the target bitrate within 10% over 30 s of video, the same bytes every run", func() {
		s, err := scene.New(scene.Config{Width: 640, Height: 360, FPS: 10, Seed: 9, CameraID: "rate", People: 4, Vehicles: 2})
		Expect(err).NotTo(HaveOccurred())
		frames := make([]*image.YCbCr, 300)
		for i := range frames {
			frames[i] = s.Render(i).Image
		}
		encodeAll := func(bitrate, n int) (int, []byte) {
			enc, err := vp8.NewEncoder(vp8.Config{Width: 640, Height: 360, FPS: 10, Bitrate: bitrate})
			Expect(err).NotTo(HaveOccurred())
			defer enc.Close()
			total := 0
			var last []byte
			for i, f := range frames[:n] {
				data, _, err := enc.Encode(f, int64(i))
				Expect(err).NotTo(HaveOccurred())
				total += len(data)
				last = data
			}
			return total, last
		}
		total, _ := encodeAll(800_000, 300)
		Expect(float64(total) * 8 / 30).To(BeNumerically("~", 800_000, 80_000))
		a, lastA := encodeAll(300_000, 30)
		b, lastB := encodeAll(300_000, 30)
		Expect(a).To(Equal(b))
		Expect(lastA).To(Equal(lastB))
	})

	It("detects keyframes from the bitstream", func() {
		Expect(vp8.IsKeyframe([]byte{0x10, 0, 0})).To(BeTrue())
		Expect(vp8.IsKeyframe([]byte{0x11, 0, 0})).To(BeFalse())
		Expect(vp8.IsKeyframe(nil)).To(BeFalse())
	})
})

func BenchmarkEncode640x360(b *testing.B) {
	s, err := scene.New(scene.Config{Width: 640, Height: 360, FPS: 10, Seed: 1, CameraID: "bench", People: 4, Vehicles: 2})
	if err != nil {
		b.Fatal(err)
	}
	frames := make([]*image.YCbCr, 50)
	for i := range frames {
		frames[i] = s.Render(i).Image
	}
	enc, err := vp8.NewEncoder(vp8.Config{Width: 640, Height: 360, FPS: 10, Bitrate: 800_000})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	var bytes int
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		data, _, err := enc.Encode(frames[i%len(frames)], int64(i))
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(data)
	}
	b.ReportMetric(float64(cpuTime()-c0)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
}

// cpuTime is the process's user+system CPU time: on a shared machine it is
// steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
