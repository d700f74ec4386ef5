package testbed_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/internal/testbins"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/match"
)

// These specs run whole scenarios on the local provider: real namespaces,
// real edgenode and fakecam processes, real packets. They need root.

// binaries builds edgesim and edgenode once for the suite.
func binaries() testbed.Binaries {
	b, err := testbins.Build()
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = AfterSuite(gexec.CleanupBuildArtifacts)

var _ = Describe("running scenarios on the local provider", Label("e2e", "slow"), func() {
	var bins testbed.Binaries

	BeforeEach(func() {
		if os.Geteuid() != 0 {
			Skip("the local provider needs root to create network namespaces")
		}
		bins = binaries()
	})

	run := func(ctx context.Context, name string, compare bool) *testbed.Result {
		sc, err := scenarios.Example(name)
		Expect(err).NotTo(HaveOccurred())
		res, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Binaries: bins, Compare: compare, Report: render.WriteEvery})
		if res != nil {
			DeferCleanup(func() {
				if CurrentSpecReport().Failed() {
					dumpRun(res.Dir)
				}
			})
		}
		Expect(err).NotTo(HaveOccurred())
		for _, f := range []string{"report.json", "report.html", "report.md", "junit.xml", "samples.json"} {
			Expect(filepath.Join(res.Dir, f)).To(BeAnExistingFile())
		}
		return res
	}

	It("night-watch-4g raises the loitering alert within its SLO", func(ctx SpecContext) {
		res := run(ctx, "night-watch-4g", false)
		Expect(res).To(match.AlertWithin(5 * time.Second))
		Expect(res.Report.ObservedFaults).To(BeEmpty(), "no process may crash")
	}, NodeTimeout(4*time.Minute))

	It("night-watch-4g with cloud placement times its alert from the cloud node's own alerts", func(ctx SpecContext) {
		sc, err := scenarios.Example("night-watch-4g")
		Expect(err).NotTo(HaveOccurred())
		sc.Workload.Placement = scenarios.PlacementCloud
		res, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Binaries: bins})
		if res != nil {
			DeferCleanup(func() {
				if CurrentSpecReport().Failed() {
					dumpRun(res.Dir)
				}
			})
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Run.Cameras).To(HaveEach(HaveField("Placement", reports.PlacementCloud)))
		Expect(res.Run.Alerts).NotTo(BeEmpty(), "the cloud node stores the alerts it raises itself")
		Expect(res.Run.Alerts).To(HaveEach(HaveField("Node", "cloud-1")))
		Expect(res.Report.TimeToAlert).To(HaveLen(1))
		Expect(res.Report.TimeToAlert[0].AlertID).NotTo(BeEmpty(),
			"the event's timing %+v; the alerts %+v", res.Report.TimeToAlert[0], res.Run.Alerts)
		Expect(res).To(match.AlertWithin(5 * time.Second))
		GinkgoWriter.Printf("night-watch-4g, cloud placement: time to alert %.0f ms\n", res.Report.TimeToAlert[0].TimeToAlertMs)
	}, NodeTimeout(4*time.Minute))

	It("quickstart measures the failover of the killed edge node and compares edge with cloud uplink", func(ctx SpecContext) {
		res := run(ctx, "quickstart", true)
		Expect(res.Report.Failover).NotTo(BeEmpty())
		Expect(res).To(match.FailOverWithin(10 * time.Second))
		// Recovery is a surviving node's answer, and the gap is no shorter
		// than the time the camera really went without answers after the
		// fault, counted here from the raw samples: up to the recovering
		// answer, and past every frame captured after the fault that got
		// none.
		for _, g := range res.Report.Failover {
			Expect(g.RecoveredBy).NotTo(BeEmpty(), g.Camera)
			Expect(g.RecoveredBy).NotTo(Equal(g.Target), g.Camera)
			// GapMs is a float of milliseconds: allow its rounding (1 µs).
			gap := time.Duration(g.GapMs*float64(time.Millisecond)) + time.Microsecond
			for _, c := range res.Run.Cameras {
				if c.ID != g.Camera {
					continue
				}
				last := g.FaultAt
				for _, f := range c.Frames {
					if arr := f.Capture.Add(f.Latency); f.Answered && arr.Before(g.RecoveredAt) && arr.After(last) {
						last = arr
					}
					if !f.Answered && f.Capture.After(g.FaultAt) && f.Capture.Before(g.RecoveredAt) {
						Expect(gap).To(BeNumerically(">", f.Capture.Sub(g.FaultAt)), "%s: frame %d got no answer", g.Camera, f.Frame)
					}
				}
				Expect(gap).To(BeNumerically(">=", g.RecoveredAt.Sub(last)), g.Camera)
			}
		}
		// The local provider has no cluster: its breakdown is the cameras'
		// own reconnects, then detections again.
		Expect(res.Report.FailoverSummaries).To(HaveLen(1))
		Expect(res.Report.FailoverSummaries[0].Steps).To(ContainElements(
			HaveField("Name", reports.StepReconnected), HaveField("Name", reports.StepFlowing)))
		Expect(res.Report.FailoverSummaries[0].Steps).NotTo(ContainElement(HaveField("Name", reports.StepNodeNotReady)))
		Expect(res.Report.Uplink).To(HaveLen(2))
		edge, cloud := res.Report.Uplink[0], res.Report.Uplink[1]
		Expect(edge.Placement).To(BeEquivalentTo("edge"))
		Expect(cloud.PerCameraBitsPerS).To(BeNumerically(">", 100e3), "cloud placement ships the video")
		Expect(cloud.PerCameraBitsPerS).To(BeNumerically(">", 5*edge.PerCameraBitsPerS), "shipping video costs far more uplink than alerts")
		// No frame beats physics: the camera<->edge one-way delay is a floor.
		Expect(res.Report.Warnings).NotTo(ContainElement(ContainSubstring("below")))
	}, NodeTimeout(4*time.Minute))
})

// dumpRun prints what a failed run's workloads logged and the cameras'
// summaries, so a CI failure can be diagnosed from its output.
func dumpRun(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "cameras", "*", "summary.json"))
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		GinkgoWriter.Printf("==> %s <==\n%s\n", f, b)
	}
}
