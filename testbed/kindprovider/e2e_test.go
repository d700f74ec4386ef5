package kindprovider_test

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
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/match"
	"github.com/edgesim/edgesim/testbed/provider"
)

// The cluster spec runs the quickstart scenario on a kind cluster: one
// worker per plan node, the workload images built here and loaded into the
// nodes, pod traffic through the netem links, the edge node killed
// half-way by killing its node container. EDGESIM_KIND_NODE_IMAGE selects
// an existing node image; EDGESIM_KIND_RUNTIME forces podman or docker.
var _ = Describe("quickstart on the kind provider", Label("cluster"), func() {
	It("streams, measures, fails over with Kubernetes' replacement broken down, and cleans up", func(ctx SpecContext) {
		rt, bins := clusterSpec(ctx)

		// Exactly what `edgesim run --provider kind` does: the scenario
		// names the provider, the factory makes it.
		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderKind
		start := time.Now()
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), StateDir: GinkgoT().TempDir(),
			Binaries: bins, Report: render.WriteEvery,
			// "" node image: the default one, built when missing.
			Providers: testbed.Providers{scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{
				NodeImage: os.Getenv("EDGESIM_KIND_NODE_IMAGE"), Runtime: rt,
			})},
			Progress: func(p testbed.Progress) {
				if p.Message != "" || p.Elapsed%(5*time.Second) < time.Second {
					fmt.Fprintf(GinkgoWriter, "%s %s %s answering %d/%d, link bytes %d\n", time.Since(start).Round(time.Second), p.Phase, p.Message, p.CamerasAnswering, p.Cameras, p.LinkBytes)
				}
			}})
		took := time.Since(start)
		if res != nil {
			if b, rerr := os.ReadFile(filepath.Join(res.Dir, "logs", "pods.log")); rerr == nil {
				if len(b) > 8000 {
					b = b[len(b)-8000:]
				}
				GinkgoWriter.Printf("==> pods.log <==\n%s\n", b)
			}
			if b, rerr := os.ReadFile(filepath.Join(res.Dir, "report.md")); rerr == nil {
				GinkgoWriter.Printf("%s\n", b)
			}
		}
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("quickstart on kind", took.Round(time.Second).String())
		fmt.Printf("edgesim kind provider: quickstart took %s, verdict %s\n", took.Round(time.Second), res.Report.Verdict)
		Expect(res.Run.Provider).To(Equal("kind"))
		kubetest.ExpectStreamed(res.Run, 4)

		By("breaking the failover down: fault, NotReady, eviction, replacement, detections again")
		kubetest.ExpectBreakdown(res.Report, res.Run.ClusterEvents, "store-1-edge-2")

		By("gating on the SLOs in every format, the same way as the local provider")
		Expect(res.Report.Verdict).To(BeElementOf(reports.VerdictPass, reports.VerdictFail))
		Expect(res.ExitCode()).To(Equal(map[string]int{reports.VerdictPass: 0, reports.VerdictFail: 1}[res.Report.Verdict]))
		Expect(res).To(match.HaveLatencyPercentile(50, BeNumerically("<=", sc.SLO.E2ELatency[0].Max)), "quickstart's p50 SLO holds on kind")
		junit, err := os.ReadFile(filepath.Join(res.Dir, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(junit)).To(ContainSubstring(fmt.Sprintf(`failures="%d"`, len(res.Report.Failed()))))
	}, NodeTimeout(20*time.Minute))
})

