package render_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/render"
	"github.com/edgesim/edgesim/units"
)

const fixture = "../testdata/calibration-test-fixture.yaml"

// fleet has a store, whose cameras see a person dwell at the door, and a
// yard, where nothing is scripted (time to alert does not apply to it)
// and whose LAN is cut for the whole run: no frame of it is answered, so
// its latency objective is never exercised.
func fleet(class string, placement plan.Placement) *plan.Fleet {
	cam := plan.CameraGroup{Name: "cam", Count: 1, Width: 640, Height: 360, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit"),
		Zones: []plan.Zone{{Name: "door", Rect: [4]float64{0, 0, 0.5, 1}}}}
	store := cam
	store.Events = []plan.Event{{Zone: "door", Label: "person", Start: 2 * time.Second, End: 10 * time.Second}}
	site := func(name, typ string, c plan.CameraGroup) plan.Site {
		return plan.Site{Name: name, Type: typ, Nodes: 2, Class: class, Cameras: []plan.CameraGroup{c},
			LANUp: netem.LinkConfig{Delay: 5 * time.Millisecond}, LANDown: netem.LinkConfig{Delay: 5 * time.Millisecond},
			WANUp: netem.LinkConfig{Delay: 20 * time.Millisecond}, WANDown: netem.LinkConfig{Delay: 20 * time.Millisecond}}
	}
	f := &plan.Fleet{Seed: 3, Duration: 15 * time.Second, Model: "edgesim-det", Placement: placement, DetectFPS: 5,
		Alerts: []plan.AlertRule{{Zone: "door", Label: "person", Dwell: time.Second}},
		Sites:  []plan.Site{site("s1", "store", store), site("y1", "yard", cam)},
		Faults: []plan.Fault{{Action: plan.FaultPartition, Site: "y1", Link: plan.LinkLAN}}}
	if placement == plan.PlacementCloud {
		f.Cloud = plan.Cloud{Nodes: 2, Class: "cloud-box"}
	}
	return f
}

var objectives = plan.Objectives{LatencyP95: 800 * time.Millisecond, DroppedMax: 0.01, TimeToAlertP95: 10 * time.Second}

// curve sweeps one key with plan.FindKnee and keeps, per site type, the
// largest cameras per node that with every smaller one meets every check
// of that type.
func curve(ctx context.Context, cal *plan.Calibration, class string, placement plan.Placement) plan.Curve {
	k, err := plan.FindKnee(ctx, fleet(class, placement), cal, objectives, []int{1, 2, 3})
	Expect(err).NotTo(HaveOccurred())
	cv := plan.Curve{Key: plan.CurveKey{Hardware: class, Model: "edgesim-det", DetectFPS: 5, Link: "wan-20ms", Placement: placement, NodesPerSite: 2}}
	for _, typ := range []string{"store", "yard"} {
		knee, failed := 0, false
		for _, p := range k.Points {
			for _, c := range p.Checks {
				failed = failed || (strings.HasPrefix(c.Objective, typ+": ") && !c.Met)
			}
			if !failed {
				knee = p.CamerasPerNode
			}
		}
		cv.Knees = append(cv.Knees, plan.TypeKnee{Type: typ, CamerasPerNode: knee})
	}
	for _, p := range k.Points {
		cv.Points = append(cv.Points, plan.CurvePoint{CamerasPerNode: p.CamerasPerNode, Types: p.Result.Types, Checks: p.Checks, Met: p.Met})
	}
	return cv
}

