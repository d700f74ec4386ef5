package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/internal/testbins"
)

var _ = AfterSuite(gexec.CleanupBuildArtifacts)

// freeLoopbackAddr returns a loopback address with a port nothing listens
// on right now.
func freeLoopbackAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().String()
}

var _ = Describe("edgesim run --metrics", func() {
	It("refuses a malformed address before starting anything", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, _, stderr := run(ctx, "run", "--metrics", "9464", "--edgenode", os.Args[0], "--results", dir)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`--metrics "9464": want HOST:PORT, e.g. 127.0.0.1:9464`))
		Expect(os.ReadDir(dir)).To(BeEmpty(), "no results directory for a run that never started")
	})

	It("refuses an address in use before starting anything", func(ctx SpecContext) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ln.Close)
		dir := GinkgoT().TempDir()
		for _, cmd := range [][]string{{"run"}, {"up", "--foreground"}} {
			code, _, stderr := run(ctx, append(cmd, "--metrics", ln.Addr().String(), "--edgenode", os.Args[0], "--results", dir)...)
			Expect(code).To(Equal(2), cmd[0])
			Expect(stderr).To(ContainSubstring("--metrics %s: cannot listen", ln.Addr()), cmd[0])
			Expect(stderr).To(ContainSubstring("pick a free port"), cmd[0])
		}
		Expect(os.ReadDir(dir)).To(BeEmpty(), "no results directory for a run that never started")
	})
})

// promtoolResult is one sample of `promtool query instant -o json`.
type promtoolResult struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// The live metrics of a real run on the local provider, scraped by a real
// Prometheus: every query of the shipped Grafana dashboard must return
// data, and the endpoint must pass promtool's checks. Prometheus (Debian's
// package: prometheus and promtool) is installed when missing.
var _ = Describe("live metrics scraped by Prometheus", Label("e2e", "prometheus"), Ordered, func() {
	BeforeAll(func() {
		if os.Geteuid() != 0 {
			Skip("the local provider needs root to create network namespaces")
		}
		_, errP := exec.LookPath("prometheus")
		_, errT := exec.LookPath("promtool")
		if errP != nil || errT != nil {
			out, err := exec.Command("bash", "../../../hack/deps.sh", "prometheus").CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "installing Debian's prometheus package: %s", out)
		}
	})

	It("serves every dashboard panel's data during the run, and closes on Ctrl-C", func(ctx SpecContext) {
		bins, err := testbins.Build()
		Expect(err).NotTo(HaveOccurred())
		metricsAddr, promAddr := freeLoopbackAddr(), freeLoopbackAddr()
		tmp := GinkgoT().TempDir()

		edgesim := exec.Command(bins.Edgesim, "run", "--plain", "--compare=false", "--metrics", metricsAddr,
			"--edgenode", bins.Edgenode, "--results", filepath.Join(tmp, "results"), "testdata/live-metrics.yaml")
		runSession, err := gexec.Start(edgesim, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { // Ctrl-C: the run tears its testbed down
			runSession.Interrupt().Wait(2 * time.Minute)
		})

		config := filepath.Join(tmp, "prometheus.yml")
		Expect(os.WriteFile(config, fmt.Appendf(nil, `global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: edgesim
    static_configs: [{targets: [%q]}]
`, metricsAddr), 0o644)).To(Succeed())
		prom := exec.Command("prometheus", "--config.file="+config, "--storage.tsdb.path="+filepath.Join(tmp, "tsdb"),
			"--web.listen-address="+promAddr, "--log.level=warn")
		promSession, err := gexec.Start(prom, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { promSession.Terminate().Wait(30 * time.Second) })

		query := func(expr string) []promtoolResult {
			out, err := exec.CommandContext(ctx, "promtool", "query", "instant", "-o", "json", "http://"+promAddr, expr).Output()
			if err != nil {
				return nil
			}
			var res []promtoolResult
			if json.Unmarshal(out, &res) != nil {
				return nil
			}
			return res
		}
		// A number: NaN (a quantile of no observations) is not data.
		values := func(expr string) []float64 {
			var out []float64
			for _, r := range query(expr) {
				s, _ := r.Value[1].(string)
				if v, err := strconv.ParseFloat(s, 64); err == nil && v == v {
					out = append(out, v)
				}
			}
			return out
		}

		var dash struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		b, err := os.ReadFile("../../../deploy/grafana/edgesim.json")
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &dash)).To(Succeed())
		Expect(dash.Panels).NotTo(BeEmpty())
		for _, p := range dash.Panels {
			Expect(p.Targets).NotTo(BeEmpty(), p.Title)
			for _, t := range p.Targets {
				Eventually(values).WithArguments(t.Expr).WithTimeout(90*time.Second).WithPolling(time.Second).
					ShouldNot(BeEmpty(), "panel %q: %s", p.Title, t.Expr)
			}
		}
		// The endpoint follows the run: the kill fired and the killed
		// node's edgenode stopped answering.
		Eventually(values).WithArguments(`edgesim_run_faults_fired_total{kind="kill"}`).WithTimeout(30 * time.Second).Should(Equal([]float64{1}))
		Eventually(values).WithArguments(`edgesim_edgenode_up{node="store-1-edge-2"}`).WithTimeout(30 * time.Second).Should(Equal([]float64{0}))
		Expect(values(`edgesim_edgenode_up{node="store-1-edge-1"}`)).To(Equal([]float64{1}))
		Expect(values(`edgesim_run_phase{phase="run"}`)).To(Equal([]float64{1}))

		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		Expect(err).NotTo(HaveOccurred())
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		Expect(err).NotTo(HaveOccurred())
		check := exec.CommandContext(ctx, "promtool", "check", "metrics")
		check.Stdin = bytes.NewReader(body)
		out, err := check.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "promtool check metrics: %s", out)
		Expect(string(out)).To(BeEmpty())

		// Ctrl-C ends the run and closes the endpoint.
		runSession.Interrupt()
		Eventually(runSession).WithTimeout(2 * time.Minute).Should(gexec.Exit())
		Expect(runSession.Err).To(gbytes.Say("partial results in"))
		_, err = http.Get("http://" + metricsAddr + "/metrics")
		Expect(err).To(HaveOccurred(), "the endpoint is closed once the run ended")
	}, NodeTimeout(4*time.Minute))
})
