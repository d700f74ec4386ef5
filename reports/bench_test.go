package reports_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
)

// bigRun is a fleet-sized run: cams cameras at 15 fps for d, each frame
// with two ground-truth objects and two detections, four sites, link
// counters every second, one fault.
func bigRun(cams int, d time.Duration) *reports.Run {
	run := &reports.Run{Scenario: "fleet", Seed: 1, Provider: "local", Start: t0, End: t0.Add(d),
		SLO: reports.SLOSpec{Latency: []reports.LatencySLO{{Percentile: 95, Max: 150 * time.Millisecond}},
			FailoverMax: 5 * time.Second, RecallMin: 0.5, UplinkMaxBitsPerSecond: 10e6}}
	n := int(d.Seconds() * 15)
	for c := range cams {
		site := fmt.Sprintf("site-%d", c%4)
		p := reports.PlacementEdge
		if c%4 == 3 {
			p = reports.PlacementCloud
		}
		cam := reports.Camera{ID: fmt.Sprintf("cam-%d", c), Site: site, Placement: p, Nodes: []string{"node-" + site}}
		cam.Frames = make([]reports.FrameSample, n)
		cam.Truth = make([]reports.TruthFrame, n)
		for i := range n {
			x := (i * 3) % 500
			cam.Truth[i] = reports.TruthFrame{Frame: uint64(i), Objects: []reports.TruthObject{
				{TrackID: 1, Label: "person", Box: reports.Box{x, 100, x + 40, 200}},
				{TrackID: 2, Label: "vehicle", Box: reports.Box{300, 250, 450, 330}},
			}}
			cam.Frames[i] = reports.FrameSample{Frame: uint64(i), Capture: t0.Add(time.Duration(i) * time.Second / 15),
				Answered: i%50 != 0, Latency: time.Duration(30+(i*13+c)%90) * time.Millisecond, Node: "node-" + site,
				Detections: []reports.Detection{
					{Label: "person", Score: float32(i%10) / 10, Box: reports.Box{x + 2, 98, x + 41, 203}},
					{Label: "vehicle", Score: 0.9, Box: reports.Box{302, 250, 450, 331}},
				}}
		}
		run.Cameras = append(run.Cameras, cam)
	}
	for s := range 4 {
		for _, dir := range []string{"up", "down"} {
			l := reports.LinkSeries{Link: fmt.Sprintf("site-%d-backhaul", s), Direction: dir, Site: fmt.Sprintf("site-%d", s), Uplink: dir == "up"}
			var b uint64
			for sec := 0; sec <= int(d.Seconds()); sec++ {
				b += uint64(1000 + sec%7*100)
				l.Samples = append(l.Samples, reports.CounterSample{At: t0.Add(time.Duration(sec) * time.Second), Bytes: b, Packets: b / 1000})
			}
			l.TotalBytes, l.TotalPackets = b, b/1000
			run.Links = append(run.Links, l)
		}
	}
	run.Faults = []reports.Fault{{At: t0.Add(d / 2), Kind: "kill", Target: "node-site-0"}}
	return run
}

// BenchmarkAnalyze: 24 cameras x 10 min x 15 fps = 216,000 frames.
func BenchmarkAnalyze(b *testing.B) {
	run := bigRun(24, 10*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reports.Analyze(run); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(24*10*60*15)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkRender renders each format of the same run.
func BenchmarkRender(b *testing.B) {
	res, err := reports.Analyze(bigRun(24, 10*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []render.Format{render.FormatJSON, render.FormatHTML, render.FormatMarkdown, render.FormatJUnit, render.FormatSamples} {
		b.Run(string(f), func(b *testing.B) {
			cw := &countWriter{}
			for b.Loop() {
				cw.n = 0
				if err := render.Render(context.Background(), cw, res, f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cw.n), "bytes")
		})
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// breakdownRun is bigRun as a kind run: a node loss per site, each with
// NotReady, evictions, replacements, readiness and 400 unrelated cluster
// events, and every affected camera losing its connection and
// reconnecting.
func breakdownRun(cams int, d time.Duration) *reports.Run {
	run := bigRun(cams, d)
	run.Provider = "kind"
	run.Faults = nil
	for s := range 4 {
		node := fmt.Sprintf("node-site-%d", s)
		w := fmt.Sprintf("edgenode-site-%d", s)
		f := t0.Add(d/8 + time.Duration(s)*d/5)
		run.Faults = append(run.Faults, reports.Fault{At: f, Kind: "kill", Target: node})
		run.ClusterEvents = append(run.ClusterEvents,
			evidence.ClusterEvent{At: f.Add(40 * time.Second), Kind: evidence.NodeNotReady, Node: node},
			evidence.ClusterEvent{At: f.Add(45 * time.Second), Kind: evidence.PodDeleted, Node: node, Pod: w + "-a", Workload: w},
			evidence.ClusterEvent{At: f.Add(46 * time.Second), Kind: evidence.PodScheduled, Node: node + "-b", Pod: w + "-b", Workload: w},
			evidence.ClusterEvent{At: f.Add(55 * time.Second), Kind: evidence.PodReady, Node: node + "-b", Pod: w + "-b", Workload: w})
		for i := range 400 {
			run.ClusterEvents = append(run.ClusterEvents, evidence.ClusterEvent{At: t0.Add(time.Duration(i) * d / 400),
				Kind: evidence.PodReady, Node: "other", Pod: fmt.Sprintf("other-%d", i), Workload: "other"})
		}
		for c := range run.Cameras {
			if run.Cameras[c].Site == fmt.Sprintf("site-%d", s) {
				run.Cameras[c].Reconnects = append(run.Cameras[c].Reconnects,
					reports.Reconnect{Lost: f.Add(5 * time.Second), Connected: f.Add(56 * time.Second)})
			}
		}
	}
	return run
}

// BenchmarkAnalyzeBreakdown is BenchmarkAnalyze's workload with four
// faults, analysed with the cluster events and reconnects ("events") and
// without them ("none"): the difference is the breakdown's cost.
func BenchmarkAnalyzeBreakdown(b *testing.B) {
	with := breakdownRun(24, 10*time.Minute)
	without := *with
	without.ClusterEvents = nil
	without.Cameras = slices.Clone(with.Cameras)
	for c := range without.Cameras {
		without.Cameras[c].Reconnects = nil
	}
	for _, bc := range []struct {
		name string
		run  *reports.Run
	}{{"events", with}, {"none", &without}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reports.Analyze(bc.run); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRenderBreakdown renders the broken-down run's report.html
// (four step timelines more than BenchmarkRender/html).
func BenchmarkRenderBreakdown(b *testing.B) {
	res, err := reports.Analyze(breakdownRun(24, 10*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	cw := &countWriter{}
	for b.Loop() {
		cw.n = 0
		if err := render.Render(context.Background(), cw, res, render.FormatHTML); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cw.n), "bytes")
}