func report(ctx context.Context) *plan.CapacityReport {
	cal, err := plan.LoadCalibration(fixture)
	Expect(err).NotTo(HaveOccurred())
	r := &plan.CapacityReport{APIVersion: plan.CapacityAPIVersion, Kind: plan.CapacityKind, Name: "two-stores",
		Generated: time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC), Seed: 3, Simulated: 15 * time.Second, Sites: 2, Cameras: 8,
		Calibration: plan.CalibrationInfo{Path: fixture, Provenance: cal.Provenance, TestFixture: cal.TestFixture},
		Objectives:  []plan.Objective{{Name: "latency p95 (s)", Limit: 0.8}, {Name: "time to alert p95 (s)", Limit: 10}, {Name: "dropped share", Limit: 0.01}},
		Curves: []plan.Curve{curve(ctx, cal, "small-box", plan.PlacementEdge), curve(ctx, cal, "cloud-box", plan.PlacementEdge),
			curve(ctx, cal, "small-box", plan.PlacementCloud)},
		Stats: plan.RunStats{Points: 9, Events: 123456, Packets: 654321, Wall: 1500 * time.Millisecond, CPUSeconds: 2.5, PeakRSSBytes: 30 << 20}}
	// An emulated run of the first point, as validation would add it.
	r.Curves[0].Points[0].Emulated = &plan.EmulatedPoint{LatencyP50: 120 * time.Millisecond, LatencyP95: 150 * time.Millisecond, UplinkMeanBits: 2e4}
	for _, typ := range []string{"store", "yard"} {
		c := plan.SiteTypeCapacity{Type: typ}
		for _, cv := range r.Curves {
			for _, k := range cv.Knees {
				if k.Type == typ {
					c.Knees = append(c.Knees, plan.KeyKnee{Key: cv.Key, CamerasPerNode: k.CamerasPerNode})
				}
			}
			t := cv.Points[0].Types[0]
			c.Uplink = append(c.Uplink, plan.UplinkFigure{Key: cv.Key, CamerasPerSite: t.Cameras / t.Sites, MeanBits: t.UplinkMeanBits, MaxBits: t.UplinkMaxBits})
		}
		r.Capacity = append(r.Capacity, c)
	}
	return r
}

func markdown(r *plan.CapacityReport) string {
	var b bytes.Buffer
	Expect(render.Markdown(&b, r)).To(Succeed())
	return b.String()
}

func html(r *plan.CapacityReport) string {
	var b bytes.Buffer
	Expect(render.HTML(&b, r)).To(Succeed())
	return b.String()
}

// line is the one line of s that re matches whole.
func line(s, re string) string {
	m := regexp.MustCompile(`(?m)^`+re+`$`).FindAllString(s, -1)
	Expect(m).To(HaveLen(1), "lines matching %q", re)
	return m[0]
}

// between is s from the first from to the next to after it.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	Expect(i).NotTo(BeNumerically("<", 0), "%q in the report", from)
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

