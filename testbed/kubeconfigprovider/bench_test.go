package kubeconfigprovider_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/kubeconfigprovider/kctest"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// BenchmarkKindVsKubeconfig runs quickstart without its fault on the kind
// provider and then through the kubeconfig provider on a kind cluster made
// outside edgesim (kctest, one worker per plan node), same links and
// workload, and reports both providers' e2e latency percentiles and their
// ratios (the target: within 20 % of each other). Root and Podman.
//
//	sudo go test -run '^$' -bench KindVsKubeconfig -benchtime 1x -timeout 40m ./testbed/kubeconfigprovider/
func BenchmarkKindVsKubeconfig(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("kind on Podman and netem links need root")
	}
	bins, err := kubetest.BuildBinaries()
	b.Cleanup(gexec.CleanupBuildArtifacts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var c *kctest.Cluster // made after the kind run: one cluster at a time on the machine
	kubectl, err := kctest.DefaultKubectl()
	if err != nil {
		b.Fatal(err)
	}
	reg, err := kctest.StartRegistry(ctx, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close() })
	sc, err := scenarios.Example("quickstart")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := testbed.NewPlan(sc, false)
	if err != nil {
		b.Fatal(err)
	}
	var workers []kctest.Worker
	for _, n := range plan.Nodes {
		workers = append(workers, kctest.Worker{Labels: map[string]string{kp.LabelNode: n.Name}})
	}
	run := func(p scenarios.Provider) *reports.Result {
		sc, err := scenarios.Example("quickstart")
		if err != nil {
			b.Fatal(err)
		}
		sc.Faults, sc.Provider = nil, p
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: b.TempDir(), StateDir: b.TempDir(), Binaries: bins,
			Providers: testbed.Providers{
				scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{}),
				scenarios.ProviderKubeconfig: kp.Factory(kp.Options{Target: kp.Target{Kubeconfig: kubeconfig(c)}, Kubectl: kubectl,
					Registry: nodecontainer.Registry{Name: reg.Addr() + "/edgesim", Insecure: true}}),
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		return res.Report
	}
	b.ResetTimer()
	for range b.N {
		kind := run(scenarios.ProviderKind)
		if c == nil {
			if c, err = kctest.CreateCluster(ctx, "bench", len(workers), reg, kctest.WithKubectl(kubectl), kctest.WithWorkers(workers...)); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Delete(context.Background()) })
		}
		kc := run(scenarios.ProviderKubeconfig)
		for _, p := range []struct {
			name string
			pct  float64
		}{{"p50", 50}, {"p95", 95}} {
			k, x := kind.Latency("").Percentile(p.pct), kc.Latency("").Percentile(p.pct)
			b.ReportMetric(float64(k.Microseconds())/1000, "kind-"+p.name+"-ms")
			b.ReportMetric(float64(x.Microseconds())/1000, "kubeconfig-"+p.name+"-ms")
			b.ReportMetric(float64(x)/float64(max(1, k)), "kubeconfig/kind-"+p.name)
		}
		b.ReportMetric(float64(kind.Frames.Answered)/float64(max(1, kind.Frames.Sent)), "kind-answered")
		b.ReportMetric(float64(kc.Frames.Answered)/float64(max(1, kc.Frames.Sent)), "kubeconfig-answered")
	}
}

func kubeconfig(c *kctest.Cluster) string {
	if c == nil {
		return ""
	}
	return c.Kubeconfig
}
