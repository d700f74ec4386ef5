// Package dataset defines the synthetic data sets of the detector: training
// frames and the two held-out evaluation sets, all rendered by fakecam's
// scene generator, and the evaluation that `edgenode eval` prints and CI
// gates.
//
// Training and evaluation never share a camera: training uses the training
// seed and camera ids "train-<n>"; the in-distribution set uses scene seed
// EvalSeedBase+seed and ids "eval-<n>" (the backgrounds' built-in layouts,
// new colours, buildings, tracks and noise); the out-of-distribution set
// uses scene seed OODSeedBase+seed and ids "ood-<n>", and every one of its
// cameras is placed by its own scene.Variant (ground plane shifted and
// tilted, camera higher or lower, dusk or glare), so its layouts differ from
// anything training rendered.
package dataset

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/runtime/detector"
)

// Frames of every set.
const (
	Width  = 640
	Height = 360
	FPS    = 10
	Frames = 6000 // frame indices drawn from the first 10 minutes of each camera

	EvalSeedBase = 1_000_000
	OODSeedBase  = 2_000_000
	EvalCameras  = 60 // cameras of each evaluation set

	// Ground truth that a detector is neither rewarded nor penalised for.
	IgnoreOcclusion = 0.6 // more than this fraction hidden
	IgnoreMinSide   = 12  // boxes thinner or shorter than this (pixels of the 640x360 frame)
)

// OODPrefix starts the split names of the out-of-distribution set in an
// evaluation ("ood", "ood-night", "ood-street", ...).
const OODPrefix = "ood"

var backgrounds = []string{scene.BackgroundStreet, scene.BackgroundParking, scene.BackgroundIndoor}

// Source adapts fakecam scenes to a detector.Source: sample i is a frame of
// camera i%cameras at a frame index drawn from (seed, prefix, i).
type Source struct {
	seed    int64
	prefix  string
	cameras int
	variant func(r *rand.Rand, night bool) scene.Variant // nil: built-in layouts

	mu     sync.Mutex
	scenes map[int]*scene.Scene
}

// Train returns the training set of seed: cameras "train-<n>". A fraction
// variety (0..1) of them is placed by a random Variant drawn from the
// training range (TrainVariant).
func Train(seed int64, cameras int, variety float64) *Source {
	s := newSource(seed, "train", cameras)
	if variety > 0 {
		s.variant = func(r *rand.Rand, night bool) scene.Variant {
			if r.Float64() >= variety {
				return scene.Variant{}
			}
			return TrainVariant(r, night)
		}
	}
	return s
}

// InDistribution returns the held-out set with the built-in layouts.
func InDistribution(seed int64) *Source { return newSource(EvalSeedBase+seed, "eval", EvalCameras) }

// OOD returns the out-of-distribution held-out set: every camera has its
// own OODVariant.
func OOD(seed int64) *Source {
	s := newSource(OODSeedBase+seed, "ood", EvalCameras)
	s.variant = OODVariant
	return s
}

func newSource(seed int64, prefix string, cameras int) *Source {
	return &Source{seed: seed, prefix: prefix, cameras: cameras, scenes: map[int]*scene.Scene{}}
}

func signed(r *rand.Rand, lo, hi float64) float64 {
	v := lo + (hi-lo)*r.Float64()
	if r.IntN(2) == 0 {
		return -v
	}
	return v
}

func either(r *rand.Rand, a, b [2]float64) float64 {
	x := a
	if r.IntN(2) == 1 {
		x = b
	}
	return x[0] + (x[1]-x[0])*r.Float64()
}

// TrainVariant draws a camera placement for training, over the same
// ranges as the OOD set's (OODVariant) but uniformly: ground shifted by up
// to 12% of the height, tilt -0.25..0.3, camera height 0.65..1.5, light
// 0.4..1.4 (night 0.6..1.4). Training cameras have their own seed and ids,
// so no OOD camera's placement, background or track is ever rendered.
func TrainVariant(r *rand.Rand, night bool) scene.Variant {
	v := scene.Variant{
		Horizon:      signed(r, 0, 0.12),
		Tilt:         -0.25 + 0.55*r.Float64(),
		CameraHeight: 0.65 + 0.85*r.Float64(),
		Light:        0.4 + r.Float64(),
	}
	if night {
		v.Light = 0.6 + 0.8*r.Float64()
	}
	return v
}

