package testbed_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// Whole-run benchmarks: each iteration is one real run on the local
// provider, so one iteration is what `go test -bench` does with any
// -benchtime below the run's length. They need root.

func benchBinaries(b *testing.B) testbed.Binaries {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("the local provider needs root")
	}
	edgesim, err := gexec.Build("github.com/edgesim/edgesim/cmd/edgesim")
	if err != nil {
		b.Fatal(err)
	}
	edgenode, err := gexec.Build("github.com/edgesim/edgesim/cmd/edgenode")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(gexec.CleanupBuildArtifacts)
	return testbed.Binaries{Edgesim: edgesim, Edgenode: edgenode}
}

func benchRun(b *testing.B, sc *scenarios.Scenario, compare bool) *testbed.Result {
	b.Helper()
	bins := benchBinaries(b)
	var res *testbed.Result
	b.ResetTimer()
	for range b.N {
		var err error
		res, err = testbed.Run(context.Background(), sc, testbed.Options{ResultsDir: b.TempDir(), Binaries: bins, Compare: compare})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	r := res.Report
	for _, p := range r.Phases {
		b.ReportMetric(p.DurationMs/1000, p.Name+"-s")
	}
	b.ReportMetric(r.DurationMs/1000, "wall-s")
	b.ReportMetric(float64(r.Frames.Answered)/float64(max(1, r.Frames.Sent)), "answered-ratio")
	for _, p := range r.Phases {
		if p.Name == testbed.PhaseRun && p.DurationMs > 0 {
			// Detections per second per camera: compare with the scenario's detect fps.
			b.ReportMetric(float64(r.Frames.Answered)/(p.DurationMs/1000)/float64(max(1, len(r.Cameras))), "detect-fps/camera")
		}
	}
	if d := r.Latency(""); d.Count > 0 {
		b.ReportMetric(d.PercentileMs(95), "p95-ms")
	}
	return res
}

func BenchmarkRunQuickstart(b *testing.B) {
	sc, err := scenarios.Example("quickstart")
	if err != nil {
		b.Fatal(err)
	}
	res := benchRun(b, sc, true)
	for _, u := range res.Report.Uplink {
		b.ReportMetric(u.PerCameraBitsPerS/1000, "uplink-"+string(u.Placement)+"-kbit/s/camera")
	}
}

// scaleScenario is a fleet of sites, each with edge nodes and cameras.
func scaleScenario(b *testing.B, sites, nodes, cameras int, res string, fps, detect float64) *scenarios.Scenario {
	var y strings.Builder
	fmt.Fprintf(&y, `apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: scale-%dx%dx%d}
spec:
  seed: 1
  duration: 20s
  cloud: {nodes: 1}
  workload: {placement: edge, detectFPS: %g}
  sites:
`, sites, nodes, cameras, detect)
	for i := range sites {
		fmt.Fprintf(&y, "    - {name: s%d, nodes: %d, cameras: [{count: %d, resolution: %s, fps: %g, bitrate: 300Kbit, scene: {background: street, people: 1, vehicles: 1}}]}\n", i+1, nodes, cameras, res, fps)
	}
	sc, err := scenarios.Load("scale.yaml", []byte(y.String()), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return sc
}

// BenchmarkScaleSites runs 50 sites x 2 edge nodes with one low-fps camera
// each: 151 namespaces, 101 edgenodes, 50 cameras.
func BenchmarkScaleSites(b *testing.B) {
	benchRun(b, scaleScenario(b, 50, 2, 1, "320x180", 2, 1), false)
}

// BenchmarkScaleCameras runs one site with one edge node and a growing
// number of real-time 640x360 cameras at 5 detect fps.
func BenchmarkScaleCameras(b *testing.B) {
	for _, n := range []int{2, 4, 8, 12} {
		b.Run(fmt.Sprintf("cameras=%d", n), func(b *testing.B) {
			benchRun(b, scaleScenario(b, 1, 1, n, "640x360", 10, 5), false)
		})
	}
}
