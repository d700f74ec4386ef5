package kindprovider_test

import (
	"context"
	"os"
	"testing"

	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
)

// BenchmarkLocalVsKind runs quickstart without its fault on the local
// provider and then on the kind provider, same links and workload, and
// reports both providers' e2e latency percentiles and their ratios (the
// target: within 20 % of each other). It needs root and Podman; set
// EDGESIM_KIND_NODE_IMAGE to skip the node image lookup.
//
//	sudo go test -run '^$' -bench LocalVsKind -benchtime 1x -timeout 30m ./testbed/kindprovider/
func BenchmarkLocalVsKind(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("namespaces, kind on Podman and netem links need root")
	}
	bins, err := kubetest.BuildBinaries()
	b.Cleanup(gexec.CleanupBuildArtifacts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, err := cluster.DetectRuntime(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	run := func(p scenarios.Provider) *reports.Result {
		sc, err := scenarios.Example("quickstart")
		if err != nil {
			b.Fatal(err)
		}
		sc.Faults, sc.Provider = nil, p
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: b.TempDir(), Binaries: bins,
			Providers: testbed.Providers{scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{
				NodeImage: os.Getenv("EDGESIM_KIND_NODE_IMAGE"), Runtime: rt,
			})},
		})
		if err != nil {
			b.Fatal(err)
		}
		return res.Report
	}
	b.ResetTimer()
	for range b.N {
		local, kind := run(scenarios.ProviderLocal), run(scenarios.ProviderKind)
		for _, p := range []struct {
			name string
			pct  float64
		}{{"p50", 50}, {"p95", 95}} {
			l, k := local.Latency("").Percentile(p.pct), kind.Latency("").Percentile(p.pct)
			b.ReportMetric(float64(l.Microseconds())/1000, "local-"+p.name+"-ms")
			b.ReportMetric(float64(k.Microseconds())/1000, "kind-"+p.name+"-ms")
			b.ReportMetric(float64(k)/float64(max(1, l)), "kind/local-"+p.name)
		}
		b.ReportMetric(float64(local.Frames.Answered)/float64(max(1, local.Frames.Sent)), "local-answered")
		b.ReportMetric(float64(kind.Frames.Answered)/float64(max(1, kind.Frames.Sent)), "kind-answered")
	}
}
