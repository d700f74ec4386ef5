package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/cmd/edgenode/internal/dataset"
	"github.com/edgesim/edgesim/runtime/detector"
)

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
		variety   float64
		initDir   string
		oodN      int
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
			if !(variety >= 0 && variety <= 1) {
				return fmt.Errorf("train: --variety %v: give a fraction of the training cameras between 0 and 1", variety)
			}
			var m *detector.Model
			var err error
			var parent string
			if initDir != "" {
				// fine-tune: start from a trained model's weights
				if m, err = detector.Load(initDir); err != nil {
					return err
				}
				parent = fmt.Sprintf("%s (sha256 %.12s)", m.Manifest.ID(), m.Manifest.SHA256)
				man := m.Manifest
				man.Version, man.Threshold = version, threshold
				man.Evaluation, man.EvalData = nil, "" // the parent's figures are not this model's
				if m, err = m.WithManifest(man); err != nil {
					return err
				}
			} else {
				cfg := detector.DefaultConfig()
				cfg.Version = version
				cfg.Threshold = threshold
				if m, err = detector.NewModel(cfg, seed); err != nil {
					return err
				}
			}
			w := streams.ErrOut
			fmt.Fprintf(w, "training %s: %d parameters, %.1f MFLOP per frame, %d steps x %d frames, %d training cameras\n",
				m.Manifest.ID(), m.ParamCount(), float64(m.FLOPs())/1e6, steps, batch, cameras)
			src := dataset.Train(seed, cameras, variety)
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
			man.Training.Data = fmt.Sprintf("fakecam/scene %dx%d, seed %d, cameras train-0..train-%d (street/parking/indoor, day/night alternating), %d frames each drawn from the first %d", dataset.Width, dataset.Height, seed, cameras-1, steps*batch/cameras, dataset.Frames)
			if variety > 0 {
				man.Training.Data += fmt.Sprintf("; %.0f%% of the cameras placed by a random training-range scene variant", 100*variety)
			}
			if parent != "" {
				man.Training.Data += "; fine-tuned from " + parent
			}
			man.Training.Duration = res.Duration.Round(time.Second).String()
			if trained, err = trained.WithManifest(man); err != nil {
				return err
			}
			fmt.Fprintf(w, "trained in %s, loss %.4f -> %.4f; evaluating on %d held-out frames\n", res.Duration.Round(time.Second), res.FirstLoss, res.FinalLoss, evalN)
			if evalN > 0 {
				evs, err := evaluate(cmd.Context(), trained, evalSeed, evalN, oodN)
				if err != nil {
					return err
				}
				printEval(streams.Out, trained, evs)
				man = trained.Manifest
				man.Evaluation = flattenEval(evs)
				man.EvalData = evalDataDescription(evalSeed, evalN, oodN)
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
	f.IntVar(&oodN, "ood-frames", 600, "out-of-distribution held-out frames evaluated after training (0 to skip)")
	f.Float64Var(&variety, "variety", 0, "fraction of training cameras placed by a random scene variant (ground, tilt, camera height, light); 0 = built-in layouts only")
	f.StringVar(&initDir, "init", "", "start from this model directory's weights (fine-tune) instead of random weights")
	f.IntVar(&ckEvery, "checkpoint-every", 0, "write a checkpoint model to <out>/checkpoint every N steps (0 for never); removed when training ends")
	f.IntVar(&logEvery, "log-every", 50, "print progress every N steps (0 for never)")
	return cmd
}
