package kubeconfigprovider_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/kubeconfigprovider/kctest"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// The cluster spec makes a kind cluster the way a user would, outside
// edgesim (kind's Go API, one worker per plan node labelled
// edgesim.dev/node, containerd pulling from an in-process registry), runs
// quickstart on it through the kubeconfig provider, and checks that the
// cluster's objects are as they were before the run.
var _ = Describe("quickstart on a cluster edgesim did not create", Label("cluster"), func() {
	It("maps, pushes, streams over the emulated links, fails over through Kubernetes, and leaves the cluster as it found it", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("kind clusters on Podman and the link engine need root here")
		}
		bins, err := kubetest.BuildBinaries()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gexec.CleanupBuildArtifacts)
		kubectl, err := kctest.DefaultKubectl()
		Expect(err).NotTo(HaveOccurred())
		reg, err := kctest.StartRegistry(ctx, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(reg.Close)

		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		plan, err := testbed.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())
		var workers []kctest.Worker
		for _, n := range plan.Nodes {
			workers = append(workers, kctest.Worker{Labels: map[string]string{kp.LabelNode: n.Name}})
		}
		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		c, err := kctest.CreateCluster(ctx, "kc-"+hex.EncodeToString(suffix[:]), len(workers), reg,
			kctest.WithLog(GinkgoWriter), kctest.WithKubectl(kubectl), kctest.WithWorkers(workers...))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { Expect(c.Delete(ctx)).To(Succeed()) }, NodeTimeout(3*time.Minute))

		before, err := kctest.DumpObjects(ctx, kubectl, c.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())

		sc.Provider = scenarios.ProviderKubeconfig
		start := time.Now()
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), StateDir: GinkgoT().TempDir(),
			Binaries: bins, Report: render.WriteEvery,
			Providers: testbed.Providers{scenarios.ProviderKubeconfig: kp.Factory(kp.Options{
				Target: kp.Target{Kubeconfig: c.Kubeconfig}, Kubectl: kubectl,
				Registry: nodecontainer.Registry{Name: reg.Addr() + "/edgesim", Insecure: true},
			})},
			Progress: func(p testbed.Progress) {
				if p.Message != "" || p.Elapsed%(5*time.Second) < time.Second {
					fmt.Fprintf(GinkgoWriter, "%s %s %s answering %d/%d, link bytes %d\n", time.Since(start).Round(time.Second), p.Phase, p.Message, p.CamerasAnswering, p.Cameras, p.LinkBytes)
				}
			}})
		took := time.Since(start)
		if res != nil {
			for _, f := range []string{filepath.Join("logs", "pods.log"), "report.md"} {
				if b, rerr := os.ReadFile(filepath.Join(res.Dir, f)); rerr == nil {
					if len(b) > 12000 {
						b = b[len(b)-12000:]
					}
					GinkgoWriter.Printf("==> %s <==\n%s\n", f, b)
				}
			}
		}
		Expect(err).NotTo(HaveOccurred())
		fmt.Printf("edgesim kubeconfig provider: quickstart took %s, verdict %s\n", took.Round(time.Second), res.Report.Verdict)
		Expect(res.Run.Provider).To(Equal("kubeconfig"))
		kubetest.ExpectStreamed(res.Run, 4)
		Expect(res.Report.Verdict).To(BeElementOf(reports.VerdictPass, reports.VerdictFail))

		By("carrying the pods' traffic over the emulated links")
		var carried uint64
		for _, l := range res.Run.Links {
			carried += l.TotalBytes
		}
		Expect(carried).To(BeNumerically(">", 1<<20), "video crossed the links")

		By("leaving every object of the cluster as it was")
		var last map[string]string
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() && last != nil {
				for k, v := range last {
					if before[k] != v {
						GinkgoWriter.Printf("==> %s before <==\n%s\n==> after <==\n%s\n", k, before[k], v)
					}
				}
			}
		})
		Eventually(ctx, func(g Gomega) {
			after, err := kctest.DumpObjects(ctx, kubectl, c.Kubeconfig)
			g.Expect(err).NotTo(HaveOccurred())
			last = after
			g.Expect(kctest.Diff(before, after)).To(BeEmpty())
		}).WithTimeout(time.Minute).WithPolling(3 * time.Second).Should(Succeed())
		Expect(strings.TrimSpace(c.Name)).To(HavePrefix(kctest.NamePrefix))
	}, NodeTimeout(25*time.Minute))
})
