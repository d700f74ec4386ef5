package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/render"
	"github.com/edgesim/edgesim/plan/validate"
	runreport "github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/testbed"
)

// newPlanCmd is `edgesim plan`: it runs a plan file, and is the parent of
// the plan subcommands (merge, job; calibrate adds itself with
// cmd.AddCommand(newPlanCalibrateCmd(streams))).
func newPlanCmd(streams Streams) *cobra.Command {
	var o planOpts
	cmd := &cobra.Command{
		Use:   "plan PLAN.yaml",
		Short: "Size a fleet: sweep a scenario through the fleet simulator and write a capacity report",
		Long: `plan answers how much hardware and uplink a fleet needs. A plan file
(kind: Plan) names a scenario and the values to sweep: cameras per edge
node, nodes per site, hardware class, detect fps, WAN link, placement and
model. Every combination of the other dimensions is a curve; each curve is
simulated at every cameras-per-node value by the fleet simulator, with the
costs of a calibration file (measured by "edgesim plan calibrate"), and
checked against the objectives (the plan's, or the scenario's SLOs).

It writes <out>/report.json (kind CapacityReport): per curve the figures of
every point and the knee (the most cameras per node that, with every
smaller value, meets every objective) per site type; per site type the
uplink per site at the knee, the smallest cloud tier for cloud placement
and, with nodeLoss: true, a node loss with and without a spare node.

The simulator never extrapolates: a class, model, resolution or bitrate
the calibration does not hold is an error naming the command that measures
it. A calibration that is a test fixture or from another machine or
edgesim version is used with a warning in the report.

Beyond one machine: --shard i/N simulates one slice of the work and writes
<out>/shard-i-of-N.json; "edgesim plan merge" combines the N shard files
into the report one process writes, byte for byte apart from the run
statistics and the time. "edgesim plan job" prints a Kubernetes Indexed Job
that runs the shards and merges them.

Progress (simulations done of all, ETA) shows on a terminal; nothing is
printed while running otherwise.`,
		Example: `  # size the example fleet: 1,000 stores, 100,000 cameras
  edgesim plan scenarios/examples/plan-fleet.yaml --out plan-fleet

  # another calibration and seed than the plan names
  edgesim plan my-plan.yaml --calibration calib/this-machine.yaml --seed 7

  # three machines, one shard each, then merge
  edgesim plan my-plan.yaml --shard 0/3 --out shards   # on machine 0
  edgesim plan my-plan.yaml --shard 1/3 --out shards   # on machine 1
  edgesim plan my-plan.yaml --shard 2/3 --out shards   # on machine 2
  edgesim plan merge shards --out report

  # the same on a Kubernetes cluster
  edgesim plan job my-plan.yaml --shards 8 --image edgesim:dev | kubectl apply -f -`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("plan needs one plan file, e.g. edgesim plan scenarios/examples/plan-fleet.yaml (see edgesim plan --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd, streams, args[0], o)
		},
	}
	cmd.Flags().StringVarP(&o.out, "out", "o", "", "directory for report.json (or the shard file); default plan-<plan name>")
	cmd.Flags().StringVar(&o.shard, "shard", "", "simulate shard i of N (0-based, e.g. 0/3) and write a shard file for edgesim plan merge")
	cmd.Flags().Int64Var(&o.seed, "seed", 0, "seed of every random draw (default: the plan's, else the scenario's)")
	cmd.Flags().StringVar(&o.calibration, "calibration", "", "calibration file (default: the plan's spec.calibration)")
	cmd.Flags().BoolVar(&o.validate, "validate", false, "also run chosen points both ways, emulated on the local provider (root, real time) and simulated, and add the error table to the report; exits 1 when a figure misses its target")
	cmd.Flags().IntVar(&o.validateRepeat, "validate-repeat", 1, "emulate each validated point this many times and compare the simulation with their pooled figures (one 30-s run of a point scatters by about ±12 % in latency on an idle 2-core host); the table gives the single runs' range")
	cmd.Flags().IntVar(&o.validateSimRuns, "validate-sim-runs", validate.DefaultSimRuns, "simulate each validated point this many times, under the seed and the ones after it, and pool them: the simulator's prediction is the distribution over seeds, and one light point's p95 moves by several per cent from one seed to the next")
	cmd.Flags().IntSliceVar(&o.validatePoints, "validate-points", nil, fmt.Sprintf("cameras per node to validate (default: the swept values whose scenario has at most %d cameras, what this machine emulates in real time)", validate.MaxEmulatedCameras))
	cmd.Flags().StringVar(&o.edgenode, "edgenode", "", "edgenode binary for --validate (default: next to edgesim, then $PATH)")
	cmd.Flags().StringVar(&o.results, "results", "edgesim-report", "directory of the emulated runs' results for --validate")
	cmd.AddCommand(newPlanCalibrateCmd(streams), newPlanMergeCmd(streams), newPlanJobCmd(streams))
	return cmd
}

