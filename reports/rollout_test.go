package reports_test

import (
	"bytes"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/wire"
)

// windowFigures are a gate window's figures that pass every criterion of
// strictGate: 50 frames, all answered within 100 ms, recall 90%, no
// crash, 2 alerts in 30 s (4/min).
func windowFigures() reports.GateFigures {
	lat := make([]time.Duration, 50)
	for i := range lat {
		lat[i] = time.Duration(50+i) * time.Millisecond // 50..99 ms
	}
	return reports.GateFigures{From: at(0), To: at(30 * time.Second), Frames: 50, Answered: 50,
		Latency: reports.NewDistribution(lat), Recall: 0.9, TruthObjects: 100, Crashes: 0, Alerts: 2}
}

func strictGate() reports.RolloutGate {
	rate := 6.0
	return reports.RolloutGate{Window: 30 * time.Second, Latency: []reports.LatencySLO{{Percentile: 95, Max: 150 * time.Millisecond}},
		RecallMin: 0.6, CrashesMax: 0, AlertsPerMinuteMax: &rate}
}

var _ = Describe("The rollout gate", func() {
	It("continues when every criterion holds, deciding at the window's end", func() {
		d := reports.JudgeGate(strictGate(), windowFigures())
		Expect(d.Verdict).To(Equal(reports.GateContinue))
		Expect(d.At).To(Equal(at(30 * time.Second)))
		Expect(d.Checks).To(HaveLen(4))
		Expect(d.Checks).To(HaveEach(HaveField("Pass", BeTrue())))
	})

	DescribeTable("rolls back on each criterion it misses, naming it",
		func(change func(*reports.GateFigures), check, reason string) {
			f := windowFigures()
			change(&f)
			d := reports.JudgeGate(strictGate(), f)
			Expect(d.Verdict).To(Equal(reports.GateRollback))
			Expect(d.Reason).To(ContainSubstring(reason))
			Expect(d.Checks).To(ContainElement(And(HaveField("Name", check), HaveField("Pass", BeFalse()))))
			Expect(d.Checks).To(HaveLen(4))
		},
		Entry("e2e p95 over its maximum", func(f *reports.GateFigures) {
			lat := []time.Duration{}
			for i := range 50 {
				lat = append(lat, time.Duration(100+5*i)*time.Millisecond) // p95 ~ 333 ms
			}
			f.Latency = reports.NewDistribution(lat)
		}, "e2e p95", "limit <= 150ms"),
		Entry("recall under its minimum", func(f *reports.GateFigures) { f.Recall = 0.41 }, "recall", "recall 41.0% of 100 objects, limit >= 60.0%"),
		Entry("a crash", func(f *reports.GateFigures) { f.Crashes = 1 }, "crashes", "crashes 1, limit <= 0"),
		Entry("an alert storm", func(f *reports.GateFigures) { f.Alerts = 4 }, "alert rate", "alert rate 8.0/min (4 alerts), limit <= 6/min"),
	)

	It("is not exercised, never passed, when the window had no samples", func() {
		f := reports.GateFigures{From: at(0), To: at(30 * time.Second)}
		d := reports.JudgeGate(strictGate(), f)
		Expect(d.Verdict).To(Equal(reports.GateNotExercised))
		Expect(d.Reason).To(ContainSubstring("no frame"))
		Expect(d.Checks).To(HaveEach(HaveField("Pass", BeFalse())))
	})

	It("is not exercised when a criterion had nothing to judge (no ground truth for recall)", func() {
		f := windowFigures()
		f.TruthObjects, f.Recall = 0, 0
		d := reports.JudgeGate(strictGate(), f)
		Expect(d.Verdict).To(Equal(reports.GateNotExercised))
		Expect(d.Reason).To(ContainSubstring("recall: no ground truth scored"))
	})

	It("rolls back rather than waits when one criterion fails and another was not exercised", func() {
		f := windowFigures()
		f.TruthObjects, f.Crashes = 0, 2
		Expect(reports.JudgeGate(strictGate(), f).Verdict).To(Equal(reports.GateRollback))
	})

	It("gives the same decision for the same figures", func() {
		Expect(reports.JudgeGate(strictGate(), windowFigures())).To(Equal(reports.JudgeGate(strictGate(), windowFigures())))
	})
})

