package validate_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/validate"
	"github.com/edgesim/edgesim/reports"
)

func row(rows []plan.ValidationRow, site, figure string) plan.ValidationRow {
	for _, r := range rows {
		if r.Site == site && r.Figure == figure {
			return r
		}
	}
	Fail("no row " + site + " " + figure)
	return plan.ValidationRow{}
}

var _ = Describe("Compare", func() {
	var emu, sim validate.SiteFigures
	point := validate.Point{Scenario: "s", CamerasPerNode: 3, Faults: true}
	BeforeEach(func() {
		emu = validate.SiteFigures{Site: "a", Answered: 100, LatencyP50: 200 * time.Millisecond, LatencyP95: 400 * time.Millisecond,
			Expected: 110, Uplink: true, UplinkBytes: 1_000_000, Gaps: []time.Duration{3 * time.Second, 4 * time.Second},
			AlertsExpected: 2, Alerted: 2, TimeToAlertP50: 2500 * time.Millisecond, InferP50: 12 * time.Millisecond}
		sim = validate.SiteFigures{Site: "a", Answered: 90, LatencyP50: 209 * time.Millisecond, LatencyP95: 450 * time.Millisecond,
			Expected: 100, Uplink: true, UplinkBytes: 1_020_000, Gaps: []time.Duration{5500 * time.Millisecond},
			AlertsExpected: 2, Alerted: 1, TimeToAlertP50: 3 * time.Second, InferP50: 11 * time.Millisecond}
	})
	compare := func() []plan.ValidationRow {
		return validate.Compare(point, validate.Figures{Sites: []validate.SiteFigures{emu}}, validate.Figures{Sites: []validate.SiteFigures{sim}}, validate.DefaultTargets())
	}

	It("gives one row per figure of each site, with the point", func() {
		rows := compare()
		Expect(rows).To(HaveLen(7))
		for _, r := range rows {
			Expect(r.Scenario).To(Equal("s"))
			Expect(r.CamerasPerNode).To(Equal(3))
			Expect(r.Site).To(Equal("a"))
		}
	})

	It("computes relative errors against the emulated figure and judges them by their targets", func() {
		rows := compare()
		Expect(row(rows, "a", validate.FigureLatencyP50)).To(MatchFields(IgnoreExtras, Fields{
			"Unit": Equal("s"), "Emulated": BeNumerically("~", 0.2, 1e-12), "Simulated": BeNumerically("~", 0.209, 1e-12),
			"ErrorKind": Equal(plan.ErrorRelative), "Error": BeNumerically("~", 0.045, 1e-9), "Target": Equal(0.05),
			"Exercised": BeTrue(), "Met": BeTrue()}))
		Expect(row(rows, "a", validate.FigureLatencyP95)).To(MatchFields(IgnoreExtras, Fields{
			"Error": BeNumerically("~", 0.125, 1e-9), "Target": Equal(0.10), "Exercised": BeTrue(), "Met": BeFalse()}))
		Expect(row(rows, "a", validate.FigureUplinkBytes)).To(MatchFields(IgnoreExtras, Fields{
			"Unit": Equal("bytes"), "Error": BeNumerically("~", 0.02, 1e-9), "Target": Equal(0.03), "Met": BeTrue()}))
	})

	It("computes absolute errors: the largest failover gap, the median time to alert", func() {
		rows := compare()
		Expect(row(rows, "a", validate.FigureFailoverGap)).To(MatchFields(IgnoreExtras, Fields{
			"ErrorKind": Equal(plan.ErrorAbsolute), "Emulated": Equal(4.0), "Simulated": Equal(5.5),
			"Error": BeNumerically("~", 1.5, 1e-9), "Target": Equal(1.0), "Exercised": BeTrue(), "Met": BeFalse()}))
		tta := row(rows, "a", validate.FigureTimeToAlert)
		Expect(tta).To(MatchFields(IgnoreExtras, Fields{
			"Emulated": Equal(2.5), "Simulated": Equal(3.0), "Error": BeNumerically("~", 0.5, 1e-9), "Target": Equal(1.0), "Met": BeTrue()}))
		Expect(tta.Note).To(ContainSubstring("emulated 2 of 2, simulated 1 of 2"))
		Expect(tta.Note).To(ContainSubstring("relative error 20.0%"))
	})

	It("reports the nodes' median inference time both ways, without a target", func() {
		r := row(compare(), "a", validate.FigureInferenceP50)
		Expect(r).To(MatchFields(IgnoreExtras, Fields{"Unit": Equal("s"), "Emulated": Equal(0.012), "Simulated": Equal(0.011),
			"Error": BeNumerically("~", 1.0/12, 1e-9), "Target": Equal(0.0), "Exercised": BeTrue(), "Met": BeFalse()}))
		Expect(r.Note).To(And(ContainSubstring("reported only"), ContainSubstring("calibration's table")))
		sim.InferP50 = 0
		r = row(compare(), "a", validate.FigureInferenceP50)
		Expect(r.Exercised).To(BeFalse())
		Expect(r.Note).To(ContainSubstring("no inference time on a side"))
	})

	It("says when a missed p50 is within what the host's inference drift alone moves", func() {
		// 9 ms apart at an emulated p50 of 160 ms: 5.6 %, more than the 5 % target.
		emu.LatencyP50, sim.LatencyP50 = 160*time.Millisecond, 180*time.Millisecond
		emu.InferP50, sim.InferP50 = 21*time.Millisecond, 12*time.Millisecond
		r := row(compare(), "a", validate.FigureLatencyP50)
		Expect(r.Met).To(BeFalse(), "the note explains the verdict, it does not change it")
		Expect(r.Exercised).To(BeTrue())
		Expect(r.Note).To(And(ContainSubstring("21ms, the calibration's 12ms: +9ms, 5.6% of the emulated p50"), ContainSubstring("host's own speed")))

		By("a drift within the target, or a p50 met, says nothing")
		emu.InferP50 = 19 * time.Millisecond // 7 ms: 4.4 %
		Expect(row(compare(), "a", validate.FigureLatencyP50).Note).To(BeEmpty())
		emu.InferP50, sim.LatencyP50 = 30*time.Millisecond, 165*time.Millisecond
		Expect(row(compare(), "a", validate.FigureLatencyP50)).To(MatchFields(IgnoreExtras, Fields{"Met": BeTrue(), "Note": BeEmpty()}))
	})

	It("reports frames dropped without a target: never met, and says so", func() {
		r := row(compare(), "a", validate.FigureFramesDropped)
		Expect(r).To(MatchFields(IgnoreExtras, Fields{"Unit": Equal("frames"), "Emulated": Equal(10.0), "Simulated": Equal(10.0),
			"Error": Equal(0.0), "Target": Equal(0.0), "Exercised": BeTrue(), "Met": BeFalse()}))
		Expect(r.Note).To(ContainSubstring("reported only"))
	})

	It("leaves rows nothing exercised unmet, saying why", func() {
		emu.Answered, emu.Gaps, emu.Alerted, emu.UplinkBytes = 0, nil, 0, 0
		point := point
		point.Faults = false
		rows := validate.Compare(point, validate.Figures{Sites: []validate.SiteFigures{emu}}, validate.Figures{Sites: []validate.SiteFigures{sim}}, validate.DefaultTargets())
		for _, fig := range []string{validate.FigureLatencyP50, validate.FigureLatencyP95, validate.FigureUplinkBytes, validate.FigureFailoverGap, validate.FigureTimeToAlert} {
			r := row(rows, "a", fig)
			Expect(r.Exercised).To(BeFalse(), fig)
			Expect(r.Met).To(BeFalse(), fig)
			Expect(r.Note).NotTo(BeEmpty(), fig)
		}
		Expect(row(rows, "a", validate.FigureFailoverGap).Note).To(Equal("the scenario kills and partitions nothing"))
		Expect(row(rows, "a", validate.FigureTimeToAlert).Note).To(ContainSubstring("emulated 0 of 2"))
	})

	It("does not exercise a failover gap only one side measured", func() {
		sim.Gaps = nil
		r := row(compare(), "a", validate.FigureFailoverGap)
		Expect(r.Exercised).To(BeFalse())
		Expect(r.Note).To(ContainSubstring("emulated 2, simulated 0"))
	})

	It("marks a site the simulation lacks on every figure", func() {
		sim.Site = "b"
		rows := compare()
		Expect(rows).To(HaveLen(7))
		for _, r := range rows {
			Expect(r.Exercised).To(BeFalse())
			Expect(r.Note).To(Equal("the simulation has no such site"))
		}
	})

	It("says that an edge site's uplink carries alerts only", func() {
		point := point
		point.EdgeUplink = true
		rows := validate.Compare(point, validate.Figures{Sites: []validate.SiteFigures{emu}}, validate.Figures{Sites: []validate.SiteFigures{sim}}, validate.DefaultTargets())
		Expect(row(rows, "a", validate.FigureUplinkBytes).Note).To(ContainSubstring("alerts only"))
	})
})

