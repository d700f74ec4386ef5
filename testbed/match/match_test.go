package match_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/testbed/match"
	"github.com/edgesim/edgesim/wire"
)

// analysed builds a small run: one camera with the given latencies, one
// scripted event alerted after alertAfter, and the given SLOs.
func analysed(latencies []time.Duration, alertAfter time.Duration, slo reports.SLOSpec) *reports.Result {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cam := reports.Camera{ID: "c1", Site: "s", Placement: reports.PlacementEdge}
	for i, l := range latencies {
		cam.Frames = append(cam.Frames, reports.FrameSample{Frame: uint64(i + 1), Capture: t0.Add(time.Duration(i) * 100 * time.Millisecond), Answered: true, Latency: l, Node: "n1"})
	}
	run := &reports.Run{Scenario: "t", Provider: "local", Duration: 10 * time.Second, Start: t0, End: t0.Add(10 * time.Second),
		Phases:  []reports.Phase{{Name: reports.PhaseRun, Start: t0, End: t0.Add(10 * time.Second)}},
		Cameras: []reports.Camera{cam},
		Events:  []reports.ScriptedEvent{{Camera: "c1", Kind: "loiter", Zone: "z", Label: "person", Start: t0.Add(time.Second), End: t0.Add(5 * time.Second)}},
		Alerts:  []wire.Alert{{ID: "a", Camera: "c1", Zone: "z", Label: "person", Raised: t0.Add(time.Second + alertAfter)}},
		SLO:     slo,
	}
	r, err := reports.Analyze(run)
	Expect(err).NotTo(HaveOccurred())
	return r
}

var _ = Describe("matchers", func() {
	lat := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond, 400 * time.Millisecond}

	It("MeetSLOs passes when every SLO holds and lists the failures when one does not", func() {
		ok := analysed(lat, time.Second, reports.SLOSpec{Latency: []reports.LatencySLO{{Percentile: 50, Max: 100 * time.Millisecond}}})
		Expect(ok).To(match.MeetSLOs())

		bad := analysed(lat, time.Second, reports.SLOSpec{Latency: []reports.LatencySLO{{Percentile: 99, Max: 100 * time.Millisecond}}})
		m := match.MeetSLOs()
		matched, err := m.Match(bad)
		Expect(err).NotTo(HaveOccurred())
		Expect(matched).To(BeFalse())
		Expect(m.FailureMessage(bad)).To(ContainSubstring("p99"))
	})

	It("HaveLatencyPercentile applies a matcher to a percentile", func() {
		r := analysed(lat, time.Second, reports.SLOSpec{})
		Expect(r).To(match.HaveLatencyPercentile(50, BeNumerically("<=", 30*time.Millisecond)))
		Expect(r).NotTo(match.HaveLatencyPercentile(99, BeNumerically("<", 100*time.Millisecond)))
		_, err := match.HaveLatencyPercentile(50, BeNumerically(">", 0), "no-such-site").Match(r)
		Expect(err).To(MatchError(ContainSubstring("no latency samples")))
	})

	It("AlertWithin compares time-to-alert with the bound", func() {
		r := analysed(lat, 2*time.Second, reports.SLOSpec{})
		Expect(r).To(match.AlertWithin(3 * time.Second))
		Expect(r).NotTo(match.AlertWithin(time.Second))
	})

	It("AlertWithin and FailOverWithin judge the scenario's own cameras, not the comparison mirror's", func() {
		r := analysed(lat, 2*time.Second, reports.SLOSpec{})
		r.TimeToAlert = append(r.TimeToAlert, reports.AlertTiming{Camera: "c1-via-cloud", Reference: true})
		Expect(r).To(match.AlertWithin(3*time.Second), "the mirror's missing alert is a what-if")
		r.Failover = []reports.FailoverGap{{Camera: "c1", Recovered: true, GapMs: 500, RecoveredBy: "n2"},
			{Camera: "c1-via-cloud", Reference: true, GapMs: 9000}}
		Expect(r).To(match.FailOverWithin(time.Second))
		r.Failover[1].Reference = false
		Expect(r).NotTo(match.FailOverWithin(time.Second))
	})

	It("rejects what is not a result", func() {
		_, err := match.MeetSLOs().Match("report.json")
		Expect(err).To(HaveOccurred())
	})
})
