package reports_test

import (
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/wire"
)

// frames builds 10 fps samples from +0s for n frames; answered(i) says
// whether frame i got an answer, with latency lat.
func frames(n int, answered func(i int) bool, lat time.Duration, node string) []reports.FrameSample {
	out := make([]reports.FrameSample, n)
	for i := range out {
		out[i] = reports.FrameSample{Frame: uint64(i), Capture: at(time.Duration(i) * 100 * time.Millisecond)}
		if answered(i) {
			out[i].Answered, out[i].Latency, out[i].Node = true, lat, node
		}
	}
	return out
}

func smallRun(cams ...reports.Camera) *reports.Run {
	return &reports.Run{Scenario: "t", Start: t0, End: at(10 * time.Second), Cameras: cams}
}

var _ = Describe("Analyze", func() {
	Describe("failover gaps", func() {
		type want struct {
			recovered  bool
			gapMs      float64
			framesLost int
			by         string
		}
		DescribeTable("fault time to the first answer for a frame captured after it",
			func(fault reports.Fault, answered func(int) bool, w want) {
				cam := reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge, Nodes: []string{"n1", "n2"},
					Frames: frames(100, answered, 50*time.Millisecond, "n2")}
				r := mustAnalyze(&reports.Run{Scenario: "t", Start: t0, End: at(10 * time.Second),
					Cameras: []reports.Camera{cam}, Faults: []reports.Fault{fault}})
				Expect(r.Failover).To(HaveLen(1))
				g := r.Failover[0]
				Expect(g.Camera).To(Equal("cam"))
				Expect(g.Recovered).To(Equal(w.recovered))
				Expect(g.GapMs).To(BeNumerically("~", w.gapMs, 1e-6))
				Expect(g.FramesLost).To(Equal(w.framesLost))
				Expect(g.RecoveredBy).To(Equal(w.by))
			},
			Entry("outage of 2 s on the serving node",
				reports.Fault{At: at(3 * time.Second), Kind: "kill", Target: "n1"},
				func(i int) bool { return i < 30 || i >= 50 },
				want{true, 2050, 20, "n2"}),
			Entry("fault between frames: next frame answered",
				reports.Fault{At: at(3050 * time.Millisecond), Kind: "degrade", Target: "s"},
				func(int) bool { return true },
				want{true, 100, 0, "n2"}),
			Entry("never recovered: the gap runs to the end of the run",
				reports.Fault{At: at(8 * time.Second), Kind: "kill", Target: "cam"},
				func(i int) bool { return i < 80 },
				want{false, 2000, 20, ""}),
			Entry("explicit camera list",
				reports.Fault{At: at(1 * time.Second), Kind: "partition", Target: "wan", Cameras: []string{"cam"}},
				func(i int) bool { return i < 10 || i > 14 },
				want{true, 550, 5, "n2"}),
		)

		It("does not measure failover for a camera that never worked before the fault", func() {
			cam := reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge, Nodes: []string{"n1"},
				Frames: frames(100, func(i int) bool { return i > 60 }, time.Millisecond, "n1")}
			run := smallRun(cam)
			run.Faults = []reports.Fault{{At: at(3 * time.Second), Kind: "kill", Target: "n1"}}
			r := mustAnalyze(run)
			Expect(r.Failover).To(BeEmpty())
			Expect(r.Warnings).To(ContainElement("camera cam had no answered frame before fault 0 (kill n1 at +3s): failover not measured"))
		})

		It("ignores cameras the fault does not reach", func() {
			cam := reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge, Nodes: []string{"n1"},
				Frames: frames(10, func(int) bool { return true }, time.Millisecond, "n1")}
			run := smallRun(cam)
			run.Faults = []reports.Fault{{At: at(time.Second), Kind: "kill", Target: "other-node"}}
			Expect(mustAnalyze(run).Failover).To(BeEmpty())
		})
	})

	Describe("time to alert", func() {
		ev := reports.ScriptedEvent{Camera: "cam", Kind: "loiter", Zone: "door", Label: "person", Start: at(2 * time.Second), End: at(6 * time.Second)}
		alert := func(raised, received time.Duration) wire.Alert {
			a := wire.Alert{ID: "a", Camera: "cam", Zone: "door", Label: "person", Raised: at(raised)}
			if received > 0 {
				a.Received = at(received)
			}
			return a
		}
		type want struct {
			alerted bool
			ms      float64
		}
		DescribeTable("event start to the first matching alert at the cloud",
			func(events []reports.ScriptedEvent, alerts []wire.Alert, w []want) {
				run := smallRun(reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge,
					Frames: frames(10, func(int) bool { return true }, time.Millisecond, "n")})
				run.Events, run.Alerts = events, alerts
				r := mustAnalyze(run)
				Expect(r.TimeToAlert).To(HaveLen(len(w)))
				for i, t := range r.TimeToAlert {
					Expect(t.Alerted).To(Equal(w[i].alerted), "event %d", i)
					Expect(t.TimeToAlertMs).To(BeNumerically("~", w[i].ms, 1e-6), "event %d", i)
				}
			},
			Entry("received time counts", []reports.ScriptedEvent{ev},
				[]wire.Alert{alert(5*time.Second, 5200*time.Millisecond)}, []want{{true, 3200}}),
			Entry("raised time when the cloud gave none", []reports.ScriptedEvent{ev},
				[]wire.Alert{alert(5*time.Second, 0)}, []want{{true, 3000}}),
			Entry("the earliest of several alerts", []reports.ScriptedEvent{ev},
				[]wire.Alert{alert(7*time.Second, 0), alert(4*time.Second, 0)}, []want{{true, 2000}}),
			Entry("an alert raised before the event is not for it", []reports.ScriptedEvent{ev},
				[]wire.Alert{alert(time.Second, 2500*time.Millisecond)}, []want{{false, 0}}),
			Entry("wrong zone or label does not match", []reports.ScriptedEvent{ev},
				[]wire.Alert{
					{Camera: "cam", Zone: "gate", Label: "person", Raised: at(3 * time.Second)},
					{Camera: "cam", Zone: "door", Label: "vehicle", Raised: at(3 * time.Second)},
				}, []want{{false, 0}}),
			Entry("no alert at all", []reports.ScriptedEvent{ev}, nil, []want{{false, 0}}),
			Entry("an alert belongs to the latest event before it",
				[]reports.ScriptedEvent{ev, {Camera: "cam", Kind: "loiter", Zone: "door", Label: "person", Start: at(7 * time.Second), End: at(9 * time.Second)}},
				[]wire.Alert{alert(8*time.Second, 0)}, []want{{false, 0}, {true, 1000}}),
		)

		It("lists events in time order whatever order they came in", func() {
			run := fixtureRun()
			run.Events[0], run.Events[1] = run.Events[1], run.Events[0]
			r := mustAnalyze(run)
			Expect(r.TimeToAlert[0].Camera).To(Equal("cam-a2"))
			Expect(r.TimeToAlert[1].Camera).To(Equal("cam-b1"))
		})

		It("fails the SLO when an event never alerts", func() {
			run := smallRun(reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge,
				Frames: frames(10, func(int) bool { return true }, time.Millisecond, "n")})
			run.Events = []reports.ScriptedEvent{ev}
			run.SLO.TimeToAlertMax = time.Minute
			r := mustAnalyze(run)
			Expect(r.SLOs).To(HaveLen(1))
			Expect(r.SLOs[0].Pass).To(BeFalse())
			Expect(r.SLOs[0].Reason).To(ContainSubstring("never raised an alert"))
			Expect(reports.ExitCode(r)).To(Equal(1))
		})
	})

	It("excludes warm-up frames from the SLO figures", func() {
		r := mustAnalyze(fixtureRun())
		Expect(r.Frames.WarmUp).To(Equal(3 * 2 * fps))
		Expect(r.Frames.Sent).To(Equal(3 * 30 * fps))
		Expect(r.Latencies.WarmUp).NotTo(BeNil())
		Expect(r.Latencies.WarmUp.Count).To(Equal(3 * 2 * fps))
	})

	It("gives latency by camera, site, placement or overall", func() {
		r := mustAnalyze(fixtureRun())
		Expect(r.Latency("").Count).To(Equal(r.Frames.Answered))
		Expect(r.Latency("site-b").Percentile(95)).To(BeNumerically(">", r.Latency("site-a").Percentile(95)))
		Expect(r.Latency("cloud").Count).To(Equal(r.Latency("site-b").Count))
		Expect(r.Latency("cam-a2").Count).To(Equal(30 * fps))
		Expect(r.Latency("nope").Count).To(Equal(0))
	})

	It("breaks latency down into the node's reported parts and the rest", func() {
		r := mustAnalyze(fixtureRun())
		Expect(r.Latencies.Breakdown).To(BeEmpty(), "no node reported its share")

		run := fixtureRun()
		c := &run.Cameras[0]
		for i := range c.Frames {
			if f := &c.Frames[i]; f.Answered {
				f.Latency = 40 * time.Millisecond
				f.Decode, f.Wait, f.Infer, f.InNode = 3*time.Millisecond, 2*time.Millisecond, 20*time.Millisecond, 26*time.Millisecond
			}
		}
		r = mustAnalyze(run)
		want := map[string]float64{reports.PartOutsideNode: 14, reports.PartDecode: 3, reports.PartWait: 2, reports.PartInference: 20, reports.PartAfter: 1}
		Expect(r.Latencies.Breakdown).To(HaveLen(len(reports.BreakdownParts)))
		for i, g := range r.Latencies.Breakdown {
			Expect(g.Name).To(Equal(reports.BreakdownParts[i]))
			Expect(g.Count).To(Equal(r.Latency(c.ID).Count), "the camera's answered frames after warm-up")
			Expect(g.P50Ms).To(BeNumerically("~", want[g.Name], 1e-9), g.Name)
		}
	})

	It("breaks accuracy down by placement and site", func() {
		r := mustAnalyze(fixtureRun())
		Expect(r.AccuracyBy).To(HaveLen(4))
		Expect(r.AccuracyBy[0].Scope + " " + r.AccuracyBy[0].Name).To(Equal("placement cloud"))
		Expect(r.AccuracyBy[3].Scope + " " + r.AccuracyBy[3].Name).To(Equal("site site-b"))
		total := 0
		for _, g := range r.AccuracyBy[:2] {
			total += g.FramesScored
		}
		Expect(total).To(Equal(r.Accuracy.FramesScored))
	})

	It("scores a site exactly as evaluating its frames alone would", func() {
		run := fixtureRun()
		var frames []reports.ScoredFrame
		cam := run.Cameras[2] // cam-b1, the only camera of site-b
		for i, f := range cam.Frames {
			if f.Answered && !f.Capture.Before(at(7*time.Second)) {
				frames = append(frames, reports.ScoredFrame{Truth: cam.Truth[i].Objects, Detections: f.Detections})
			}
		}
		alone := reports.EvaluateDetections(frames, 0.5, 0.7)
		g := mustAnalyze(run).AccuracyBy[3]
		Expect(g.Name).To(Equal("site-b"))
		Expect([]float64{g.MeanAP50, g.Precision, g.Recall}).To(Equal([]float64{alone.MeanAP50, alone.Precision, alone.Recall}))
		Expect(g.FramesScored).To(Equal(alone.FramesScored))
	})

	It("compares uplink traffic of edge and cloud placement", func() {
		r := mustAnalyze(fixtureRun())
		Expect(r.Uplink).To(HaveLen(2))
		Expect(r.Uplink[0].Placement).To(Equal(reports.PlacementEdge))
		Expect(r.Uplink[0].Cameras).To(Equal(2))
		Expect(r.Uplink[1].Placement).To(Equal(reports.PlacementCloud))
		// site-b sends 90x the bytes of site-a for half the cameras.
		Expect(r.Uplink[1].VsEdge).To(BeNumerically("~", 180, 0.05))
	})

	It("computes link rates from the counters", func() {
		r := mustAnalyze(fixtureRun())
		l := r.Links[0]
		Expect(l.Link).To(Equal("site-a-backhaul"))
		Expect(l.PeakBitsPerS).To(Equal(3000.0 * 8))
		Expect(l.SeriesBitsPerS).To(HaveLen(32))
		// The mean is taken over the run phase (+7s to +37s), not the idle
		// warm-up before it.
		in := fixtureRun().Links[0].Samples
		Expect(in[2].At).To(Equal(at(7 * time.Second)))
		Expect(l.MeanBitsPerS).To(BeNumerically("~", float64(in[32].Bytes-in[2].Bytes)*8/30, 1))
	})

	It("merges a reading taken just after the previous one into its interval", func() {
		run := fixtureRun()
		l := &run.Links[2] // site-b up, one reading per second
		last := l.Samples[len(l.Samples)-1]
		l.Samples = append(l.Samples, reports.CounterSample{At: last.At.Add(5 * time.Millisecond), Bytes: last.Bytes + 20_000, Packets: last.Packets + 14})
		l.TotalBytes, l.TotalPackets = last.Bytes+20_000, last.Packets+14
		r := mustAnalyze(run)
		lr := r.Links[2]
		Expect(lr.SeriesBitsPerS).To(HaveLen(32), "no extra 5 ms interval")
		Expect(lr.PeakBitsPerS).To(BeNumerically("<", 3e6), "20 kB over 5 ms would read as 32 Mbit/s")
		Expect(lr.SeriesOffsetS[31]).To(Equal(37.005))
	})

	It("warns when latencies beat the configured delay or totals disagree with counters", func() {
		run := fixtureRun()
		run.Cameras[2].Frames[50].Latency = 20 * time.Millisecond // cloud floor is 40ms
		run.Cameras[0].FramesSent = 1
		run.Links[1].TotalBytes++
		r := mustAnalyze(run)
		Expect(r.Warnings).To(ContainElements(
			ContainSubstring("camera cam-b1: 1 frames answered faster than the configured one-way delay 40ms"),
			ContainSubstring("camera cam-a1: counted 1 frames sent but 160 samples"),
			ContainSubstring("link site-a-backhaul down: totals"),
		))
		Expect(mustAnalyze(fixtureRun()).Warnings).To(BeEmpty())
	})

	It("judges a partial run as partial even when every SLO holds", func() {
		run := smallRun(reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge,
			Frames: frames(10, func(int) bool { return true }, time.Millisecond, "n")})
		run.SLO.Latency = []reports.LatencySLO{{Percentile: 95, Max: time.Second}}
		Expect(reports.ExitCode(mustAnalyze(run))).To(Equal(0))
		run.Partial, run.PartialReason = true, "interrupted by signal"
		r := mustAnalyze(run)
		Expect(r.Verdict).To(Equal(reports.VerdictPartial))
		Expect(reports.ExitCode(r)).To(Equal(1))
	})

	It("does not judge the uplink SLO of a run whose links were not emulated, however little its links carried", func() {
		run := fixtureRun()
		run.SLO.UplinkMaxBitsPerSecond = 1e9
		uplink := func(r *reports.Result) reports.SLOVerdict {
			for _, v := range r.SLOs {
				if strings.HasPrefix(v.Name, "uplink bandwidth") {
					return v
				}
			}
			Fail("no uplink SLO")
			return reports.SLOVerdict{}
		}
		Expect(uplink(mustAnalyze(run)).Pass).To(BeTrue(), "judged when the links were emulated")
		run.LinksNotEmulated = "the cluster refused privileged pods"
		r := mustAnalyze(run)
		Expect(uplink(r)).To(And(HaveField("Pass", BeFalse()), HaveField("NotExercised", BeTrue()),
			HaveField("Reason", "the links were not emulated: the cluster refused privileged pods")))
		Expect(r.Summary()).To(HaveSuffix(" (links not emulated)"))
	})

	It("never passes a gate nothing exercised: it fails the run unless the scenario allows it", func() {
		run := smallRun(reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge,
			Frames: frames(10, func(int) bool { return true }, time.Millisecond, "n")})
		run.SLO.FailoverMax = time.Second
		r := mustAnalyze(run)
		Expect(r.SLOs[0]).To(And(HaveField("Pass", BeFalse()), HaveField("NotExercised", BeTrue()), HaveField("Gated", BeTrue()),
			HaveField("Measured", "not exercised")))
		Expect(r.Warnings).To(ContainElement(ContainSubstring(`SLO "failover gap (max)" not exercised: no fault affected a camera`)))
		Expect(r.Verdict).To(Equal(reports.VerdictFail))
		Expect(reports.ExitCode(r)).To(Equal(1))
		Expect(r.Summary()).To(HavePrefix("FAIL: 1 of 1 SLOs failed: failover gap (max) not exercised"))

		run.SLO.AllowNotExercised = true
		r = mustAnalyze(run)
		Expect(r.SLOs[0]).To(And(HaveField("Pass", BeFalse()), HaveField("NotExercised", BeTrue()), HaveField("Gated", BeFalse())))
		Expect(reports.ExitCode(r)).To(Equal(0))
		Expect(r.Summary()).To(Equal("PASS: no SLO exercised (1 not exercised, allowed by the scenario)"))

		run.Partial = true
		r = mustAnalyze(run)
		Expect(r.SLOs[0].Gated).To(BeTrue(), "an interrupted run cannot waive it")
		Expect(r.SLOs[0].Reason).To(ContainSubstring("interrupted before this could be judged"))
		Expect(reports.ExitCode(r)).To(Equal(1))
	})

	It("does not count frames the detection rate skips as unanswered", func() {
		cam := reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge, FPS: 10, DetectFPS: 5,
			Frames: frames(100, func(i int) bool { return i%2 == 0 && (i < 30 || i >= 50) }, 20*time.Millisecond, "n2")}
		run := smallRun(cam)
		run.SLO.AnsweredMin = 0.75
		run.Faults = []reports.Fault{{At: at(3 * time.Second), Kind: "kill", Target: "cam"}}
		r := mustAnalyze(run)
		Expect(r.Frames.Answer).To(Equal(0.4))
		Expect(r.Frames.Expected).To(Equal(50.0))
		Expect(r.Frames.OfExpected).To(Equal(0.8))
		Expect(r.SLOs[0].Pass).To(BeTrue())
		Expect(r.SLOs[0].Threshold).To(Equal(">= 75% of expected"))
		Expect(r.Failover[0].FramesLost).To(Equal(20))
		Expect(r.Failover[0].AnswersLost).To(Equal(10))
		Expect(r.LatencyTimeline[0].Expected).To(Equal(5.0)) // 10 frames in the first second, half to be answered
		Expect(r.LatencyTimeline[0].Count).To(Equal(5))

		run.Cameras[0].DetectFPS = 0 // every frame expected
		r = mustAnalyze(run)
		Expect(r.Frames.OfExpected).To(Equal(0.4))
		Expect(r.SLOs[0].Pass).To(BeFalse())
		Expect(r.Failover[0].AnswersLost).To(Equal(20))
	})

	It("names silent cameras in one warning", func() {
		r := mustAnalyze(smallRun(
			reports.Camera{ID: "a", Placement: reports.PlacementEdge},
			reports.Camera{ID: "b", Placement: reports.PlacementCloud}))
		Expect(r.Warnings).To(Equal([]string{"2 cameras sent no frames: a, b"}))
	})

	It("fails a latency SLO with no answered frames", func() {
		run := smallRun(reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge,
			Frames: frames(10, func(int) bool { return false }, 0, "")})
		run.SLO.Latency = []reports.LatencySLO{{Percentile: 95, Max: time.Second}}
		r := mustAnalyze(run)
		Expect(r.SLOs[0].Pass).To(BeFalse())
		Expect(r.SLOs[0].Measured).To(Equal("no samples"))
	})

	It("reports every problem of invalid input at once", func() {
		run := &reports.Run{Start: at(time.Second), End: t0,
			Cameras: []reports.Camera{{ID: "a", Placement: "fog"}, {ID: "a", Placement: reports.PlacementEdge}},
			Events:  []reports.ScriptedEvent{{Camera: "ghost"}},
			SLO:     reports.SLOSpec{Latency: []reports.LatencySLO{{Percentile: 120, Max: time.Second}}}}
		_, err := reports.Analyze(run)
		Expect(err).To(MatchError(reports.ErrInvalidRun))
		var inv *reports.InvalidRunError
		Expect(errors.As(err, &inv)).To(BeTrue())
		Expect(inv.Problems).To(HaveLen(5))
		Expect(err.Error()).To(ContainSubstring(`cameras[0].placement "fog" must be "edge" or "cloud"`))
		_, err = reports.Analyze(nil)
		Expect(err).To(MatchError(reports.ErrInvalidRun))
	})
})
