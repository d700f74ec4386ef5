package app

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/runtime/detector"
)

// Synthetic data sets for the detector. Training and evaluation cameras
// never overlap: training scenes use the training seed and camera ids
// "train-<n>", evaluation scenes use seed evalSeedBase+--seed and camera ids
// "eval-<n>", so no background, object track or noise pattern of the
// evaluation set was ever seen in training.
const (
	dataWidth    = 640
	dataHeight   = 360
	dataFPS      = 10
	dataFrames   = 6000 // frame indices drawn from the first 10 minutes of each camera
	evalSeedBase = 1_000_000

	// Ground truth that a detector is neither rewarded nor penalised for.
	ignoreOcclusion = 0.6 // more than this fraction hidden
	ignoreMinSide   = 12  // boxes thinner or shorter than this (pixels of the 640x360 frame)
)

// sceneSource adapts fakecam scenes to a detector.Source: sample i is a
// frame of camera i%cameras at a frame index drawn from (seed, i).
type sceneSource struct {
	seed    int64
	prefix  string
	cameras int

	mu     sync.Mutex
	scenes map[int]*scene.Scene
}

func newSceneSource(seed int64, prefix string, cameras int) *sceneSource {
	return &sceneSource{seed: seed, prefix: prefix, cameras: cameras, scenes: map[int]*scene.Scene{}}
}

var backgrounds = []string{scene.BackgroundStreet, scene.BackgroundParking, scene.BackgroundIndoor}

// cameraConfig: backgrounds rotate, every other pair of cameras is at
// night, object counts vary per camera.
func (s *sceneSource) cameraConfig(cam int) scene.Config {
	rng := rand.New(rand.NewPCG(uint64(s.seed), uint64(cam)+0x5ce1e))
	bg := backgrounds[cam%len(backgrounds)]
	cfg := scene.Config{
		Width: dataWidth, Height: dataHeight, FPS: dataFPS,
		Background: bg, Night: (cam/len(backgrounds))%2 == 1,
		Seed: s.seed, CameraID: fmt.Sprintf("%s-%d", s.prefix, cam),
		People: 1 + rng.IntN(5), Vehicles: rng.IntN(4),
	}
	if bg == scene.BackgroundIndoor {
		cfg.Vehicles = rng.IntN(2)
		cfg.People++
	}
	return cfg
}

func (s *sceneSource) scene(cam int) (*scene.Scene, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scenes[cam]; ok {
		return sc, nil
	}
	sc, err := scene.New(s.cameraConfig(cam))
	if err != nil {
		return nil, err
	}
	s.scenes[cam] = sc
	return sc, nil
}

func (s *sceneSource) Sample(_ context.Context, i int) (detector.Sample, error) {
	cam := i % s.cameras
	sc, err := s.scene(cam)
	if err != nil {
		return detector.Sample{}, err
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", s.seed, s.prefix, i)
	f := sc.Render(int(h.Sum64() % dataFrames))
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
			Ignore: o.Occlusion > ignoreOcclusion || o.Box.Dx() < ignoreMinSide || o.Box.Dy() < ignoreMinSide,
		})
	}
	return smp, nil
}

