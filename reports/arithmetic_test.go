package reports_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/wire"
)

// handRun is a run small enough to work out by hand: one edge camera at
// 10 fps (latency 10, 20, ..., 100 ms by frame number), its node n1 killed
// at +10s, a scripted loiter with a bystander, and a cloud mirror of the
// camera. The figures the specs below expect are computed in the comments.
func handRun() *reports.Run {
	run := &reports.Run{
		Scenario: "arith", Start: t0, End: at(20 * time.Second),
		Phases: []reports.Phase{
			{Name: reports.PhaseWarmUp, Start: t0, End: at(2 * time.Second)},
			{Name: reports.PhaseRun, Start: at(2 * time.Second), End: at(20 * time.Second)},
		},
		SLO: reports.SLOSpec{
			Latency:                []reports.LatencySLO{{Percentile: 95, Max: 150 * time.Millisecond}},
			TimeToAlertMax:         3 * time.Second,
			FailoverMax:            5 * time.Second,
			UplinkMaxBitsPerSecond: 100e3,
			RecallMin:              0.9,
			AnsweredMin:            0.8,
		},
	}
	event := reports.Box{100, 100, 150, 200}     // the loiterer, ground-truth track 1
	bystander := reports.Box{400, 100, 450, 200} // someone else, track 1000001
	cam := reports.Camera{ID: "cam", Site: "s", Placement: reports.PlacementEdge, FPS: 10}
	mirror := reports.Camera{ID: "cam-via-cloud", Site: "s-via-cloud", Placement: reports.PlacementCloud, FPS: 10, Reference: true}
	for i := range 200 {
		f := reports.FrameSample{Frame: uint64(i), Capture: at(time.Duration(i) * 100 * time.Millisecond), Answered: true,
			Latency: time.Duration(10*(1+i%10)) * time.Millisecond, Node: "n1"}
		switch {
		case i == 101: // captured after the kill took effect (+10.05s), still answered by n1
		case i >= 102 && i < 130: // 28 frames without answer
			f = reports.FrameSample{Frame: uint64(i), Capture: f.Capture}
		case i >= 130: // n2 took over
			f.Node = "n2"
		}
		if f.Answered {
			f.Detections = []reports.Detection{
				{Label: "person", Score: 0.9, Box: reports.Box{101, 101, 151, 201}, Track: 7},
				{Label: "person", Score: 0.9, Box: reports.Box{401, 99, 449, 201}, Track: 8},
			}
		}
		cam.Frames = append(cam.Frames, f)
		cam.Truth = append(cam.Truth, reports.TruthFrame{Frame: uint64(i), Objects: []reports.TruthObject{
			{TrackID: 1, Label: "person", Box: event}, {TrackID: 1_000_001, Label: "person", Box: bystander}}})
		mirror.Frames = append(mirror.Frames, reports.FrameSample{Frame: uint64(i), Capture: f.Capture, Answered: true,
			Latency: 400 * time.Millisecond, Node: "cloud-1"})
	}
	run.Cameras = []reports.Camera{cam, mirror}
	run.Faults = []reports.Fault{{At: at(10 * time.Second), Effective: at(10050 * time.Millisecond), Kind: "kill", Target: "n1",
		Nodes: []string{"n1"}, Cameras: []string{"cam"}}}
	loiter := reports.ScriptedEvent{Camera: "cam", Kind: "loiter", Zone: "door", Label: "person", Track: 1,
		Start: at(5 * time.Second), End: at(15 * time.Second)}
	mirrored := loiter
	mirrored.Camera = "cam-via-cloud"
	run.Events = []reports.ScriptedEvent{loiter, mirrored}
	run.Alerts = []wire.Alert{
		// The bystander (tracker id 8) first, then the loiterer (7).
		{ID: "other", Node: "n1", Camera: "cam", Zone: "door", Label: "person", Track: 8, Frame: 60,
			Raised: at(6050 * time.Millisecond), Received: at(6100 * time.Millisecond)},
		{ID: "own", Node: "n1", Camera: "cam", Zone: "door", Label: "person", Track: 7, Frame: 70,
			Raised: at(7020 * time.Millisecond), Received: at(7250 * time.Millisecond)},
	}
	for _, l := range []struct {
		name, site string
		ref        bool
		bytes      uint64
	}{{"s-uplink", "s", false, 45_000}, {"s-via-cloud-uplink", "s-via-cloud", true, 2_250_000}} {
		run.Links = append(run.Links, reports.LinkSeries{Link: l.name, Direction: "up", Site: l.site, Uplink: true, Reference: l.ref,
			Samples:    []reports.CounterSample{{At: at(2 * time.Second)}, {At: at(20 * time.Second), Bytes: l.bytes, Packets: l.bytes / 1000}},
			TotalBytes: l.bytes, TotalPackets: l.bytes / 1000})
	}
	return run
}

