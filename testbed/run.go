package testbed

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Phases of a run, as the reports name them.
const (
	PhaseProvision = reports.PhaseProvision
	PhaseWarmUp    = reports.PhaseWarmUp
	PhaseRun       = reports.PhaseRun
	PhaseTearDown  = reports.PhaseTearDown
)

// ErrInterrupted is returned (wrapped) when the run's context ended before
// the run finished; the partial report is still written.
var ErrInterrupted = errors.New("run interrupted")

// ErrEnded is returned (wrapped) when the provider ended the run: it
// observed something the run cannot go on without (an ObservedEvent with
// Ends, e.g. the cluster's API server gone). The report is partial.
var ErrEnded = errors.New("the provider ended the run")

// splitMoot separates the moot errors in err (also inside errors.Join)
// from the others.
func splitMoot(err error) (moot []error, rest []error) {
	var me *MootError
	switch e := err.(type) {
	case nil:
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			m, r := splitMoot(inner)
			moot, rest = append(moot, m...), append(rest, r...)
		}
	default:
		if errors.As(err, &me) {
			return []error{err}, nil
		}
		return nil, []error{err}
	}
	return moot, rest
}

// Progress is a snapshot of a run for a live display.
type Progress struct {
	Phase            string
	Elapsed, Total   time.Duration // within the phase
	Cameras          int
	CamerasAnswering int           // cameras that got detections in the last 2 s
	P95              time.Duration // e2e latency p95 so far
	LinkBytes        uint64        // bytes carried by every link so far
	FaultsFired      int
	Message          string // an event worth a log line, e.g. a fault fired
}

// Options configure a run.
type Options struct {
	// ResultsDir receives one directory per run (default "results").
	ResultsDir string
	// Binaries of edgenode and edgesim for the local provider.
	Binaries Binaries
	// Compare also streams every site's cameras to the cloud through a
	// mirror of the site, so the report shows edge and cloud placement
	// side by side.
	Compare bool
	// Progress is called on phase changes, faults and about once a second.
	Progress func(Progress)
	// Registry receives the links' metrics (default: a private registry).
	Registry prometheus.Registerer
	// Live, when set, gathers the run's metrics while it runs (NewLive):
	// serve it on a Prometheus endpoint.
	Live *Live
	// StateDir is netem's state record directory ("" = its default).
	StateDir string
	// Provider overrides the provider the scenario names (tests).
	Provider Provider
	// Providers adds providers beyond the built-in local one, e.g.
	// kindprovider.Factory for `provider: kind`.
	Providers Providers
	// TeardownTimeout bounds the tear-down (default DefaultTeardownTimeout),
	// so that a provider that hangs cannot keep edgesim from exiting;
	// `edgesim clean` removes what a cut-short tear-down left.
	TeardownTimeout time.Duration
	// Abort, once closed, cuts the tear-down short at once (a second
	// Ctrl-C: the first one ended ctx and started the tear-down).
	Abort <-chan struct{}
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Proc is the host's /proc, read each second for the host's headroom
	// (default os.DirFS("/proc")).
	Proc fs.FS
	// Report, when set, is called with the analysed result once the
	// testbed is torn down, also when the run failed or was interrupted
	// (with a context that is not cancelled); its error is returned with
	// the run's. The testbed writes no report itself: pass
	// reports/render.WriteEvery, or a function that calls render.WriteAll
	// with the formats wanted, to write the reports into the run's Dir.
	Report func(ctx context.Context, dir string, r *reports.Result) error
}

// Result is what a run observed and its analysis.
type Result struct {
	Dir    string          // the run's results directory (logs, camera samples)
	Report *reports.Result // the analysis; nil when the run could not be analysed
	Run    *reports.Run    // the record of everything the run observed
}

// ExitCode is 0 when every SLO held and 1 when one failed.
func (r *Result) ExitCode() int { return reports.ExitCode(r.Report) }

// Run runs a validated scenario from start to end: provision, warm-up,
// run with the fault timeline, tear-down, then analysis. The result is
// returned, analysed, even when ctx ends early (marked partial); nothing
// the run created is left behind. Run writes no report files: pass
// Options.Report, or give the result to reports/render.WriteAll.
func Run(ctx context.Context, sc *scenarios.Scenario, o Options) (*Result, error) {
	r, err := newRunner(sc, o)
	if err != nil {
		return nil, err
	}
	runErr := r.execute(ctx)
	res, err := r.finish(ctx, runErr)
	return res, errors.Join(runErr, err)
}