var _ = Describe("a kind run killed with SIGKILL", Label("cluster"), func() {
	It("leaves a cluster that `edgesim clean` deletes, and nothing else", func(ctx SpecContext) {
		_, bins := clusterSpec(ctx)
		edgesim, edgenode := bins.Edgesim, bins.Edgenode
		// What the run made carries its name; other tests may make and
		// remove their own namespaces meanwhile.
		ours := func() []string {
			ns, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
			Expect(err).NotTo(HaveOccurred())
			links, err := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
			Expect(err).NotTo(HaveOccurred())
			var out []string
			for _, f := range strings.Fields(string(ns) + " " + linkNames(string(links))) {
				if strings.Contains(f, "quickstart") {
					out = append(out, f)
				}
			}
			return out
		}
		Expect(ours()).To(BeEmpty(), "no run of quickstart may be under way")

		args := []string{"run", "--provider", "kind", "--compare=false", "--plain", "--results", GinkgoT().TempDir(), "--edgenode", edgenode}
		if img := os.Getenv("EDGESIM_KIND_NODE_IMAGE"); img != "" {
			args = append(args, "--node-image", img)
		}
		run, err := gexec.Start(exec.Command(edgesim, args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(run.Err, 10*time.Minute, time.Second).Should(gbytes.Say("phase run"), "the run got as far as its timeline")
		run.Kill()
		Eventually(run, time.Minute).Should(gexec.Exit())
		out, err := exec.CommandContext(ctx, "podman", "ps", "-a", "--format", "{{.Names}}").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(string(out))).To(ContainElement(HavePrefix(kindprovider.ClusterNamePrefix+"quickstart")), "SIGKILL leaves the cluster running")

		clean, err := gexec.Start(exec.Command(edgesim, "clean"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(clean, 3*time.Minute).Should(gexec.Exit(0))
		Expect(clean.Out).To(gbytes.Say("removed kind cluster " + kindprovider.ClusterNamePrefix + "quickstart"))
		out, err = exec.CommandContext(ctx, "podman", "ps", "-a", "--format", "{{.Names}}").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(string(out))).NotTo(ContainElement(HavePrefix(kindprovider.ClusterNamePrefix+"quickstart")), "no node container is left")
		Expect(ours()).To(BeEmpty(), "ip netns list and ip link show nothing of the run")
	}, NodeTimeout(15*time.Minute))
})

var _ = Describe("quickstart on the federated kind layout", Label("cluster"), func() {
	It("runs a cloud cluster and a site cluster joined over the emulated WAN, with alerts crossing it and the failover broken down", func(ctx SpecContext) {
		rt, bins := clusterSpec(ctx)
		var clusters []string

		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderKind
		// Two clusters and four cameras load this host the most of any
		// spec: beside a SCHED_IDLE compile a camera took 11.6 s to get
		// detections again (7 December 2026), of the 15 s quickstart leaves
		// after its kill. The run goes on long enough for every camera to
		// recover (the gap's own bound stays the breakdown's).
		sc.Duration = 45 * time.Second
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), StateDir: GinkgoT().TempDir(),
			Binaries: bins, Report: render.WriteEvery,
			Providers: testbed.Providers{scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{
				NodeImage: os.Getenv("EDGESIM_KIND_NODE_IMAGE"), Runtime: rt, Layout: kindprovider.LayoutFederated,
			})},
			Progress: func(p testbed.Progress) {
				if strings.Contains(p.Message, "created in") {
					clusters = append(clusters, p.Message)
				}
				if p.Message != "" {
					fmt.Fprintf(GinkgoWriter, "%s %s\n", p.Phase, p.Message)
				}
			}})
		if res != nil {
			if b, rerr := os.ReadFile(filepath.Join(res.Dir, "report.md")); rerr == nil {
				GinkgoWriter.Printf("%s\n", b)
			}
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(clusters).To(HaveLen(2), "a cloud cluster and one for the site")
		for _, c := range res.Run.Cameras {
			Expect(c.Frames).To(ContainElement(HaveField("Answered", BeTrue())), c.ID+" got detections back")
		}
		Expect(res.Run.Alerts).NotTo(BeEmpty(), "the site's alerts reached the cloud cluster over the WAN link")
		kubetest.ExpectBreakdown(res.Report, res.Run.ClusterEvents, "store-1-edge-2")
	}, NodeTimeout(20*time.Minute))
})