// OODVariant draws a camera placement for the OOD set, always away from the
// built-in layout on every axis: ground shifted by 6-12% of the height, tilt -0.25..0.3, camera height 0.65..0.8 or 1.25..1.5, light
// 0.4..0.6 or 1.25..1.4 by day, 0.6..0.75 or 1.25..1.4 at night.
func OODVariant(r *rand.Rand, night bool) scene.Variant {
	v := scene.Variant{
		Horizon:      signed(r, 0.06, 0.12),
		Tilt:         -0.25 + 0.55*r.Float64(),
		CameraHeight: either(r, [2]float64{0.65, 0.8}, [2]float64{1.25, 1.5}),
		Light:        either(r, [2]float64{0.4, 0.6}, [2]float64{1.25, 1.4}),
	}
	if night {
		v.Light = either(r, [2]float64{0.6, 0.75}, [2]float64{1.25, 1.4})
	}
	return v
}

// CameraConfig is the scene of camera cam: backgrounds rotate, every other
// triple of cameras is at night, object counts vary per camera.
func (s *Source) CameraConfig(cam int) scene.Config {
	rng := rand.New(rand.NewPCG(uint64(s.seed), uint64(cam)+0x5ce1e))
	bg := backgrounds[cam%len(backgrounds)]
	cfg := scene.Config{
		Width: Width, Height: Height, FPS: FPS,
		Background: bg, Night: (cam/len(backgrounds))%2 == 1,
		Seed: s.seed, CameraID: fmt.Sprintf("%s-%d", s.prefix, cam),
		People: 1 + rng.IntN(5), Vehicles: rng.IntN(4),
	}
	if bg == scene.BackgroundIndoor {
		cfg.Vehicles = rng.IntN(2)
		cfg.People++
	}
	if s.variant != nil {
		// its own stream, so the object counts above stay as without variants
		cfg.Variant = s.variant(rand.New(rand.NewPCG(uint64(s.seed), uint64(cam)+0x7a1a)), cfg.Night)
	}
	return cfg
}

func (s *Source) scene(cam int) (*scene.Scene, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scenes[cam]; ok {
		return sc, nil
	}
	sc, err := scene.New(s.CameraConfig(cam))
	if err != nil {
		return nil, err
	}
	s.scenes[cam] = sc
	return sc, nil
}

// Sample renders sample i with its ground truth, tagged with the background
// and "day" or "night".
func (s *Source) Sample(_ context.Context, i int) (detector.Sample, error) {
	cam := i % s.cameras
	sc, err := s.scene(cam)
	if err != nil {
		return detector.Sample{}, err
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", s.seed, s.prefix, i)
	f := sc.Render(int(h.Sum64() % Frames))
	cfg := sc.Config()
	smp := detector.Sample{Image: f.Image, Tags: []string{cfg.Background}}
	if cfg.Night {
		smp.Tags = append(smp.Tags, "night")
	} else {
		smp.Tags = append(smp.Tags, "day")
	}
	for _, o := range f.Objects {
		smp.Boxes = append(smp.Boxes, detector.Box{
			Label:  o.Label,
			Rect:   o.Box,
			Ignore: o.Occlusion > IgnoreOcclusion || o.Box.Dx() < IgnoreMinSide || o.Box.Dy() < IgnoreMinSide,
		})
	}
	return smp, nil
}

// Describe says what n samples of s are.
func (s *Source) Describe(n int) string {
	what := "built-in layouts"
	if s.prefix == "ood" {
		what = "a camera placement of its own per camera (ground shifted 6-12%, tilt, camera height, dusk or glare)"
	}
	return fmt.Sprintf("%d frames of fakecam/scene %dx%d, seed %d, cameras %s-0..%s-%d, %s (never used in training); ignored: occlusion > %.1f or a side < %d px",
		n, Width, Height, s.seed, s.prefix, s.prefix, min(n, s.cameras)-1, what, IgnoreOcclusion, IgnoreMinSide)
}

// Evaluate runs m on n frames of the in-distribution set and oodN frames of
// the OOD set (0 skips a set) of seed. In-distribution splits are "all",
// "day", "night" and the backgrounds; OOD splits are the same prefixed with
// OODPrefix ("ood" for all of them, "ood-night", ...).
func Evaluate(ctx context.Context, m *detector.Model, seed int64, n, oodN, workers int) (map[string]detector.Evaluation, error) {
	out := map[string]detector.Evaluation{}
	if n > 0 {
		evs, err := detector.EvaluateModel(ctx, m, InDistribution(seed), 0, n, workers)
		if err != nil {
			return nil, err
		}
		for k, v := range evs {
			out[k] = v
		}
	}
	if oodN > 0 {
		evs, err := detector.EvaluateModel(ctx, m, OOD(seed), 0, oodN, workers)
		if err != nil {
			return nil, err
		}
		for k, v := range evs {
			if k == "all" {
				out[OODPrefix] = v
			} else {
				out[OODPrefix+"-"+k] = v
			}
		}
	}
	return out, nil
}
