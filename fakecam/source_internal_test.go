package fakecam

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam/scene"
)

var _ = Describe("a camera's encoder across frames no session carried", func() {
	It("keeps its frame sizes: the reconnect's time is neither spent on the keyframe nor paid back after it", func(ctx SpecContext) {
		cam, err := NewCamera(Config{ID: "cam-gap", Bitrate: 600_000, Endpoints: []string{"http://127.0.0.1:1/whip"},
			Scene: scene.Config{Width: 640, Height: 360, FPS: 10, Background: scene.BackgroundIndoor, Seed: 42, People: 2}})
		Expect(err).NotTo(HaveOccurred())
		src, err := cam.openSource()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(src.close)
		encode := func(from, to int, key bool) []int {
			var sizes []int
			for i := from; i < to; i++ {
				data, _, _, err := src.frame(i, key && i == from)
				Expect(err).NotTo(HaveOccurred())
				sizes = append(sizes, len(data))
			}
			return sizes
		}
		encode(0, 30, false) // past the first keyframe's ramp
		before := encode(30, 60, false)
		t0 := time.Unix(1_800_000_000, 0)
		for i := 60; i < 70; i++ { // a second of captures while the camera has no session
			Expect(cam.capture(ctx, src, i, t0.Add(time.Duration(i)*100*time.Millisecond))).To(BeTrue())
		}
		Expect(cam.Stats().FramesNotSent).To(BeEquivalentTo(10))
		after := encode(70, 100, true) // the new session begins with a keyframe
		mean := 0
		for _, n := range before {
			mean += n
		}
		mean /= len(before)
		// With the second banked, libvpx made a 55 KB keyframe and then
		// frames of about 300 bytes for seconds.
		Expect(after).To(HaveEach(BeNumerically("<=", 2*mean)), "no frame spends the reconnect's time; before it: %v", before)
		Expect(after).To(HaveEach(BeNumerically(">=", mean/4)), "no frame pays it back; before it: %v", before)
	})
})
