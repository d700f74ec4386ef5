package fakecam_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/whiptest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchFleet streams n cameras at 640x360, 10 fps, 800 kbit/s for the given
// length of video to a loopback receiver that only reassembles frames, and
// returns the process CPU time used and the fleet's stats.
func benchFleet(b *testing.B, n int, video time.Duration) (time.Duration, []fakecam.Stats, *whiptest.Server) {
	srv, err := whiptest.New(whiptest.Options{NoDecode: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	var cfgs []fakecam.Config
	for i := range n {
		cfgs = append(cfgs, fakecam.Config{
			ID: fmt.Sprintf("bench-%d", i),
			Scene: scene.Config{Width: 640, Height: 360, FPS: 10, Background: scene.BackgroundStreet, Seed: 1,
				People: 4, Vehicles: 2},
			Bitrate: 800_000, Endpoints: []string{srv.URL}, Duration: video,
			EncoderSpeed: envInt("FAKECAM_BENCH_SPEED", 0) - envInt("FAKECAM_BENCH_SPEED_NEG", 0),
		})
	}
	f, err := fakecam.NewFleet(cfgs)
	if err != nil {
		b.Fatal(err)
	}
	c0 := cpuTime()
	if err := f.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return cpuTime() - c0, f.Stats(), srv
}

// BenchmarkStreamCost measures what one camera stream costs: CPU ms per
// second of video (render + VP8 encode + WebRTC send, plus the loopback
// receiver's SRTP/RTP handling) and the streams one core sustains.
// FAKECAM_BENCH_STREAMS (default 4) and FAKECAM_BENCH_SECONDS (default 10)
// size it; FAKECAM_BENCH_SPEED_NEG=8 sets libvpx cpu-used -8 (default -6).
// Run with -benchtime=1x.
func BenchmarkStreamCost(b *testing.B) {
	n, secs := envInt("FAKECAM_BENCH_STREAMS", 4), envInt("FAKECAM_BENCH_SECONDS", 10)
	for b.Loop() {
		cpu, stats, _ := benchFleet(b, n, time.Duration(secs)*time.Second)
		var sent, skipped uint64
		var enc float64
		for _, s := range stats {
			sent += s.FramesSent
			skipped += s.FramesSkipped
			enc += s.EncodeMS
		}
		perStream := float64(cpu.Milliseconds()) / float64(n) / float64(secs)
		b.ReportMetric(perStream, "cpu-ms/video-s")
		b.ReportMetric(1000/perStream, "streams/core")
		b.ReportMetric(enc/float64(n), "render+encode-ms/frame")
		b.ReportMetric(float64(skipped), "frames-skipped")
		b.ReportMetric(float64(sent), "frames-sent")
	}
}

// BenchmarkRealisedBitrate streams one camera for FAKECAM_BENCH_SECONDS
// (default 30) on an unimpaired loopback link and reports the realised RTP
// bitrate relative to the 800 kbit/s target. Run with -benchtime=1x.
func BenchmarkRealisedBitrate(b *testing.B) {
	secs := envInt("FAKECAM_BENCH_SECONDS", 30)
	for b.Loop() {
		_, stats, srv := benchFleet(b, 1, time.Duration(secs)*time.Second)
		payload := float64(srv.Bytes()) * 8 / float64(secs)
		b.ReportMetric(stats[0].BitrateBPS/1000, "rtp-kbit/s")
		b.ReportMetric(payload/1000, "vp8-kbit/s")
		b.ReportMetric(stats[0].BitrateBPS/800_000, "rtp/target")
	}
}
