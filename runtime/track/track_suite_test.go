package track_test

import (
	"image"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/track"
)

func TestTrack(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Track Suite")
}

var _ = Describe("Tracker", func() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	person := func(x int) track.Observation {
		return track.Observation{Label: "person", Box: image.Rect(x, 10, x+40, 110)}
	}

	It("keeps the id of an object moving a little between frames", func() {
		tr := track.New()
		first := tr.Update(t0, []track.Observation{person(0), person(300)})
		Expect(first).To(Equal([]int{1, 2}))
		second := tr.Update(t0.Add(200*time.Millisecond), []track.Observation{person(305), person(5)})
		Expect(second).To(Equal([]int{2, 1}))
	})

	It("does not match across labels", func() {
		tr := track.New()
		tr.Update(t0, []track.Observation{person(0)})
		ids := tr.Update(t0.Add(time.Second/5), []track.Observation{{Label: "vehicle", Box: person(0).Box}})
		Expect(ids).To(Equal([]int{2}))
	})

	It("forgets a track idle longer than the limit", func() {
		tr := track.New(track.WithMaxIdle(time.Second))
		tr.Update(t0, []track.Observation{person(0)})
		Expect(tr.Update(t0.Add(900*time.Millisecond), nil)).To(BeEmpty())
		Expect(tr.Len()).To(Equal(1))
		Expect(tr.Update(t0.Add(2*time.Second), []track.Observation{person(0)})).To(Equal([]int{2}))
	})

	It("gives a new id when the box jumps", func() {
		tr := track.New()
		tr.Update(t0, []track.Observation{person(0)})
		Expect(tr.Update(t0.Add(time.Second/5), []track.Observation{person(200)})).To(Equal([]int{2}))
	})

	It("computes IoU", func() {
		Expect(track.IoU(image.Rect(0, 0, 10, 10), image.Rect(5, 0, 15, 10))).To(BeNumerically("~", 50.0/150.0, 1e-9))
		Expect(track.IoU(image.Rect(0, 0, 10, 10), image.Rect(20, 20, 30, 30))).To(BeZero())
		Expect(track.IoU(image.Rectangle{}, image.Rectangle{})).To(BeZero())
	})
})
