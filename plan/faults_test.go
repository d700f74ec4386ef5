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

// doorFleet is one camera on one node, a person in the door from 5 s to
// 25 s and a 3 s dwell rule: the alert is raised at about 8.1 s.
func doorFleet() *plan.Fleet {
	return &plan.Fleet{Seed: 4, Duration: 30 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
		Alerts: []plan.AlertRule{{Zone: "door", Label: "person", Dwell: 3 * time.Second}},
		Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: []plan.CameraGroup{{
			Name: "cam", Count: 1, Width: 640, Height: 360, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit"),
			Zones:  []plan.Zone{{Name: "door", Rect: [4]float64{0, 0, 0.5, 1}}},
			Events: []plan.Event{{Zone: "door", Label: "person", Start: 5 * time.Second, End: 25 * time.Second}}}},
			LANUp: netem.LinkConfig{Delay: 5 * time.Millisecond},
			WANUp: netem.LinkConfig{Delay: 50 * time.Millisecond}}}}
}

var _ = Describe("Link faults", func() {
	var cal *plan.Calibration
	ctx := context.Background()
	BeforeEach(func() { cal = loadFixture() })

	run := func(f *plan.Fleet) *plan.Result {
		r, err := plan.Run(ctx, f, cal)
		Expect(err).NotTo(HaveOccurred())
		return r
	}

	It("delays an alert raised inside a WAN degrade by the delay it adds, and not one raised after it", func() {
		base := run(doorFleet()).Types[0]
		Expect(base.Alerted).To(Equal(1))

		f := doorFleet()
		f.Faults = []plan.Fault{{At: 7 * time.Second, Action: plan.FaultDegrade, Site: "s", Link: plan.LinkWAN, Duration: 5 * time.Second,
			Up: netem.LinkConfig{Delay: 250 * time.Millisecond}}}
		got := run(f).Types[0]
		Expect(got.Alerted).To(Equal(1))
		// (quantiles are within 1 % of the time to alert, ~35 ms)
		Expect(got.TimeToAlertP50 - base.TimeToAlertP50).To(BeNumerically("~", 200*time.Millisecond, 40*time.Millisecond))

		f.Faults[0].Duration = time.Second // restored at 8 s, before the alert
		Expect(run(f).Types[0].TimeToAlertP50).To(Equal(base.TimeToAlertP50))
	})

	It("ramps a degrade as netem does: 40 % through the ramp, 40 % of the added delay", func() {
		base := run(doorFleet()).Types[0]
		f := doorFleet()
		// The alert leaves the node at about 8.1 s: a ramp over 20 s
		// from 0 is 40 % through, adding about 0.8 s of the 2 s.
		f.Faults = []plan.Fault{{Action: plan.FaultDegrade, Site: "s", Link: plan.LinkWAN,
			Ramp: 20 * time.Second, Up: netem.LinkConfig{Delay: 2050 * time.Millisecond}}}
		got := run(f).Types[0]
		Expect(got.TimeToAlertP50 - base.TimeToAlertP50).To(BeNumerically("~", 810*time.Millisecond, 50*time.Millisecond))
	})

	It("adds a LAN degrade's delay to the latency of the frames it carries, rate and all", func() {
		base := run(doorFleet()).Types[0]
		f := doorFleet()
		f.Faults = []plan.Fault{{Action: plan.FaultDegrade, Site: "s", Link: plan.LinkLAN,
			Up: netem.LinkConfig{Delay: 105 * time.Millisecond, RateBits: 50e6}}}
		got := run(f).Types[0]
		Expect(got.LatencyP50).To(BeNumerically("~", base.LatencyP50+100*time.Millisecond, 10*time.Millisecond))
		Expect(got.Frames.Answered).To(BeNumerically("~", base.Frames.Answered, 2))

		// a rate below the video's bitrate queues frames until max age drops them
		f.Faults[0].Up.RateBits = 200e3
		Expect(run(f).Types[0].Frames.Answered).To(BeNumerically("<", base.Frames.Answered/2))
	})

	It("refuses a degrade of a link the fleet does not have", func() {
		f := doorFleet()
		f.Faults = []plan.Fault{{Action: plan.FaultDegrade, Site: "nowhere", Link: plan.LinkLAN}}
		_, err := plan.Run(ctx, f, cal)
		Expect(err).To(MatchError(ContainSubstring("degrade needs a site of the fleet and link lan or wan")))
	})
})

var _ = Describe("Alert rules with a time window", func() {
	It("raise alerts in scenes edgenode judges as night, by the runtime's own luma rule, and none in daylight", func() {
		cal := loadFixture()
		f := doorFleet()
		f.Alerts[0].NightOnly = true
		f.Sites[0].Cameras[0].Luma = 30
		r, err := plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Types[0].Alerted).To(Equal(1))

		f.Sites[0].Cameras[0].Luma = 120
		r, err = plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Types[0].Alerted).To(Equal(0))
	})
})

