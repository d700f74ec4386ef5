package kubeconfigprovider_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

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

		// options are a run's on the cluster through kubeconfig, with its
		// state in state and progress; tweak sets the rest.
		options := func(kubeconfig, state string, progress func(testbed.Progress), tweak func(*kp.Options)) testbed.Options {
			o := kp.Options{Target: kp.Target{Kubeconfig: kubeconfig}, Kubectl: kubectl,
				Registry: nodecontainer.Registry{Name: reg.Addr() + "/edgesim", Insecure: true}}
			if tweak != nil {
				tweak(&o)
			}
			return testbed.Options{ResultsDir: GinkgoT().TempDir(), StateDir: state, Binaries: bins, Report: render.WriteEvery,
				Providers: testbed.Providers{scenarios.ProviderKubeconfig: kp.Factory(o)}, Progress: progress}
		}

		sc.Provider = scenarios.ProviderKubeconfig
		start := time.Now()
		res, err := testbed.Run(ctx, sc, options(c.Kubeconfig, GinkgoT().TempDir(), func(p testbed.Progress) {
			if p.Message != "" || p.Elapsed%(5*time.Second) < time.Second {
				fmt.Fprintf(GinkgoWriter, "%s %s %s answering %d/%d, link bytes %d\n", time.Since(start).Round(time.Second), p.Phase, p.Message, p.CamerasAnswering, p.Cameras, p.LinkBytes)
			}
		}, nil))
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
		fmt.Printf("edgesim kubeconfig provider: quickstart took %s, %s\n", took.Round(time.Second), res.Report.Summary())
		Expect(res.Run.Provider).To(Equal("kubeconfig"))
		kubetest.ExpectStreamed(res.Run, 4)
		Expect(res.Report.Verdict).To(BeElementOf(reports.VerdictPass, reports.VerdictFail))

		Expect(res.Run.Faults).To(ConsistOf(HaveField("Detail", ContainSubstring("(Kubernetes: node "))), "the report names how the kill was done")

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
		// asBefore waits until the cluster's objects are as they were
		// before the first run.
		asBefore := func(timeout time.Duration) {
			GinkgoHelper()
			Eventually(ctx, func(g Gomega) {
				after, err := kctest.DumpObjects(ctx, kubectl, c.Kubeconfig)
				g.Expect(err).NotTo(HaveOccurred())
				last = after
				g.Expect(kctest.Diff(before, after)).To(BeEmpty())
			}).WithTimeout(timeout).WithPolling(3 * time.Second).Should(Succeed())
		}
		asBefore(time.Minute)
		Expect(strings.TrimSpace(c.Name)).To(HavePrefix(kctest.NamePrefix))

		By("going on without link emulation where an admission policy refuses privileged pods, and saying so")
		allow, err := kctest.DenyPrivileged(ctx, kubectl, c.Kubeconfig)
		if allow != nil {
			DeferCleanup(allow, context.WithoutCancel(ctx))
		}
		Expect(err).NotTo(HaveOccurred())
		start = time.Now()
		res, err = testbed.Run(ctx, sc, options(c.Kubeconfig, GinkgoT().TempDir(), func(p testbed.Progress) {
			if p.Message != "" {
				fmt.Fprintf(GinkgoWriter, "%s %s %s\n", time.Since(start).Round(time.Second), p.Phase, p.Message)
			}
		}, nil))
		if res != nil {
			if b, rerr := os.ReadFile(filepath.Join(res.Dir, "report.md")); rerr == nil {
				GinkgoWriter.Printf("==> report.md, links not emulated <==\n%s\n", b)
			}
		}
		Expect(err).NotTo(HaveOccurred())
		fmt.Printf("edgesim kubeconfig provider: quickstart without privileged pods took %s, %s\n", time.Since(start).Round(time.Second), res.Report.Summary())
		Expect(res.Run.LinksNotEmulated).To(ContainSubstring(kctest.PolicyName), "the policy's own words say why")
		kubetest.ExpectStreamed(res.Run, 4)
		Expect(res.Run.Faults).To(ConsistOf(HaveField("Detail", ContainSubstring("(Kubernetes: node "))), "node faults still go through Kubernetes")
		Expect(res.Report.SLOs).To(ContainElement(And(HaveField("Name", HavePrefix("uplink")), HaveField("NotExercised", BeTrue()))))
		Expect(res.Report.Verdict).To(Equal(reports.VerdictFail), "an SLO nothing exercised never passes")
		md, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("**LINKS NOT EMULATED ("))
		Expect(allow(ctx)).To(Succeed())
		asBefore(time.Minute)

		By("ending a run that loses the API server after its kill with a partial report, and leaving the rest to edgesim clean")
		proxied, proxy, err := kctest.Proxied(c.Kubeconfig, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		state := GinkgoT().TempDir()
		var cut bool
		start = time.Now()
		lossy := options(proxied, state, func(p testbed.Progress) {
			if p.Message != "" {
				fmt.Fprintf(GinkgoWriter, "%s %s %s\n", time.Since(start).Round(time.Second), p.Phase, p.Message)
			}
			if !cut && strings.HasPrefix(p.Message, "fault: kill") {
				cut = true
				proxy.Cut()
			}
		}, func(o *kp.Options) { o.APIPoll, o.APILost = time.Second, 3 })
		lossy.TeardownTimeout = 3 * time.Minute
		res, err = testbed.Run(ctx, sc, lossy)
		Expect(cut).To(BeTrue(), "the kill fired")
		Expect(err).To(MatchError(testbed.ErrEnded))
		Expect(err).To(MatchError(ContainSubstring("the API server is still gone")))
		Expect(res.Report.Partial).To(BeTrue())
		Expect(res.Report.PartialReason).To(ContainSubstring("api-server-lost"))
		kubetest.ExpectStreamed(res.Run, 4) // what was copied before the cut
		fmt.Printf("edgesim kubeconfig provider: the run that lost its API server ended after %s\n", time.Since(start).Round(time.Second))

		Expect(proxy.Restore()).To(Succeed())
		recs, err := filepath.Glob(filepath.Join(state, "kubeconfig", "*.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(1), "the run's record stays for edgesim clean")
		b, err := os.ReadFile(recs[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring(`"cordoned":["`), "the node the kill cordoned is in the record")
		Expect(kctest.Orphan(recs[0])).To(Succeed()) // as if edgesim had exited
		rep, err := kp.Clean(ctx, state)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(ConsistOf(HavePrefix("namespace "), HavePrefix("cordon of node ")), "the namespace, and the node the kill cordoned")
		asBefore(2 * time.Minute)
	}, NodeTimeout(25*time.Minute))
})
