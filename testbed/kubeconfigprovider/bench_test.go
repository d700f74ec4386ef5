package kubeconfigprovider_test

import (
	"context"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
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
// ratios (the target: within 20 % of each other), and the p50 of each
// part of the latency's breakdown on both: the two alternate -rounds
// times and each figure is the median (the -v log lists every round's).
// Root and Podman.
//
//	sudo go test -run '^$' -bench KindVsKubeconfig -benchtime 1x -timeout 90m -v ./testbed/kubeconfigprovider/ -args -rounds 3
var benchRounds = flag.Int("rounds", 3, "BenchmarkKindVsKubeconfig: rounds of one kind run and one kubeconfig run")

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
	var c *kctest.Cluster // made after each kind run: one cluster at a time on the machine
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
	// Each round runs kind, then kubeconfig: the runs alternate, so a
	// drift of the machine's load falls on both, and each figure is the
	// median over the rounds.
	b.Cleanup(func() {
		if c != nil { // a round that failed midway
			_ = c.Delete(context.Background())
		}
	})
	metrics := map[string][]float64{}
	add := func(unit string, v float64) { metrics[unit] = append(metrics[unit], v) }
	b.ResetTimer()
	for range b.N * *benchRounds {
		kind := run(scenarios.ProviderKind)
		// The outside cluster lives for its run only: each run shares the
		// machine with exactly one cluster, its own.
		if c, err = kctest.CreateCluster(ctx, "bench", len(workers), reg, kctest.WithKubectl(kubectl), kctest.WithWorkers(workers...)); err != nil {
			b.Fatal(err)
		}
		kc := run(scenarios.ProviderKubeconfig)
		if err := c.Delete(ctx); err != nil {
			b.Fatal(err)
		}
		c = nil
		for _, p := range []struct {
			name string
			pct  float64
		}{{"p50", 50}, {"p95", 95}} {
			k, x := kind.Latency("").Percentile(p.pct), kc.Latency("").Percentile(p.pct)
			add("kind-"+p.name+"-ms", float64(k.Microseconds())/1000)
			add("kubeconfig-"+p.name+"-ms", float64(x.Microseconds())/1000)
			add("kubeconfig/kind-"+p.name, float64(x)/float64(max(1, k)))
		}
		// Where a difference goes: each part of the breakdown's p50,
		// both providers (see reports.BreakdownParts).
		for i, g := range kind.Latencies.Breakdown {
			if i < len(kc.Latencies.Breakdown) {
				short := strings.NewReplacer("node: ", "", " ", "-", ",", "").Replace(g.Name)
				add("kind-"+short+"-p50-ms", g.PercentileMs(50))
				add("kubeconfig-"+short+"-p50-ms", kc.Latencies.Breakdown[i].PercentileMs(50))
			}
		}
		add("kind-answered", float64(kind.Frames.Answered)/float64(max(1, kind.Frames.Sent)))
		add("kubeconfig-answered", float64(kc.Frames.Answered)/float64(max(1, kc.Frames.Sent)))
	}
	for unit, vs := range metrics {
		slices.Sort(vs)
		b.ReportMetric(vs[len(vs)/2], unit)
		b.Logf("%s: %v", unit, vs)
	}
}

func kubeconfig(c *kctest.Cluster) string {
	if c == nil {
		return ""
	}
	return c.Kubeconfig
}
