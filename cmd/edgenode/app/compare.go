package app

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgesim/edgesim/cmd/edgenode/internal/dataset"
	"github.com/edgesim/edgesim/runtime/detector"
)

// Accuracy targets of variants against their float32 parent (issue 16;
// MLPerf's 99% rule for quantised models).
const (
	targetRetentionInt8  = 0.99
	targetRetentionSmall = 0.97 // pruned and distilled
	targetSpeedupSmall   = 1.5  // single-core SingleStream p90, parent / variant
)

// compareSets are the mAP columns: split key and label.
var compareSets = []struct{ key, label string }{
	{"all", "all"}, {"night", "night"}, {dataset.OODPrefix, "OOD"},
}

// compareRow is one model of `edgenode eval --models`.
type compareRow struct {
	Dir          string             `json:"dir"`
	Model        string             `json:"model"`
	SHA256       string             `json:"sha256"`
	Method       string             `json:"method"` // fp32, int8, prune, distill
	ParentSHA256 string             `json:"parent_sha256,omitempty"`
	MAP          map[string]float64 `json:"map50"`               // all, night, ood
	Retention    map[string]float64 `json:"retention,omitempty"` // variant / parent, per set
	Parameters   int                `json:"parameters"`
	MFLOP        float64            `json:"mflop_per_frame"`
	FileBytes    int                `json:"weights_file_bytes"`
	// SingleStream on one core (GOMAXPROCS 1): wall-clock and process CPU per query.
	SingleStreamP50Ms    float64 `json:"singlestream_p50_ms"`
	SingleStreamP90Ms    float64 `json:"singlestream_p90_ms"`
	SingleStreamCPUP90Ms float64 `json:"singlestream_cpu_p90_ms"`
	// Speedup is the parent's SingleStream p90 over this model's (0 without a parent).
	Speedup        float64                        `json:"speedup_vs_parent,omitempty"`
	OfflineFPS     float64                        `json:"offline_frames_per_s"`
	OfflineWorkers int                            `json:"offline_workers"`
	Targets        []string                       `json:"targets,omitempty"`
	Evaluation     map[string]detector.Evaluation `json:"evaluation"`
}

type compareOpts struct {
	seed            int64
	frames, oodN    int
	queries, frameN int
	workers         int
	now             func() time.Time
	progress        io.Writer
}