func newTrainCmd(streams Streams) *cobra.Command {
	var (
		seed      int64
		steps     int
		batch     int
		lr        float64
		out       string
		cameras   int
		evalN     int
		evalSeed  int64
		logEvery  int
		version   string
		threshold float32
		ckEvery   int
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train the detector on synthetic fakecam scenes and write weights + manifest",
		Long: `Train the person/vehicle detector from scratch on frames rendered by fakecam's
scene generator (day and night; street, parking and indoor), then evaluate it
on held-out cameras and write manifest.json + weights.bin into --out.

The run is reproducible: --seed fixes the initial weights, the training
cameras and frames, and the augmentation.`,
		Example: `  edgenode train --seed 1 --steps 1800 --out runtime/models/edgesim-det/v1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("train: --out is required (e.g. --out runtime/models/edgesim-det/v1)")
			}
			cfg := detector.DefaultConfig()
			cfg.Version = version
			cfg.Threshold = threshold
			m, err := detector.NewModel(cfg, seed)
			if err != nil {
				return err
			}
			w := streams.ErrOut
			fmt.Fprintf(w, "training %s: %d parameters, %.1f MFLOP per frame, %d steps x %d frames, %d training cameras\n",
				m.Manifest.ID(), m.ParamCount(), float64(m.FLOPs())/1e6, steps, batch, cameras)
			src := newSceneSource(seed, "train", cameras)
			var avg float64
			trained, res, err := detector.Train(cmd.Context(), m, src,
				detector.WithSteps(steps), detector.WithBatchSize(batch), detector.WithLearnRate(lr),
				detector.WithWorkers(max(1, runtime.GOMAXPROCS(0))),
				detector.WithCheckpoint(ckEvery, func(step int, m *detector.Model) error {
					dir := filepath.Join(out, "checkpoint")
					if _, err := m.Save(dir); err != nil {
						return err
					}
					fmt.Fprintf(w, "step %d: checkpoint written to %s\n", step, dir)
					return nil
				}),
				detector.WithProgress(func(p detector.Progress) {
					if avg == 0 {
						avg = p.Loss
					}
					avg = 0.95*avg + 0.05*p.Loss
					if logEvery > 0 && (p.Step%logEvery == 0 || p.Step == p.Steps) {
						fmt.Fprintf(w, "step %d/%d loss %.4f (avg %.4f, heat %.4f, box %.4f) lr %.2g elapsed %s\n",
							p.Step, p.Steps, p.Loss, avg, p.HeatLoss, p.BoxLoss, p.LearnRate, p.Elapsed.Round(time.Second))
					}
				}))
			if err != nil {
				return err
			}
			man := trained.Manifest
			man.Training.Command = "edgenode " + strings.Join(os.Args[1:], " ")
			man.Training.Data = fmt.Sprintf("fakecam/scene %dx%d, seed %d, cameras train-0..train-%d (street/parking/indoor, day/night alternating), %d frames each drawn from the first %d", dataWidth, dataHeight, seed, cameras-1, steps*batch/cameras, dataFrames)
			man.Training.Duration = res.Duration.Round(time.Second).String()
			if trained, err = trained.WithManifest(man); err != nil {
				return err
			}
			fmt.Fprintf(w, "trained in %s, loss %.4f -> %.4f; evaluating on %d held-out frames\n", res.Duration.Round(time.Second), res.FirstLoss, res.FinalLoss, evalN)
			if evalN > 0 {
				evs, err := evaluate(cmd.Context(), trained, evalSeed, evalN)
				if err != nil {
					return err
				}
				printEval(streams.Out, trained, evs)
				man = trained.Manifest
				man.Evaluation = flattenEval(evs)
				man.EvalData = evalDataDescription(evalSeed, evalN)
				if trained, err = trained.WithManifest(man); err != nil {
					return err
				}
			}
			saved, err := trained.Save(out)
			if err != nil {
				return err
			}
			if err := os.RemoveAll(filepath.Join(out, "checkpoint")); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "wrote %s (%s, sha256 %s)\n", out, saved.ID(), saved.SHA256)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&seed, "seed", 1, "training seed: initial weights, training cameras, frames and flips")
	f.IntVar(&steps, "steps", 1800, "optimiser steps")
	f.IntVar(&batch, "batch", 16, "frames per step")
	f.Float64Var(&lr, "lr", 2e-3, "peak Adam learning rate (warm-up then cosine decay)")
	f.IntVar(&cameras, "cameras", 240, "number of distinct synthetic training cameras")
	f.StringVar(&out, "out", "", "output model directory (manifest.json + weights.bin)")
	f.StringVar(&version, "version", "v1", "model version written into the manifest")
	f.Float32Var(&threshold, "threshold", 0.35, "operating score threshold written into the manifest")
	f.IntVar(&evalN, "eval-frames", 600, "held-out frames evaluated after training (0 to skip)")
	f.Int64Var(&evalSeed, "eval-seed", 1, "evaluation set seed (scene seed is 1000000+this)")
	f.IntVar(&ckEvery, "checkpoint-every", 0, "write a checkpoint model to <out>/checkpoint every N steps (0 for never); removed when training ends")
	f.IntVar(&logEvery, "log-every", 50, "print progress every N steps (0 for never)")
	return cmd
}