var _ = Describe("Node restarts", func() {
	var cal *plan.Calibration
	BeforeEach(func() { cal = loadFixture() })

	restart := func(down time.Duration) *plan.Result {
		f := &plan.Fleet{Seed: 2, Duration: 25 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
			Sites:  []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: cams(2)}},
			Faults: []plan.Fault{{At: 10 * time.Second, Action: plan.FaultRestart, Node: "s-edge-1", Duration: down}}}
		r, err := plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
		return r
	}

	It("loses the node's work and takes the cameras back after the calibrated detect and reconnect times", func() {
		r := restart(time.Second)
		Expect(r.Failover).To(HaveLen(2))
		for _, g := range r.Failover {
			Expect(g.Recovered).To(BeTrue())
			// back at 11 s, before the cameras notice: detect 2..4 s +
			// reconnect 0.5..1.5 s, then a frame's decode and inference
			Expect(g.Gap).To(BeNumerically(">=", 2500*time.Millisecond))
			Expect(g.Gap).To(BeNumerically("<=", 5800*time.Millisecond))
		}
		// the restarted process knows nothing of the sessions before it
		Expect(r.Sites[0].Frames.NodeDown).To(BeNumerically(">=", 2*20))
	})

	It("takes the cameras back only once the node is up again", func() {
		r := restart(8 * time.Second)
		Expect(r.Failover).To(HaveLen(2))
		for _, g := range r.Failover {
			Expect(g.Recovered).To(BeTrue())
			// up at 18 s, then reconnect 0.5..1.5 s and a frame
			Expect(g.Gap).To(BeNumerically(">=", 8500*time.Millisecond))
			Expect(g.Gap).To(BeNumerically("<=", 9800*time.Millisecond))
		}
	})

	It("refuses a node killed or restarted twice", func() {
		f := &plan.Fleet{Seed: 2, Duration: 5 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge,
			Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: cams(1)}},
			Faults: []plan.Fault{{At: time.Second, Action: plan.FaultRestart, Node: "s-edge-1", Duration: time.Second},
				{At: 3 * time.Second, Action: plan.FaultKill, Node: "s-edge-1"}}}
		_, err := plan.Run(context.Background(), f, cal)
		Expect(err).To(MatchError(ContainSubstring("s-edge-1 is killed, restarted or paused twice")))
	})
})

var _ = Describe("Node pauses", func() {
	var cal *plan.Calibration
	BeforeEach(func() { cal = loadFixture() })

	pause := func(cameras, nodes int, frozen time.Duration) *plan.Result {
		f := &plan.Fleet{Seed: 2, Duration: 25 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
			Sites:  []plan.Site{{Name: "s", Nodes: nodes, Class: "small-box", Cameras: cams(cameras)}},
			Faults: []plan.Fault{{At: 10 * time.Second, Action: plan.FaultPause, Node: "s-edge-1", Duration: frozen}}}
		r, err := plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
		return r
	}

	It("holds what arrives while frozen and answers it at the thaw, the cameras keeping their session", func() {
		r := pause(1, 1, 1900*time.Millisecond)
		Expect(r.Failover).To(HaveLen(1))
		g := r.Failover[0]
		Expect(g.Recovered).To(BeTrue())
		// the first frame after the freeze is read at the thaw, then
		// decoded and inferred (well under 0.5 s on this class)
		Expect(g.Gap).To(BeNumerically(">=", 1900*time.Millisecond))
		Expect(g.Gap).To(BeNumerically("<=", 2400*time.Millisecond))
		fc := r.Sites[0].Frames
		Expect(fc.NodeDown).To(BeZero())
		Expect(fc.NotSent).To(BeZero(), "no camera gave its session up")
	})

	It("drops the frames that waited past max age at the thaw, and the cameras that noticed fail over", func() {
		r := pause(4, 1, 8*time.Second)
		fc := r.Sites[0].Frames
		Expect(fc.TooOld).To(BeNumerically(">=", 1), "queued at the freeze, 8 s old at the thaw")
		Expect(fc.NodeDown).To(BeNumerically(">", 0), "held for sessions the cameras gave up")
		Expect(r.Failover).To(HaveLen(4))
		for _, g := range r.Failover {
			Expect(g.Recovered).To(BeTrue())
			// thawed at 18 s, then reconnect 0.5..1.5 s and a frame
			Expect(g.Gap).To(BeNumerically(">=", 8500*time.Millisecond))
			Expect(g.Gap).To(BeNumerically("<=", 10*time.Second))
		}

		r = pause(4, 2, 8*time.Second)
		Expect(r.Failover).To(HaveLen(2)) // the cameras on edge-1
		for _, g := range r.Failover {
			// detect 2..4 s + reconnect 0.5..1.5 s to edge-2, then a frame
			Expect(g.Gap).To(BeNumerically(">=", 2500*time.Millisecond))
			Expect(g.Gap).To(BeNumerically("<=", 5800*time.Millisecond))
		}
	})
})
