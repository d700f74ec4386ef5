package k3sprovider_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/k3s/cluster"
	"github.com/edgesim/edgesim/testbed/k3sprovider"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/match"
	"github.com/edgesim/edgesim/testbed/provider"
)

// The cluster spec runs the quickstart scenario on a K3s cluster exactly
// as `edgesim run --provider k3s` does: one agent per plan node, the
// workload images loaded into the agents, pod traffic through the netem
// links, the edge node killed half-way by killing its agent container. It
// needs root, Podman and the K3s node image (`edgesim image k3s`);
// EDGESIM_K3S_IMAGE names another one.
var _ = Describe("quickstart on the K3s provider", Label("cluster", "k3s"), func() {
	It("streams, measures, fails over with Kubernetes' replacement broken down, and cleans up", func(ctx SpecContext) {
		bins := clusterSpec(ctx)

		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderK3s
		stateDir := GinkgoT().TempDir()
		start := time.Now()
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), StateDir: stateDir,
			Binaries: bins, Report: render.WriteEvery,
			Providers: testbed.Providers{scenarios.ProviderK3s: k3sprovider.Factory(k3sprovider.Options{Image: os.Getenv("EDGESIM_K3S_IMAGE")})},
			Progress: func(p testbed.Progress) {
				if strings.HasPrefix(p.Message, "k3s provider: cluster") || strings.Contains(p.Message, "resident memory") || strings.Contains(p.Message, "failover settings") {
					fmt.Printf("edgesim k3s provider: %s %s\n", time.Since(start).Round(time.Second), p.Message)
				}
				if p.Message != "" || p.Elapsed%(5*time.Second) < time.Second {
					fmt.Fprintf(GinkgoWriter, "%s %s %s answering %d/%d, link bytes %d\n", time.Since(start).Round(time.Second), p.Phase, p.Message, p.CamerasAnswering, p.Cameras, p.LinkBytes)
				}
			}})
		took := time.Since(start)
		if res != nil {
			if b, rerr := os.ReadFile(filepath.Join(res.Dir, "report.md")); rerr == nil {
				GinkgoWriter.Printf("%s\n", b)
			}
		}
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("quickstart on k3s", took.Round(time.Second).String())
		fmt.Printf("edgesim k3s provider: quickstart took %s, verdict %s\n", took.Round(time.Second), res.Report.Verdict)
		for _, ph := range res.Run.Phases {
			fmt.Printf("edgesim k3s provider: phase %-10s %s\n", ph.Name, ph.End.Sub(ph.Start).Round(100*time.Millisecond))
		}
		if d := res.Report.Latency(""); d.Count > 0 {
			fmt.Printf("edgesim k3s provider: e2e latency p50 %s p95 %s over %d frames\n", d.Percentile(50), d.Percentile(95), d.Count)
		}
		Expect(res.Run.Provider).To(Equal("k3s"))
		kubetest.ExpectStreamed(res.Run, 4)

		By("breaking the failover down: fault, NotReady, eviction, replacement, detections again")
		kubetest.ExpectBreakdown(res.Report, res.Run.ClusterEvents, "store-1-edge-2")
		fo := res.Report.FailoverSummaries[0]
		for _, s := range fo.Steps {
			fmt.Printf("edgesim k3s provider: failover %-28s %6.1f s\n", s.Name, s.SinceFaultMs/1000)
		}

		By("gating on the SLOs in every format, the same way as the other providers")
		Expect(res.Report.Verdict).To(BeElementOf(reports.VerdictPass, reports.VerdictFail))
		Expect(res.ExitCode()).To(Equal(map[string]int{reports.VerdictPass: 0, reports.VerdictFail: 1}[res.Report.Verdict]))
		if h := res.Report.Headroom; h != nil && h.Saturated {
			// The report says the host, not the testbed, limited the run
			// (e.g. another cluster on the same cores): its latencies
			// measure the host.
			fmt.Printf("edgesim k3s provider: host saturated (%s): the p50 SLO is not judged\n", strings.Join(h.Reasons, "; "))
		} else {
			Expect(res).To(match.HaveLatencyPercentile(50, BeNumerically("<=", sc.SLO.E2ELatency[0].Max)), "quickstart's p50 SLO holds on K3s")
		}

		By("leaving no record for `edgesim clean`")
		Expect(filepath.Glob(filepath.Join(stateDir, "k3s", "*.json"))).To(BeEmpty())
	}, NodeTimeout(20*time.Minute))
})

var _ = Describe("a K3s run killed with SIGKILL", Label("cluster", "k3s"), func() {
	It("leaves a cluster that `edgesim clean` deletes, and nothing else", func(ctx SpecContext) {
		bins := clusterSpec(ctx)

		args := []string{"run", "--provider", "k3s", "--compare=false", "--plain", "--results", GinkgoT().TempDir(), "--edgenode", bins.Edgenode}
		if img := os.Getenv("EDGESIM_K3S_IMAGE"); img != "" {
			args = append(args, "--k3s-image", img)
		}
		run, err := gexec.Start(exec.Command(bins.Edgesim, args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(run.Err, 10*time.Minute, time.Second).Should(gbytes.Say("phase (warm-up|run)"), "the run got past provisioning")
		run.Kill()
		Eventually(run, time.Minute).Should(gexec.Exit())
		Expect(ours(ctx)).NotTo(BeEmpty(), "SIGKILL leaves the cluster running")

		clean, err := gexec.Start(exec.Command(bins.Edgesim, "clean"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(clean, 3*time.Minute).Should(gexec.Exit(0))
		Expect(clean.Out).To(gbytes.Say("removed k3s cluster " + k3sprovider.ClusterName("quickstart")))
		Expect(ours(ctx)).To(BeEmpty(), "no node container is left")
		out, err := exec.CommandContext(ctx, "podman", "network", "ls", "--format", "{{.Name}}").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).NotTo(ContainSubstring(cluster.NetworkName(k3sprovider.ClusterName("quickstart"))), "nor its network")
	}, NodeTimeout(15*time.Minute))
})

// ours lists the containers of K3s clusters named after quickstart runs.
func ours(ctx SpecContext) []string {
	out, err := exec.CommandContext(ctx, "podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "label="+cluster.LabelCluster).Output()
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, k3sprovider.ClusterName("quickstart")) {
			names = append(names, n)
		}
	}
	return names
}

// clusterSpec skips without root, builds the binaries and makes sure no
// K3s run of quickstart is under way before the spec and none is left
// after it.
func clusterSpec(ctx SpecContext) provider.Binaries {
	if os.Geteuid() != 0 {
		Skip("K3s nodes are privileged Podman containers and the links need root")
	}
	bins, err := kubetest.BuildBinaries()
	Expect(err).NotTo(HaveOccurred())
	Expect(ours(ctx)).To(BeEmpty(), "no K3s run of quickstart may be under way")
	DeferCleanup(func(ctx SpecContext) { Expect(ours(ctx)).To(BeEmpty(), "no node container of the run is left") })
	return bins
}
