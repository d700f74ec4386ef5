package plan_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/units"
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

	// A store with a scripted person at the door and a yard with nothing
	// scripted, one node and one camera each.
	twoTypes := func() *plan.Fleet {
		cam := func(events []plan.Event) []plan.CameraGroup {
			return []plan.CameraGroup{{Name: "cam", Count: 1, Width: 640, Height: 360, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit"),
				Zones: []plan.Zone{{Name: "door", Rect: [4]float64{0, 0, 0.5, 1}}}, Events: events}}
		}
		return &plan.Fleet{Seed: 4, Duration: 30 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 2,
			Alerts: []plan.AlertRule{{Zone: "door", Label: "person", Dwell: 3 * time.Second}},
			Sites: []plan.Site{
				{Name: "store", Type: "store", Nodes: 1, Class: "small-box", WANUp: netem.LinkConfig{Delay: 50 * time.Millisecond},
					Cameras: cam([]plan.Event{{Zone: "door", Label: "person", Start: 5 * time.Second, End: 25 * time.Second}})},
				{Name: "yard", Type: "yard", Nodes: 1, Class: "small-box", Cameras: cam(nil)},
			}}
	}
	tta := plan.Objectives{TimeToAlertP95: 10 * time.Second}

	It("fails time to alert when an expected alert never reached the cloud, whatever the delivered ones took", func() {
		f := twoTypes()
		f.Sites = f.Sites[:1]
		f.Faults = []plan.Fault{{At: 0, Action: plan.FaultPartition, Site: "store", Link: plan.LinkWAN}} // to the end
		k, err := plan.FindKnee(ctx, f, cal, tta, []int{1})
		Expect(err).NotTo(HaveOccurred())
		Expect(k.Points[0].Result.Types[0].Alerted).To(BeZero())
		Expect(k.Points[0].Checks).To(ConsistOf(SatisfyAll(HaveField("Exercised", true), HaveField("Met", false),
			HaveField("Note", "1 of 1 expected alerts never reached the cloud"))))
		Expect(k.CamerasPerNode).To(BeZero())
	})

	It("judges time to alert on the site types that have a scripted event, and fails a point where none has one", func() {
		k, err := plan.FindKnee(ctx, twoTypes(), cal, tta, []int{1})
		Expect(err).NotTo(HaveOccurred())
		Expect(k.Points[0].Checks).To(ConsistOf(SatisfyAll(HaveField("Objective", "store: time to alert p95 (s)"), HaveField("Met", true))))
		Expect(k.CamerasPerNode).To(Equal(1))

		f := twoTypes()
		f.Sites = f.Sites[1:]
		k, err = plan.FindKnee(ctx, f, cal, tta, []int{1})
		Expect(err).NotTo(HaveOccurred())
		Expect(k.Points[0].Checks).To(ConsistOf(SatisfyAll(HaveField("Exercised", false), HaveField("Met", false),
			HaveField("Note", ContainSubstring("no site type has a scripted event")))))
		Expect(k.CamerasPerNode).To(BeZero())
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
