package app

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/cmd/edgenode/internal/dataset"
	"github.com/edgesim/edgesim/runtime/detector"
)

func newOptimizeCmd(streams Streams) *cobra.Command {
	var (
		method, dir, out, version string
		seed                      int64
		calibN, cameras           int
		variety                   float64
		keep, lr, kdWeight        float64
		channels                  []int
		steps, batch, logEvery    int
	)
	cmd := &cobra.Command{
		Use:   "optimize",
		Short: "Make a smaller or faster variant of a model (int8 quantisation, structured pruning, distillation)",
		Long: `Make a variant of a float32 model directory. The variant is a model
directory of its own whose manifest records its provenance: the parent's
id and sha256, the method and its parameters, the seed of the frames it was
calibrated or trained on, and this command.

  --method int8   post-training quantisation: per-output-channel weight
                  scales, activation ranges calibrated on --calib-frames
                  fakecam training-distribution frames (seed --seed); the
                  variant runs on integer kernels (int8 x int8 -> int32,
                  fixed-point requantisation). Too few frames to bound the
                  activations is an error.
  --method prune  structured pruning: every backbone layer keeps --keep of
                  its output channels (or --channels N,N,...), those whose
                  filters have the largest L1 norm; the next layer's inputs
                  are cut to match. Then fine-tuned with gorgonia (--steps,
                  --lr) on training-distribution frames of seed --seed.
  --method distill knowledge distillation: a student with --channels
                  N,N,... (initialised by L1-pruning the teacher to that
                  width) is trained with gorgonia on the ground truth plus
                  the teacher's (the parent's) class probabilities, weight
                  --kd-weight.

Compare variants with 'edgenode eval --models DIR,DIR,...'. See docs/model.md.`,
		Example: `  edgenode optimize --method int8 --model runtime/models/edgesim-det/v2 --seed 7 --out runtime/models/edgesim-det/v2-int8`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("optimize: --out is required (the variant's model directory)")
			}
			parent, err := detector.LoadOrDefault(dir)
			if err != nil {
				return err
			}
			if version == "" {
				version = parent.Manifest.Version + "-" + method
			}
			prov := detector.Provenance{
				CalibrationSeed: seed,
				Command:         "edgenode " + strings.Join(os.Args[1:], " "),
				Parameters: map[string]string{
					"cameras": strconv.Itoa(cameras), "variety": strconv.FormatFloat(variety, 'g', -1, 64),
				},
			}
			var variant *detector.Model
			switch method {
			case detector.MethodInt8:
				prov.Parameters["calib-frames"] = strconv.Itoa(calibN)
				src := dataset.Train(seed, cameras, variety)
				if variant, err = detector.Quantize(cmd.Context(), parent, src, calibN, prov); err != nil {
					return err
				}
			case detector.MethodPrune, detector.MethodDistill:
				if variant, err = shrink(cmd, streams, parent, method, shrinkOpts{
					keep: keep, channels: channels, steps: steps, batch: batch, lr: lr, kdWeight: kdWeight,
					seed: seed, cameras: cameras, variety: variety, logEvery: logEvery,
				}, prov); err != nil {
					return err
				}
			default:
				return fmt.Errorf("optimize: --method %q: give %s, %s or %s", method, detector.MethodInt8, detector.MethodPrune, detector.MethodDistill)
			}
			man := variant.Manifest
			man.Version = version
			if variant, err = variant.WithManifest(man); err != nil {
				return err
			}
			saved, err := variant.Save(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "wrote %s (%s, %s, %d parameters, %.1f MFLOP per frame, weights %d bytes, sha256 %s)\n",
				out, saved.ID(), method, variant.ParamCount(), float64(variant.FLOPs())/1e6, variant.WeightsSize(), saved.SHA256)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&method, "method", "", "int8, prune or distill")
	f.StringVar(&dir, "model", "", "parent model directory (float32); default: the embedded model")
	f.StringVar(&out, "out", "", "variant model directory to write")
	f.StringVar(&version, "version", "", "version written into the variant's manifest (default <parent version>-<method>)")
	f.Int64Var(&seed, "seed", 7, "seed of the calibration/training frames (fakecam training cameras train-N of this seed)")
	f.IntVar(&calibN, "calib-frames", 256, fmt.Sprintf("int8: calibration frames (at least %d)", detector.MinCalibrationFrames))
	f.IntVar(&cameras, "cameras", 240, "number of distinct synthetic cameras the frames come from")
	f.Float64Var(&variety, "variety", 0.7, "fraction of those cameras placed by a random scene variant (as the parent's training)")
	f.Float64Var(&keep, "keep", 0.6, "prune: fraction of each layer's channels kept (rounded up); ignored when --channels is given")
	f.IntSliceVar(&channels, "channels", nil, "prune/distill: output channels of each backbone layer, e.g. 10,20,14,14,14")
	f.IntVar(&steps, "steps", 600, "prune/distill: gorgonia training steps")
	f.IntVar(&batch, "batch", 16, "prune/distill: frames per step")
	f.Float64Var(&lr, "lr", 1e-3, "prune/distill: peak Adam learning rate")
	f.Float64Var(&kdWeight, "kd-weight", 1, "distill: weight of the teacher term against the ground-truth heat-map loss")
	f.IntVar(&logEvery, "log-every", 50, "prune/distill: print progress every N steps (0 for never)")
	return cmd
}