func newRunner(sc *scenarios.Scenario, o Options) (*runner, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	// Wall-clock readings only, as samples.json keeps them (and as the
	// cameras' samples are), so the report recomputes from it exactly.
	now := o.Now
	o.Now = func() time.Time { return now().Round(0) }
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	if o.Proc == nil {
		o.Proc = os.DirFS("/proc")
	}
	if o.TeardownTimeout <= 0 {
		o.TeardownTimeout = DefaultTeardownTimeout
	}
	if o.ResultsDir == "" {
		o.ResultsDir = sc.Report.Dir
	}
	if o.ResultsDir == "" {
		o.ResultsDir = "results"
	}
	plan, err := NewPlan(sc, o.Compare)
	if err != nil {
		return nil, err
	}
	start := o.Now()
	dir, err := makeRunDir(o.ResultsDir, sc.Name+"-"+start.UTC().Format("20060102-150405"))
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	r := &runner{sc: sc, plan: plan, o: o, dir: dir, host: NewHostProbe(o.Proc), run: &reports.Run{
		Scenario: sc.Name, Seed: sc.Seed, Provider: string(sc.Provider), Duration: sc.Duration, Start: start,
		SLO: sloSpec(sc), LinkDelays: linkDelays(plan),
	}}
	r.prov = o.Provider
	if r.prov == nil {
		r.prov, err = NewProvider(sc.Provider, ProviderConfig{
			Binaries: o.Binaries, Dir: filepath.Join(dir, "logs"), StateDir: o.StateDir,
			Registry: o.Registry, Seed: sc.Seed, Name: TestbedName(sc.Name), Observe: r.observe,
			Log: &lineWriter{line: r.logLine},
		}, o.Providers)
		if err != nil {
			return nil, err
		}
	}
	if _, ok := r.prov.(provider.ModelRoller); len(sc.Rollouts) > 0 && !ok {
		// validation refuses this; --provider can still ask for it
		return nil, fmt.Errorf("the scenario has rollouts, and provider %s does not run them: run it on provider local, kind or k3s", r.prov.Name())
	}
	if o.Live != nil {
		if err := o.Live.attach(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// makeRunDir creates a new directory for one run below base: name, or
// name-2, name-3, ... when runs started in the same second made the others
// (os.Mkdir fails on an existing directory, so two runs never share one).
func makeRunDir(base, name string) (string, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	for i := 1; i <= 1000; i++ {
		dir := filepath.Join(base, name)
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", dir, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("results directory: %w", err)
		}
	}
	return "", fmt.Errorf("results directory: %s has 1000 runs named %s; remove old ones", base, name)
}

// TestbedName names one run's testbed (ProviderConfig.Name): the
// scenario's name, shortened so that the whole fits netem.MaxName, and a
// random suffix, so that two runs of one scenario can stand side by side.
func TestbedName(scenario string) string {
	var b [3]byte
	_, _ = crand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, scenario)
	id := hex.EncodeToString(b[:])
	if keep := netem.MaxName - len(id) - 1; len(name) > keep {
		name = strings.TrimRight(name[:keep], "-_.")
	}
	return name + "-" + id
}

type runner struct {
	sc   *scenarios.Scenario
	plan *Plan
	o    Options
	dir  string
	prov Provider
	host *HostProbe // nil once /proc could not be read

	mu sync.Mutex
	// end ends the run's phases with a cause (set while they run).
	end     context.CancelCauseFunc
	current string // the phase running
	// currentStart is when the phase running started.
	currentStart time.Time
	run          *reports.Run
	fired        int
	faultIdx     map[faultKey]int // the record of each fault in run.Faults
	camStart     time.Time
	runStart     time.Time
	tail         *tailer
	rollouts     rollouts
	// lastStats are the links' counters of the last sample.
	lastStats []netem.LinkStats
}

func (r *runner) observe(e ObservedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Exits a fault asked for never get here (see process.expected).
	r.run.ObservedFaults = append(r.run.ObservedFaults, reports.ObservedFault{At: e.At, Kind: e.Kind, Target: e.Target, Detail: e.Detail})
	r.o.Progress(Progress{Phase: PhaseRun, Message: fmt.Sprintf("observed: %s %s: %s", e.Kind, e.Target, e.Detail)})
	if e.Ends && r.end != nil {
		r.end(fmt.Errorf("%w: %s %s: %s", ErrEnded, e.Kind, e.Target, e.Detail))
	}
}

// stopped is why a phase stopped early: the provider ended the run, or
// the run's context ended (an interrupt).
func stopped(ctx context.Context, phase string) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrEnded) {
		return fmt.Errorf("during %s: %w", phase, cause)
	}
	return fmt.Errorf("%w during %s: %v", ErrInterrupted, phase, cause)
}

