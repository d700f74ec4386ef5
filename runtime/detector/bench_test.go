package detector_test

// MLPerf-Inference-style benchmarks of the committed models (edge scenarios;
// SingleStream and Offline per model version, e.g. SingleStream/v2-int8):
//
//	go test ./runtime/detector -run '^$' -bench . -cpu 1 -benchtime 200x
//
// SingleStream reports p50/p90/p99 latency of back-to-back single-frame
// queries (score: p90) plus per-query process CPU time, which does not grow
// when other processes compete for the core. MultiStream sends queries of
// 8 frames (one per stream) to GOMAXPROCS runners (score: p99 query latency).
// Offline reports frames per second. Peak measures this CPU's float32
// matrix-multiply throughput in the same run, and SingleStream reports the
// model's achieved FLOP/s as a fraction of it (for an int8 model: integer
// ops against PeakInt8Gemm, our int8 kernel on a layer-sized product).

import (
	"context"
	"image"
	"io/fs"
	"path"
	"runtime"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/runtime/models"
)

func benchModel(b *testing.B) *detector.Model {
	m, err := detector.Default()
	if err != nil {
		b.Skipf("no committed model: %v", err)
	}
	return m
}

// benchModels are every committed model: the default and its variants
// (edgenode optimize), named by version.
func benchModels(b *testing.B) []*detector.Model {
	manifests, err := fs.Glob(models.FS, "*/*/"+detector.ManifestFile)
	if err != nil || len(manifests) == 0 {
		b.Skipf("no committed models: %v", err)
	}
	var out []*detector.Model
	for _, mf := range manifests {
		m, err := detector.LoadFS(models.FS, path.Dir(mf))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// benchFrames are 640x360 frames with toy objects (inference cost does not
// depend on the content).
func benchFrames(b *testing.B, n int) []image.Image {
	src := toySourceSized(3, 640, 360)
	var out []image.Image
	for i := 0; i < n; i++ {
		s, err := src.Sample(context.Background(), i)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, s.Image)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// peakFLOPS measures float32 GEMM throughput on one goroutine, by process
// CPU time like the model's figure, so both are comparable on a busy host.
func peakFLOPS() float64 {
	const n = 256
	a := blas32.General{Rows: n, Cols: n, Stride: n, Data: make([]float32, n*n)}
	bb := blas32.General{Rows: n, Cols: n, Stride: n, Data: make([]float32, n*n)}
	c := blas32.General{Rows: n, Cols: n, Stride: n, Data: make([]float32, n*n)}
	for i := range a.Data {
		a.Data[i] = float32(i%7) * 0.1
		bb.Data[i] = float32(i%5) * 0.1
	}
	best := 0.0
	for r := 0; r < 5; r++ {
		st := detector.ProcessCPU()
		const reps = 10
		for k := 0; k < reps; k++ {
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, bb, 0, c)
		}
		best = max(best, 2*n*n*n*reps/(detector.ProcessCPU()-st).Seconds())
	}
	return best
}

func BenchmarkPeakSgemm(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var f float64
	for i := 0; i < b.N; i++ {
		f = peakFLOPS()
	}
	b.ReportMetric(f/1e9, "GFLOP/s")
}

// peakInt8 measures the int8 product (im2col and packing excluded) on one goroutine: a
// 64 x 576 by 576 x 960 product, the shape of the c5 layer, by process CPU
// time, in multiply-accumulates (2 ops) per second.
func peakInt8() float64 {
	const out, kk, np = 64, 576, 960
	w := make([]int8, out*kk)
	cols := make([]int8, np*kk)
	for i := range w {
		w[i] = int8(i%13 - 6)
	}
	for i := range cols {
		cols[i] = int8(i%11 - 5)
	}
	bias := make([]int32, out)
	acc := make([]int32, out*np)
	pc := make([]int64, np/2*kk)
	detector.PackPairs(cols, kk, np, pc)
	best := 0.0
	for r := 0; r < 5; r++ {
		st := detector.ProcessCPU()
		const reps = 5
		for k := 0; k < reps; k++ {
			detector.GemmInt8x2(w, out, kk, pc, np, bias, acc)
		}
		best = max(best, 2*out*kk*np*reps/(detector.ProcessCPU()-st).Seconds())
	}
	return best
}

func BenchmarkPeakInt8Gemm(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var f float64
	for i := 0; i < b.N; i++ {
		f = peakInt8()
	}
	b.ReportMetric(f/1e9, "GOP/s")
}

// BenchmarkSingleStream runs every committed model (sub-benchmark per
// version); -cpu 1 is the single-core figure.
func BenchmarkSingleStream(b *testing.B) {
	for _, m := range benchModels(b) {
		b.Run(m.Manifest.Version, func(b *testing.B) { singleStream(b, m) })
	}
}

func singleStream(b *testing.B, m *detector.Model) {
	frames := benchFrames(b, 16)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	peak := peakFLOPS()
	if m.IsInt8() {
		peak = peakInt8()
	}
	r, err := m.NewRunner()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 5; i++ { // warm-up
		if _, err := r.Detect(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0, t0 := detector.ProcessCPU(), time.Now()
		if _, err := r.Detect(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		cpu = append(cpu, detector.ProcessCPU()-c0)
	}
	b.StopTimer()
	p90 := detector.Percentile(lat, 0.9)
	b.ReportMetric(ms(detector.Percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(p90), "p90-ms")
	b.ReportMetric(ms(detector.Percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(detector.Percentile(cpu, 0.5)), "cpu-p50-ms")
	b.ReportMetric(ms(detector.Percentile(cpu, 0.9)), "cpu-p90-ms")
	achieved := float64(m.FLOPs()) / detector.Percentile(cpu, 0.5).Seconds()
	// for an int8 model: integer operations, against the int8 kernel's peak
	b.ReportMetric(achieved/1e9, "model-GFLOP/s")
	b.ReportMetric(peak/1e9, "peak-GFLOP/s")
	b.ReportMetric(achieved/peak, "peak-fraction")
}

// runPool starts one runner per worker; jobs carry a frame and a done func.
type job struct {
	img  image.Image
	done func()
}

func runPool(b *testing.B, m *detector.Model, workers int) (chan<- job, func()) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		r, err := m.NewRunner()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for j := range jobs {
				if _, err := r.Detect(j.img); err != nil {
					b.Error(err)
				}
				j.done()
			}
		}()
	}
	return jobs, func() { close(jobs); wg.Wait() }
}

func BenchmarkMultiStream(b *testing.B) {
	const streams = 8
	m := benchModel(b)
	frames := benchFrames(b, streams)
	jobs, stop := runPool(b, m, runtime.GOMAXPROCS(0))
	defer stop()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(streams)
		t0 := time.Now()
		for s := 0; s < streams; s++ {
			jobs <- job{frames[s], wg.Done}
		}
		wg.Wait()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(ms(detector.Percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(detector.Percentile(lat, 0.99)), "p99-ms")
}

// BenchmarkOffline runs every committed model (sub-benchmark per version).
func BenchmarkOffline(b *testing.B) {
	for _, m := range benchModels(b) {
		b.Run(m.Manifest.Version, func(b *testing.B) { offline(b, m) })
	}
}

func offline(b *testing.B, m *detector.Model) {
	frames := benchFrames(b, 16)
	jobs, stop := runPool(b, m, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	b.ResetTimer()
	t0 := time.Now()
	wg.Add(b.N)
	for i := 0; i < b.N; i++ {
		jobs <- job{frames[i%len(frames)], wg.Done}
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/el.Seconds(), "frames/s")
}

// BenchmarkLoadAndRunner is the cost of a hot swap: load and verify a model
// directory, then build one Runner from it.
func BenchmarkLoadAndRunner(b *testing.B) {
	m := benchModel(b)
	dir := b.TempDir()
	if _, err := m.Save(dir); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		l, err := detector.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		r, err := l.NewRunner()
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