// clusterSpec skips without root, detects the container runtime, builds
// the binaries and, after the spec, checks that no node container of a
// quickstart run is left and that kind's network is as it was.
func clusterSpec(ctx SpecContext) (cluster.Runtime, provider.Binaries) {
	if os.Geteuid() != 0 {
		Skip("kind clusters on Podman and netem links need root here")
	}
	rt, err := cluster.DetectRuntime(ctx, cluster.Runtime(os.Getenv("EDGESIM_KIND_RUNTIME")))
	Expect(err).NotTo(HaveOccurred())
	bins, err := kubetest.BuildBinaries()
	Expect(err).NotTo(HaveOccurred())
	networkBefore := cluster.NetworkExists(ctx, rt)
	DeferCleanup(func(ctx SpecContext) {
		out, err := exec.CommandContext(ctx, string(rt), "ps", "-a", "--format", "{{.Names}}").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(string(out))).NotTo(ContainElement(HavePrefix(kindprovider.ClusterNamePrefix+"quickstart")), "no node container may be left")
		Expect(cluster.NetworkExists(ctx, rt)).To(Equal(networkBefore), "kind's network is gone again if the run made it")
	})
	return rt, bins
}

// linkNames keeps the interface names of `ip -o link show` (counters and
// states change on their own).
func linkNames(out string) string {
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	return strings.Join(names, " ")
}

// The rollout-canary example on kind: the over-pruned model is served
// from the cloud worker, fetched across shop-1's partitioned 4g link,
// swapped in place on shop-1's worker and rolled back by the gate.
var _ = Describe("a rollout on the kind provider", Label("cluster"), func() {
	It("delivers the canary's model across the shop's uplink, swaps it in place and rolls it back on the gate's verdict", func(ctx SpecContext) {
		rt, bins := clusterSpec(ctx)
		sc, err := scenarios.LoadFile(filepath.Join("..", "..", "scenarios", "examples", "rollout-canary.yaml"))
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderKind
		// A swap on kind copies the model into the worker and reaches its
		// pod through the API server: seconds, tens of seconds on a
		// saturated host, where the local provider takes one. The run is
		// made long enough for the gate's window after it: in CI the
		// rollback came 42-53 s into the run (53 s beside a cold K3s
		// build), so 80 s leaves at least 27 s to spare.
		sc.Duration = 80 * time.Second
		start := time.Now()
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), StateDir: GinkgoT().TempDir(), Binaries: bins, Report: render.WriteEvery,
			Providers: testbed.Providers{scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{
				NodeImage: os.Getenv("EDGESIM_KIND_NODE_IMAGE"), Runtime: rt,
			})},
			Progress: func(p testbed.Progress) {
				if p.Message != "" {
					fmt.Fprintf(GinkgoWriter, "%s %s %s\n", time.Since(start).Round(time.Second), p.Phase, p.Message)
				}
			}})
		Expect(err).NotTo(HaveOccurred())
		if b, rerr := os.ReadFile(filepath.Join(res.Dir, "report.md")); rerr == nil {
			GinkgoWriter.Printf("%s\n", b)
		}
		fmt.Printf("edgesim kind provider: rollout-canary took %s, verdict %s\n", time.Since(start).Round(time.Second), res.Report.Verdict)
		Expect(res.Run.Rollouts).To(HaveLen(1))
		ro := res.Run.Rollouts[0]
		Expect(ro.RolledBack).To(BeTrue(), "the rollout's events: %+v", ro.Events)
		Expect(ro.Reason).To(ContainSubstring("gate after batch 1 (shop-1)"), "the rollout's events: %+v", ro.Events)
		Expect(ro.Decisions).To(HaveLen(1))
		Expect(ro.Decisions[0].Verdict).To(Equal(reports.GateRollback), "judged on the new model's answers, not 'not exercised'")
		kinds := map[string]string{}
		for _, e := range ro.Events {
			Expect(e.Site).To(Equal("shop-1"), "the other shops never get the bad model")
			kinds[e.Kind] = e.Detail
			if e.Kind == reports.RolloutDelivered {
				Expect(e.Bytes).To(Equal(ro.ModelBytes), "every byte came across the link")
			}
		}
		Expect(kinds).To(HaveKeyWithValue(reports.RolloutSwapped, "serving edgesim-det@v2-overpruned"))
		Expect(kinds).To(HaveKey(reports.RolloutRolledBack))
		Expect(res.Report.Verdict).To(Equal(reports.VerdictFail), "a rolled-back rollout fails the run")
		Expect(res.ExitCode()).To(Equal(1))
		md, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("**Rollout overpruned: edgesim-det@v2-overpruned (canary), ROLLED BACK**"))
	})
})