// logLine shows a provider's progress line as a message of the phase
// running.
func (r *runner) logLine(line string) {
	r.mu.Lock()
	phase := r.current
	r.mu.Unlock()
	r.o.Progress(Progress{Phase: phase, Message: line})
}

func (r *runner) phase(name string, fn func(ctx context.Context) error, ctx context.Context) error {
	start := r.o.Now()
	if name == PhaseTearDown && r.o.Live != nil {
		r.o.Live.endScrapes() // before the provider removes what they go through
	}
	r.mu.Lock()
	r.current, r.currentStart = name, start
	r.mu.Unlock()
	r.o.Progress(Progress{Phase: name, Message: "phase " + name})
	err := fn(ctx)
	r.mu.Lock()
	r.run.Phases = append(r.run.Phases, reports.Phase{Name: name, Start: start, End: r.o.Now()})
	r.mu.Unlock()
	return err
}

// execute runs provision, warm-up and run; tear-down happens in finish.
// An ObservedEvent with Ends stops whichever phase is running.
func (r *runner) execute(ctx context.Context) error {
	ctx, end := context.WithCancelCause(ctx)
	r.mu.Lock()
	r.end = end
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.end = nil
		r.mu.Unlock()
		end(nil)
	}()
	err := r.phases(ctx)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrEnded) && !errors.Is(err, ErrEnded) {
		err = fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

// provisioned records what the provider says of its testbed once it is
// provisioned: links it could not emulate.
func (r *runner) provisioned() {
	le, ok := r.prov.(provider.LinkEmulation)
	if !ok {
		return
	}
	why := le.LinksNotEmulated()
	if why == "" {
		return
	}
	r.mu.Lock()
	r.run.LinksNotEmulated = why
	r.mu.Unlock()
	r.o.Progress(Progress{Phase: PhaseProvision, Message: "links not emulated (" + why + "): the traffic crosses the real network unimpaired, link faults are not carried out and the link SLOs are not judged"})
}

func (r *runner) phases(ctx context.Context) error {
	if err := r.phase(PhaseProvision, func(ctx context.Context) error {
		if err := r.prov.Provision(ctx, r.plan); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		r.provisioned()
		if err := r.prov.Deploy(ctx); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		return nil
	}, ctx); err != nil {
		return err
	}
	samples := filepath.Join(r.dir, "cameras")
	r.mu.Lock()
	r.tail = newTailer(samples)
	r.mu.Unlock()
	if err := r.phase(PhaseWarmUp, func(ctx context.Context) error {
		r.mu.Lock()
		r.camStart = r.o.Now()
		r.mu.Unlock()
		if err := r.prov.StartCameras(ctx, samples); err != nil {
			return fmt.Errorf("start cameras: %w", err)
		}
		if err := r.wait(ctx, PhaseWarmUp, r.sc.Warmup, nil); err != nil {
			return err
		}
		return r.warm(ctx)
	}, ctx); err != nil {
		return err
	}
	return r.phase(PhaseRun, func(ctx context.Context) error {
		r.mu.Lock()
		r.runStart = r.o.Now()
		r.mu.Unlock()
		// Rollouts run in the background until they end or the run does.
		runCtx, cancel := context.WithCancel(ctx)
		defer r.rollouts.wg.Wait()
		defer cancel()
		return r.wait(runCtx, PhaseRun, r.sc.Duration, r.timeline())
	}, ctx)
}

// warmUpLimit bounds how long the warm-up waits for every camera's first
// answer.
const warmUpLimit = 20 * time.Second

// warm waits until every camera got detections back, or warmUpLimit.
func (r *runner) warm(ctx context.Context) error {
	start := r.o.Now()
	lastSample := start
	for {
		now := r.o.Now()
		answering, _ := r.tail.poll(now)
		if answering >= len(r.plan.Cameras) {
			return nil
		}
		if now.Sub(lastSample) >= time.Second {
			lastSample = now
			r.sample(ctx, PhaseWarmUp, now.Sub(start), warmUpLimit)
		}
		if r.o.Now().Sub(start) > warmUpLimit {
			r.o.Progress(Progress{Phase: PhaseWarmUp, Message: fmt.Sprintf("warm-up: only %d of %d cameras answered after %s; running anyway", answering, len(r.plan.Cameras), warmUpLimit)})
			return nil
		}
		select {
		case <-ctx.Done():
			return stopped(ctx, PhaseWarmUp)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// wait lets a phase run for d, firing the timeline's actions on time and
// sampling links and progress every second.
func (r *runner) wait(ctx context.Context, phase string, d time.Duration, steps []Step) error {
	start := r.o.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	next := 0
	for {
		elapsed := r.o.Now().Sub(start)
		for next < len(steps) && steps[next].At <= elapsed {
			r.fire(ctx, steps[next])
			next++
		}
		if elapsed >= d {
			r.sample(ctx, phase, elapsed, d)
			return nil
		}
		wake := d - elapsed
		if next < len(steps) && steps[next].At-elapsed < wake {
			wake = steps[next].At - elapsed
		}
		timer := time.NewTimer(wake)
		select {
		case <-ctx.Done():
			timer.Stop()
			return stopped(ctx, phase)
		case <-tick.C:
			timer.Stop()
			r.sample(ctx, phase, elapsed, d)
		case <-timer.C:
		}
	}
}

func (r *runner) sample(ctx context.Context, phase string, elapsed, total time.Duration) {
	now := r.o.Now()
	stats, _ := r.prov.LinkStats(ctx)
	var bytes uint64
	r.mu.Lock()
	for _, s := range stats {
		bytes += s.Bytes
		ls := r.series(s.Link, s.Direction)
		var dropped uint64
		for _, n := range s.Drops {
			dropped += n
		}
		ls.Samples = append(ls.Samples, reports.CounterSample{At: now, Bytes: s.Bytes, Packets: s.Packets, Dropped: dropped})
		ls.TotalBytes, ls.TotalPackets, ls.TotalDropped = s.Bytes, s.Packets, dropped
	}
	r.sampleHost(now, stats)
	r.lastStats = stats
	fired := r.fired
	r.mu.Unlock()
	answering, p95 := r.tail.poll(now)
	r.o.Progress(Progress{Phase: phase, Elapsed: elapsed, Total: total, Cameras: len(r.plan.Cameras),
		CamerasAnswering: answering, P95: p95, LinkBytes: bytes, FaultsFired: fired})
	if r.o.Live != nil {
		r.o.Live.refresh(ctx, r, now)
	}
}

// series returns the report series of a plan link direction (r.mu held).
func (r *runner) series(link, dir string) *reports.LinkSeries {
	for i := range r.run.Links {
		if l := &r.run.Links[i]; l.Link == link && l.Direction == dir {
			return l
		}
	}
	ls := reports.LinkSeries{Link: link, Direction: dir}
	for _, pl := range r.plan.Links {
		if pl.Name == link {
			ls.Site = pl.Site
			ls.Uplink = pl.Uplink && dir == "up"
			ls.Reference = pl.Mirror
		}
	}
	r.run.Links = append(r.run.Links, ls)
	sort.SliceStable(r.run.Links, func(i, j int) bool {
		a, b := r.run.Links[i], r.run.Links[j]
		return a.Link < b.Link || a.Link == b.Link && a.Direction < b.Direction
	})
	return r.series(link, dir)
}

// finish tears down, collects the samples, analyses them and hands the
// result to Options.Report.
func (r *runner) finish(ctx context.Context, runErr error) (*Result, error) {
	cleanup, stop := r.teardownContext(ctx)
	defer stop()
	var errs []error
	_ = r.phase(PhaseTearDown, func(context.Context) error {
		if r.o.Abort != nil {
			r.o.Progress(Progress{Phase: PhaseTearDown, Message: fmt.Sprintf("tearing down (at most %s; interrupt again to stop waiting)", r.o.TeardownTimeout)})
		}
		// After an interrupt, or when the provider ended the run (its
		// cluster may no longer answer), take what is there; do not wait.
		hurry := errors.Is(runErr, ErrInterrupted) || errors.Is(runErr, ErrEnded)
		if d, ok := r.prov.(Diagnoser); ok && runErr != nil && !hurry {
			diag := d.Diagnose(cleanup)
			r.mu.Lock()
			r.run.Diagnostics = diag
			r.mu.Unlock()
		}
		if c, ok := r.prov.(ClusterReporter); ok && !hurry {
			clusters := c.Clusters(cleanup)
			r.mu.Lock()
			r.run.Clusters = clusters
			r.mu.Unlock()
		}
		var moot []error
		if r.tail != nil {
			r.sample(cleanup, PhaseTearDown, 0, 0)
			m, rest := splitMoot(r.prov.StopCameras(cleanup))
			moot, errs = append(moot, m...), append(errs, rest...)
		}
		alerts, err := r.prov.Alerts(cleanup)
		errs = append(errs, err)
		var cluster []evidence.ClusterEvent
		if src, ok := r.prov.(ClusterEventSource); ok {
			evCtx := cleanup
			if hurry {
				c, cancel := context.WithCancel(cleanup)
				cancel()
				evCtx = c
			}
			cluster = src.ClusterEvents(evCtx)
		}
		r.mu.Lock()
		r.run.Alerts = parseAlerts(alerts)
		r.run.ClusterEvents = cluster
		r.mu.Unlock()
		if err := r.prov.Destroy(cleanup); err != nil {
			errs = append(errs, err)
			errs = append(errs, moot...) // not moot: the testbed is still there
		} else {
			r.mu.Lock()
			for _, err := range moot {
				r.run.Warnings = append(r.run.Warnings, "tear-down: "+err.Error()+" (moot: the testbed was destroyed)")
			}
			r.mu.Unlock()
		}
		if cleanup.Err() != nil {
			errs = append(errs, fmt.Errorf("%w; `edgesim clean` removes what is left", context.Cause(cleanup)))
		}
		return nil
	}, cleanup)
	// The report is written whatever happened to the tear-down.
	cleanup = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.End = r.o.Now()
	if runErr != nil {
		r.run.Partial, r.run.PartialReason = true, runErr.Error()
	}
	if r.tail != nil {
		cams, events, err := collectCameras(r.plan, filepath.Join(r.dir, "cameras"))
		errs = append(errs, err)
		r.run.Cameras, r.run.Events = cams, events
	}
	res := &Result{Dir: r.dir, Run: r.run}
	rep, err := reports.Analyze(r.run)
	if err != nil {
		return res, errors.Join(append(errs, fmt.Errorf("analyse: %w", err))...)
	}
	res.Report = rep
	if r.o.Report != nil {
		errs = append(errs, r.o.Report(cleanup, res.Dir, res.Report))
	}
	return res, errors.Join(errs...)
}

// DefaultTeardownTimeout is Options.TeardownTimeout's default.
const DefaultTeardownTimeout = 2 * time.Minute

// ErrTeardownCut is the cause of a tear-down that was cut short.
var ErrTeardownCut = errors.New("tear-down cut short")

// teardownContext is the tear-down's context: not ended by ctx (the first
// interrupt), but by Options.TeardownTimeout or Options.Abort.
func (r *runner) teardownContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	c, cancelT := context.WithTimeoutCause(base, r.o.TeardownTimeout, fmt.Errorf("%w: still not done after %s", ErrTeardownCut, r.o.TeardownTimeout))
	done := make(chan struct{})
	go func() {
		select {
		case <-r.o.Abort: // nil: never
			cancel(fmt.Errorf("%w: interrupted again", ErrTeardownCut))
		case <-done:
		}
	}()
	return c, func() { close(done); cancelT(); cancel(nil) }
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if l := strings.TrimSpace(string(w.buf[:i])); l != "" {
			w.line(l)
		}
		w.buf = w.buf[i+1:]
	}
}
