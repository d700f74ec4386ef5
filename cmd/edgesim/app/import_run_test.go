package app_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/internal/testbins"
)

// calibration is what `edgesim netem calibrate --json` prints.
type calibration struct {
	Link    string `json:"link"`
	Figures []struct {
		Name     string  `json:"name"`
		Measured float64 `json:"measured"`
		Note     string  `json:"note"`
	} `json:"figures"`
}

func (c calibration) measured(name string) float64 {
	for _, f := range c.Figures {
		if f.Name == name {
			return f.Measured
		}
	}
	return -1
}

// An imported Chaos Mesh experiment runs with edgesim run, and the link it
// asked for measures, with edgesim netem calibrate, as the file says:
// testdata/chaosmesh-uplink.yaml asks for 40 ms of delay and "1mbps" of
// bandwidth both ways between the edge pods and the cloud API. In tc's
// units, which Chaos Mesh uses, 1mbps is 1,000,000 bytes per second:
// 8 Mbit/s, worked out by hand.
var _ = Describe("an imported Chaos Mesh experiment", Label("e2e"), func() {
	BeforeEach(func() {
		if os.Geteuid() != 0 {
			Skip("the local provider and netem calibrate need root to create network namespaces")
		}
	})

	It("runs with edgesim run, and its link measures the delay and rate the file asked for", func(ctx SpecContext) {
		const (
			wantDelayMs  = 40.0
			wantRateMbit = 8.0 // 1mbps = 1,000,000 B/s
		)
		bins, err := testbins.Build()
		Expect(err).NotTo(HaveOccurred())
		tmp := GinkgoT().TempDir()
		scenario := filepath.Join(tmp, "imported.yaml")
		edgesim := func(args ...string) *gexec.Session {
			s, err := gexec.Start(exec.CommandContext(ctx, bins.Edgesim, args...), GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { s.Interrupt().Wait(2 * time.Minute) })
			return s
		}

		imp := edgesim("import", "chaosmesh", "--map", "app=edgenode:site:store-1", "--map", "app=cloud-api:cloud",
			"--duration", "5s", "-o", scenario, "testdata/chaosmesh-uplink.yaml")
		Eventually(imp).WithTimeout(time.Minute).Should(gexec.Exit(0))

		run := edgesim("run", "--plain", "--compare=false", "--edgenode", bins.Edgenode, "--results", filepath.Join(tmp, "results"), scenario)
		Eventually(run).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
		reports, _ := filepath.Glob(filepath.Join(tmp, "results", "*", "report.json"))
		Expect(reports).To(HaveLen(1))
		var rep struct {
			Links []struct {
				Link      string `json:"link"`
				Direction string `json:"direction"`
			} `json:"links"`
		}
		b, err := os.ReadFile(reports[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &rep)).To(Succeed())
		Expect(rep.Links).To(ContainElements(
			And(HaveField("Link", "store-1-uplink"), HaveField("Direction", "up")),
			And(HaveField("Link", "store-1-uplink"), HaveField("Direction", "down"))), "the run emulated the imported link")

		// Both directions ("direction: both"). A calibration on a machine
		// too busy to measure reports its delay figures as 0 with a note:
		// measure again.
		for _, dir := range []string{"up", "down"} {
			calibrate := func() calibration {
				s := edgesim("netem", "calibrate", "--scenario", scenario, "--link", "store-1-uplink", "--direction", dir,
					"--probes", "2000", "--duration", "2s", "--skip-tcp", "--json")
				Eventually(s).WithTimeout(time.Minute).Should(gexec.Exit())
				var c calibration
				_ = json.Unmarshal(s.Out.Contents(), &c)
				return c
			}
			Eventually(calibrate).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(And(
				HaveField("Link", HavePrefix("delay 40ms, rate 8 Mbit/s")),
				WithTransform(func(c calibration) float64 { return c.measured("delay p50") }, BeNumerically("~", wantDelayMs, 0.05*wantDelayMs)),
				WithTransform(func(c calibration) float64 { return c.measured("UDP throughput") }, BeNumerically("~", wantRateMbit, 0.02*wantRateMbit)),
			), dir)
		}
	}, NodeTimeout(8*time.Minute))
})

var _ = Describe("edgesim netem calibrate --scenario", func() {
	It("wants --link with --scenario, and names the scenario's links when one is unknown", func(ctx SpecContext) {
		code, _, stderr := run(ctx, "netem", "calibrate", "--scenario", "testdata/live-metrics.yaml")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("--scenario FILE and --link NAME go together"))

		code, _, stderr = run(ctx, "netem", "calibrate", "--scenario", "testdata/live-metrics.yaml", "--link", "store-9-uplink")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`--link "store-9-uplink": testdata/live-metrics.yaml has no such link; its links are store-1-cameras, store-1-uplink`))

		code, _, stderr = run(ctx, "netem", "calibrate", "--scenario", "testdata/live-metrics.yaml", "--link", "store-1-uplink", "--profile", "4g")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("give --profile or --scenario, not both"))
	})
})