var _ = Describe("Report arithmetic against hand-computed figures", func() {
	var r *reports.Result
	BeforeEach(func() { r = mustAnalyze(handRun()) })

	verdict := func(name string) reports.SLOVerdict {
		GinkgoHelper()
		v, ok := r.SLO(name)
		Expect(ok).To(BeTrue(), "no verdict %q in %v", name, r.SLOs)
		return v
	}

	It("computes nearest-rank latency percentiles", func() {
		// Outside warm-up (frames 20..199) minus the 28 unanswered: 152
		// frames; latencies 10 and 20 ms 16 times each, 30..100 ms 15
		// times each. Ranks: p50 = 76th (50 ms: 10,20,30,40 make 62),
		// p90 = 137th (90 ms), p95 = 145th (100 ms).
		d := r.Latency("cam")
		Expect(d.Count).To(Equal(152))
		Expect([]float64{d.MinMs, d.P50Ms, d.P90Ms, d.P95Ms, d.P99Ms, d.MaxMs}).To(Equal([]float64{10, 50, 90, 100, 100, 100}))
		Expect(d.MeanMs).To(Equal(54.474)) // (16*10 + 16*20 + 15*(30+...+100))/152 = 8280/152
		Expect(r.Frames.Sent).To(Equal(360))
		Expect(r.Frames.Answered).To(Equal(332))
		Expect(r.Frames.WarmUp).To(Equal(40))
	})

	It("computes uplink bits per second over the run phase", func() {
		// 45,000 B in 18 s = 20,000 bit/s; the mirror 2,250,000 B = 1 Mbit/s.
		Expect(r.Links[0].MeanBitsPerS).To(Equal(20_000.0))
		Expect(r.Links[1].MeanBitsPerS).To(Equal(1e6))
		Expect(r.Uplink).To(HaveLen(2))
		Expect(r.Uplink[0].PerCameraBitsPerS).To(Equal(20_000.0))
		Expect(r.Uplink[1].VsEdge).To(Equal(50.0))
	})

	It("measures the failover gap to a surviving node's answer for a frame captured after the fault took effect", func() {
		// Frame 100 (+10.0s, 10 ms) arrives after the kill at +10s: in
		// flight. Frame 101 (+10.1s) is n1's, the killed node. 102..129 get
		// no answer. Frame 130 (+13.0s, 10 ms) from n2 recovers: 3010 ms.
		Expect(r.Failover).To(HaveLen(1))
		g := r.Failover[0]
		Expect(g.Recovered).To(BeTrue())
		Expect(g.RecoveredBy).To(Equal("n2"))
		Expect(g.RecoveredAt).To(Equal(at(13010 * time.Millisecond)))
		Expect(g.GapMs).To(Equal(3010.0))
		Expect(g.FramesLost).To(Equal(28))
		Expect(g.FramesInFlight).To(Equal(1))
		Expect(g.FramesFromFaulted).To(Equal(1))
		Expect(g.GapMs).To(BeNumerically(">=", float64(g.FramesLost)*100), "no shorter than the frames without answer span")
	})

	It("times the alert for the event's own object, and reports the bystander's apart", func() {
		// The loiterer's alert (tracker id 7 in frame 70 is the box of
		// track 1) arrives at +7.25s: 2250 ms after the start at +5s. The
		// bystander's at +6.1s does not count.
		t := r.TimeToAlert[0]
		Expect(t.Camera).To(Equal("cam"))
		Expect(t.Alerted).To(BeTrue())
		Expect(t.AlertID).To(Equal("own"))
		Expect(t.TimeToAlertMs).To(Equal(2250.0))
		Expect(t.OtherAlerts).To(Equal([]reports.OtherAlert{{ID: "other", At: at(6100 * time.Millisecond), Track: 1_000_001}}))
	})

	It("gates the scenario's own cameras and shows the mirror's figures beside them, not gated", func() {
		Expect(verdict("e2e latency p95 (scenario's cameras)")).To(And(HaveField("MeasuredValue", 100.0), HaveField("Pass", true), HaveField("Gated", true)))
		Expect(verdict("time to alert (max)")).To(And(HaveField("MeasuredValue", 2250.0), HaveField("Pass", true), HaveField("Gated", true)))
		Expect(verdict("failover gap (max)")).To(And(HaveField("MeasuredValue", 3010.0), HaveField("Pass", true)))
		Expect(verdict("uplink bandwidth (mean, per link)")).To(And(HaveField("MeasuredValue", 20_000.0), HaveField("Pass", true)))
		Expect(verdict("detection recall (IoU 0.5)")).To(And(HaveField("MeasuredValue", 1.0), HaveField("Pass", true)))
		Expect(verdict("frames answered")).To(And(HaveField("MeasuredValue", 0.8444), HaveField("Pass", true))) // 152/180

		Expect(verdict("e2e latency p95 (mirror cameras) [what-if]")).To(And(HaveField("MeasuredValue", 400.0), HaveField("Pass", false),
			HaveField("WhatIf", true), HaveField("Gated", false)))
		Expect(verdict("time to alert (max) [what-if]").Measured).To(Equal("1 of 1 events without alert"))
		Expect(verdict("uplink bandwidth (mean, per link) [what-if]").MeasuredValue).To(Equal(1e6))
		Expect(verdict("failover gap (max) [what-if]").NotExercised).To(BeTrue(), "the kill hit no mirror camera")
		Expect(verdict("detection recall (IoU 0.5) [what-if]").NotExercised).To(BeTrue(), "the mirror has no ground truth here")

		Expect(r.Verdict).To(Equal(reports.VerdictPass), "the mirror's failures are what-ifs")
		Expect(reports.ExitCode(r)).To(Equal(0))
		Expect(r.Summary()).To(Equal("PASS: all 6 SLOs hold; 6 what-if figures of the comparison mirror, not gated"))
	})

	It("says in Markdown, HTML and JUnit which verdicts are gated and which are what-ifs", func() {
		md := string(rendered(r, render.FormatMarkdown))
		Expect(md).To(ContainSubstring("**What-if: the comparison mirror** (cameras streaming to the cloud, same thresholds, **not gated**)"))
		Expect(md).To(ContainSubstring("| e2e latency p95 (mirror cameras) [what-if] | <= 150ms | 400ms | ❌ fail (what-if, not gated): "))
		Expect(md).To(ContainSubstring("| kill n1 @+10s | cam | n2 | 3.01s | 28 | 28 | 1 (+1 from the faulted node) |"))
		Expect(md).To(ContainSubstring("cam loiter in zone door at +5s: 1 alert for another object, not counted for the event"))
		html := string(rendered(r, render.FormatHTML))
		Expect(html).To(ContainSubstring("<h3>What-if: the comparison mirror (not gated)</h3>"))
		junit := string(rendered(r, render.FormatJUnit))
		Expect(junit).To(ContainSubstring(`failures="0" errors="0" skipped="6"`))
		Expect(junit).To(ContainSubstring(`<testcase name="e2e latency p95 (mirror cameras) [what-if]" classname="edgesim.slo.arith.whatif" time="0">`))
		Expect(junit).To(ContainSubstring(`<skipped message="what-if of the comparison mirror, not gated: would fail (measured 400ms, threshold &lt;= 150ms)">`))
	})

	It("fails the failover gate when the fault could not be injected", func() {
		run := handRun()
		run.Faults[0].Failed = "podman kill: no such container"
		r := mustAnalyze(run)
		v, _ := r.SLO("failover gap (max)")
		Expect(v).To(And(HaveField("Pass", false), HaveField("Gated", true), HaveField("Measured", "injection failed")))
		Expect(v.Reason).To(ContainSubstring("fault 0 (kill n1): podman kill: no such container"))
		Expect(r.Failover).To(BeEmpty())
		Expect(reports.ExitCode(r)).To(Equal(1))
	})

	It("does not take an answer of the faulted node for recovery, nor one of a node the fault did not take down for an outage", func() {
		run := handRun()
		for i := range run.Cameras[0].Frames[130:] {
			run.Cameras[0].Frames[130+i].Node = "n1" // n1 came back: not a recovery unless restarted
		}
		r := mustAnalyze(run)
		Expect(r.Failover[0].Recovered).To(BeFalse())
		Expect(r.Failover[0].FramesFromFaulted).To(Equal(71))

		run.Faults[0].Restored = at(15 * time.Second) // a restart: its answers count from then on
		r = mustAnalyze(run)
		Expect(r.Failover[0].RecoveredBy).To(Equal("n1"))
		Expect(r.Failover[0].RecoveredAt).To(Equal(at(15010 * time.Millisecond)))

		run = handRun()
		run.Faults[0].Target, run.Faults[0].Nodes = "n3", []string{"n3"} // the camera was on n1
		r = mustAnalyze(run)
		Expect(r.Failover).To(BeEmpty())
		Expect(r.Warnings).To(ContainElement(ContainSubstring("camera cam was served by n1, not by a node fault 0 (kill n3) took down")))
		Expect(r.Warnings).To(ContainElement(ContainSubstring("took down a node that served no camera")))
		v, _ := r.SLO("failover gap (max)")
		Expect(v).To(And(HaveField("NotExercised", true), HaveField("Gated", true)))
		Expect(reports.ExitCode(r)).To(Equal(1))
	})
})
