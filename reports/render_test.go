package reports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
)

func rendered(r *reports.Result, f render.Format) []byte {
	var buf bytes.Buffer
	Expect(render.Render(context.Background(), &buf, r, f)).To(Succeed())
	return buf.Bytes()
}

// expectGolden compares got with testdata/name; `go test ./reports -args
// -update` rewrites the file instead.
func expectGolden(name string, got []byte) {
	path := filepath.Join("testdata", name)
	if *update {
		Expect(os.WriteFile(path, got, 0o644)).To(Succeed())
	}
	want, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred(), "golden file missing: run go test ./reports -args -update")
	Expect(string(got)).To(Equal(string(want)), "output differs from %s (run with -args -update after checking the change)", path)
}

type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name      string `xml:"name,attr"`
		SystemOut string `xml:"system-out"`
		Cases     []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

var _ = Describe("Renderers", func() {
	var res *reports.Result
	BeforeEach(func() { res = mustAnalyze(fixtureRun()) })

	It("judges the fixture as the golden files say", func() {
		Expect(res.Verdict).To(Equal(reports.VerdictFail))
		Expect(reports.ExitCode(res)).To(Equal(1))
		names := map[string]bool{}
		for _, v := range res.SLOs {
			names[v.Name] = v.Pass
		}
		Expect(names).To(Equal(map[string]bool{
			"e2e latency p95 (all cameras)":     true,
			"e2e latency p99 (site site-b)":     false,
			"e2e latency p95 (edge placement)":  true,
			"time to alert (max)":               false,
			"failover gap (max)":                true,
			"uplink bandwidth (mean, per link)": true,
			"detection recall (IoU 0.5)":        true,
			"frames answered":                   true,
		}))
	})

	It("renders report.md as the golden file", func() {
		expectGolden("report.md", rendered(res, render.FormatMarkdown))
	})

	It("renders report.json as the golden file, versioned and readable again", func() {
		b := rendered(res, render.FormatJSON)
		expectGolden("report.json", b)
		back, err := reports.ReadResult(bytes.NewReader(b))
		Expect(err).NotTo(HaveOccurred())
		Expect(back.SchemaVersion).To(Equal("edgesim.dev/report/v1"))
		Expect(back.Latency("site-a").Percentile(95)).To(Equal(res.Latency("site-a").Percentile(95)))
		Expect(back.SLOs).To(Equal(res.SLOs))
	})

	It("renders junit.xml as the golden file, one test case per SLO", func() {
		b := rendered(res, render.FormatJUnit)
		expectGolden("junit.xml", b)
		var doc junitDoc
		Expect(xml.Unmarshal(b, &doc)).To(Succeed())
		Expect(doc.Tests).To(Equal(len(res.SLOs)))
		Expect(doc.Failures).To(Equal(2))
		Expect(doc.Suites).To(HaveLen(1))
		Expect(doc.Suites[0].Cases).To(HaveLen(len(res.SLOs)))
		var msgs []string
		for _, c := range doc.Suites[0].Cases {
			if c.Failure != nil {
				msgs = append(msgs, c.Failure.Message)
			}
		}
		Expect(msgs).To(ContainElement(MatchRegexp(`^measured [0-9.]+ms, threshold <= 150ms$`)))
	})

	It("adds a failing case to junit.xml for a partial run", func() {
		run := fixtureRun()
		run.Partial, run.PartialReason = true, "interrupted by signal"
		var doc junitDoc
		Expect(xml.Unmarshal(rendered(mustAnalyze(run), render.FormatJUnit), &doc)).To(Succeed())
		last := doc.Suites[0].Cases[len(doc.Suites[0].Cases)-1]
		Expect(last.Name).To(Equal("run completed"))
		Expect(last.Failure.Message).To(ContainSubstring("interrupted by signal"))
	})

	It("renders a self-contained report.html with inline SVG plots", func() {
		html := rendered(res, render.FormatHTML)
		dec := xml.NewDecoder(bytes.NewReader(html))
		dec.Strict = false
		dec.AutoClose = xml.HTMLAutoClose
		dec.Entity = xml.HTMLEntity
		svgs, tables := 0, 0
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			if se, ok := tok.(xml.StartElement); ok {
				switch se.Name.Local {
				case "svg":
					svgs++
				case "table":
					tables++
				case "script", "link", "img", "iframe":
					Fail("external or active content: <" + se.Name.Local + ">")
				}
				for _, a := range se.Attr {
					if a.Name.Local == "src" || (a.Name.Local == "href" && !strings.HasPrefix(a.Value, "#")) {
						Fail("reference to an external asset: " + a.Value)
					}
				}
			}
		}
		Expect(svgs).To(Equal(5), "latency CDF, latency over time, bandwidth, failover gaps, failover steps")
		Expect(tables).To(BeNumerically(">=", 8))
		Expect(string(html)).To(ContainSubstring("site site-a"))
		Expect(string(html)).NotTo(ContainSubstring("PARTIAL RUN"))
		Expect(string(html)).NotTo(ContainSubstring("<?xml"))
	})

	It("marks a partial report.html and report.md clearly", func() {
		run := fixtureRun()
		run.Partial, run.PartialReason = true, "interrupted by signal"
		r := mustAnalyze(run)
		Expect(string(rendered(r, render.FormatHTML))).To(ContainSubstring("PARTIAL RUN (interrupted by signal)"))
		Expect(string(rendered(r, render.FormatMarkdown))).To(ContainSubstring("**PARTIAL RUN** (interrupted by signal)"))
	})

	It("says at the top of every format when the links were not emulated", func() {
		run := fixtureRun()
		run.LinksNotEmulated = "the cluster refused privileged pods"
		r := mustAnalyze(run)
		Expect(string(rendered(r, render.FormatHTML))).To(ContainSubstring(`<div class="banner" id="links-not-emulated">LINKS NOT EMULATED (the cluster refused privileged pods)`))
		md := string(rendered(r, render.FormatMarkdown))
		Expect(md).To(ContainSubstring("> ⚠️ **LINKS NOT EMULATED (the cluster refused privileged pods):"))
		Expect(strings.Index(md, "LINKS NOT EMULATED")).To(BeNumerically("<", strings.Index(md, "| SLO")), "above the SLO table")
		var doc junitDoc
		Expect(xml.Unmarshal(rendered(r, render.FormatJUnit), &doc)).To(Succeed())
		Expect(doc.Suites[0].SystemOut).To(HavePrefix("LINKS NOT EMULATED"))
		Expect(string(rendered(mustAnalyze(fixtureRun()), render.FormatMarkdown))).NotTo(ContainSubstring("LINKS NOT EMULATED"))
	})

	It("carries a provider's diagnostics into every human format and report.json, the end of long output kept in report.md", func() {
		run := fixtureRun()
		run.Partial, run.PartialReason = true, "start cameras: Service edgenode-store-1 has no endpoints"
		long := strings.Repeat("pod line\n", 1000) + "edgenode-store-1   <none>   5m"
		run.Diagnostics = []evidence.Diagnostic{{Title: "Service endpoints", Command: "kubectl -n edgesim get endpointslices -o wide", Output: long}}
		r := mustAnalyze(run)
		md := string(rendered(r, render.FormatMarkdown))
		Expect(md).To(ContainSubstring("**Diagnostics**"))
		Expect(md).To(ContainSubstring("$ kubectl -n edgesim get endpointslices -o wide"))
		Expect(md).To(ContainSubstring("edgenode-store-1   <none>   5m"))
		Expect(md).To(ContainSubstring("bytes cut]"))
		Expect(len(md)).To(BeNumerically("<", len(long)+len(string(rendered(mustAnalyze(fixtureRun()), render.FormatMarkdown)))))
		html := string(rendered(r, render.FormatHTML))
		Expect(html).To(ContainSubstring("<summary>Service endpoints</summary>"))
		Expect(html).To(ContainSubstring("edgenode-store-1   &lt;none&gt;   5m"))
		var back reports.Result
		Expect(json.Unmarshal(rendered(r, render.FormatJSON), &back)).To(Succeed())
		Expect(back.Diagnostics).To(Equal(run.Diagnostics))
	})

	It("states each cluster's build times, control-plane memory and failover settings in every human format and report.json", func() {
		run := fixtureRun()
		run.Provider = "k3s"
		run.Clusters = []evidence.Cluster{
			{Name: "es-a", Nodes: 5, Create: 68700 * time.Millisecond, Ready: 14400 * time.Millisecond, ControlPlane: "es-a-server",
				ControlPlaneMemory: 560 << 20, FailoverSettings: "node-monitor-grace-period 10s (default 50s)"},
			{Name: "es-b", Nodes: 2, Create: 20 * time.Second, Ready: time.Second, ControlPlane: "es-b-control-plane"},
		}
		r := mustAnalyze(run)
		md := string(rendered(r, render.FormatMarkdown))
		Expect(md).To(ContainSubstring("**Cluster** es-a, 5 nodes: containers up and Kubernetes started in 1m8.7s, every node Ready 14.4s later (1m23.1s in all); control plane es-a-server: 560.00 MiB resident at the end of the run"))
		Expect(md).To(ContainSubstring("**Failover settings** of es-a: node-monitor-grace-period 10s (default 50s)"))
		Expect(md).To(ContainSubstring("control plane es-b-control-plane: resident memory not measured"), "an unmeasured figure is said to be, never shown as 0")
		Expect(md).NotTo(ContainSubstring("**Failover settings** of es-b"))
		html := string(rendered(r, render.FormatHTML))
		Expect(html).To(ContainSubstring("<h2>Clusters</h2>"))
		Expect(html).To(ContainSubstring("es-a-server: 560.00 MiB resident"))
		Expect(html).To(ContainSubstring("Failover settings: node-monitor-grace-period 10s"))
		var back reports.Result
		Expect(json.Unmarshal(rendered(r, render.FormatJSON), &back)).To(Succeed())
		Expect(back.Clusters).To(Equal(run.Clusters))
		Expect(string(rendered(mustAnalyze(fixtureRun()), render.FormatMarkdown))).NotTo(ContainSubstring("**Cluster**"), "the local provider builds none")
	})

	It("finds verdicts by name and lists the failed ones", func() {
		v, ok := res.SLO("failover gap (max)")
		Expect(ok).To(BeTrue())
		Expect(v.MeasuredValue).To(Equal(1439.0))
		_, ok = res.SLO("nope")
		Expect(ok).To(BeFalse())
		Expect(res.Failed()).To(HaveLen(2))
		Expect(res.Summary()).To(Equal("FAIL: 2 of 8 SLOs failed: e2e latency p99 (site site-b) 173ms (<= 150ms); time to alert (max) 1 of 2 events without alert (<= 10s)"))
	})

	It("marks observed faults on the time plots and in the timeline", func() {
		run := fixtureRun()
		run.ObservedFaults = []reports.ObservedFault{{At: at(25 * time.Second), Kind: "crash", Target: "edgenode edge-a-2", Detail: "exit status 2"}}
		r := mustAnalyze(run)
		Expect(r.Warnings).To(ContainElement("unscripted fault observed at +25s: crash edgenode edge-a-2 exit status 2"))
		html := string(rendered(r, render.FormatHTML))
		Expect(html).To(ContainSubstring("observed fault"))
		Expect(html).To(ContainSubstring("exit status 2"))
	})

	It("escapes names everywhere in report.html, plots included", func() {
		run := fixtureRun()
		run.Scenario = `<script>alert("x")</script>`
		run.Links[0].Link = "<b>&evil"
		run.Faults[0].Target = "<img src=x>"
		html := string(rendered(mustAnalyze(run), render.FormatHTML))
		Expect(html).NotTo(ContainSubstring("<script>"))
		Expect(html).NotTo(ContainSubstring("<b>&evil"))
		Expect(html).NotTo(ContainSubstring("<img"))
		Expect(html).To(ContainSubstring("&lt;b&gt;&amp;evil"))
	})

	It("keeps report.html small for long runs", func() {
		r := mustAnalyze(bigRun(8, 5*time.Minute)) // 36,000 frames
		html := rendered(r, render.FormatHTML)
		Expect(len(html)).To(BeNumerically("<", 400_000))
		Expect(len(rendered(r, render.FormatJSON))).To(BeNumerically("<", 200_000))
	})

	It("says when there were no detections instead of a precision of 0%", func() {
		run := fixtureRun()
		for c := range run.Cameras {
			for f := range run.Cameras[c].Frames {
				run.Cameras[c].Frames[f].Detections = nil
			}
		}
		r := mustAnalyze(run)
		Expect(r.Accuracy.Total().Detections).To(Equal(0))
		Expect(r.Accuracy.Total().GroundTruth).To(Equal(2 * 439))
		Expect(string(rendered(r, render.FormatMarkdown))).To(ContainSubstring("precision – (no detections) · recall 0%"))
	})

	It("renders a run with no data at all", func() {
		r := mustAnalyze(smallRun())
		for _, f := range render.AllFormats() {
			Expect(rendered(r, f)).NotTo(BeEmpty(), string(f))
		}
	})

	Describe("WriteAll", func() {
		It("writes every file and nothing else, and the samples reproduce the report", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			Expect(render.WriteAll(ctx, dir, res, nil)).To(Succeed())
			entries, err := os.ReadDir(dir)
			Expect(err).NotTo(HaveOccurred())
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			Expect(names).To(ConsistOf("report.json", "report.html", "report.md", "junit.xml", "samples.json"))

			f, err := os.Open(filepath.Join(dir, "samples.json"))
			Expect(err).NotTo(HaveOccurred())
			defer f.Close()
			run, err := reports.ReadSamples(f)
			Expect(err).NotTo(HaveOccurred())
			again := mustAnalyze(run)
			Expect(rendered(again, render.FormatJSON)).To(Equal(rendered(res, render.FormatJSON)))
		})

		It("writes only the formats asked for", func(ctx SpecContext) {
			dir := filepath.Join(GinkgoT().TempDir(), "nested", "out")
			fs, err := render.ParseFormats("md, junit")
			Expect(err).NotTo(HaveOccurred())
			Expect(render.WriteAll(ctx, dir, res, fs)).To(Succeed())
			Expect(filepath.Join(dir, "report.md")).To(BeAnExistingFile())
			Expect(filepath.Join(dir, "junit.xml")).To(BeAnExistingFile())
			Expect(filepath.Join(dir, "report.html")).NotTo(BeAnExistingFile())
		})

		It("rejects unknown formats with the list of known ones", func(ctx SpecContext) {
			_, err := render.ParseFormats("json,pdf")
			Expect(err).To(MatchError(render.ErrUnknownFormat))
			Expect(err.Error()).To(ContainSubstring("json, html, md, junit, samples"))
			Expect(render.WriteAll(ctx, GinkgoT().TempDir(), res, []render.Format{"pdf"})).To(MatchError(render.ErrUnknownFormat))
		})

		It("stops on a cancelled context without leaving temporary files", func() {
			dir := GinkgoT().TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			Expect(render.WriteAll(ctx, dir, res, nil)).To(MatchError(context.Canceled))
			entries, err := os.ReadDir(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(entries).To(BeEmpty())
		})

		It("cannot write samples of a result decoded from JSON", func(ctx SpecContext) {
			back, err := reports.ReadResult(bytes.NewReader(rendered(res, render.FormatJSON)))
			Expect(err).NotTo(HaveOccurred())
			Expect(render.WriteAll(ctx, GinkgoT().TempDir(), back, []render.Format{render.FormatSamples})).To(MatchError(render.ErrNoSamples))
		})
	})

	It("refuses samples of another schema version", func() {
		_, err := reports.ReadSamples(strings.NewReader(`{"schemaVersion":"edgesim.dev/samples/v0","scenario":"x","cameras":[]}`))
		Expect(err).To(MatchError(ContainSubstring("re-collect them")))
	})
})

var _ = Describe("Preview", func() {
	It("writes the fixture's reports to $EDGESIM_REPORT_PREVIEW for a look in a browser", func(ctx SpecContext) {
		dir := os.Getenv("EDGESIM_REPORT_PREVIEW")
		if dir == "" {
			Skip("set EDGESIM_REPORT_PREVIEW=<dir> to write a sample report")
		}
		run := fixtureRun()
		if os.Getenv("EDGESIM_REPORT_PREVIEW_PARTIAL") != "" {
			run.Partial, run.PartialReason = true, "interrupted by signal"
		}
		Expect(render.WriteAll(ctx, dir, mustAnalyze(run), nil)).To(Succeed())
	})
})