func method(m *detector.Model) string {
	if p := m.Manifest.Provenance; p != nil {
		return p.Method
	}
	return "fp32"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// measureModel fills one row: accuracy on the held-out sets, SingleStream
// on one core, Offline on o.workers runners.
func measureModel(ctx context.Context, dir string, m *detector.Model, frames []image.Image, o compareOpts) (compareRow, error) {
	row := compareRow{Dir: dir, Model: m.Manifest.ID(), SHA256: m.Manifest.SHA256, Method: method(m),
		Parameters: m.ParamCount(), MFLOP: float64(m.FLOPs()) / 1e6, FileBytes: m.WeightsSize(), MAP: map[string]float64{}}
	if p := m.Manifest.Provenance; p != nil {
		row.ParentSHA256 = p.ParentSHA256
	}
	fmt.Fprintf(o.progress, "%s: evaluating accuracy\n", row.Model)
	evs, err := dataset.Evaluate(ctx, m, o.seed, o.frames, o.oodN, o.workers)
	if err != nil {
		return row, err
	}
	row.Evaluation = evs
	for _, s := range compareSets {
		if ev, ok := evs[s.key]; ok {
			row.MAP[s.key] = ev.MAP
		}
	}
	fmt.Fprintf(o.progress, "%s: SingleStream, %d queries on one core\n", row.Model, o.queries)
	prev := runtime.GOMAXPROCS(1)
	wall, cpu, err := detector.SingleStream(m, frames, o.queries, o.now)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		return row, err
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	row.SingleStreamP50Ms = ms(detector.Percentile(wall, 0.5))
	row.SingleStreamP90Ms = ms(detector.Percentile(wall, 0.9))
	row.SingleStreamCPUP90Ms = ms(detector.Percentile(cpu, 0.9))
	fmt.Fprintf(o.progress, "%s: Offline, %d frames on %d runners\n", row.Model, 2*o.queries, o.workers)
	row.OfflineWorkers = o.workers
	if row.OfflineFPS, err = detector.Offline(m, frames, 2*o.queries, o.workers, o.now); err != nil {
		return row, err
	}
	return row, nil
}

// compareModels loads every model (a directory or an embedded:<name>/<version>
// reference; refusing any whose manifest does not match its weights), measures each, and relates variants to their parent
// by the parent's sha256. A parent that is not among dirs but is the
// embedded model is measured too.
func compareModels(ctx context.Context, dirs []string, o compareOpts) ([]compareRow, error) {
	var models []*detector.Model
	have := map[string]bool{}
	for _, d := range dirs {
		m, err := detector.LoadOrDefault(d)
		if err != nil {
			return nil, fmt.Errorf("eval: refusing model %s: %w", d, err)
		}
		models = append(models, m)
		have[m.Manifest.SHA256] = true
	}
	if def, err := detector.Default(); err == nil && !have[def.Manifest.SHA256] {
		for _, m := range models {
			if p := m.Manifest.Provenance; p != nil && p.ParentSHA256 == def.Manifest.SHA256 {
				models = append([]*detector.Model{def}, models...)
				dirs = append([]string{"(embedded)"}, dirs...)
				break
			}
		}
	}
	src := dataset.InDistribution(o.seed)
	var frames []image.Image
	for i := 0; i < o.frameN; i++ {
		s, err := src.Sample(ctx, i)
		if err != nil {
			return nil, err
		}
		frames = append(frames, s.Image)
	}
	rows := make([]compareRow, len(models))
	bySHA := map[string]*compareRow{}
	for i, m := range models {
		r, err := measureModel(ctx, dirs[i], m, frames, o)
		if err != nil {
			return nil, fmt.Errorf("eval: %s: %w", dirs[i], err)
		}
		rows[i] = r
		bySHA[r.SHA256] = &rows[i]
	}
	for i := range rows {
		r := &rows[i]
		p := bySHA[r.ParentSHA256]
		if r.ParentSHA256 == "" || p == nil {
			continue
		}
		r.Retention = map[string]float64{}
		for k, v := range r.MAP {
			if p.MAP[k] > 0 {
				r.Retention[k] = v / p.MAP[k]
			}
		}
		if r.SingleStreamP90Ms > 0 {
			r.Speedup = p.SingleStreamP90Ms / r.SingleStreamP90Ms
		}
		r.Targets = judgeTargets(r)
	}
	return rows, nil
}

// judgeTargets says, per target, whether the variant met it and by how much
// it missed. Retention counts on every set (the smallest of all, night, OOD).
func judgeTargets(r *compareRow) []string {
	minRet, minKey := 2.0, ""
	for _, s := range compareSets {
		if v, ok := r.Retention[s.key]; ok && v < minRet {
			minRet, minKey = v, s.label
		}
	}
	var out []string
	check := func(name string, got, want float64, unit string) {
		if got >= want {
			out = append(out, fmt.Sprintf("%s >= %.2f%s: met (%.3f%s)", name, want, unit, got, unit))
		} else {
			out = append(out, fmt.Sprintf("%s >= %.2f%s: MISSED by %.3f%s (%.3f%s)", name, want, unit, want-got, unit, got, unit))
		}
	}
	switch r.Method {
	case detector.MethodInt8:
		check("mAP retention (lowest set: "+minKey+")", minRet, targetRetentionInt8, "")
	case detector.MethodPrune, detector.MethodDistill:
		check("mAP retention (lowest set: "+minKey+")", minRet, targetRetentionSmall, "")
		check("SingleStream p90 speed-up", r.Speedup, targetSpeedupSmall, "x")
	}
	return out
}

func printCompare(w io.Writer, rows []compareRow, o compareOpts, load [2]string) {
	fmt.Fprintf(w, "held-out sets: %d in-distribution + %d out-of-distribution frames, seed %d (see 'edgenode eval --help')\n", o.frames, o.oodN, o.seed)
	fmt.Fprintf(w, "speed: SingleStream %d queries on 1 core (GOMAXPROCS 1), Offline %d frames on %d runners; %d CPUs; load average %s at start, %s at end\n",
		o.queries, 2*o.queries, o.workers, runtime.NumCPU(), load[0], load[1])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tmethod\tmAP50 all\tnight\tOOD\tretention all/night/OOD\tSS p90 ms\tSS CPU p90 ms\tspeed-up\tOffline f/s\tparams\tMFLOP\tfile KB")
	for _, r := range rows {
		ret, sp := "parent", "-"
		if r.ParentSHA256 != "" {
			ret = "parent " + r.ParentSHA256[:12] + " not measured"
			if r.Retention != nil {
				ret = fmt.Sprintf("%.1f/%.1f/%.1f%%", 100*r.Retention["all"], 100*r.Retention["night"], 100*r.Retention[dataset.OODPrefix])
				sp = fmt.Sprintf("%.2fx", r.Speedup)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%s\t%.1f\t%.1f\t%s\t%.1f\t%d\t%.1f\t%.1f\n",
			r.Model, r.Method, r.MAP["all"], r.MAP["night"], r.MAP[dataset.OODPrefix], ret,
			r.SingleStreamP90Ms, r.SingleStreamCPUP90Ms, sp, r.OfflineFPS, r.Parameters, r.MFLOP, float64(r.FileBytes)/1024)
	}
	tw.Flush()
	for _, r := range rows {
		for _, t := range r.Targets {
			fmt.Fprintf(w, "target %s: %s\n", r.Model, t)
		}
	}
}

func runCompare(ctx context.Context, streams Streams, dirs []string, o compareOpts, asJSON bool) error {
	var load [2]string
	load[0] = loadAvg()
	rows, err := compareModels(ctx, dirs, o)
	if err != nil {
		return err
	}
	load[1] = loadAvg()
	if asJSON {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"data": evalDataDescription(o.seed, o.frames, o.oodN), "cpus": runtime.NumCPU(),
			"singlestream_queries": o.queries, "singlestream_cores": 1, "offline_workers": o.workers,
			"load_average": map[string]string{"start": load[0], "end": load[1]}, "models": rows,
		})
	}
	printCompare(streams.Out, rows, o, load)
	return nil
}
