package reports_test

import (
	"bytes"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
)

const (
	victim    = "store-1-edge-2"
	survivor  = "store-1-edge-1"
	workload  = "edgenode-store-1"
	deadPod   = "edgenode-store-1-7c9-abcde"
	newPod    = "edgenode-store-1-7c9-fghij"
	otherPod  = "edgenode-store-1-7c9-klmno"
	faultTime = 20 * time.Second
)

// breakdownCam is a 10 fps camera served by both edge nodes, answered
// (50 ms latency) before the fault at +20s and again from recoverS on,
// over a 120 s run.
func breakdownCam(id string, recoverS float64, recs ...reports.Reconnect) reports.Camera {
	from := int(recoverS * 10)
	return reports.Camera{ID: id, Site: "store-1", Placement: reports.PlacementEdge, Nodes: []string{survivor, victim},
		Frames:     frames(1200, func(i int) bool { return i < 200 || i >= from }, 50*time.Millisecond, survivor),
		Reconnects: recs}
}

func ev(d time.Duration, k evidence.ClusterEventKind, node, pod string) evidence.ClusterEvent {
	e := evidence.ClusterEvent{At: at(d), Kind: k, Node: node, Pod: pod}
	if pod != "" {
		e.Workload = workload
	}
	return e
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func rec(lost, connected float64) reports.Reconnect {
	r := reports.Reconnect{Lost: at(secs(lost)), From: "10.0.0.2:8443", To: "10.0.0.3:8443"}
	if connected > 0 {
		r.Connected = at(secs(connected))
	}
	return r
}

// kindEvents is a node loss as the kind provider sees it, in time order:
// the original pod, then NotReady at +60s, eviction at +65s, the
// replacement bound at +65.5s and ready at +75s.
func kindEvents() []evidence.ClusterEvent {
	notReady := ev(60*time.Second, evidence.NodeNotReady, victim, "")
	notReady.Detail = "NodeStatusUnknown"
	return []evidence.ClusterEvent{
		ev(1*time.Second, evidence.NodeReady, survivor, ""),
		ev(5*time.Second, evidence.PodScheduled, victim, deadPod),
		ev(6*time.Second, evidence.PodReady, victim, deadPod),
		notReady,
		ev(65*time.Second, evidence.PodDeleted, victim, deadPod),
		ev(secs(65.5), evidence.PodScheduled, "store-1-edge-3", newPod),
		{At: at(66 * time.Second), Kind: evidence.PodDeleted, Node: victim, Pod: "coredns-1", Workload: "coredns"},
		ev(75*time.Second, evidence.PodReady, "store-1-edge-3", newPod),
	}
}

func kindRun(cams ...reports.Camera) *reports.Run {
	return &reports.Run{Scenario: "kind", Provider: "kind", Start: t0, End: at(120 * time.Second), Cameras: cams,
		Faults:        []reports.Fault{{At: at(faultTime), Kind: "kill", Target: victim}},
		ClusterEvents: kindEvents()}
}

type step struct {
	name string
	ms   float64
}

func stepsOf(g reports.FailoverGap) []step {
	var out []step
	for _, s := range g.Steps {
		Expect(s.At).To(Equal(g.FaultAt.Add(time.Duration(s.SinceFaultMs * float64(time.Millisecond)))))
		out = append(out, step{s.Name, s.SinceFaultMs})
	}
	return out
}

var _ = Describe("Failover breakdown", func() {
	DescribeTable("steps per camera, in chain order, only those observed",
		func(run *reports.Run, want []step) {
			r := mustAnalyze(run)
			Expect(r.Warnings).To(BeEmpty())
			Expect(r.Failover).To(HaveLen(1))
			Expect(stepsOf(r.Failover[0])).To(Equal(want))
		},
		Entry("kind: node lost, pods evicted and rescheduled, camera back",
			kindRun(breakdownCam("cam-1", 77, rec(25, 76))),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepPodsEvicted, 45000}, {reports.StepScheduled, 45500},
				{reports.StepReady, 55000}, {reports.StepReconnected, 56000}, {reports.StepFlowing, 57050}}),
		Entry("kind: the same events collected in another order",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 77, rec(25, 76)))
				slices.Reverse(run.ClusterEvents)
				run.ClusterEvents[0], run.ClusterEvents[4] = run.ClusterEvents[4], run.ClusterEvents[0]
				return run
			}(),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepPodsEvicted, 45000}, {reports.StepScheduled, 45500},
				{reports.StepReady, 55000}, {reports.StepReconnected, 56000}, {reports.StepFlowing, 57050}}),
		Entry("kind: the camera reconnects to the surviving replica long before NotReady",
			kindRun(breakdownCam("cam-1", 24, rec(21, 23))),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepPodsEvicted, 45000}, {reports.StepScheduled, 45500},
				{reports.StepReady, 55000}, {reports.StepReconnected, 3000}, {reports.StepFlowing, 4050}}),
		Entry("kind: a pod kill, the node never goes NotReady",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 40, rec(21, 39)))
				run.ClusterEvents = []evidence.ClusterEvent{
					ev(5*time.Second, evidence.PodScheduled, victim, deadPod),
					ev(secs(20.1), evidence.PodDeleted, victim, deadPod),
					ev(secs(20.3), evidence.PodScheduled, victim, newPod),
					ev(38*time.Second, evidence.PodReady, victim, newPod),
				}
				return run
			}(),
			[]step{{reports.StepPodsEvicted, 100}, {reports.StepScheduled, 300}, {reports.StepReady, 18000},
				{reports.StepReconnected, 19000}, {reports.StepFlowing, 20050}}),
		Entry("kind: cluster events, none about the fault's node",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 30, rec(22, 29)))
				run.ClusterEvents = []evidence.ClusterEvent{ev(25*time.Second, evidence.NodeNotReady, "store-2-edge-1", "")}
				return run
			}(),
			[]step{{reports.StepReconnected, 9000}, {reports.StepFlowing, 10050}}),
		Entry("kind: NotReady only, no eviction within the run",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 30))
				run.ClusterEvents = []evidence.ClusterEvent{ev(60*time.Second, evidence.NodeNotReady, victim, "")}
				return run
			}(),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepFlowing, 10050}}),
		Entry("kind: an eviction without workload cannot name its replacement",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 80))
				run.ClusterEvents[4].Workload = ""
				return run
			}(),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepPodsEvicted, 45000}, {reports.StepFlowing, 60050}}),
		Entry("kind: a pod of the workload bound between the fault and the eviction is not the replacement",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 80))
				run.ClusterEvents = append(run.ClusterEvents,
					ev(30*time.Second, evidence.PodScheduled, "store-1-edge-3", otherPod),
					ev(32*time.Second, evidence.PodReady, "store-1-edge-3", otherPod))
				return run
			}(),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepPodsEvicted, 45000}, {reports.StepScheduled, 45500},
				{reports.StepReady, 55000}, {reports.StepFlowing, 60050}}),
		Entry("kind: never recovered: no flowing step, the reconnect still counts",
			kindRun(breakdownCam("cam-1", 1000, rec(25, 100))),
			[]step{{reports.StepNodeNotReady, 40000}, {reports.StepPodsEvicted, 45000}, {reports.StepScheduled, 45500},
				{reports.StepReady, 55000}, {reports.StepReconnected, 80000}}),
		Entry("local: reconnected and flowing",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 23, rec(21, 22.5)))
				run.Provider, run.ClusterEvents = "local", nil
				return run
			}(),
			[]step{{reports.StepReconnected, 2500}, {reports.StepFlowing, 3050}}),
		Entry("local: no reconnect at all, only flowing",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 23))
				run.Provider, run.ClusterEvents = "local", nil
				return run
			}(),
			[]step{{reports.StepFlowing, 3050}}),
		Entry("reconnects: one lost before the fault, one never connected, one after recovery are passed over",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 30, rec(10, 11), rec(19, 21), rec(21, 0), rec(24, 28.5), rec(50, 51)))
				run.ClusterEvents = nil
				return run
			}(),
			[]step{{reports.StepReconnected, 8500}, {reports.StepFlowing, 10050}}),
		Entry("reconnects: a loss after detections flowed again belongs to another outage",
			func() *reports.Run {
				run := kindRun(breakdownCam("cam-1", 30, rec(50, 51)))
				run.ClusterEvents = nil
				return run
			}(),
			[]step{{reports.StepFlowing, 10050}}),
	)

	It("bounds node steps by the next fault on the same node", func() {
		run := kindRun(breakdownCam("cam-1", 30))
		run.ClusterEvents = []evidence.ClusterEvent{ev(95*time.Second, evidence.NodeNotReady, victim, "")}
		run.Faults = append(run.Faults, reports.Fault{At: at(90 * time.Second), Kind: "restart", Target: victim})
		r := mustAnalyze(run)
		Expect(r.Failover).To(HaveLen(2))
		Expect(stepsOf(r.Failover[0])).To(Equal([]step{{reports.StepFlowing, 10050}}))
		Expect(stepsOf(r.Failover[1])).To(Equal([]step{{reports.StepNodeNotReady, 5000}, {reports.StepFlowing, 50}}))
	})

	It("sums up each fault over its cameras: gap p50 and max, medians per step", func() {
		run := kindRun(
			breakdownCam("cam-1", 77, rec(25, 76)),
			breakdownCam("cam-2", 78, rec(26, 77)),
			breakdownCam("cam-3", 24, rec(21, 23)),
			breakdownCam("cam-4", 79),
		)
		r := mustAnalyze(run)
		Expect(r.FailoverSummaries).To(HaveLen(1))
		s := r.FailoverSummaries[0]
		Expect(s.Fault).To(Equal(0))
		Expect(s.FaultKind).To(Equal("kill"))
		Expect(s.Target).To(Equal(victim))
		Expect(s.FaultAt).To(Equal(at(faultTime)))
		Expect(s.Cameras).To(Equal([]string{"cam-1", "cam-2", "cam-3", "cam-4"}))
		Expect(s.Recovered).To(Equal(4))
		Expect(s.GapP50Ms).To(Equal(57050.0), "nearest rank over 4050, 57050, 58050, 59050")
		Expect(s.GapMaxMs).To(Equal(59050.0))
		Expect(s.FramesLost).To(Equal(570 + 580 + 40 + 590))
		Expect(s.AnswersLost).To(Equal(s.FramesLost))
		Expect(s.Steps).To(Equal([]reports.FailoverStepSummary{
			{Name: reports.StepNodeNotReady, Cameras: 4, SinceFaultMs: 40000, MaxSinceFaultMs: 40000},
			{Name: reports.StepPodsEvicted, Cameras: 4, SinceFaultMs: 45000, MaxSinceFaultMs: 45000},
			{Name: reports.StepScheduled, Cameras: 4, SinceFaultMs: 45500, MaxSinceFaultMs: 45500},
			{Name: reports.StepReady, Cameras: 4, SinceFaultMs: 55000, MaxSinceFaultMs: 55000},
			{Name: reports.StepReconnected, Cameras: 3, SinceFaultMs: 56000, MaxSinceFaultMs: 57000},
			{Name: reports.StepFlowing, Cameras: 4, SinceFaultMs: 57050, MaxSinceFaultMs: 59050},
		}))
		Expect(r.FailoverGaps().P50Ms).To(Equal(57050.0))
		Expect(s.Breakdown(r.Start)).To(Equal("kill store-1-edge-2 @+20s: node NotReady +40s → pods evicted +45s → " +
			"replacement scheduled +45.5s → replacement ready +55s → camera reconnected +56s (3 of 4 cameras) → " +
			"detections flowing +57.05s; gap p50 57.05s, max 59.05s over 4 cameras, 1780 frames without answer"))
	})

	It("sums up a fault whose cameras were not measured with its node steps only", func() {
		cam := breakdownCam("cam-1", 77)
		for i := range 200 {
			cam.Frames[i].Answered = false
		}
		r := mustAnalyze(kindRun(cam))
		Expect(r.Failover).To(BeEmpty())
		Expect(r.FailoverSummaries).To(HaveLen(1))
		Expect(r.FailoverSummaries[0].Cameras).To(BeEmpty())
		Expect(r.FailoverSummaries[0].Steps).To(HaveLen(4))
		Expect(r.FailoverSummaries[0].Breakdown(r.Start)).To(HavePrefix("kill store-1-edge-2 @+20s: node NotReady +40s → "))
	})

	It("has no summary for a fault that reached no camera and no node", func() {
		run := kindRun(breakdownCam("cam-1", 30))
		run.Faults[0].Target = "wan-link"
		r := mustAnalyze(run)
		Expect(r.FailoverSummaries).To(BeEmpty())
		Expect(r.FailoverGaps().Count).To(Equal(0))
	})

	It("warns about cluster events without a time or of unknown kind and reconnects it cannot use", func() {
		run := kindRun(breakdownCam("cam-1", 77, rec(25, 76), reports.Reconnect{Connected: at(30 * time.Second)}, rec(40, 39)))
		run.ClusterEvents = append(run.ClusterEvents,
			evidence.ClusterEvent{Kind: evidence.NodeNotReady, Node: victim},
			evidence.ClusterEvent{At: at(21 * time.Second), Kind: "NodeNotReady ", Node: victim},
			evidence.ClusterEvent{At: at(21 * time.Second), Kind: "PodEvicted", Node: victim},
			evidence.ClusterEvent{At: at(22 * time.Second), Kind: "PodEvicted", Node: victim},
		)
		r, err := reports.Analyze(run)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Warnings).To(ConsistOf(
			"1 cluster event without a time ignored (first: clusterEvents[8]); the cluster provider must stamp every event",
			`cluster events of unknown kind "NodeNotReady ", "PodEvicted" ignored; known kinds are NodeNotReady, NodeReady, PodDeleted, PodScheduled and PodReady`,
			"camera cam-1: 2 reconnects without a loss time or connected before the loss ignored",
		))
		Expect(stepsOf(r.Failover[0])[0]).To(Equal(step{reports.StepNodeNotReady, 40000}))
	})

	It("keeps steps and summaries through report.json", func() {
		r := mustAnalyze(kindRun(breakdownCam("cam-1", 77, rec(25, 76)), breakdownCam("cam-2", 24, rec(21, 23))))
		back, err := reports.ReadResult(bytes.NewReader(rendered(r, render.FormatJSON)))
		Expect(err).NotTo(HaveOccurred())
		Expect(back.Failover).To(Equal(r.Failover))
		Expect(back.Failover[0].Steps).To(HaveLen(6))
		Expect(back.FailoverSummaries).To(Equal(r.FailoverSummaries))
		Expect(back.FailoverGaps().P50Ms).To(Equal(r.FailoverGaps().P50Ms))
	})

	It("keeps cluster events and reconnects through samples.json", func() {
		run := kindRun(breakdownCam("cam-1", 77, rec(25, 76), rec(90, 0)))
		var buf bytes.Buffer
		Expect(reports.WriteSamples(&buf, run)).To(Succeed())
		Expect(buf.String()).NotTo(ContainSubstring(`"connected":"0001`), "a never-connected reconnect omits the field")
		back, err := reports.ReadSamples(&buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(back.ClusterEvents).To(Equal(run.ClusterEvents))
		Expect(back.Cameras[0].Reconnects).To(Equal(run.Cameras[0].Reconnects))
	})

	Describe("rendering", func() {
		var r *reports.Result
		BeforeEach(func() {
			r = mustAnalyze(kindRun(
				breakdownCam("cam-1", 77, rec(25, 76)),
				breakdownCam("cam-2", 24, rec(21, 23)),
			))
		})

		It("puts a breakdown table per fault under Failover in report.md", func() {
			md := string(rendered(r, render.FormatMarkdown))
			Expect(md).To(ContainSubstring("**Failover**: gap p50 4.05s, max 57.05s over 2 camera outages\n"))
			Expect(md).To(ContainSubstring("*kill store-1-edge-2 @+20s*: 2 cameras, gap p50 4.05s, max 57.05s, 610 frames without answer\n\n" +
				"| step | since fault | cameras | note |\n|---|---:|---:|---|\n" +
				"| node NotReady | +40s | 2 | |\n" +
				"| pods evicted | +45s | 2 | |\n" +
				"| replacement scheduled | +45.5s | 2 | |\n" +
				"| replacement ready | +55s | 2 | |\n" +
				"| camera reconnected | +3s (max +56s) | 2 | before node NotReady |\n" +
				"| detections flowing | +4.05s (max +57.05s) | 2 | before node NotReady |\n"))
			Expect(md).To(ContainSubstring("| kill store-1-edge-2 @+20s | cam-1 | store-1-edge-1 | 57.05s | 570 | 570 | 0 |"), "the per-camera gap table stays")
		})

		It("shows the breakdown table and a timeline in report.html", func() {
			html := string(rendered(r, render.FormatHTML))
			// html/template writes "+" as "&#43;".
			Expect(html).To(ContainSubstring("<h3>kill store-1-edge-2 @&#43;20s</h3>"))
			Expect(html).To(ContainSubstring("<td>replacement scheduled</td><td class=\"n\">&#43;45.5s</td>"))
			Expect(html).To(ContainSubstring("Failover steps after kill store-1-edge-2"))
			Expect(html).To(ContainSubstring("Gap p50 4.05s, max 57.05s over 2 camera outages"))
			Expect(html).To(ContainSubstring(`<div class="card"><b>4.05s</b><span>failover p50</span></div>`))
			Expect(html).To(ContainSubstring("before node NotReady"))
			Expect(html).To(ContainSubstring("<td>cam-2</td><td>store-1-edge-1</td><td class=\"n\">&#43;3s</td><td class=\"n\">4050.0 ms</td>"),
				"each camera's own reconnect in the gap table")
		})

		It("puts the breakdown in the failover test case's system-out in junit.xml", func() {
			run := kindRun(breakdownCam("cam-1", 77, rec(25, 76)))
			run.SLO.FailoverMax = 30 * time.Second
			junit := string(rendered(mustAnalyze(run), render.FormatJUnit))
			Expect(junit).To(ContainSubstring("kill store-1-edge-2 @+20s: node NotReady +40s → pods evicted +45s"))
			Expect(junit).To(ContainSubstring(`<failure message="measured 57.05s, threshold &lt;= 30s"`))
		})
	})
})
