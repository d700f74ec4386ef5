package plan_test

import (
	"context"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
)

var _ = Describe("FromScenario", func() {
	var (
		cal *plan.Calibration
		sc  *scenarios.Scenario
	)
	BeforeEach(func() {
		cal = loadFixture()
		var err error
		sc, err = scenarios.LoadFile("testdata/scenario-two-stores.yaml")
		Expect(err).NotTo(HaveOccurred())
	})

	It("builds the fleet the scenario describes, links translated as the testbed translates them", func() {
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Seed).To(Equal(int64(9)))
		Expect(f.Duration).To(Equal(20 * time.Second))
		Expect(f.Model).To(Equal("jittery"))
		Expect(f.Placement).To(Equal(plan.PlacementEdge))
		Expect(f.DetectFPS).To(Equal(5.0))
		Expect(f.Cloud).To(Equal(plan.Cloud{Nodes: 2}), "edge placement: the cloud runs no detection, its class is not needed")
		Expect(f.Alerts).To(Equal([]plan.AlertRule{{Zone: "door", Label: "person", Dwell: 2 * time.Second}}))
		Expect(f.Faults).To(ConsistOf(
			plan.Fault{At: 8 * time.Second, Action: plan.FaultKill, Node: "store-1-edge-2"},
			plan.Fault{At: 5 * time.Second, Action: plan.FaultPartition, Site: "store-1", Link: plan.LinkWAN, Duration: 3 * time.Second}))

		Expect(f.Sites).To(HaveLen(2))
		s1 := f.Sites[0]
		Expect(s1.Name).To(Equal("store-1"))
		Expect(s1.Nodes).To(Equal(2))
		Expect(s1.Class).To(Equal("small-box"))
		// camera 2 alone sees the scripted person: the group splits
		door := []plan.Zone{{Name: "door", Rect: [4]float64{0, 0, 0.5, 1}}}
		rate := units.MustParseBitRate("600Kbit")
		Expect(s1.Cameras).To(HaveLen(2))
		Expect(s1.Cameras[1].Events).To(HaveLen(1))
		ev := s1.Cameras[1].Events[0]
		// fakecam's person crosses the zone's edge at the event's start,
		// and stands in it until its end (within one frame, 100 ms)
		Expect(ev.In).To(BeNumerically("~", 2*time.Second, 100*time.Millisecond))
		Expect(ev.Out).To(BeNumerically("~", 12*time.Second, 100*time.Millisecond))
		s1.Cameras[1].Events[0].In, s1.Cameras[1].Events[0].Out = 0, 0
		Expect(s1.Cameras).To(Equal([]plan.CameraGroup{
			{Name: "cam", Count: 2, Width: 640, Height: 360, FPS: 10, Bitrate: rate, Zones: door},
			{Name: "cam-2", Count: 1, Width: 640, Height: 360, FPS: 10, Bitrate: rate, Zones: door,
				Events: []plan.Event{{Zone: "door", Label: "person", Start: 2 * time.Second, End: 12 * time.Second}}},
		}))
		Expect(s1.LANUp).To(Equal(netem.LinkConfig{Delay: 3 * time.Millisecond, Loss: netem.Loss{Model: netem.LossBernoulli, Percent: 0.5}}))
		g4, ok := scenarios.Profile("4g")
		Expect(ok).To(BeTrue())
		for _, c := range []struct {
			got netem.LinkConfig
			dir scenarios.Direction
		}{{s1.WANUp, g4.Up}, {s1.WANDown, g4.Down}} {
			want, err := linkconf.Netem(c.dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(c.got).To(Equal(want))
		}
		Expect(f.Sites[1].Nodes).To(Equal(1))
		Expect(f.Sites[1].Cameras[0].Count).To(Equal(2))

		r, err := plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Types).To(HaveLen(2))
		Expect(r.Sites[0].AlertsExpected).To(Equal(1))
		Expect(r.Sites[0].Alerted).To(Equal(1))
		Expect(r.Failover).NotTo(BeEmpty())
	})

	It("puts a vehicle that stops in its zone from when fakecam's drives in to when it has driven out", func() {
		two, err := scenarios.LoadFile("../scenarios/examples/validation/two-stores.yaml")
		Expect(err).NotTo(HaveOccurred())
		machine, err := plan.LoadCalibration("../scenarios/examples/calibration/this-machine.yaml")
		Expect(err).NotTo(HaveOccurred())
		f, err := plan.FromScenario(two, machine)
		Expect(err).NotTo(HaveOccurred())
		var ev plan.Event
		for _, g := range f.Sites[1].Cameras {
			if len(g.Events) > 0 {
				ev = g.Events[0]
			}
		}
		// vehicle_stop at 12 s for 10 s in the bay (x 0.10-0.60): the car
		// reaches the bay's middle at 12 s at 0.2 frame widths per second,
		// so its bottom-centre crosses the bay's edge 1.25 s before, and
		// leaves it 1.25 s after 22 s (within two frames at 15 fps: the
		// box is whole pixels)
		Expect(ev.Start).To(Equal(12 * time.Second))
		Expect(ev.In).To(BeNumerically("~", 10750*time.Millisecond, 134*time.Millisecond))
		Expect(ev.Out).To(BeNumerically("~", 23250*time.Millisecond, 134*time.Millisecond))
		r, err := plan.Run(context.Background(), f, machine)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Types[1].TimeToAlertP50).To(BeNumerically("<", 3*time.Second), "the 3 s dwell began before the event's start")
	})

	It("gives a site its own model's inference cost (sites[].workload.model) and names both models", func() {
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.ModelLabel()).To(Equal("jittery"))
		same, err := plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())

		sc.Sites[1].Model = &scenarios.Model{Name: "edgesim-det"} // 100 ms a frame on small-box, against jittery's 20-120 ms
		f, err = plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect([]string{f.Sites[0].Model, f.Sites[1].Model}).To(Equal([]string{"", "edgesim-det"}))
		Expect(f.ModelLabel()).To(Equal("edgesim-det+jittery"))
		mixed, err := plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(mixed.Sites[0].LatencyP50).To(Equal(same.Sites[0].LatencyP50), "store-1 still runs jittery")
		Expect(mixed.Sites[1].LatencyP50).To(BeNumerically(">", same.Sites[1].LatencyP50+40*time.Millisecond), "store-2 runs edgesim-det")
	})

	It("needs the cloud's class only when the cloud runs detection", func() {
		sc.Cloud.Nodes[0].Resources, sc.Cloud.Nodes[1].Resources = scenarios.Resources{}, scenarios.Resources{}
		_, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred(), "edge placement: an uncalibrated cloud only receives alerts")
		sc.Workload.Placement = scenarios.PlacementCloud
		_, err = plan.FromScenario(sc, cal)
		Expect(err).To(MatchError(ContainSubstring("(the nodes of cloud)")))
		sc.Cloud.Nodes[0].Resources = scenarios.Resources{CPU: units.MilliCPU(4000), Memory: units.ByteSize(8 << 30)}
		sc.Cloud.Nodes[1].Resources = sc.Cloud.Nodes[0].Resources
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Cloud).To(Equal(plan.Cloud{Nodes: 2, Class: "cloud-box"}))
	})

	It("refuses what the simulator does not model, naming it", func() {
		sc.Faults[0].Action = scenarios.FaultPause
		sc.Faults[0].Target = scenarios.FaultTarget{Node: "cloud-1", Nodes: []string{"cloud-1"}}
		_, err := plan.FromScenario(sc, cal)
		Expect(err).To(MatchError(ContainSubstring("cloud-1: the simulator models pauses of edge nodes only")))
	})

	It("takes a named hardware class by its name, and refuses one whose resources differ from the calibration's", func() {
		for i := range sc.Sites[0].Nodes {
			sc.Sites[0].Nodes[i].Resources.Class = "small-box"
		}
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Sites[0].Class).To(Equal("small-box"))

		for i := range sc.Sites[0].Nodes {
			sc.Sites[0].Nodes[i].Resources.Class = "shop-box"
		}
		_, err = plan.FromScenario(sc, cal)
		var missing *plan.MissingCalibrationError
		Expect(errors.As(err, &missing)).To(BeTrue())
		Expect(missing.Command).To(Equal("edgesim plan calibrate --class shop-box --cpu 1 --memory 1GiB"))

		for i := range sc.Sites[0].Nodes {
			sc.Sites[0].Nodes[i].Resources = scenarios.Resources{Class: "small-box", CPU: units.MilliCPU(2000), Memory: units.ByteSize(1 << 30)}
		}
		_, err = plan.FromScenario(sc, cal)
		Expect(err).To(MatchError(ContainSubstring("hardware class small-box of site store-1 has cpu 2 and memory 1GiB in the scenario but cpu 1 and memory 1GiB in the calibration")))
	})

	It("gives nodes without resources the calibration's unlimited class, or names the command that measures it", func() {
		sc.Sites[1].Nodes[0].Resources = scenarios.Resources{}
		_, err := plan.FromScenario(sc, cal)
		Expect(err).To(MatchError(ContainSubstring("nodes without resources, unlimited: the whole machine (the nodes of site store-2)")))
		Expect(err.Error()).NotTo(ContainSubstring("cpu 0 and memory"))
		var missing *plan.MissingCalibrationError
		Expect(errors.As(err, &missing)).To(BeTrue())
		Expect(missing.Command).To(Equal("edgesim plan calibrate --class unlimited --cpu 0 --memory 0B"))

		cal.Classes = append(cal.Classes, cal.Classes[0])
		cal.Classes[len(cal.Classes)-1].Name, cal.Classes[len(cal.Classes)-1].CPU, cal.Classes[len(cal.Classes)-1].Memory = "unlimited", 0, 0
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Sites[1].Class).To(Equal("unlimited"))
	})

	It("translates a degrade into the link's complete new settings per direction, as the testbed does", func() {
		sc.Faults[1] = scenarios.Fault{Name: "slow", At: 4 * time.Second, Action: scenarios.FaultDegrade, Duration: 6 * time.Second,
			Target: scenarios.FaultTarget{Link: "store-1-lan", Links: []string{"store-1-lan"}},
			Degrade: &scenarios.Degradation{Ramp: 2 * time.Second, Links: []scenarios.LinkChange{{Link: "store-1-lan",
				To: scenarios.LinkSpec{Up: scenarios.Direction{Delay: 40 * time.Millisecond, Rate: 4 * units.Mbit}}}}}}
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Faults).To(ContainElement(plan.Fault{At: 4 * time.Second, Action: plan.FaultDegrade, Site: "store-1", Link: plan.LinkLAN,
			Duration: 6 * time.Second, Ramp: 2 * time.Second, Up: netem.LinkConfig{Delay: 40 * time.Millisecond, RateBits: 4e6}}))
		_, err = plan.Run(context.Background(), f, cal)
		Expect(err).NotTo(HaveOccurred())
	})

	It("makes a rule with a time window night-only, judged by the luma of each group's scene as fakecam renders it", func() {
		sc.Workload.Alerts[0].Window = &scenarios.TimeWindow{}
		sc.Sites[0].Cameras[0].Scene = scenarios.Scene{Background: "parking", Night: true}
		sc.Sites[1].Cameras[0].Scene = scenarios.Scene{Background: "parking"}
		f, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Alerts[0].NightOnly).To(BeTrue())
		Expect(f.Sites[0].Cameras[0].Luma).To(BeNumerically("<", rules.NightLuma))
		Expect(f.Sites[0].Cameras[1].Luma).To(Equal(f.Sites[0].Cameras[0].Luma))
		Expect(f.Sites[1].Cameras[0].Luma).To(BeNumerically(">", rules.NightLuma))
	})

	It("takes the example scenarios with this machine's calibration", func() {
		here, err := plan.LoadCalibration("../scenarios/examples/calibration/this-machine.yaml")
		Expect(err).NotTo(HaveOccurred())
		for _, name := range []string{"quickstart", "night-watch-4g", "retail-wifi", "factory-5g"} {
			ex, err := scenarios.LoadFile("../scenarios/examples/" + name + ".yaml")
			Expect(err).NotTo(HaveOccurred(), name)
			f, err := plan.FromScenario(ex, here)
			Expect(err).NotTo(HaveOccurred(), name)
			r, err := plan.Run(context.Background(), f, here)
			Expect(err).NotTo(HaveOccurred(), name)
			if name == "night-watch-4g" { // its rule has a time window: night scenes raise it
				Expect(r.Sites[0].AlertsExpected).To(Equal(1))
			}
			for _, s := range r.Sites {
				Expect(s.Alerted).To(Equal(s.AlertsExpected), "%s: %s", name, s.Name)
				Expect(s.Frames.Answered).To(BeNumerically(">", 0), "%s: %s", name, s.Name)
			}
		}
	})

	It("refuses nodes no calibrated class matches, naming the command that measures one", func() {
		sc.Sites[1].Nodes[0].Resources.CPU = units.MilliCPU(2000)
		_, err := plan.FromScenario(sc, cal)
		Expect(err).To(MatchError(ContainSubstring("cpu 2 and memory 1GiB (the nodes of site store-2)")))
		var missing *plan.MissingCalibrationError
		Expect(errors.As(err, &missing)).To(BeTrue())
		Expect(missing.Command).To(Equal("edgesim plan calibrate --cpu 2 --memory 1GiB"))
	})
})