type planOpts struct {
	out, shard, calibration string
	seed                    int64
	validate                bool
	validatePoints          []int
	validateRepeat          int
	validateSimRuns         int
	edgenode, results       string
}

func runPlan(cmd *cobra.Command, streams Streams, file string, o planOpts) error {
	p, err := plan.LoadPlan(file)
	if err != nil {
		return err
	}
	calPath := o.calibration
	if calPath == "" {
		calPath = p.Calibration
	}
	if calPath == "" {
		return fmt.Errorf("%s names no calibration: add spec.calibration or pass --calibration FILE (made by %s)", file, plan.CalibrateCommand)
	}
	cal, err := plan.LoadCalibration(calPath)
	if err != nil {
		return err
	}
	opt := plan.RunOptions{CalibrationPath: relPath(calPath), Commit: buildCommit()}
	opt.Host, _ = os.Hostname()
	if cmd.Flags().Changed("seed") {
		opt.Seed = &o.seed
	}
	if o.shard != "" {
		if opt.Shard, err = parseShard(o.shard); err != nil {
			return err
		}
	}
	if o.validate && opt.Shard != nil {
		return errors.New("--validate runs on one machine: validate the whole plan (without --shard), or merge the shards first")
	}
	if o.validateRepeat < 1 {
		return ExitError{Code: 2, Err: fmt.Errorf("--validate-repeat %d: emulate each point at least once", o.validateRepeat)}
	}
	if o.validateSimRuns < 1 {
		return ExitError{Code: 2, Err: fmt.Errorf("--validate-sim-runs %d: simulate each point at least once", o.validateSimRuns)}
	}
	prog := newPlanProgress(streams.ErrOut)
	opt.Progress = prog.update
	rep, err := plan.RunPlan(cmd.Context(), p, cal, opt)
	prog.done()
	if err != nil {
		return err
	}
	var missed *ExitError
	if o.validate {
		if missed, err = validatePlan(cmd, streams, p, cal, rep, o); err != nil {
			return err
		}
	}
	out := o.out
	if out == "" {
		out = "plan-" + p.Name
	}
	if rep.Shard != nil {
		path := filepath.Join(out, fmt.Sprintf("shard-%d-of-%d.json", rep.Shard.Index, rep.Shard.Count))
		if err := writeJSON(path, rep); err != nil {
			return err
		}
		_, err = fmt.Fprintf(streams.Out, "shard %d/%d: %d simulations in %s (%.1f CPU s, peak RSS %d MiB): %s\nmerge all %d with: edgesim plan merge %s\n",
			rep.Shard.Index, rep.Shard.Count, rep.Stats.Points, rep.Stats.Wall.Round(time.Millisecond), rep.Stats.CPUSeconds,
			rep.Stats.PeakRSSBytes>>20, path, rep.Shard.Count, out)
		return err
	}
	if err := writeReport(streams.Out, out, rep); err != nil {
		return err
	}
	if missed != nil {
		return *missed
	}
	return nil
}

