package fakecam_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// receiverHelperEnv makes the test binary run a WHIP receiver instead of the
// suite, so that benchmarks measure the cameras' CPU time alone.
const receiverHelperEnv = "FAKECAM_RECEIVER_HELPER"

// runReceiverHelper serves a frame-counting WHIP receiver, prints its URL,
// and on end of standard input prints the VP8 bytes received and exits.
func runReceiverHelper() {
	srv, err := whiptest.New(whiptest.Options{NoDecode: true})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Println(srv.Bytes())
	srv.Close()
}

// receiverProcess is a whiptest receiver in a child process.
type receiverProcess struct {
	url   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startReceiverProcess(b *testing.B) *receiverProcess {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFakecam$")
	cmd.Env = append(os.Environ(), receiverHelperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r := &receiverProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := r.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.Fatalf("receiver process: %q %v", line, err)
	}
	r.url = strings.TrimSpace(line)
	return r
}

// stop ends the receiver and returns the VP8 bytes it received.
func (r *receiverProcess) stop() int {
	_ = r.stdin.Close()
	line, _ := r.out.ReadString('\n')
	_ = r.cmd.Wait()
	n, _ := strconv.Atoi(strings.TrimSpace(line))
	return n
}

// benchFleet streams n cameras at 640x360, 10 fps, 800 kbit/s for the given
// length of video to a loopback receiver that only reassembles frames, and
// returns the process CPU time used and the fleet's stats.
func benchFleet(b *testing.B, n int, video time.Duration) (time.Duration, []fakecam.Stats, int) {
	rx := startReceiverProcess(b)
	var cfgs []fakecam.Config
	for i := range n {
		cfgs = append(cfgs, fakecam.Config{
			ID: fmt.Sprintf("bench-%d", i),
			Scene: scene.Config{Width: 640, Height: 360, FPS: 10, Background: scene.BackgroundStreet, Seed: 1,
				People: 4, Vehicles: 2},
			Bitrate: 800_000, Endpoints: []string{rx.url}, Duration: video,
			EncoderSpeed: envInt("FAKECAM_BENCH_SPEED", 0) - envInt("FAKECAM_BENCH_SPEED_NEG", 0),
		})
	}
	f, err := fakecam.NewFleet(cfgs)
	if err != nil {
		rx.stop()
		b.Fatal(err)
	}
	c0 := cpuTime()
	err = f.Run(context.Background())
	cpu := cpuTime() - c0
	received := rx.stop()
	if err != nil {
		b.Fatal(err)
	}
	return cpu, f.Stats(), received
}

// BenchmarkStreamCost measures what one camera stream costs: CPU ms per
// second of video (render + VP8 encode + WebRTC send; the receiver runs in
// a child process) and the streams one core sustains.
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
		_, stats, received := benchFleet(b, 1, time.Duration(secs)*time.Second)
		payload := float64(received) * 8 / float64(secs)
		b.ReportMetric(stats[0].BitrateBPS/1000, "rtp-kbit/s")
		b.ReportMetric(payload/1000, "vp8-kbit/s")
		b.ReportMetric(stats[0].BitrateBPS/800_000, "rtp/target")
	}
}

// BenchmarkLoopbackLatency streams FAKECAM_BENCH_STREAMS (default 4)
// cameras at 640x360, 10 fps, 800 kbit/s for FAKECAM_BENCH_SECONDS (default
// 10) to an in-process receiver that decodes every frame with libvpx and
// answers at once: the glass-to-detection latency of the transport and
// codec alone, without inference. Run with -benchtime=1x.
func BenchmarkLoopbackLatency(b *testing.B) {
	n, secs := envInt("FAKECAM_BENCH_STREAMS", 4), envInt("FAKECAM_BENCH_SECONDS", 10)
	for b.Loop() {
		srv, err := whiptest.New(whiptest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var cfgs []fakecam.Config
		for i := range n {
			cfgs = append(cfgs, fakecam.Config{
				ID:        fmt.Sprintf("lat-%d", i),
				Scene:     scene.Config{Width: 640, Height: 360, FPS: 10, Seed: 1, People: 4, Vehicles: 2},
				Bitrate:   800_000,
				Endpoints: []string{srv.URL},
				Duration:  time.Duration(secs) * time.Second,
			})
		}
		f, err := fakecam.NewFleet(cfgs)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		srv.Close()
		var p50, p95, p99 float64
		var answered, captured uint64
		for _, s := range f.Stats() {
			p50 = max(p50, s.Latency.P50)
			p95 = max(p95, s.Latency.P95)
			p99 = max(p99, s.Latency.P99)
			answered += s.FramesAnswered
			captured += s.FramesCaptured
		}
		b.ReportMetric(p50, "worst-p50-ms")
		b.ReportMetric(p95, "worst-p95-ms")
		b.ReportMetric(p99, "worst-p99-ms")
		b.ReportMetric(float64(answered)/float64(captured), "answered/captured")
	}
}
