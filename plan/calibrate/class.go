package calibrate

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/fakecam/vp8"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/runtime/detector"
)

// Model names a detector to measure: Name is the name a scenario gives it
// (its workload.model.name; "default" for the embedded model), Dir its
// directory ("" for the model embedded in edgenode, runtime/models).
type Model struct {
	Name string `json:"name"`
	Dir  string `json:"dir,omitempty"`
}

// ClassSpec is what one hardware class is measured with.
type ClassSpec struct {
	// Workers run inference concurrently, all busy, as edgenode's pipeline
	// workers do under full load; GOMAXPROCS is the Go scheduler's
	// parallelism (edgenode's follows the class's CPU limit).
	Workers    int     `json:"workers"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Models     []Model `json:"models"`
	// InferenceFrames is the number of service times recorded per model.
	InferenceFrames int `json:"inferenceFrames"`
	// IdleGap, when positive, also measures each model's idle service
	// time: every worker waits IdleGap before each inference, as on a
	// node that is not saturated (IdleFrames inferences in all).
	IdleGap    time.Duration `json:"idleGap,omitempty"`
	IdleFrames int           `json:"idleFrames,omitempty"`
	// Decode lists the videos whose per-frame decode time is measured;
	// inference runs on the decoded frames of the first (or, with no
	// Decode, of InferenceVideo).
	Decode         []Video `json:"decode"`
	InferenceVideo Video   `json:"inferenceVideo"`
}

// ClassResult is a class's measurements.
type ClassResult struct {
	Models []plan.ModelCost  `json:"models"`
	Decode []plan.DecodeCost `json:"decode"`
	// Samples counts the measurements behind each table, by stage.
	Samples map[string]int `json:"samples"`
}

// keptFrames is how many decoded frames inference cycles through.
const keptFrames = 60

// MeasureClass measures decoding and inference in this process; call it
// in a process confined to the class (see MeasureConfined).
func MeasureClass(ctx context.Context, spec ClassSpec, progress ProgressFunc) (*ClassResult, error) {
	if spec.Workers < 1 || spec.InferenceFrames < 1 {
		return nil, errors.New("calibrate: workers and inference frames must be at least 1")
	}
	if spec.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(spec.GOMAXPROCS)
	}
	res := &ClassResult{Samples: map[string]int{}}
	var images []*image.YCbCr
	videos := spec.Decode
	if len(videos) == 0 && len(spec.Models) > 0 {
		videos = []Video{spec.InferenceVideo}
	}
	for i, v := range videos {
		stage := fmt.Sprintf("decode %dx%d@%s", v.Width, v.Height, v.Bitrate)
		times, imgs, err := measureDecode(ctx, v, i == 0, stage, progress)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s: %w", stage, err)
		}
		if i == 0 {
			images = imgs
		}
		if len(spec.Decode) == 0 {
			break
		}
		q, err := Table(times, DefaultLevels)
		if err != nil {
			return nil, err
		}
		res.Decode = append(res.Decode, plan.DecodeCost{Width: v.Width, Height: v.Height, Bitrate: v.Bitrate, FrameSeconds: q})
		res.Samples[stage] = len(times)
	}
	for _, m := range spec.Models {
		stage := "inference " + m.Name
		times, err := measureInference(ctx, m, spec.Workers, spec.InferenceFrames, 0, images, stage, progress)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s: %w", stage, err)
		}
		q, err := Table(times, DefaultLevels)
		if err != nil {
			return nil, err
		}
		cost := plan.ModelCost{Model: m.Name, ServiceSeconds: q}
		res.Samples[stage] = len(times)
		if spec.IdleGap > 0 && spec.IdleFrames > 0 {
			stage := fmt.Sprintf("inference %s after %s idle", m.Name, spec.IdleGap)
			times, err := measureInference(ctx, m, spec.Workers, spec.IdleFrames, spec.IdleGap, images, stage, progress)
			if err != nil {
				return nil, fmt.Errorf("calibrate: %s: %w", stage, err)
			}
			if cost.IdleServiceSeconds, err = Table(times, DefaultLevels); err != nil {
				return nil, err
			}
			cost.IdleGapSeconds = spec.IdleGap.Seconds()
			res.Samples[stage] = len(times)
		}
		res.Models = append(res.Models, cost)
	}
	return res, nil
}

// measureDecode encodes v with fakecam's encoder, then decodes every
// frame with libvpx as edgenode does, timing each Decode call. With keep
// it also returns copies of up to keptFrames decoded frames spread over
// the video.
func measureDecode(ctx context.Context, v Video, keep bool, stage string, progress ProgressFunc) ([]float64, []*image.YCbCr, error) {
	frames, err := Encode(ctx, v, "encode for "+stage, progress)
	if err != nil {
		return nil, nil, err
	}
	dec, err := vp8.NewDecoder()
	if err != nil {
		return nil, nil, err
	}
	defer dec.Close()
	every := max(1, len(frames)/keptFrames)
	var times []float64
	var imgs []*image.YCbCr
	for i, f := range frames {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		start := time.Now()
		img, err := dec.Decode(f.Data)
		times = append(times, seconds(time.Since(start)))
		if err != nil {
			return nil, nil, fmt.Errorf("frame %d: %w", i, err)
		}
		if keep && i%every == 0 && len(imgs) < keptFrames {
			imgs = append(imgs, copyYCbCr(img))
		}
		if i%25 == 24 || i == len(frames)-1 {
			progress.report(stage, i+1, len(frames))
		}
	}
	return times, imgs, nil
}

func copyYCbCr(src *image.YCbCr) *image.YCbCr {
	dst := image.NewYCbCr(src.Rect, src.SubsampleRatio)
	for y := src.Rect.Min.Y; y < src.Rect.Max.Y; y++ {
		for x := src.Rect.Min.X; x < src.Rect.Max.X; x++ {
			dst.Y[dst.YOffset(x, y)] = src.Y[src.YOffset(x, y)]
			ci, di := src.COffset(x, y), dst.COffset(x, y)
			dst.Cb[di], dst.Cr[di] = src.Cb[ci], src.Cr[ci]
		}
	}
	return dst
}

// loadModel loads m as edgenode does: its directory (or embedded:
// reference), else the embedded model it names: "default", the embedded
// model's name, or a variant's version as a scenario's variant: names it
// (v2-int8 for embedded:edgesim-det/v2-int8).
func loadModel(m Model) (*detector.Model, error) {
	ref := m.Dir
	def, err := detector.Default()
	if err != nil {
		return nil, err
	}
	if ref == "" && slices.Contains(detector.Embedded(), def.Manifest.Name+"/"+m.Name) {
		ref = detector.EmbeddedPrefix + def.Manifest.Name + "/" + m.Name
	}
	model, err := detector.LoadOrDefault(ref)
	if err != nil {
		return nil, err
	}
	if ref == "" && m.Name != "default" && m.Name != model.Manifest.Name {
		return nil, fmt.Errorf("model %q is not the embedded model (%s %s) nor one of its embedded variants (%s): give its directory", m.Name,
			model.Manifest.Name, model.Manifest.Version, strings.Join(detector.Embedded(), ", "))
	}
	return model, nil
}

// warmUp is how many frames each worker infers before measuring.
const warmUp = 2

// measureInference runs workers runners of the model concurrently, each
// cycling through images, and records every inference's wall time (the
// Detect call edgenode's pipeline times) until n are recorded. Only
// inferences that ended while every worker was still busy count: those
// still running when the n-th ended are dropped. With a positive idle,
// each worker waits that long before each inference.
func measureInference(ctx context.Context, m Model, workers, n int, idle time.Duration, images []*image.YCbCr, stage string, progress ProgressFunc) ([]float64, error) {
	if len(images) == 0 {
		return nil, errors.New("no decoded frames to infer on")
	}
	model, err := loadModel(m)
	if err != nil {
		return nil, err
	}
	runners := make([]*detector.Runner, workers)
	for i := range runners {
		if runners[i], err = model.NewRunner(); err != nil {
			return nil, err
		}
		defer runners[i].Close()
	}
	var (
		mu      sync.Mutex
		times   []float64
		stopped atomic.Bool
		wg      sync.WaitGroup
		errs    = make([]error, workers)
		ready   sync.WaitGroup
		start   = make(chan struct{})
	)
	ready.Add(workers)
	for w := range workers {
		wg.Go(func() {
			r := runners[w]
			for i := range warmUp {
				if _, err := r.Detect(images[(w+i*workers)%len(images)]); err != nil {
					errs[w] = err
				}
			}
			ready.Done()
			<-start
			for i := w; errs[w] == nil && !stopped.Load() && ctx.Err() == nil; i += workers {
				if idle > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(idle):
					}
				}
				t0 := time.Now()
				_, err := r.Detect(images[i%len(images)])
				d := time.Since(t0)
				if err != nil {
					errs[w] = err
					stopped.Store(true)
					break
				}
				mu.Lock()
				if !stopped.Load() {
					times = append(times, seconds(d))
					if len(times) >= n {
						stopped.Store(true)
					}
					if len(times)%5 == 0 || len(times) == n {
						progress.report(stage, len(times), n)
					}
				}
				mu.Unlock()
			}
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return times, nil
}
