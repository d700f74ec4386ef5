package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/cmd/edgenode/internal/dataset"
	"github.com/edgesim/edgesim/runtime/detector"
)

func evalDataDescription(seed int64, n, oodN int) string {
	var parts []string
	if n > 0 {
		parts = append(parts, "in-distribution: "+dataset.InDistribution(seed).Describe(n))
	}
	if oodN > 0 {
		parts = append(parts, "out-of-distribution (JSON keys "+dataset.OODPrefix+", "+dataset.OODPrefix+"-night, ...): "+dataset.OOD(seed).Describe(oodN))
	}
	return strings.Join(parts, "\n")
}

func evaluate(ctx context.Context, m *detector.Model, seed int64, n, oodN int) (map[string]detector.Evaluation, error) {
	return dataset.Evaluate(ctx, m, seed, n, oodN, max(1, runtime.GOMAXPROCS(0)))
}

// flattenEval turns evaluations into the manifest's flat figure map.
func flattenEval(evs map[string]detector.Evaluation) map[string]float64 {
	out := map[string]float64{}
	for split, ev := range evs {
		out[split+".map50"] = ev.MAP
		out[split+".precision"] = ev.Precision
		out[split+".recall"] = ev.Recall
		for c, cr := range ev.Classes {
			out[split+".ap50."+c] = cr.AP
		}
	}
	return out
}

