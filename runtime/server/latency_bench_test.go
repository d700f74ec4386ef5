package server

import (
	"encoding/json"
	"fmt"
	"image"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/edgesim/edgesim/runtime/cnn"
	"github.com/edgesim/edgesim/runtime/internal/vp8test"
	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/wire"
)

// BenchmarkReceiveToSend measures, inside the node and without a network,
// the time from the last RTP packet of a frame arriving to its detections
// message being handed to the data channel (assemble, libvpx decode,
// schedule, real CNN inference, track, marshal), next to the inference time
// alone, for 4 streams of 640x360 VP8 at 5 fps with the default worker count.
// "staggered" cameras start at seeded random phases (independent cameras);
// "aligned" cameras send their frames at the same instant (worst case).
// It runs for a fixed 20 s of stream time whatever b.N is.
func BenchmarkReceiveToSend(b *testing.B) {
	model, err := cnn.Load("")
	if err != nil {
		b.Fatal(err)
	}
	frames, err := encodeBenchFrames(50, 25, 640, 360)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"staggered", "aligned"} {
		b.Run(mode, func(b *testing.B) {
			r2s, infer := runLatency(b, model, frames, 4, 5, 20*time.Second, mode == "aligned")
			p := func(xs []float64, q float64) float64 { return xs[min(len(xs)-1, int(q*float64(len(xs))))] }
			b.ReportMetric(p(r2s, 0.5), "r2s_p50_ms")
			b.ReportMetric(p(r2s, 0.99), "r2s_p99_ms")
			b.ReportMetric(p(infer, 0.5), "infer_p50_ms")
			b.ReportMetric(p(infer, 0.99), "infer_p99_ms")
			b.ReportMetric(p(r2s, 0.99)/p(infer, 0.99), "p99_ratio")
			b.ReportMetric(float64(len(r2s)), "frames")
			b.Logf("%s: %d frames; receive-to-send p50 %.1f p90 %.1f p99 %.1f ms; inference p50 %.1f p90 %.1f p99 %.1f ms; p99 ratio %.2f",
				mode, len(r2s), p(r2s, .5), p(r2s, .9), p(r2s, .99), p(infer, .5), p(infer, .9), p(infer, .99), p(r2s, .99)/p(infer, .99))
		})
	}
}

func runLatency(b *testing.B, model pipeline.Model, frames [][]byte, streams int, fps float64, dur time.Duration, aligned bool) (r2s, infer []float64) {
	m, _ := metrics.New(nil)
	p, err := pipeline.New(model, pipeline.WithMetrics(m))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	s, err := New(p, m, WithDetectFPS(fps))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewSource(1))
	interval := time.Duration(float64(time.Second) / fps)
	start := time.Now().Add(100 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		ss := s.newSession(fmt.Sprintf("cam%d", i))
		ss.stream, err = p.AddStream(ss.camera, ss.sink)
		if err != nil {
			b.Fatal(err)
		}
		recv := map[uint32]time.Time{}
		var recvMu sync.Mutex
		ss.sendText = func(msg string) error {
			now := time.Now()
			var d wire.DetectionsMessage
			if err := json.Unmarshal([]byte(msg), &d); err != nil {
				return err
			}
			recvMu.Lock()
			t := recv[d.RTP]
			recvMu.Unlock()
			mu.Lock()
			r2s = append(r2s, float64(now.Sub(t).Microseconds())/1000)
			infer = append(infer, d.InferMS)
			mu.Unlock()
			return nil
		}
		go ss.deliverLoop()
		in, err := ss.newIngest(func(time.Time) {})
		if err != nil {
			b.Fatal(err)
		}
		phase := time.Duration(0)
		if !aligned {
			phase = time.Duration(rng.Int63n(int64(interval)))
		}
		pk := rtp.NewPacketizer(1200, 96, uint32(i+1), &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer in.close()
			defer ss.close()
			n := int(dur / interval)
			for k := 0; k < n; k++ {
				time.Sleep(time.Until(start.Add(phase + time.Duration(k)*interval)))
				pkts := pk.Packetize(frames[k%len(frames)], uint32(90000/fps))
				for j, pkt := range pkts {
					now := time.Now()
					if j == len(pkts)-1 {
						recvMu.Lock()
						recv[pkt.Timestamp] = now
						recvMu.Unlock()
					}
					in.push(pkt, now)
				}
			}
			time.Sleep(500 * time.Millisecond) // let the last frames come back
		}()
	}
	wg.Wait()
	sort.Float64s(r2s)
	sort.Float64s(infer)
	if len(r2s) == 0 {
		b.Fatal("no detections came back")
	}
	return r2s, infer
}

// encodeBenchFrames encodes n w x h frames of a moving textured block.
func encodeBenchFrames(n, keyEvery, w, h int) ([][]byte, error) {
	return vp8test.Encode(n, keyEvery, w, h, 1_000_000, 5, func(img *image.YCbCr, i int) {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := uint8((x*7 + y*3) % 200)
				if x > (i*8)%w && x < (i*8)%w+60 && y > h/3 && y < h/3+120 {
					v = 230
				}
				img.Y[y*img.YStride+x] = v
			}
		}
		for k := range img.Cb {
			img.Cb[k], img.Cr[k] = 120, 135
		}
	})
}