// validatePlan emulates and simulates the plan's scenario at the chosen
// points, prints the table and puts it into the report. missed is the exit
// error to return once the report is written when a figure missed its
// target; err ends the command at once.
func validatePlan(cmd *cobra.Command, streams Streams, p *plan.Plan, cal *plan.Calibration, rep *plan.CapacityReport, o planOpts) (missed *ExitError, err error) {
	points := o.validatePoints
	if len(points) == 0 {
		if points = validate.DefaultPoints(p, validate.MaxEmulatedCameras); len(points) == 0 {
			return nil, fmt.Errorf("--validate: every swept cameras-per-node value gives %s more than %d cameras, more than this machine emulates in real time: choose smaller ones with --validate-points", p.Scenario.Name, validate.MaxEmulatedCameras)
		}
	}
	bins, err := binaries(o.edgenode)
	if err != nil {
		return nil, err
	}
	sc := p.Scenario
	if rep.Seed != 0 && rep.Seed != sc.Seed {
		c := *sc
		c.Seed = rep.Seed
		sc = &c
	}
	res, err := validate.Run(cmd.Context(), sc, points, validate.Options{Calibration: cal, Repeat: o.validateRepeat, SimRuns: o.validateSimRuns,
		// each emulated point's report beside its results: its samples.json is
		// what plan calibrate --in-situ-from and --failover-from read
		Testbed:  testbed.Options{ResultsDir: o.results, Binaries: bins, Report: runreport.WriteEvery},
		Progress: func(line string) { fmt.Fprintln(streams.ErrOut, line) }})
	if err != nil {
		return nil, err
	}
	if err := validate.Attach(rep, sc, cal, res); err != nil {
		return nil, err
	}
	if err := printValidation(streams.Out, res.Validation); err != nil {
		return nil, err
	}
	if n := missedTargets(res.Validation); n > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("validation: %d of %d figures are outside their targets or not exercised (see the table above and the report)", n, len(res.Validation.Rows))}, nil
	}
	return nil, nil
}

// missedTargets counts the rows that have a target and do not meet it.
func missedTargets(v *plan.Validation) int {
	n := 0
	for _, r := range v.Rows {
		if r.Target > 0 && !r.Met {
			n++
		}
	}
	return n
}