func printEval(w io.Writer, m *detector.Model, evs map[string]detector.Evaluation) {
	fmt.Fprintf(w, "model %s, operating threshold %.2f, AP at IoU 0.5\n", m.Manifest.ID(), m.Manifest.Threshold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "set\tsplit\tframes"
	for _, c := range m.Manifest.Classes {
		header += "\tAP50 " + c
	}
	fmt.Fprintln(tw, header+"\tmAP50\tprecision\trecall\tGT")
	// in-distribution rows first, then the OOD rows; all, day, night first in each
	type row struct {
		key, set, split string
		setRank, rank   int
	}
	order := map[string]int{"all": 0, "day": 1, "night": 2}
	rows := make([]row, 0, len(evs))
	for k := range evs {
		r := row{key: k, set: "in-distribution", split: k}
		if k == dataset.OODPrefix {
			r.set, r.split, r.setRank = "out-of-distribution", "all", 1
		} else if rest, ok := strings.CutPrefix(k, dataset.OODPrefix+"-"); ok {
			r.set, r.split, r.setRank = "out-of-distribution", rest, 1
		}
		if o, ok := order[r.split]; ok {
			r.rank = o
		} else {
			r.rank = len(order)
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.setRank != b.setRank {
			return a.setRank < b.setRank
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.split < b.split
	})
	for _, r := range rows {
		ev := evs[r.key]
		line := fmt.Sprintf("%s\t%s\t%d", r.set, r.split, ev.Images)
		gt := 0
		for _, c := range m.Manifest.Classes {
			line += fmt.Sprintf("\t%.3f", ev.Classes[c].AP)
			gt += ev.Classes[c].GT
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%d\n", line, ev.MAP, ev.Precision, ev.Recall, gt)
	}
	tw.Flush()
}

// truthFrame is one entry of truth.json written by --dump.
type truthFrame struct {
	File  string     `json:"file"`
	Tags  []string   `json:"tags"`
	Boxes []truthBox `json:"boxes"`
}

type truthBox struct {
	Label  string `json:"label"`
	Box    [4]int `json:"box"` // x0, y0, x1, y1 pixels
	Ignore bool   `json:"ignore,omitempty"`
}

func dumpEvalSet(ctx context.Context, dir string, seed int64, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := dataset.InDistribution(seed)
	var truth []truthFrame
	for i := 0; i < n; i++ {
		s, err := src.Sample(ctx, i)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%04d-%s.jpg", i, strings.Join(s.Tags, "-"))
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, s.Image, &jpeg.Options{Quality: 90}); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
		tf := truthFrame{File: name, Tags: s.Tags}
		for _, b := range s.Boxes {
			tf.Boxes = append(tf.Boxes, truthBox{Label: b.Label, Box: [4]int{b.Rect.Min.X, b.Rect.Min.Y, b.Rect.Max.X, b.Rect.Max.Y}, Ignore: b.Ignore})
		}
		truth = append(truth, tf)
	}
	js, err := json.MarshalIndent(map[string]any{"data": evalDataDescription(seed, n, 0), "frames": truth}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "truth.json"), append(js, '\n'), 0o644)
}

func newEvalCmd(streams Streams) *cobra.Command {
	var (
		dir    string
		frames int
		seed   int64
		asJSON bool
		dump   string
		oodN   int
		models []string
		qs     int
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a detector model on held-out synthetic scenes (AP@0.5, mAP, precision, recall; in-distribution, night, out-of-distribution)",
		Long: `Evaluate a model on two fixed-seed held-out sets rendered by fakecam's scene
generator, printed as separate rows:

  in-distribution (all, day, night, per background): cameras eval-N, scene
    seed 1000000+--seed, the backgrounds' built-in layouts. The cameras are
    disjoint from the training cameras (train-N, the training seed), but the
    layouts are the ones training saw.
  out-of-distribution (the same splits; JSON keys ood, ood-day, ood-night,
    ...): cameras ood-N, scene seed 2000000+--seed, each placed by its own
    scene variant (ground plane shifted and tilted, camera higher or lower,
    dusk or glare), so its layouts are ones no training camera had. Models
    trained with --variety saw random placements over the same ranges,
    never these.

With --models DIR,DIR,... the models are compared side by side, one row
each: mAP@0.5 on all, night and OOD frames; SingleStream p50/p90 latency
(wall clock and process CPU) on one core (GOMAXPROCS 1, --queries
back-to-back frames); Offline frames/s on one runner per core; parameters,
MFLOP per frame and weights file size; and for a variant (optimize) its
mAP retention and speed-up against its float32 parent, found by the
parent sha256 in its manifest (the embedded model is added when it is
the parent). A model whose manifest does not match its weights is refused.
Speed figures depend on the machine's load (printed); accuracy does not.`,
		Example: `  edgenode eval
  edgenode eval --model runtime/models/edgesim-det/v2 --frames 1000 --seed 2
  edgenode eval --models runtime/models/edgesim-det/v2,runtime/models/edgesim-det/v2-int8 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(models) > 0 {
				if dir != "" || dump != "" {
					return fmt.Errorf("eval: --models compares several models; drop --model/--dump or evaluate one model without --models")
				}
				if frames < 1 || oodN < 0 || qs < 1 {
					return fmt.Errorf("eval: --frames and --queries must be at least 1 and --ood-frames not negative")
				}
				return runCompare(cmd.Context(), streams, models, compareOpts{
					seed: seed, frames: frames, oodN: oodN, queries: qs, frameN: 16,
					workers: max(1, runtime.GOMAXPROCS(0)), now: time.Now, progress: streams.ErrOut,
				}, asJSON)
			}
			m, err := detector.LoadOrDefault(dir)
			if err != nil {
				return err
			}
			if frames < 1 {
				return fmt.Errorf("eval: --frames must be at least 1")
			}
			if dump != "" {
				if err := dumpEvalSet(cmd.Context(), dump, seed, frames); err != nil {
					return err
				}
			}
			if oodN < 0 {
				return fmt.Errorf("eval: --ood-frames must not be negative (0 skips the out-of-distribution set)")
			}
			evs, err := evaluate(cmd.Context(), m, seed, frames, oodN)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"model": m.Manifest.ID(), "data": evalDataDescription(seed, frames, oodN), "results": evs})
			}
			fmt.Fprintln(streams.Out, evalDataDescription(seed, frames, oodN))
			printEval(streams.Out, m, evs)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model directory (manifest.json + weights.bin); default: the embedded model")
	f.IntVar(&frames, "frames", 600, "number of evaluation frames")
	f.IntVar(&oodN, "ood-frames", 600, "number of out-of-distribution evaluation frames (0 skips that set)")
	f.Int64Var(&seed, "seed", 1, "evaluation set seed (scene seeds are 1000000+this and 2000000+this)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.StringSliceVar(&models, "models", nil, "compare these model directories side by side (comma-separated): accuracy, speed, size, retention vs the float32 parent")
	f.IntVar(&qs, "queries", 200, "with --models: SingleStream queries per model (Offline runs twice as many frames)")
	f.StringVar(&dump, "dump", "", "also write the evaluation frames (JPEG, quality 90) and truth.json into this directory")
	return cmd
}