var _ = Describe("OnSaturatedHost", func() {
	rows := []plan.ValidationRow{
		{Figure: validate.FigureLatencyP50, Emulated: 0.3, Simulated: 0.29, Error: 0.033, Target: 0.05, Exercised: true, Met: true},
		{Figure: validate.FigureLatencyP95, Emulated: 1, Simulated: 0.2, Error: 0.8, Target: 0.1, Exercised: true},
	}
	It("takes back every verdict of a point emulated on a saturated host, keeping its figures and saying why", func() {
		out := validate.OnSaturatedHost(rows, &reports.Headroom{Saturated: true, Reasons: []string{"CPU 97 % busy"}})
		Expect(out).To(HaveLen(2))
		for i, r := range out {
			Expect(r.Exercised).To(BeFalse())
			Expect(r.Met).To(BeFalse())
			Expect(r.Note).To(And(ContainSubstring("saturated"), ContainSubstring("CPU 97 % busy")))
			Expect(r.Emulated).To(Equal(rows[i].Emulated))
			Expect(r.Error).To(Equal(rows[i].Error))
		}
		Expect(rows[0].Met).To(BeTrue(), "the input rows are not changed")
	})
	It("changes nothing when the host had headroom or was not sampled", func() {
		Expect(validate.OnSaturatedHost(rows, &reports.Headroom{})).To(Equal(rows))
		Expect(validate.OnSaturatedHost(rows, nil)).To(Equal(rows))
	})
})