type shrinkOpts struct {
	keep, lr, kdWeight, variety     float64
	channels                        []int
	steps, batch, cameras, logEvery int
	seed                            int64
}

// shrink prunes the parent to fewer channels and trains the result with
// gorgonia: fine-tuning on the ground truth (prune) or with the parent as
// teacher (distill).
func shrink(cmd *cobra.Command, streams Streams, parent *detector.Model, method string, o shrinkOpts, prov detector.Provenance) (*detector.Model, error) {
	bb := parent.Manifest.Backbone
	ch := o.channels
	if len(ch) == 0 {
		if method == detector.MethodDistill {
			return nil, fmt.Errorf("optimize: --method distill needs the student's --channels N,N,... (%d layers)", len(bb))
		}
		if !(o.keep > 0 && o.keep <= 1) {
			return nil, fmt.Errorf("optimize: --keep %v: give a fraction in (0, 1]", o.keep)
		}
		for _, l := range bb {
			ch = append(ch, int(math.Ceil(o.keep*float64(l.Out))))
		}
	}
	small, err := detector.Prune(parent, ch)
	if err != nil {
		return nil, err
	}
	chs := make([]string, len(ch))
	for i, c := range ch {
		chs[i] = strconv.Itoa(c)
	}
	prov.Parameters["channels"] = strings.Join(chs, ",")
	prov.Parameters["criterion"] = detector.PruneCriterion
	prov.Parameters["steps"] = strconv.Itoa(o.steps)
	prov.Parameters["batch"] = strconv.Itoa(o.batch)
	prov.Parameters["lr"] = strconv.FormatFloat(o.lr, 'g', -1, 64)
	opts := []detector.TrainOption{
		detector.WithSteps(o.steps), detector.WithBatchSize(o.batch), detector.WithLearnRate(o.lr),
		detector.WithWorkers(max(1, runtime.GOMAXPROCS(0))),
		detector.WithProgress(func(p detector.Progress) {
			if o.logEvery > 0 && (p.Step%o.logEvery == 0 || p.Step == p.Steps) {
				fmt.Fprintf(streams.ErrOut, "step %d/%d loss %.4f (heat %.4f, box %.4f) lr %.2g elapsed %s\n",
					p.Step, p.Steps, p.Loss, p.HeatLoss, p.BoxLoss, p.LearnRate, p.Elapsed.Round(time.Second))
			}
		}),
	}
	if method == detector.MethodDistill {
		prov.Parameters["kd-weight"] = strconv.FormatFloat(o.kdWeight, 'g', -1, 64)
		prov.Parameters["student-init"] = "L1-pruned teacher"
		opts = append(opts, detector.WithTeacher(parent, o.kdWeight))
	}
	fmt.Fprintf(streams.ErrOut, "%s: %d -> %d parameters, %.1f -> %.1f MFLOP per frame; training %d steps x %d frames\n",
		method, parent.ParamCount(), small.ParamCount(), float64(parent.FLOPs())/1e6, float64(small.FLOPs())/1e6, o.steps, o.batch)
	// the training seed of the variant is the frames' seed (flips too)
	man := small.Manifest
	man.TrainingSeed = o.seed
	if small, err = small.WithManifest(man); err != nil {
		return nil, err
	}
	trained, res, err := detector.Train(cmd.Context(), small, dataset.Train(o.seed, o.cameras, o.variety), opts...)
	if err != nil {
		return nil, err
	}
	man = trained.Manifest
	prov.ParentID, prov.ParentSHA256, prov.Method = parent.Manifest.ID(), parent.Manifest.SHA256, method
	prov.CalibrationFrames = o.steps * o.batch
	man.Provenance = &prov
	man.Training.Command = prov.Command
	man.Training.Duration = res.Duration.Round(time.Second).String()
	man.Training.Data = fmt.Sprintf("fakecam/scene %dx%d, seed %d, cameras train-0..train-%d, %.0f%% placed by a random training-range scene variant; %s from %s (sha256 %.12s)",
		dataset.Width, dataset.Height, o.seed, o.cameras-1, 100*o.variety, method, parent.Manifest.ID(), parent.Manifest.SHA256)
	return trained.WithManifest(man)
}
