package reports_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
)

var _ = Describe("reference links", func() {
	uplinkVerdict := func(r *reports.Result) reports.SLOVerdict {
		for _, v := range r.SLOs {
			if v.Unit == "bit/s" {
				return v
			}
		}
		Fail("no uplink verdict")
		return reports.SLOVerdict{}
	}

	It("are reported but left out of the uplink gate", func() {
		run := fixtureRun()
		run.SLO.UplinkMaxBitsPerSecond = 1 // every real uplink fails
		gated := uplinkVerdict(mustAnalyze(run))
		Expect(gated.Pass).To(BeFalse())

		run = fixtureRun()
		run.SLO.UplinkMaxBitsPerSecond = 1
		for i := range run.Links {
			if run.Links[i].Uplink {
				run.Links[i].Reference = true
			}
		}
		r := mustAnalyze(run)
		v := uplinkVerdict(r)
		Expect(v.NotExercised).To(BeTrue(), "no gated uplink left: not exercised")
		Expect(v.Pass).To(BeFalse(), "a gate nothing exercised never passes")
		Expect(r.Links).To(ContainElement(HaveField("Reference", BeTrue())))
	})
})
