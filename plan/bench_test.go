package plan_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSS is the process's high-water resident set (Linux), in bytes.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuSeconds is the CPU time (user and system) the process used so far: on
// a shared machine it moves much less with the load than wall clock does.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkFleet simulates PLAN_SITES sites × PLAN_CAMERAS cameras (default
// 1000 × 100) for PLAN_SECONDS simulated seconds (default 60), edge
// placement, 10 fps cameras sampled at 5 fps, LAN with jitter and loss:
//
//	go test ./plan/ -run '^$' -bench Fleet -benchtime 1x
func BenchmarkFleet(b *testing.B) {
	sites, ncam, secs := envInt("PLAN_SITES", 1000), envInt("PLAN_CAMERAS", 100), envInt("PLAN_SECONDS", 60)
	cal, err := plan.LoadCalibration(fixture)
	if err != nil {
		b.Fatal(err)
	}
	f := &plan.Fleet{Seed: 1, Duration: time.Duration(secs) * time.Second, Model: "jittery", Placement: plan.PlacementEdge, DetectFPS: 5}
	for i := range sites {
		f.Sites = append(f.Sites, plan.Site{Name: fmt.Sprint("site-", i), Type: "store", Nodes: 4, Class: "small-box", Cameras: cams(ncam),
			LANUp:   netem.LinkConfig{Delay: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Loss: netem.Loss{Percent: 0.1}},
			LANDown: netem.LinkConfig{Delay: 2 * time.Millisecond},
			WANUp:   netem.LinkConfig{Delay: 40 * time.Millisecond, RateBits: 10e6}})
	}
	b.ResetTimer()
	for range b.N {
		start, cpu0 := time.Now(), cpuSeconds()
		r, err := plan.Run(context.Background(), f, cal)
		if err != nil {
			b.Fatal(err)
		}
		wall, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
		b.ReportMetric(float64(r.Stats.Events)/wall, "events/s")
		b.ReportMetric(float64(r.Stats.Packets)/wall, "packets/s")
		b.ReportMetric(float64(sites*ncam*secs)/wall, "camera-s/s")
		b.ReportMetric(wall, "wall-s")
		b.ReportMetric(cpu, "cpu-s")
		b.ReportMetric(float64(r.Stats.Events)/float64(r.Types[0].Frames.Captured), "events/frame")
		b.ReportMetric(peakRSS()/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		b.Logf("%d sites × %d cameras, %d s simulated: %d events, %d packets, %d frames answered, p95 %s",
			sites, ncam, secs, r.Stats.Events, r.Stats.Packets, r.Types[0].Frames.Answered, r.Types[0].LatencyP95)
	}
}