var _ = Describe("The capacity report", func() {
	var r *plan.CapacityReport
	BeforeEach(func(ctx SpecContext) { r = report(ctx) })

	It("gives each site type's knee per key, and says when there is none", func() {
		// the fixture's small-box infers 10 frames/s: 2 cameras at 5 fps;
		// the cloud-box carries every swept value
		Expect(r.Curves[0].Knees).To(ContainElement(plan.TypeKnee{Type: "store", CamerasPerNode: 2}))
		Expect(r.Curves[1].Knees).To(ContainElement(plan.TypeKnee{Type: "store", CamerasPerNode: 3}))
		md := markdown(r)
		knee := func(typ, key string) string {
			return line(between(md, "## Site type "+typ, "**Uplink"), `\| `+key+` \| edgesim-det \| 5 \| wan-20ms \| edge \| 2 \| [^|]+ \|`)
		}
		Expect(knee("store", "small-box")).To(HaveSuffix("| 2 |"))
		Expect(knee("store", "cloud-box")).To(HaveSuffix("| 3 |"))
		Expect(knee("yard", "small-box")).To(HaveSuffix("| ❌ none: the smallest swept value already fails |"))
		Expect(md).To(ContainSubstring("Knee: store 2 cameras per node; yard none (the smallest swept value already fails)."))
	})

	It("says an objective nothing exercised is not exercised, never met", func() {
		md := markdown(r)
		Expect(md).To(ContainSubstring("| time to alert p95 (s) |"))
		// columns: cameras, type, p50, p95, uplink, dropped, tta, then the objectives in order
		small := between(md, "### small-box · edgesim-det · 5 fps · link wan-20ms · edge placement", "###")
		cells := strings.Split(line(small, `\| 1 \| yard \|.*`), "|")
		Expect(cells).To(HaveLen(13), "the emulated point's column too")
		Expect(strings.TrimSpace(cells[7])).To(Equal("– (no event)"))
		Expect(strings.TrimSpace(cells[8])).To(Equal("➖ not exercised"), "latency p95: no frame answered")
		Expect(strings.TrimSpace(cells[9])).To(Equal("–"), "time to alert does not apply: nothing scripted")
		Expect(line(small, `\| 3 \| store \|.*`)).To(ContainSubstring("❌ failed (0.3"), "the dropped share past the knee")
		Expect(html(r)).To(ContainSubstring(`<span class="na">not exercised</span>`))
	})

	It("sizes the cloud tier and shows a node loss without and with a spare", func() {
		md := markdown(r)
		Expect(md).NotTo(ContainSubstring("Cloud tier"))
		Expect(md).NotTo(ContainSubstring("Losing one edge node"))
		cloud, edge := r.Curves[2].Key, r.Curves[0].Key
		r.Capacity[0].CloudTier = []plan.CloudTierFigure{{Key: cloud, Hardware: "cloud-box", Nodes: 2, Cameras: 12, Met: true}}
		r.Capacity[1].CloudTier = []plan.CloudTierFigure{{Key: cloud, Hardware: "cloud-box", Cameras: 12}}
		r.Capacity[0].NodeLoss = []plan.NodeLossFigure{
			{Key: edge, CamerasPerNode: 2, LatencyP95: 900 * time.Millisecond,
				Failover: plan.FailoverSummary{Cameras: 2, Unrecovered: 1, GapP50: 3 * time.Second, GapP95: 14 * time.Second, GapMax: 15 * time.Second, FramesLost: 290}},
			{Key: edge, CamerasPerNode: 2, Spare: true, LatencyP95: 210 * time.Millisecond, Met: true,
				Failover: plan.FailoverSummary{Cameras: 2, GapP50: 2500 * time.Millisecond, GapP95: 2900 * time.Millisecond, GapMax: 3 * time.Second, FramesLost: 55}}}
		md = markdown(r)
		key := "| small-box | edgesim-det | 5 | wan-20ms | "
		Expect(md).To(ContainSubstring(key + "cloud | 2 | cloud-box | 2 | 12 | ✅ met |"))
		Expect(md).To(ContainSubstring(key + "cloud | 2 | cloud-box | ❌ none: no swept size met the objectives | 12 | ❌ not met |"))
		Expect(md).To(ContainSubstring(key + "edge | 2 | 2 | without | 2 | 3s | 14s | 15s | 1 | 290 | 900ms | ❌ not met |"))
		Expect(md).To(ContainSubstring(key + "edge | 2 | 2 | with spare | 2 | 2.5s | 2.9s | 3s | 0 | 55 | 210ms | ✅ met |"))
	})

	It("says it carries no validation, or carries the table", func() {
		md := markdown(r)
		Expect(md).To(ContainSubstring("This report carries no validation: run `edgesim plan --validate PLAN.yaml`."))
		Expect(html(r)).To(ContainSubstring("This report carries no validation"))

		r.Validation = &plan.Validation{Machine: "a 2-core VM", Commit: "abc123", Commands: []string{"edgesim plan --validate p.yaml"},
			Rows: []plan.ValidationRow{
				{Scenario: "quickstart", CamerasPerNode: 2, Figure: "latency p95", Unit: "s", Emulated: 0.25, Simulated: 0.258,
					ErrorKind: plan.ErrorRelative, Error: 0.032, Target: 0.1, Exercised: true, Met: true},
				{Scenario: "quickstart", CamerasPerNode: 2, Site: "store-1", Figure: "failover gap", Unit: "s", ErrorKind: plan.ErrorAbsolute, Target: 1,
					Note: "no fault in the scenario"},
			}}
		md = markdown(r)
		Expect(md).NotTo(ContainSubstring("carries no validation"))
		Expect(md).To(ContainSubstring("| quickstart | 2 | all | latency p95 | 250ms | 258ms | 3.2% | ≤ 10.0% | ✅ met |"))
		Expect(md).To(ContainSubstring("| quickstart | 2 | store-1 | failover gap | – | – | – | ≤ 1s | ➖ not exercised: no fault in the scenario |"))
		Expect(html(r)).To(ContainSubstring(`<span class="na">not exercised: no fault in the scenario</span>`))
	})

	It("draws p95 latency per hardware class with the SLO line, uplink, and the emulated points in HTML", func() {
		h := html(r)
		Expect(strings.Count(h, "<svg")).To(Equal(3), "latency at edge and at cloud placement, uplink")
		Expect(h).To(ContainSubstring("p95 latency against cameras per node, per hardware class: edgesim-det · 5 fps · link wan-20ms · edge placement · 2 nodes per site"))
		Expect(h).To(ContainSubstring("SLO: latency p95 ≤ 800ms"))
		Expect(h).To(ContainSubstring("small-box, store</li>"))
		Expect(h).To(ContainSubstring("cloud-box, yard</li>"))
		Expect(h).To(ContainSubstring("small-box: emulated</li>"))
		Expect(h).To(ContainSubstring("edge, small-box: emulated</li>"), "over the uplink curve")
		Expect(h).To(ContainSubstring("cloud, small-box, store</li>"))
	})

	It("warns about a test-fixture calibration, the report's warnings and a partial shard", func() {
		for _, out := range []string{markdown(r), html(r)} {
			Expect(out).To(ContainSubstring("TEST-FIXTURE CALIBRATION"))
			Expect(out).NotTo(ContainSubstring("shard"))
		}
		r.Calibration.TestFixture = false
		r.Warnings = []string{"calibration from commit abc, this is def"}
		r.Shard = &plan.Shard{Index: 1, Count: 4}
		md := markdown(r)
		Expect(md).NotTo(ContainSubstring("TEST-FIXTURE"))
		Expect(md).To(ContainSubstring("> ⚠️ **Warning: calibration from commit abc, this is def**"))
		Expect(md).To(ContainSubstring("Partial report of shard 1/4: merge before reading."))
		Expect(html(r)).To(ContainSubstring(`<div class="banner">Partial report of shard 1/4: merge before reading.`))
		Expect(md).To(ContainSubstring("9 points simulated · 123456 events · 654321 packets · wall 1.5s · CPU 2.5 s · peak RSS 30.00 MiB"))
	})

	It("names the calibration's entries measured in situ, only when it has some", func() {
		Expect(markdown(r)).NotTo(ContainSubstring("in situ"))
		r.Calibration.InSitu = []string{"class small-box in situ model edgesim-det", "class small-box in situ stack 600Kbit@10fps"}
		for _, out := range []string{markdown(r), html(r)} {
			Expect(out).To(ContainSubstring("measured in situ, inside running edgenodes of emulated runs, and drawn instead of the isolated measurements: " +
				"class small-box in situ model edgesim-det; class small-box in situ stack 600Kbit@10fps"))
		}
	})

	It("writes report.json, report.md and report.html; the JSON reads back equal", func() {
		dir := filepath.Join(GinkgoT().TempDir(), "out", "plan")
		paths, err := render.WriteAll(dir, r)
		Expect(err).NotTo(HaveOccurred())
		Expect(paths).To(Equal([]string{filepath.Join(dir, "report.json"), filepath.Join(dir, "report.md"), filepath.Join(dir, "report.html")}))
		b, err := os.ReadFile(paths[0])
		Expect(err).NotTo(HaveOccurred())
		var back plan.CapacityReport
		Expect(json.Unmarshal(b, &back)).To(Succeed())
		Expect(&back).To(BeComparableTo(r, cmpopts.IgnoreUnexported(plan.TypeResult{})))
		md, err := os.ReadFile(paths[1])
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(Equal(markdown(r)))

		_, err = render.WriteAll(dir, r)
		Expect(err).NotTo(HaveOccurred(), "its own report is rewritten")
		entries, err := os.ReadDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(3), "no temporary file left")
	})

	It("refuses a directory that holds another report", func() {
		dir := GinkgoT().TempDir()
		run := []byte(`{"scenario": "quickstart", "verdict": "pass"}`)
		Expect(os.WriteFile(filepath.Join(dir, "report.json"), run, 0o644)).To(Succeed())
		_, err := render.WriteAll(dir, r)
		Expect(err).To(MatchError(ContainSubstring("not a capacity report: write the capacity report to another directory")))
		Expect(os.ReadFile(filepath.Join(dir, "report.json"))).To(Equal(run))
		Expect(filepath.Join(dir, "report.md")).NotTo(BeAnExistingFile())
	})
})