// printValidation prints the validation table: per row the figure both
// ways, the error and the verdict.
func printValidation(w io.Writer, v *plan.Validation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tCAMERAS/NODE\tSITE\tFIGURE\tEMULATED\tSIMULATED\tERROR\tTARGET\tVERDICT")
	for _, r := range v.Rows {
		errText, target := fmt.Sprintf("%.3g %s", r.Error, r.Unit), fmt.Sprintf("%.3g %s", r.Target, r.Unit)
		if r.ErrorKind == plan.ErrorRelative {
			errText, target = fmt.Sprintf("%.1f%%", 100*r.Error), fmt.Sprintf("%.0f%%", 100*r.Target)
		}
		if r.Target == 0 {
			target = "-"
		}
		verdict := "met"
		switch {
		case !r.Exercised:
			verdict, errText = "not exercised", "-"
		case r.Target == 0:
			verdict = "reported"
		case !r.Met:
			verdict = "MISSED"
		}
		if r.Note != "" {
			verdict += " (" + r.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.4g\t%.4g\t%s\t%s\t%s\n", r.Scenario, r.CamerasPerNode, r.Site, r.Figure, r.Emulated, r.Simulated, errText, target, verdict)
	}
	return tw.Flush()
}

// writeReport writes report.json and the renderings, and summarises.
func writeReport(w io.Writer, out string, rep *plan.CapacityReport) error {
	files, err := render.WriteAll(out, rep)
	if err != nil {
		return err
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	for _, c := range rep.Capacity {
		for _, k := range c.Knees {
			fmt.Fprintf(w, "%s: knee %d cameras per node (%s placement, %s, %s, detect %g fps, link %s)\n",
				c.Type, k.CamerasPerNode, k.Key.Placement, k.Key.Hardware, k.Key.Model, k.Key.DetectFPS, k.Key.Link)
		}
	}
	_, err = fmt.Fprintf(w, "%d simulations, %d events in %s (%.1f CPU s, peak RSS %d MiB)\nwrote %s\n", rep.Stats.Points, rep.Stats.Events,
		rep.Stats.Wall.Round(time.Millisecond), rep.Stats.CPUSeconds, rep.Stats.PeakRSSBytes>>20, strings.Join(files, ", "))
	return err
}

func newPlanMergeCmd(streams Streams) *cobra.Command {
	var out string
	var wait time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "merge DIR_OR_FILES...",
		Short: "Merge the shard files of one plan run into its capacity report",
		Long: `merge reads the shard files written by "edgesim plan --shard i/N" (every
shard-*-of-*.json of a directory, or the files given) and writes the
report one process would have written: report.json, identical to a whole
run's apart from its run statistics (the shards' work added up; wall clock
and peak RSS of the largest shard) and its generation time. Every shard
0..N-1 must be there exactly once, all of one run (plan, seed and
calibration).`,
		Example: `  edgesim plan merge shards/ --out report
  edgesim plan merge a/shard-0-of-2.json b/shard-1-of-2.json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("merge needs shard files or a directory of them, e.g. edgesim plan merge shards/")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := mergeShards(cmd, args, wait)
			if err != nil {
				return err
			}
			if out == "" {
				out = "plan-" + rep.Name
			}
			if asJSON {
				if _, err := render.WriteAll(out, rep); err != nil {
					return err
				}
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writeReport(streams.Out, out, rep)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "directory for report.json; default plan-<plan name>")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for every shard file to appear (a merge pod started beside the shard pods)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print report.json on standard output instead of a summary (a pod's log then holds the report)")
	return cmd
}

// mergeShards reads and merges the shard files, waiting for missing ones
// when wait > 0.
func mergeShards(cmd *cobra.Command, args []string, wait time.Duration) (*plan.CapacityReport, error) {
	deadline := time.Now().Add(wait)
	for {
		shards, err := readShards(args)
		var rep *plan.CapacityReport
		if err == nil {
			rep, err = plan.MergeReports(shards)
		}
		if err == nil || wait <= 0 || time.Now().After(deadline) {
			return rep, err
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(5 * time.Second):
		}
	}
}

func readShards(args []string) ([]*plan.CapacityReport, error) {
	var files []string
	for _, a := range args {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(a, "shard-*-of-*.json"))
			if len(m) == 0 {
				return nil, fmt.Errorf("%s holds no shard-*-of-*.json files", a)
			}
			files = append(files, m...)
			continue
		}
		files = append(files, a)
	}
	slices.Sort(files)
	var out []*plan.CapacityReport
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r plan.CapacityReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if r.Kind != plan.CapacityKind || r.APIVersion != plan.CapacityAPIVersion {
			return nil, fmt.Errorf("%s: not a capacity report shard (kind %q, apiVersion %q)", f, r.Kind, r.APIVersion)
		}
		out = append(out, &r)
	}
	return out, nil
}

func parseShard(s string) (*plan.Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	idx, err1 := strconv.Atoi(i)
	cnt, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || cnt < 1 || idx < 0 || idx >= cnt {
		return nil, fmt.Errorf("--shard %q: give i/N with 0 <= i < N, e.g. 0/3", s)
	}
	return &plan.Shard{Index: idx, Count: cnt}, nil
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	// whole or not at all: a merge waiting for shards must never read half
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func relPath(p string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return p
}

// buildCommit is the vcs revision edgesim was built from, "" when unknown.
func buildCommit() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// planProgress redraws "simulations done/total, ETA" on a terminal and
// prints nothing otherwise.
type planProgress struct {
	w     io.Writer
	tty   bool
	drawn bool
}

func newPlanProgress(w io.Writer) *planProgress {
	f, ok := w.(*os.File)
	return &planProgress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *planProgress) update(pr plan.Progress) {
	if !p.tty {
		return
	}
	eta := "-"
	if pr.WorkDone > 0 && pr.WorkTotal > pr.WorkDone {
		left := time.Duration(float64(pr.Elapsed) * (pr.WorkTotal - pr.WorkDone) / pr.WorkDone)
		eta = left.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[Ksimulations %d/%d, %s elapsed, ETA %s: %s", pr.Done, pr.Total, pr.Elapsed.Round(time.Second), eta, pr.Current)
	p.drawn = true
}

func (p *planProgress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func newPlanJobCmd(streams Streams) *cobra.Command {
	var o plan.JobOptions
	var calibration string
	var seed int64
	cmd := &cobra.Command{
		Use:   "job PLAN.yaml --shards N --image IMAGE",
		Short: "Print Kubernetes objects that run a plan's shards as an Indexed Job and merge them",
		Long: `job prints, as one YAML stream for kubectl apply:

  - a ConfigMap <name>-plan holding the plan, its scenario (when it is a
    file of its own) and the calibration;
  - a PersistentVolumeClaim <name>-shards (ReadWriteMany) for the shard
    files, or with --host-path and --node a directory on one node that
    every pod is pinned to (kind, or clusters without ReadWriteMany
    storage; the shards then share that node's CPUs);
  - an Indexed Job <name>-shards of N completions: pod i runs
    "edgesim plan --shard i/N" (i is JOB_COMPLETION_INDEX) and writes
    shard-i-of-N.json to the volume;
  - a Job <name>-merge whose pod waits for all N shard files
    ("edgesim plan merge --wait"), writes report/report.json on the volume
    and prints the report as its log:
      kubectl logs -n edgesim-plan job/<name>-merge > report.json

The image must hold the edgesim binary (at --binary, default /edgesim) and
the libraries it needs (libvpx); pods pull it only when the node lacks it
(imagePullPolicy IfNotPresent), so an image imported into every node
(ctr -n k8s.io images import) needs no registry: the kind provider's image
builder (nodecontainer.BuildImage) makes such an archive, as the cluster
spec testbed/kindprovider/planjob_test.go does. Plans whose links replay
trace files are refused (the job does not ship them). Use a fresh volume
(or delete the old shard files) for every run: the merge takes every
shard file it finds.`,
		Example: `  # 8 shards on a cluster with ReadWriteMany storage
  edgesim plan job scenarios/examples/plan-fleet.yaml --shards 8 --image edgesim:dev | kubectl apply -f -
  kubectl wait -n edgesim-plan --for=condition=complete job/plan-fleet-merge --timeout=2h
  kubectl logs -n edgesim-plan job/plan-fleet-merge > report.json

  # kind: every pod on one worker, shard files in a directory of that node
  edgesim plan job my-plan.yaml --shards 3 --image edgesim:dev \
    --host-path /var/lib/edgesim-plan/my-plan --node kind-worker`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("plan job needs one plan file, e.g. edgesim plan job my-plan.yaml --shards 4 --image edgesim:dev")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := plan.LoadPlan(args[0])
			if err != nil {
				return err
			}
			if calibration == "" {
				calibration = p.Calibration
			}
			if calibration == "" {
				return fmt.Errorf("%s names no calibration: add spec.calibration or pass --calibration FILE", args[0])
			}
			if _, err := plan.LoadCalibration(calibration); err != nil {
				return err
			}
			cal, err := os.ReadFile(calibration)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("seed") {
				o.Seed = &seed
			}
			text, err := plan.JobManifest(p, cal, o)
			if err != nil {
				return err
			}
			_, err = io.WriteString(streams.Out, text)
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Shards, "shards", 0, "number of shards (pods of the Indexed Job)")
	f.StringVar(&o.Image, "image", "", "image holding the edgesim binary")
	f.StringVar(&o.Binary, "binary", "/edgesim", "path of the edgesim binary in the image")
	f.StringVar(&o.Name, "name", "", "prefix of the objects' names (default the plan's name)")
	f.StringVar(&o.Namespace, "namespace", "edgesim-plan", `namespace of the objects ("default" creates no Namespace)`)
	f.IntVar(&o.Parallelism, "parallelism", 0, "shard pods running at once (default all)")
	f.StringVar(&o.StorageClass, "storage-class", "", "StorageClass of the shard volume's claim (default the cluster's)")
	f.StringVar(&o.StorageSize, "storage-size", "1Gi", "size of the shard volume's claim")
	f.StringVar(&o.HostPath, "host-path", "", "keep shard files in this directory of --node instead of a claim")
	f.StringVar(&o.Node, "node", "", "node every pod runs on (with --host-path)")
	f.DurationVar(&o.MergeWait, "merge-wait", 2*time.Hour, "how long the merge pod waits for the shards")
	f.StringVar(&calibration, "calibration", "", "calibration file (default the plan's spec.calibration)")
	f.Int64Var(&seed, "seed", 0, "seed passed to every shard (default the plan's)")
	return cmd
}
