package k3sprovider_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/k3sprovider"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
)

// BenchmarkProviders runs quickstart, its edge-node kill included, on the
// local, kind and K3s providers one after the other in one process, and
// prints one table of what each took and measured: provision time, cluster
// create and ready times, the control plane's resident memory, e2e
// latency and the failover broken down per step. It needs root and
// Podman; EDGESIM_KIND_NODE_IMAGE and EDGESIM_K3S_IMAGE name images to use
// instead of the default ones (built when missing).
//
//	sudo go test -run '^$' -bench Providers -benchtime 1x -timeout 60m ./testbed/k3sprovider/
func BenchmarkProviders(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("namespaces, node containers on Podman and netem links need root")
	}
	bins, err := kubetest.BuildBinaries()
	b.Cleanup(gexec.CleanupBuildArtifacts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, err := kindcluster.DetectRuntime(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	providers := testbed.Providers{
		scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{NodeImage: os.Getenv("EDGESIM_KIND_NODE_IMAGE"), Runtime: rt}),
		scenarios.ProviderK3s:  k3sprovider.Factory(k3sprovider.Options{Image: os.Getenv("EDGESIM_K3S_IMAGE")}),
	}
	order := []scenarios.Provider{scenarios.ProviderLocal, scenarios.ProviderKind, scenarios.ProviderK3s}
	b.ResetTimer()
	for range b.N {
		results := map[scenarios.Provider]*testbed.Result{}
		for _, p := range order {
			sc, err := scenarios.Example("quickstart")
			if err != nil {
				b.Fatal(err)
			}
			sc.Provider = p
			res, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: b.TempDir(), StateDir: b.TempDir(), Binaries: bins, Providers: providers})
			if err != nil {
				b.Fatalf("quickstart on %s: %v", p, err)
			}
			results[p] = res
			lat := res.Report.Latency("")
			b.ReportMetric(float64(lat.Percentile(50).Microseconds())/1000, string(p)+"-p50-ms")
			b.ReportMetric(float64(lat.Percentile(95).Microseconds())/1000, string(p)+"-p95-ms")
		}
		// Printed, not logged: the testing package keeps only ten lines of
		// a benchmark's log.
		fmt.Printf("quickstart, one run per provider, %s, %d CPUs:\n%s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), providerTable(order, results))
	}
}

// providerTable is a markdown table with a column per provider.
func providerTable(order []scenarios.Provider, results map[scenarios.Provider]*testbed.Result) string {
	var rows [][]string
	row := func(name string, cell func(*testbed.Result) string) {
		r := []string{name}
		for _, p := range order {
			r = append(r, cell(results[p]))
		}
		rows = append(rows, r)
	}
	seconds := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	cluster := func(res *testbed.Result, f func(evidence.Cluster) string) string {
		if len(res.Report.Clusters) == 0 {
			return "– (no cluster)"
		}
		return f(res.Report.Clusters[0])
	}
	row("provision phase", func(res *testbed.Result) string {
		for _, ph := range res.Run.Phases {
			if ph.Name == reports.PhaseProvision {
				return seconds(ph.End.Sub(ph.Start))
			}
		}
		return "–"
	})
	row("cluster: containers up and Kubernetes started", func(res *testbed.Result) string {
		return cluster(res, func(c evidence.Cluster) string { return seconds(c.Create) })
	})
	row("cluster: every node Ready, after that", func(res *testbed.Result) string {
		return cluster(res, func(c evidence.Cluster) string { return seconds(c.Ready) })
	})
	row("control plane resident memory (pods included)", func(res *testbed.Result) string {
		return cluster(res, func(c evidence.Cluster) string {
			if c.ControlPlaneMemory == 0 {
				return "not measured"
			}
			return reportkit.Bytes(c.ControlPlaneMemory)
		})
	})
	row("e2e latency p50 / p95", func(res *testbed.Result) string {
		d := res.Report.Latency("")
		return fmt.Sprintf("%.1f / %.1f ms", float64(d.Percentile(50).Microseconds())/1000, float64(d.Percentile(95).Microseconds())/1000)
	})
	for _, step := range []string{reports.StepNodeNotReady, reports.StepPodsEvicted, reports.StepScheduled, reports.StepReady, reports.StepReconnected, reports.StepFlowing} {
		row("failover: "+step+" (median, since the kill)", func(res *testbed.Result) string {
			for _, fo := range res.Report.FailoverSummaries {
				for _, s := range fo.Steps {
					if s.Name == step {
						return fmt.Sprintf("+%.1f s", s.SinceFaultMs/1000)
					}
				}
			}
			return "–"
		})
	}
	row("failover gap (median over cameras)", func(res *testbed.Result) string {
		if len(res.Report.FailoverSummaries) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f s", res.Report.FailoverSummaries[0].GapP50Ms/1000)
	})
	row("verdict", func(res *testbed.Result) string { return res.Report.Verdict })
	row("host", func(res *testbed.Result) string {
		if h := res.Report.Headroom; h != nil && h.Saturated {
			return "saturated"
		}
		return "headroom"
	})

	var s strings.Builder
	s.WriteString("| figure | " + strings.Join(providerNames(order), " | ") + " |\n|---|")
	s.WriteString(strings.Repeat("---:|", len(order)) + "\n")
	for _, r := range rows {
		s.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return s.String()
}

func providerNames(ps []scenarios.Provider) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}