// rolloutRun is a run of one site "s" with two cameras at 10 fps for 60 s
// and nodes s-edge-1, s-edge-2, rolled out at +20 s: delivered 20.0-20.5 s
// (60000 bytes over 1 Mbit/s: 480 ms expected), s-edge-1 swapped 21-22 s,
// s-edge-2 22-23 s, healthy at 33 s. Camera c1 loses frames 215..219
// (21.5-21.9 s, inside the first swap); latency is 50 ms before the
// rollout and 80 ms after.
func rolloutRun() *reports.Run {
	run := &reports.Run{Scenario: "ro", Start: t0, End: at(60 * time.Second), Duration: 60 * time.Second}
	for _, id := range []string{"c1", "c2"} {
		c := reports.Camera{ID: id, Site: "s", Placement: reports.PlacementEdge}
		for i := range 600 {
			ts := at(time.Duration(i) * 100 * time.Millisecond)
			f := reports.FrameSample{Frame: uint64(i), Capture: ts, Answered: true, Latency: 50 * time.Millisecond, Node: "s-edge-1"}
			if i >= 230 {
				f.Latency = 80 * time.Millisecond
			}
			if id == "c1" && i >= 215 && i < 220 {
				f.Answered, f.Latency = false, 0
			}
			box := reports.Box{10, 10, 50, 90}
			if i%2 == 0 { // every other frame finds its person
				f.Detections = []reports.Detection{{Label: "person", Score: 0.9, Box: box}}
			}
			c.Frames = append(c.Frames, f)
			c.Truth = append(c.Truth, reports.TruthFrame{Frame: uint64(i), Objects: []reports.TruthObject{{TrackID: 1, Label: "person", Box: box}}})
		}
		run.Cameras = append(run.Cameras, c)
	}
	ev := func(s float64, node, kind string) reports.RolloutEvent {
		return reports.RolloutEvent{At: at(time.Duration(s * float64(time.Second))), Site: "s", Node: node, Kind: kind}
	}
	delivered := ev(20.5, "", reports.RolloutDelivered)
	delivered.Bytes = 60000
	run.Rollouts = []reports.RolloutRun{{Name: "int8", Model: "m@v2", ModelBytes: 60000, Strategy: "rolling", MaxUnavailable: 1,
		Gate:      reports.RolloutGate{Window: 10 * time.Second},
		Scheduled: at(20 * time.Second), Started: at(20 * time.Second), Ended: at(33 * time.Second),
		Sites: []reports.RolloutSite{{Site: "s", Batch: 1, Nodes: []string{"s-edge-1", "s-edge-2"}, Link: "s-uplink", RateBitsPerSecond: 1e6}},
		Events: []reports.RolloutEvent{ev(20, "", reports.RolloutDeliveryStarted), delivered,
			ev(21, "s-edge-1", reports.RolloutSwapStarted), ev(22, "s-edge-1", reports.RolloutSwapped),
			ev(22, "s-edge-2", reports.RolloutSwapStarted), ev(23, "s-edge-2", reports.RolloutSwapped),
			ev(33, "", reports.RolloutHealthy)},
		Decisions: []reports.GateDecision{{At: at(33 * time.Second), Verdict: reports.GateContinue,
			Figures: reports.GateFigures{From: at(23 * time.Second), To: at(33 * time.Second), Frames: 200, Answered: 200}}},
	}}
	return run
}

