package reports_test

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
)

// hostSamples gives one host sample a second over the fixture's run phase
// (7 s to 37 s) with the given CPU share and runnable threads on 2 CPUs,
// plus one busy sample in the warm-up that must not count.
func hostSamples(busy, runnable float64, releaseP99 time.Duration) *reports.HostSamples {
	hs := &reports.HostSamples{CPUs: 2, Samples: []reports.HostSample{{At: at(6 * time.Second), CPUBusy: 1, Runnable: 40, Load1: 9}}}
	for s := 8; s <= 36; s++ {
		hs.Samples = append(hs.Samples, reports.HostSample{At: at(time.Duration(s) * time.Second), CPUBusy: busy, Runnable: runnable, Load1: 1.5})
	}
	hs.Release = []reports.ReleaseLateness{
		{Link: "site-a-access", Direction: "up", Packets: 5000, P99: 170 * time.Microsecond, Max: 2 * time.Millisecond},
		{Link: "site-b-backhaul", Direction: "down", Packets: 4000, P99: releaseP99, Max: 6 * time.Millisecond},
	}
	return hs
}

var _ = Describe("Host headroom", func() {
	analyze := func(hs *reports.HostSamples) *reports.Result {
		run := fixtureRun()
		run.Host = hs
		return mustAnalyze(run)
	}

	When("the host was idle", func() {
		var res *reports.Result
		BeforeEach(func() { res = analyze(hostSamples(0.40, 1, 200*time.Microsecond)) })

		It("sums up the run phase only and finds no saturation", func() {
			h := res.Headroom
			Expect(h).NotTo(BeNil())
			Expect(h.Samples).To(Equal(29), "the warm-up sample is left out")
			Expect(h.CPUBusyMean).To(BeNumerically("~", 0.40, 1e-9))
			Expect(h.CPUBusyMax).To(BeNumerically("~", 0.40, 1e-9))
			Expect(h.RunnablePerCPUMean).To(BeNumerically("~", 0.5, 1e-9))
			Expect(h.ReleaseWorst).To(Equal("site-b-backhaul down"))
			Expect(h.ReleaseP99Ms).To(BeNumerically("~", 0.2, 1e-9))
			Expect(h.Saturated).To(BeFalse())
			Expect(h.Reasons).To(BeEmpty())
			Expect(h.Tainted).To(BeEmpty())
		})

		It("judges no direction by a p99 over fewer than 100 packets, where one late packet would be its 1 %", func() {
			hs := hostSamples(0.40, 1, 200*time.Microsecond)
			hs.Release = append(hs.Release, reports.ReleaseLateness{Link: "site-a-backhaul", Direction: "up", Packets: reports.ReleaseMinPackets - 1,
				P99: 2 * time.Millisecond, Max: 6 * time.Millisecond})
			h := analyze(hs).Headroom
			Expect(h.ReleaseWorst).To(Equal("site-b-backhaul down"))
			Expect(h.Saturated).To(BeFalse())

			hs.Release[len(hs.Release)-1].Packets = reports.ReleaseMinPackets
			h = analyze(hs).Headroom
			Expect(h.ReleaseWorst).To(Equal("site-a-backhaul up"))
			Expect(h.Saturated).To(BeTrue())
			Expect(h.Reasons).To(ConsistOf(ContainSubstring("site-a-backhaul up's packets 2ms or more after their due time")))
		})

		It("puts no banner in any format, but states the headroom", func() {
			md := string(rendered(res, render.FormatMarkdown))
			Expect(md).NotTo(ContainSubstring("HOST SATURATED"))
			Expect(md).To(ContainSubstring("**Host headroom**: 2 CPUs, 40% busy on average"))
			Expect(string(rendered(res, render.FormatHTML))).NotTo(ContainSubstring("HOST SATURATED"))
			junit := string(rendered(res, render.FormatJUnit))
			Expect(junit).NotTo(ContainSubstring("HOST SATURATED"))
			Expect(junit).To(ContainSubstring(`<property name="hostSaturated" value="false">`))
		})
	})

	When("the host was saturated", func() {
		var res *reports.Result
		BeforeEach(func() { res = analyze(hostSamples(0.97, 5, 3*time.Millisecond)) })

		It("says why and names the figures it taints", func() {
			h := res.Headroom
			Expect(h.Saturated).To(BeTrue())
			Expect(h.Reasons).To(HaveExactElements(
				ContainSubstring("CPU 97% busy on average over 2 CPUs (threshold 90%)"),
				ContainSubstring("2.50 runnable threads per CPU on average (threshold 1.5)"),
				ContainSubstring("site-b-backhaul down's packets 3ms or more after their due time"),
			))
			Expect(h.Tainted).To(HaveExactElements(
				"e2e latency (every percentile and scope)", "time to alert", "failover gap", "frames answered",
				"SLO e2e latency p95 (all cameras)", "SLO e2e latency p99 (site site-b)", "SLO e2e latency p95 (edge placement)",
				"SLO time to alert (max)", "SLO failover gap (max)", "SLO frames answered",
			), "bandwidth and accuracy are not timing figures")
		})

		It("says so at the top of report.md, report.html and junit.xml, and in report.json", func() {
			md := string(rendered(res, render.FormatMarkdown))
			lines := strings.Split(md, "\n")
			Expect(lines[0]).To(HavePrefix("## edgesim two-sites"))
			Expect(lines[2]).To(HavePrefix("> ⚠️ **HOST SATURATED: the machine running the testbed, not the emulated network, limited this run"))
			Expect(lines[2]).To(ContainSubstring("These figures measure the overloaded host and do not hold for the network: e2e latency (every percentile and scope), time to alert, failover gap"))

			html := string(rendered(res, render.FormatHTML))
			banner := strings.Index(html, `<div class="banner" id="host-saturated">HOST SATURATED`)
			Expect(banner).To(BeNumerically(">", 0))
			Expect(banner).To(BeNumerically("<", strings.Index(html, "<h2>SLOs</h2>")), "above every figure")

			var doc struct {
				Suites []struct {
					Properties []struct {
						Name  string `xml:"name,attr"`
						Value string `xml:"value,attr"`
					} `xml:"properties>property"`
					SystemOut string `xml:"system-out"`
				} `xml:"testsuite"`
			}
			Expect(xml.Unmarshal(rendered(res, render.FormatJUnit), &doc)).To(Succeed())
			Expect(doc.Suites[0].Properties).To(ContainElement(And(HaveField("Name", "hostSaturated"), HaveField("Value", "true"))))
			Expect(doc.Suites[0].SystemOut).To(HavePrefix("HOST SATURATED"))

			var js struct {
				Headroom struct {
					Saturated bool     `json:"saturated"`
					Tainted   []string `json:"tainted"`
				} `json:"headroom"`
			}
			Expect(json.Unmarshal(rendered(res, render.FormatJSON), &js)).To(Succeed())
			Expect(js.Headroom.Saturated).To(BeTrue())
			Expect(js.Headroom.Tainted).To(ContainElement("failover gap"))
		})

		It("is recomputed from samples.json", func() {
			back, err := reports.ReadSamples(strings.NewReader(string(rendered(res, render.FormatSamples))))
			Expect(err).NotTo(HaveOccurred())
			Expect(mustAnalyze(back).Headroom).To(Equal(res.Headroom))
		})
	})

	It("taints only the timing figures when only the link engine was late", func() {
		res := analyze(hostSamples(0.5, 1, 1500*time.Microsecond))
		Expect(res.Headroom.Saturated).To(BeTrue())
		Expect(res.Headroom.Reasons).To(HaveLen(1))
		Expect(res.Headroom.Tainted).NotTo(ContainElement("frames answered"))
		Expect(res.Headroom.Tainted).To(ContainElement("failover gap"))
	})

	It("is left out when the host was not sampled", func() {
		res := analyze(nil)
		Expect(res.Headroom).To(BeNil())
		Expect(string(rendered(res, render.FormatMarkdown))).NotTo(ContainSubstring("Host headroom"))
	})
})