var _ = Describe("KneeOnSaturatedHost", func() {
	It("leaves the knee unknown when the emulated search reached a saturated host, and alone otherwise", func() {
		knee := validate.KneeRow("s", 2, 3, []int{1, 2, 3, 4}, validate.DefaultTargets())
		Expect(knee.Met).To(BeTrue())
		Expect(validate.KneeOnSaturatedHost(knee, 0)).To(Equal(knee))
		out := validate.KneeOnSaturatedHost(knee, 3)
		Expect(out.Exercised).To(BeFalse())
		Expect(out.Met).To(BeFalse())
		Expect(out.Note).To(ContainSubstring("saturated at 3 cameras per node"))
	})
})

var _ = Describe("KneeRow", func() {
	t := validate.DefaultTargets()
	perNode := []int{1, 2, 3, 4}
	It("is met within one camera", func() {
		Expect(validate.KneeRow("s", 2, 3, perNode, t)).To(MatchFields(IgnoreExtras, Fields{
			"Figure": Equal("knee"), "Site": BeEmpty(), "Error": Equal(1.0), "Target": Equal(1.0), "Exercised": BeTrue(), "Met": BeTrue()}))
		Expect(validate.KneeRow("s", 1, 3, perNode, t)).To(MatchFields(IgnoreExtras, Fields{"Error": Equal(2.0), "Met": BeFalse()}))
	})
	It("counts a knee at the sweep's top on one side only as exercised", func() {
		Expect(validate.KneeRow("s", 4, 2, perNode, t)).To(MatchFields(IgnoreExtras, Fields{"Exercised": BeTrue(), "Met": BeFalse()}))
	})
	It("is not exercised when the sweep did not bracket the knee on either side", func() {
		r := validate.KneeRow("s", 4, 4, perNode, t)
		Expect(r.Exercised).To(BeFalse())
		Expect(r.Met).To(BeFalse())
		Expect(r.Note).To(ContainSubstring("sweep further"))
		r = validate.KneeRow("s", 0, 0, perNode, t)
		Expect(r.Exercised).To(BeFalse())
		Expect(r.Note).To(ContainSubstring("sweep lower"))
	})
})

var _ = Describe("AllMet", func() {
	It("judges the rows with a target, and is false for an empty table", func() {
		Expect(validate.AllMet(&plan.Validation{})).To(BeFalse())
		v := &plan.Validation{Rows: []plan.ValidationRow{{Target: 0.05, Met: true, Exercised: true}, {Target: 0, Exercised: true}}}
		Expect(validate.AllMet(v)).To(BeTrue())
		v.Rows = append(v.Rows, plan.ValidationRow{Target: 1, Exercised: false})
		Expect(validate.AllMet(v)).To(BeFalse())
	})
})

var _ = Describe("Meets", func() {
	obj := plan.Objectives{LatencyP95: 600 * time.Millisecond, TimeToAlertP95: 5 * time.Second, UplinkMax: 1e6}
	site := func() validate.SiteFigures {
		return validate.SiteFigures{Site: "a", Answered: 10, LatencyP95: 500 * time.Millisecond, Uplink: true, UplinkBytes: 1e6, // 0.8 Mbit/s over 10 s
			AlertsExpected: 1, Alerted: 1, TimeToAlertP95: 3 * time.Second}
	}
	meets := func(s ...validate.SiteFigures) bool {
		return validate.Meets(obj, validate.Figures{Sites: s}, 10*time.Second)
	}
	It("holds when every site meets every objective", func() { Expect(meets(site())).To(BeTrue()) })
	It("fails a site over an objective", func() {
		s := site()
		s.LatencyP95 = 700 * time.Millisecond
		Expect(meets(site(), s)).To(BeFalse())
		s = site()
		s.UplinkBytes = 2e6
		Expect(meets(s)).To(BeFalse())
	})
	It("fails what nothing exercised: no answer, a missed alert, no alert expected anywhere", func() {
		s := site()
		s.Answered = 0
		Expect(meets(s)).To(BeFalse())
		s = site()
		s.Alerted = 0
		Expect(meets(s)).To(BeFalse())
		s = site()
		s.AlertsExpected, s.Alerted = 0, 0
		Expect(meets(s)).To(BeFalse())
		other := site()
		other.Site = "b"
		Expect(meets(s, other)).To(BeTrue(), "a site without events does not fail the alert objective when another site exercises it")
		Expect(validate.Meets(plan.Objectives{}, validate.Figures{Sites: []validate.SiteFigures{site()}}, time.Second)).To(BeFalse())
	})
})
