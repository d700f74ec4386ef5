package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/units"
)

type runFlags struct {
	results  string
	edgenode string
	compare  bool
	plain    bool
	provider providerFlags
	// outside: the scenario's traces and report.dir may leave its directory.
	outside bool
	// metrics is the address of the live metrics endpoint ("" = none).
	metrics string
}

func (f *runFlags) registerPaths(fs *pflag.FlagSet) {
	fs.BoolVar(&f.outside, "allow-outside-paths", false, "let the scenario's trace files and report.dir lie outside the scenario file's directory (absolute paths, .., symbolic links)")
}

func newRunCmd(streams Streams) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [SCENARIO]",
		Short: "Run a scenario end to end and gate on its SLOs",
		Long: `run turns a scenario into a running replica of the fleet: it provisions the
nodes and links, starts edgenode on every cloud and edge node and the
synthetic cameras of every site, injects the scenario's faults on its
timeline, and writes a report into a new directory
<results>/<scenario>-<UTC time>, where <results> is --results, else the
scenario's report.dir (default edgesim-report/<scenario>):

  report.json   versioned results (edgesim.dev/report/v1)
  report.html   self-contained page with plots
  report.md     for a pull-request comment
  junit.xml     one test case per SLO
  samples.json  the raw samples the figures come from (always written)

The first four are the scenario's report.formats (default: all four).

The scenario's spec.provider (or --provider) says what the testbed is made of:

` + runHelp() + `

When the host itself was saturated (CPU, run queue, or the link engine
releasing packets late), every report says so at its top and names the
figures that measured the host rather than the emulated network.

Without SCENARIO it runs the embedded quickstart example. With --compare
(the default) every site's cameras are also streamed to the cloud through a
mirror of the site, so the report shows the uplink cost of edge and cloud
placement side by side.

Exit status: 0 when every SLO holds, 1 when one fails, 2 on an error (an
interrupted run still writes its partial report, marked as such).

Ctrl-C stops the run cleanly: the testbed is torn down (for at most 2
minutes) and the partial report written. A second Ctrl-C stops waiting for
the tear-down. If edgesim is killed, or its tear-down was cut short,
"edgesim clean" removes what it left behind.`,
		Example: `  # the embedded quickstart
  sudo edgesim run

  # a scenario of your own, results under ./out
  sudo edgesim run --results out my-fleet.yaml

  # watch it live: Prometheus scrapes http://127.0.0.1:9464/metrics
  # (deploy/grafana/edgesim.json is a dashboard for it)
  sudo edgesim run --metrics 127.0.0.1:9464 my-fleet.yaml

` + runExamples(),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenario(cmd.Context(), streams, args, f)
		},
	}
	cmd.Flags().StringVar(&f.results, "results", "", `directory for run results (default: the scenario's report.dir, which defaults to edgesim-report/<scenario>)`)
	cmd.Flags().StringVar(&f.edgenode, "edgenode", "", "edgenode binary (default: next to edgesim, then $PATH)")
	cmd.Flags().BoolVar(&f.compare, "compare", true, "also run every site with cloud placement for the edge-vs-cloud comparison")
	cmd.Flags().BoolVar(&f.plain, "plain", false, "plain log lines instead of a live status line, even on a terminal")
	f.registerPaths(cmd.Flags())
	registerMetricsFlag(cmd.Flags(), &f.metrics)
	f.provider.register(cmd.Flags())
	return cmd
}

// loadScenario loads a file, or the embedded quickstart when no file is given.
// With outside, its paths may leave the scenario's directory.
func loadScenario(args []string, outside bool) (*scenarios.Scenario, error) {
	if len(args) == 0 {
		return scenarios.Example("quickstart")
	}
	var opts []scenarios.LoadOption
	if outside {
		opts = append(opts, scenarios.AllowOutsidePaths())
	}
	return scenarios.LoadFile(args[0], opts...)
}

func binaries(edgenode string) (testbed.Binaries, error) {
	self, err := os.Executable()
	if err != nil {
		return testbed.Binaries{}, err
	}
	b := testbed.Binaries{Edgesim: self, Edgenode: edgenode}
	if b.Edgenode == "" {
		b.Edgenode = filepath.Join(filepath.Dir(self), "edgenode")
		if _, err := os.Stat(b.Edgenode); err != nil {
			if p, err := execLookPath("edgenode"); err == nil {
				b.Edgenode = p
			} else {
				return b, errors.New("edgenode binary not found next to edgesim nor on $PATH: build both with `go tool task build` (they land in bin/) or pass --edgenode")
			}
		}
	}
	return b, nil
}

// prepare loads the scenario (or the embedded quickstart), applies the
// provider flags, finds the binaries and returns the run's options.
func (f runFlags) prepare(ctx context.Context, streams Streams, args []string) (*scenarios.Scenario, testbed.Options, error) {
	sc, err := loadScenario(args, f.outside)
	if err != nil {
		var list scenarios.ErrorList
		if errors.As(err, &list) {
			fmt.Fprintln(streams.ErrOut, err)
			return nil, testbed.Options{}, ExitError{Code: 2, Err: errors.New("the scenario is invalid; nothing was started (see edgesim validate)")}
		}
		return nil, testbed.Options{}, err
	}
	if err := f.provider.apply(sc); err != nil {
		return nil, testbed.Options{}, err
	}
	bins, err := binaries(f.edgenode)
	if err != nil {
		return nil, testbed.Options{}, err
	}
	write, err := reportWriter(sc)
	if err != nil {
		return nil, testbed.Options{}, err
	}
	lessGC()
	return sc, testbed.Options{ResultsDir: f.results, Binaries: bins, Compare: f.compare, Providers: f.provider.providers(), Report: write,
		Abort: abortFrom(ctx)}, nil
}