var _ = Describe("The rollout report", func() {
	It("measures the rollout's time against its plan, its bytes, swaps and figures before and after", func() {
		res, err := reports.Analyze(rolloutRun())
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Rollouts).To(HaveLen(1))
		r := res.Rollouts[0]
		Expect(r.Outcome).To(Equal(reports.RolloutCompleted))
		Expect(r.TotalMs).To(Equal(13000.0))
		// one batch: one window (10 s), no pause, 60000 B * 8 / 1 Mbit/s = 480 ms
		Expect(r.WindowsMs).To(Equal(10000.0))
		Expect(r.PausesMs).To(Equal(0.0))
		Expect(r.TransferMs).To(BeNumerically("~", 480, 1e-9))
		Expect(r.PlannedMs).To(BeNumerically("~", 10480, 1e-9))
		s := r.Sites[0]
		Expect(s.Status).To(Equal(reports.RolloutHealthy))
		Expect(s.BytesShipped).To(Equal(int64(60000)))
		Expect(s.DeliveryMs).To(Equal(500.0))
		Expect(s.ExpectedTransferMs).To(BeNumerically("~", 480, 1e-9))
		// swaps 21-22 s and 22-23 s, ends included: frames 210..230, 21 per
		// camera; c1 lost 215..219
		Expect(s.SwapFrames).To(Equal(42))
		Expect(s.SwapUnanswered).To(Equal(5))
		Expect(s.LongestGapMs).To(Equal(600.0), "c1 answered 21.4 s, then 22.0 s")
		// before: frames 0..199 of both cameras, all answered, 50 ms
		Expect(s.Before.Frames).To(Equal(400))
		Expect(s.Before.Answered).To(Equal(400))
		Expect(s.Before.Latency.P95Ms).To(Equal(50.0))
		Expect(s.Before.Recall).To(Equal(0.5))
		// after: from 23 s (frame 230) to the end: 370 frames each, 80 ms
		Expect(s.After).NotTo(BeNil())
		Expect(s.After.Frames).To(Equal(740))
		Expect(s.After.Latency.P95Ms).To(Equal(80.0))
		Expect(res.SLOs).To(ContainElement(And(HaveField("Name", "rollout int8"), HaveField("Pass", BeTrue()))))
		Expect(res.Verdict).To(Equal(reports.VerdictPass))
	})

	It("fails the run on a rollback, with its reason, and measures 'after' up to the rollback", func() {
		run := rolloutRun()
		ro := &run.Rollouts[0]
		ro.Events[len(ro.Events)-1] = reports.RolloutEvent{At: at(33 * time.Second), Site: "s", Kind: reports.RolloutRolledBack, Detail: "recall 10.0% of 40 objects, limit >= 60.0%"}
		ro.RolledBack, ro.Reason = true, "gate after batch 1: recall 10.0% of 40 objects, limit >= 60.0%"
		res, err := reports.Analyze(run)
		Expect(err).NotTo(HaveOccurred())
		r := res.Rollouts[0]
		Expect(r.Outcome).To(Equal(reports.RolloutRolledBack))
		Expect(r.Sites[0].Status).To(Equal(reports.RolloutRolledBack))
		Expect(r.Sites[0].Reason).To(ContainSubstring("recall 10.0%"))
		Expect(r.Sites[0].After.Frames).To(Equal(200), "23 s to 33 s: 100 frames per camera")
		Expect(res.SLOs).To(ContainElement(And(HaveField("Name", "rollout int8"), HaveField("Pass", BeFalse()),
			HaveField("Reason", ContainSubstring("gate after batch 1")))))
		Expect(res.Verdict).To(Equal(reports.VerdictFail))

		var md, junit, html bytes.Buffer
		Expect(render.WriteMarkdown(&md, res)).To(Succeed())
		Expect(md.String()).To(ContainSubstring("**Rollout int8: m@v2 (rolling), ROLLED BACK**"))
		Expect(md.String()).To(ContainSubstring("Why: gate after batch 1: recall 10.0% of 40 objects, limit >= 60.0%"))
		Expect(md.String()).To(ContainSubstring("| s | 1 | 2 | rolled back | 60000 B | 500ms | 480ms | 42 | 5 | 600ms | 50.0 ms | 80.0 ms | 50% | 50% |"))
		Expect(md.String()).To(ContainSubstring("| +33s | s |  | rolled back | recall 10.0% of 40 objects, limit >= 60.0% |"))
		Expect(md.String()).To(ContainSubstring("| +23s to +33s | 200 (200 answered) | continue |"))
		Expect(render.WriteJUnit(&junit, res)).To(Succeed())
		Expect(junit.String()).To(MatchRegexp(`<testcase name="rollout int8"[^>]*>\s*<failure message="measured rolled back, threshold completed"`))
		Expect(render.WriteHTML(&html, res)).To(Succeed())
		Expect(html.String()).To(ContainSubstring("<h2>Rollout int8: m@v2 (rolling), ROLLED BACK</h2>"))
	})

	It("counts a batch's crashes and alerts only on its nodes and in its window", func() {
		obs := []reports.ObservedFault{{At: at(5 * time.Second), Kind: "crash", Target: "s-edge-1"},
			{At: at(5 * time.Second), Kind: "crash", Target: "t-edge-1"}, {At: at(50 * time.Second), Kind: "crash", Target: "s-edge-2"}}
		alerts := []wire.Alert{{Node: "s-edge-2", Raised: at(9 * time.Second)}, {Node: "s-edge-2", Raised: at(10 * time.Second)}}
		f := reports.GateFiguresOf(nil, obs, alerts, []string{"s-edge-1", "s-edge-2"}, at(0), at(10*time.Second))
		Expect(f.Crashes).To(Equal(1))
		Expect(f.Alerts).To(Equal(1), "the window is [from, to)")
	})
})
