package validate_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/validate"
	"github.com/edgesim/edgesim/scenarios"
)

const fixture = "../testdata/calibration-test-fixture.yaml"

func loadFixture() *plan.Calibration {
	cal, err := plan.LoadCalibration(fixture)
	Expect(err).NotTo(HaveOccurred())
	Expect(cal.TestFixture).To(BeTrue())
	return cal
}

func load(name string) *scenarios.Scenario {
	sc, err := scenarios.LoadFile("testdata/" + name + ".yaml")
	Expect(err).NotTo(HaveOccurred())
	return sc
}

var _ = Describe("WithCamerasPerNode", func() {
	It("gives every site n cameras per edge node, with the loader's ids, leaving the scenario alone", func() {
		sc := load("three-shops")
		got, err := validate.WithCamerasPerNode(sc, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Cameras()).To(Equal(3*2 + 3 + 3))
		Expect(got.Sites[0].Cameras[0].CameraIDs).To(Equal([]string{"shop-a-cam-1", "shop-a-cam-2", "shop-a-cam-3", "shop-a-cam-4", "shop-a-cam-5", "shop-a-cam-6"}))
		Expect(sc.Cameras()).To(Equal(5), "the input is not changed")
		Expect(sc.Sites[0].Cameras[0].CameraIDs).To(HaveLen(2))
	})

	It("keeps an event on the cameras that saw it, and one seen by all on all", func() {
		sc := load("three-shops")
		got, err := validate.WithCamerasPerNode(sc, 2)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Sites[1].Cameras[0].Events[0].Cameras).To(Equal([]string{"shop-b-cam-1"}))

		sc.Sites[1].Cameras[0].Events[0].Cameras = nil
		got, err = validate.WithCamerasPerNode(sc, 2)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Sites[1].Cameras[0].Events[0].Cameras).To(Equal([]string{"shop-b-cam-1", "shop-b-cam-2"}))
	})

	It("refuses what it cannot scale, naming the fix", func() {
		sc := load("three-shops")
		_, err := validate.WithCamerasPerNode(sc, 0)
		Expect(err).To(MatchError(ContainSubstring("at least 1")))
		_, err = validate.WithCamerasPerNode(sc, 200)
		Expect(err).To(MatchError(ContainSubstring("more than a group may have")))
		events := sc.Sites[1].Cameras[0].Events
		sc.Sites[1].Cameras[0].Events = []scenarios.Event{events[0]}
		sc.Sites[1].Cameras[0].Events[0].Cameras = []string{"shop-b-cam-2"}
		_, err = validate.WithCamerasPerNode(sc, 1)
		Expect(err).To(MatchError(ContainSubstring("sweep from more cameras")))
		sc.Sites[1].Cameras[0].Events = events
		sc.Sites[2].Cameras = append(sc.Sites[2].Cameras, sc.Sites[2].Cameras[0])
		_, err = validate.WithCamerasPerNode(sc, 1)
		Expect(err).To(MatchError(ContainSubstring("exactly one per site")))
	})

	It("sizes a point as the simulator's Fleet.WithCamerasPerNode does", func() {
		cal := loadFixture()
		sc := load("three-shops")
		sc.Sites[1].Cameras[0].Events = nil // one fleet camera group per site
		base, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		for _, n := range []int{1, 2, 5} {
			want, err := base.WithCamerasPerNode(n)
			Expect(err).NotTo(HaveOccurred())
			scaled, err := validate.WithCamerasPerNode(sc, n)
			Expect(err).NotTo(HaveOccurred())
			got, err := plan.FromScenario(scaled, cal)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Sites).To(Equal(want.Sites))
		}
	})
})

var _ = Describe("Simulate", func() {
	It("moves the scripted events by the emulated warm-up's excess, clamped at the window's start", func() {
		cal := loadFixture()
		sc := load("one-store")
		at := func(warm int) *plan.Result {
			rs, err := validate.Simulate(context.Background(), sc, cal, secs(warm), 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(rs).To(HaveLen(1))
			return rs[0]
		}
		// The loiterer (2 s to 8 s, dwell 2 s) is alerted however far it
		// moves, until it leaves the window: moved 8 s it ends at 0.
		Expect(at(0).Sites[0].Alerted).To(Equal(1))
		Expect(at(1).Sites[0].Alerted).To(Equal(1))
		Expect(at(8).Sites[0].Alerted).To(Equal(0))
	})

	It("runs the point under the seeds the scenario's, the next, ..., the first being the one-run simulation", func() {
		cal := loadFixture()
		sc := load("one-store")
		rs, err := validate.Simulate(context.Background(), sc, cal, 0, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(rs).To(HaveLen(3))
		one, err := validate.Simulate(context.Background(), sc, cal, 0, 1)
		Expect(err).NotTo(HaveOccurred())
		Expect(rs[0]).To(Equal(one[0]))
		for k, r := range rs {
			Expect(r.Seed).To(Equal(sc.Seed + int64(k)))
		}
		Expect(rs[1].Sites[0].Frames).NotTo(Equal(rs[0].Sites[0].Frames), "another seed draws other losses and service times")
	})
})