// reportWriter renders a run's result into its directory: the scenario's
// report formats (all four by default) and, always, samples.json: the raw
// samples every figure is computed from, so a report can be recomputed and
// checked (reports.ReadSamples and Analyze). It costs about 370 bytes per
// frame, 1 MB for the quickstart.
func reportWriter(sc *scenarios.Scenario) (func(context.Context, string, *reports.Result) error, error) {
	var formats []render.Format
	for _, f := range sc.Report.Formats {
		fs, err := render.ParseFormats(f)
		if err != nil {
			return nil, err
		}
		formats = append(formats, fs...)
	}
	if len(formats) == 0 {
		formats = []render.Format{render.FormatJSON, render.FormatHTML, render.FormatMarkdown, render.FormatJUnit}
	}
	if !slices.Contains(formats, render.FormatSamples) {
		formats = append(formats, render.FormatSamples)
	}
	return func(ctx context.Context, dir string, r *reports.Result) error {
		return render.WriteAll(ctx, dir, r, formats)
	}, nil
}

func runScenario(ctx context.Context, streams Streams, args []string, f runFlags) error {
	sc, opts, err := f.prepare(ctx, streams, args)
	if err != nil {
		return err
	}
	stopMetrics, err := f.liveMetrics(&opts)
	if err != nil {
		return err
	}
	defer stopMetrics()
	disp := newDisplay(streams.ErrOut, f.plain)
	defer disp.close()
	disp.logf("running %s: %d sites, %d cameras, %s on provider %s", sc.Name, len(sc.Sites), sc.Cameras(), sc.Duration, sc.Provider)
	if f.metrics != "" {
		disp.logf("live metrics at http://%s/metrics", f.metrics)
	}
	opts.Progress = disp.update
	res, err := testbed.Run(ctx, sc, opts)
	disp.close()
	if res != nil && res.Report != nil {
		printSummary(streams.Out, res)
	}
	if err != nil {
		if res != nil && res.Dir != "" {
			fmt.Fprintf(streams.ErrOut, "partial results in %s\n", res.Dir)
		}
		return err
	}
	if code := res.ExitCode(); code != 0 {
		return ExitError{Code: code, Err: errors.New("SLO gate failed: see the report")}
	}
	return nil
}

func printSummary(w io.Writer, res *testbed.Result) {
	r := res.Report
	fmt.Fprintf(w, "\n%s: %s\n", r.Scenario, strings.ToUpper(r.Verdict))
	for _, s := range r.SLOs {
		fmt.Fprintf(w, "  %-13s %-28s measured %-12s limit %s\n", sloMark(s), s.Name, s.Measured, s.Threshold)
	}
	for _, u := range r.Uplink {
		fmt.Fprintf(w, "  uplink %-5s %s per camera\n", u.Placement, units.FormatMeasured(u.PerCameraBitsPerS))
	}
	fmt.Fprintf(w, "report: %s\n", filepath.Join(res.Dir, "report.html"))
}

// sloMark is a verdict's word in the summary: upper case where it gates
// the exit code, lower case for the comparison mirror's what-ifs and for
// gates the scenario allows to go unexercised.
func sloMark(s reports.SLOVerdict) string {
	switch {
	case s.Pass && s.Gated:
		return "PASS"
	case s.Pass:
		return "pass"
	case s.NotExercised && s.Gated:
		return "NOT EXERCISED"
	case s.NotExercised:
		return "not exercised"
	case s.Gated:
		return "FAIL"
	default:
		return "fail"
	}
}

// display shows progress: a status line redrawn in place on a terminal,
// plain log lines every few seconds otherwise.
type display struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newDisplay(w io.Writer, plain bool) *display {
	tty := false
	if f, ok := w.(*os.File); ok && !plain {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &display{w: w, tty: tty}
}

func (d *display) logf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clearLocked()
	fmt.Fprintf(d.w, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (d *display) clearLocked() {
	if d.tty && d.drawn {
		fmt.Fprint(d.w, "\r\033[K")
		d.drawn = false
	}
}

func (d *display) update(p testbed.Progress) {
	if p.Message != "" {
		d.logf("%s", p.Message)
		return
	}
	status := fmt.Sprintf("[%s %s/%s] cameras answering %d/%d  p95 %s  link bytes %s  faults %d",
		p.Phase, p.Elapsed.Round(time.Second), p.Total.Round(time.Second), p.CamerasAnswering, p.Cameras,
		p.P95.Round(time.Millisecond), humanBytes(p.LinkBytes), p.FaultsFired)
	d.status(status, false)
}

// status redraws the status line on a terminal; otherwise it logs it
// every 5 s, or now with force.
func (d *display) status(status string, force bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tty {
		fmt.Fprint(d.w, "\r\033[K"+status)
		d.drawn = true
		return
	}
	if force || time.Since(d.last) >= 5*time.Second {
		d.last = time.Now()
		fmt.Fprintf(d.w, "%s %s\n", time.Now().Format("15:04:05"), status)
	}
}

func (d *display) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clearLocked()
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

var execLookPath = exec.LookPath

// lessGC makes garbage collection rarer in a process that hosts the link
// emulator: a collection stalls the forwarding threads and shows up as
// delay the scenario did not ask for. GOGC in the environment wins.
func lessGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
