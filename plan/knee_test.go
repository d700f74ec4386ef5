package plan_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
)

var _ = Describe("FindKnee", func() {
	var cal *plan.Calibration
	ctx := context.Background()
	BeforeEach(func() { cal = loadFixture() })

	// Two edge nodes of the fixture's small-box: one worker, a
	// deterministic 100 ms inference, so a node infers 10 frames/s.
	base := func(detectFPS float64) *plan.Fleet {
		return &plan.Fleet{Seed: 3, Duration: 30 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: detectFPS,
			Sites: []plan.Site{{Name: "s", Nodes: 2, Class: "small-box", Cameras: cams(1),
				LANUp: netem.LinkConfig{Delay: 5 * time.Millisecond}, LANDown: netem.LinkConfig{Delay: 5 * time.Millisecond}}}}
	}
	slo := plan.Objectives{LatencyP95: 800 * time.Millisecond, DroppedMax: 0.01}

	DescribeTable("finds the capacity a node's workers and service time give, in cameras per node",
		func(detectFPS float64, knee int) {
			// knee = floor(workers / (service time × detect fps)) = floor(10 / fps)
			k, err := plan.FindKnee(ctx, base(detectFPS), cal, slo, []int{knee + 2, knee, knee + 1, knee - 1, knee})
			Expect(err).NotTo(HaveOccurred())
			Expect(k.CamerasPerNode).To(Equal(knee))
			Expect(k.Points).To(HaveLen(4)) // sorted, each value once
			for i, p := range k.Points {
				Expect(p.CamerasPerNode).To(Equal(knee - 1 + i)) // ascending
				Expect(p.Result.Sites[0].Cameras).To(Equal(2 * p.CamerasPerNode))
				Expect(p.Met).To(Equal(p.CamerasPerNode <= knee), "%d cameras per node: %+v", p.CamerasPerNode, p.Checks)
				for _, c := range p.Checks {
					Expect(c.Exercised).To(BeTrue())
				}
			}
			// one camera past the knee drops about a (1 - capacity/offered) share
			past := k.Points[2].Checks[1]
			Expect(past.Objective).To(ContainSubstring("dropped"))
			offered := float64(knee+1) * detectFPS
			Expect(past.Value).To(BeNumerically("~", 1-10/offered, 0.02))
		},
		Entry("sampled at 5 fps: 2 cameras", 5.0, 2),
		Entry("sampled at 2 fps: 5 cameras", 2.0, 5),
	)

	It("does not count an objective nothing exercised as met", func() {
		k, err := plan.FindKnee(ctx, base(5), cal, plan.Objectives{TimeToAlertP95: 10 * time.Second}, []int{1})
		Expect(err).NotTo(HaveOccurred())
		Expect(k.CamerasPerNode).To(BeZero())
		Expect(k.Points[0].Checks).To(ConsistOf(HaveField("Exercised", false)))
		Expect(k.Points[0].Met).To(BeFalse())
	})

	It("refuses a sweep without objectives or one it cannot scale", func() {
		_, err := plan.FindKnee(ctx, base(5), cal, plan.Objectives{}, []int{1})
		Expect(err).To(MatchError(ContainSubstring("no objectives")))
		f := base(5)
		f.Sites[0].Cameras = append(f.Sites[0].Cameras, f.Sites[0].Cameras[0])
		_, err = plan.FindKnee(ctx, f, cal, slo, []int{1})
		Expect(err).To(MatchError(ContainSubstring("exactly one per site")))
	})
})
