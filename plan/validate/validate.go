// Package validate checks the fleet simulator against emulation: it runs
// points of a cameras-per-node sweep both ways, emulated on the local
// provider (real edgenode and fakecam processes, real packets, through
// testbed.Run as `edgesim run` does, without the comparison mirror) and
// simulated (plan.FromScenario and plan.Run on the same scenario), over
// the same measured window, and returns the error of each figure against
// its target, and the knee found both ways. docs/planning.md
// ("Validation") explains what is compared and how.
package validate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// Options configure a validation.
type Options struct {
	// Calibration the simulator draws from (required).
	Calibration *plan.Calibration
	// Testbed are the emulated runs' options: Binaries and ResultsDir
	// above all (Compare is always off: the mirror would add load the
	// simulated point does not have; Provider is always local).
	Testbed testbed.Options
	// Seed overrides the scenario's seed on both sides (0: the scenario's).
	Seed int64
	// Repeat emulates each point this many times (0 or 1: once) and pools
	// the runs' figures (FromEmulations): one emulated run of a point
	// differs from the next by more than the latency targets on a small
	// host. A point counts as on a saturated host if any run was.
	Repeat int
	// SimRuns simulates each point this many times, under the seeds Seed,
	// Seed+1, ..., and pools the runs' figures (FromSimulations; 0:
	// DefaultSimRuns): one simulated run of a light point holds a few
	// hundred answered frames, and its p95 moves by several per cent from
	// one seed to the next. The largest failover gap is taken over the
	// first Repeat of them, as many runs as were emulated.
	SimRuns int
	// Targets (zero value: DefaultTargets()).
	Targets *Targets
	// Progress receives a line per step (nil: none).
	Progress func(string)
	// Emulate runs one emulated point (nil: testbed.Run with Testbed).
	// Tests replace it.
	Emulate func(ctx context.Context, sc *scenarios.Scenario) (*testbed.Result, error)
}

// DefaultSimRuns is how many simulated runs a validated point pools by
// default: the simulator's prediction is the distribution over seeds, not
// one draw of it, and a run of a validated point takes milliseconds.
const DefaultSimRuns = 20

// Result is a validation's outcome.
type Result struct {
	// Validation is the table: per point and site, each figure both ways,
	// then the knee row.
	Validation *plan.Validation
	// Emulated are the emulated figures per cameras per node, to draw over
	// the simulated curves.
	Emulated map[int]plan.EmulatedPoint
	// KneeEmulated and KneeSimulated are the largest cameras per node that,
	// with every smaller swept value, meet Objectives on every site.
	KneeEmulated, KneeSimulated int
	Objectives                  plan.Objectives
}

// Run validates the simulator on sc at each cameras-per-node value: for
// each, it emulates the scaled scenario, then simulates it over the
// emulated run's window (the run phase; the simulator has no warm-up, and
// the scripted events move by however much longer the emulated warm-up
// took than the scenario's), and compares the figures. Points run in
// ascending order, one at a time.
func Run(ctx context.Context, sc *scenarios.Scenario, perNode []int, o Options) (*Result, error) {
	if o.Calibration == nil {
		return nil, fmt.Errorf("validate: no calibration: the simulated side needs one made by %s", plan.CalibrateCommand)
	}
	values := slices.Compact(slices.Sorted(slices.Values(perNode)))
	if len(values) == 0 || values[0] < 1 {
		return nil, errors.New("validate: give the cameras per node to validate, each at least 1")
	}
	t := DefaultTargets()
	if o.Targets != nil {
		t = *o.Targets
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	emulate := o.Emulate
	if emulate == nil {
		emulate = o.emulate
	}
	base := *sc
	if o.Seed != 0 {
		base.Seed = o.Seed
	}
	base.Provider = scenarios.ProviderLocal
	obj := Objectives(&base)
	res := &Result{Emulated: map[int]plan.EmulatedPoint{}, Objectives: obj, Validation: &plan.Validation{
		Machine: machine(), Commit: commit(),
	}}
	simRuns := o.SimRuns
	if simRuns <= 0 {
		simRuns = DefaultSimRuns
	}
	p := Point{Scenario: sc.Name, Faults: hasFaults(&base), EdgeUplink: base.Workload.Placement != scenarios.PlacementCloud}
	emuMet, simMet := true, true
	kneeTaint := 0
	for _, n := range values {
		scaled, err := WithCamerasPerNode(&base, n)
		if err != nil {
			return nil, err
		}
		// Refuse what the simulator cannot model before emulating.
		fleet, err := plan.FromScenario(scaled, o.Calibration)
		if err != nil {
			return nil, fmt.Errorf("validate: %s at %d cameras per node: %w", sc.Name, n, err)
		}
		repeat := max(1, o.Repeat)
		var runs []*testbed.Result
		var samples []*reports.Run
		var reps []*reports.Result
		var headroom *reports.Headroom
		for k := range repeat {
			what := ""
			if repeat > 1 {
				what = fmt.Sprintf(" (run %d of %d)", k+1, repeat)
			}
			progress(fmt.Sprintf("%s: %d cameras per node (%d cameras): emulating %s%s", sc.Name, n, scaled.Cameras(), scaled.Duration, what))
			run, err := emulate(ctx, scaled)
			if err != nil {
				return nil, fmt.Errorf("validate: emulating %s at %d cameras per node: %w", sc.Name, n, err)
			}
			if run == nil || run.Run == nil || run.Report == nil {
				return nil, fmt.Errorf("validate: emulating %s at %d cameras per node: no samples", sc.Name, n)
			}
			runs, samples, reps = append(runs, run), append(samples, run.Run), append(reps, run.Report)
			if h := run.Report.Headroom; h != nil && (headroom == nil || h.Saturated && !headroom.Saturated) {
				headroom = h
			}
		}
		run := runs[0]
		emu, err := FromEmulations(scaled, samples, reps)
		if err != nil {
			return nil, err
		}
		w, err := EmulatedWindow(run.Run, scaled)
		if err != nil {
			return nil, err
		}
		progress(fmt.Sprintf("%s: %d cameras per node: simulating (%d runs)", sc.Name, n, simRuns))
		simRes, err := Simulate(ctx, scaled, o.Calibration, w.Warm, simRuns)
		if err != nil {
			return nil, fmt.Errorf("validate: simulating %s at %d cameras per node: %w", sc.Name, n, err)
		}
		sim, err := FromSimulations(scaled, simRes)
		if err != nil {
			return nil, err
		}
		if err := WithCalibratedInference(&sim, fleet, o.Calibration); err != nil {
			return nil, err
		}
		// The largest gap grows with the runs it is taken over: take it
		// over as many simulated runs as emulated ones.
		gaps, err := FromSimulations(scaled, simRes[:min(repeat, len(simRes))])
		if err != nil {
			return nil, err
		}
		for i := range sim.Sites {
			sim.Sites[i].Gaps = gaps.Sites[i].Gaps
		}
		p.CamerasPerNode = n
		rows := Compare(p, emu, sim, t)
		if repeat > 1 {
			rows = withSpread(rows, scaled, samples, reps)
		}
		res.Validation.Rows = append(res.Validation.Rows, OnSaturatedHost(rows, headroom)...)
		dirs := make([]string, len(runs))
		for k, r := range runs {
			dirs[k] = r.Dir
		}
		res.Validation.Commands = append(res.Validation.Commands, fmt.Sprintf(
			"emulated: testbed.Run (local provider, no mirror) of %s at %d cameras per node, seed %d, %s%s (results %s); "+
				"simulated: plan.Run of plan.FromScenario of the same scenario, events moved %s earlier, seeds %d-%d pooled",
			sc.Name, n, scaled.Seed, scaled.Duration, pooled(repeat), strings.Join(dirs, ", "), w.Warm.Round(time.Millisecond),
			scaled.Seed, scaled.Seed+int64(simRuns)-1))
		res.Emulated[n] = emulatedPoint(run.Run, w, emu, scaled.Duration)
		saturated := headroom != nil && headroom.Saturated
		if emuMet && saturated && kneeTaint == 0 {
			kneeTaint = n // the emulated knee search reached a saturated host here
		}
		if emuMet = emuMet && Meets(obj, emu, scaled.Duration); emuMet {
			res.KneeEmulated = n
		}
		if simMet = simMet && Meets(obj, sim, scaled.Duration); simMet {
			res.KneeSimulated = n
		}
	}
	if obj != (plan.Objectives{}) {
		res.Validation.Rows = append(res.Validation.Rows,
			KneeOnSaturatedHost(KneeRow(sc.Name, res.KneeEmulated, res.KneeSimulated, values, t), kneeTaint))
	} else {
		res.Validation.Rows = append(res.Validation.Rows, plan.ValidationRow{Scenario: sc.Name, Figure: FigureKnee, Unit: "cameras/node",
			ErrorKind: plan.ErrorAbsolute, Target: float64(t.Knee), Note: "the scenario has no latency, time-to-alert or uplink SLO to find a knee against"})
	}
	return res, nil
}

// withSpread adds to each latency and inference row of repeated runs the
// range of the single runs' figures: how far one emulated run of the point
// is from the next.
func withSpread(rows []plan.ValidationRow, sc *scenarios.Scenario, runs []*reports.Run, reps []*reports.Result) []plan.ValidationRow {
	per := make([]Figures, len(runs))
	for k := range runs {
		f, err := FromEmulation(sc, runs[k], reps[k])
		if err != nil {
			return rows
		}
		per[k] = f
	}
	for i, r := range rows {
		if r.Figure != FigureLatencyP50 && r.Figure != FigureLatencyP95 && r.Figure != FigureInferenceP50 {
			continue
		}
		var lo, hi time.Duration
		for k, f := range per {
			s, _ := f.Site(r.Site)
			v := s.LatencyP50
			switch r.Figure {
			case FigureLatencyP95:
				v = s.LatencyP95
			case FigureInferenceP50:
				v = s.InferP50
			}
			if k == 0 || v < lo {
				lo = v
			}
			hi = max(hi, v)
		}
		rows[i].Note = join(r.Note, fmt.Sprintf("emulated over %d runs pooled; single runs %s-%s", len(runs),
			lo.Round(100*time.Microsecond), hi.Round(100*time.Microsecond)))
	}
	return rows
}

// pooled says how many runs a point's emulated figures pool ("" for one).
func pooled(runs int) string {
	if runs == 1 {
		return ""
	}
	return fmt.Sprintf(", %d runs pooled", runs)
}

func (o Options) emulate(ctx context.Context, sc *scenarios.Scenario) (*testbed.Result, error) {
	to := o.Testbed
	to.Compare = false
	to.Provider = nil
	return testbed.Run(ctx, sc, to)
}

// Simulate runs the simulated side of a point, runs times (at least
// once): the fleet the scenario describes under the seeds sc.Seed,
// sc.Seed+1, ..., its scripted events moved warm earlier to where the
// emulated cameras put them in the measured window (start, end and the
// object's leaving clamped at 0; an object already in its zone then is in
// it from the window's start).
func Simulate(ctx context.Context, sc *scenarios.Scenario, cal *plan.Calibration, warm time.Duration, runs int) ([]*plan.Result, error) {
	f, err := plan.FromScenario(sc, cal)
	if err != nil {
		return nil, err
	}
	for i := range f.Sites {
		for j := range f.Sites[i].Cameras {
			evs := slices.Clone(f.Sites[i].Cameras[j].Events)
			for k := range evs {
				evs[k].Start, evs[k].End = max(0, evs[k].Start-warm), max(0, evs[k].End-warm)
				evs[k].In, evs[k].Out = evs[k].In-warm, max(0, evs[k].Out-warm) // FromScenario sets both
			}
			f.Sites[i].Cameras[j].Events = evs
		}
	}
	out := make([]*plan.Result, max(1, runs))
	for k := range out {
		fk := *f
		fk.Seed = f.Seed + int64(k)
		if out[k], err = plan.Run(ctx, &fk, cal); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// emulatedPoint is the whole point's emulated figures for the capacity
// report: latency over every camera's frames in the window, uplink mean
// per site.
func emulatedPoint(run *reports.Run, w Window, f Figures, d time.Duration) plan.EmulatedPoint {
	var lat []time.Duration
	for _, c := range run.Cameras {
		if c.Reference {
			continue
		}
		for _, fr := range c.Frames {
			if !fr.Capture.Before(w.Start) && fr.Capture.Before(w.End) && fr.Answered && fr.Capture.Add(fr.Latency).Before(w.End) {
				lat = append(lat, fr.Latency)
			}
		}
	}
	dist := reports.NewDistribution(lat)
	ep := plan.EmulatedPoint{LatencyP50: ms(dist.P50Ms), LatencyP95: ms(dist.P95Ms)}
	if len(f.Sites) > 0 && d > 0 {
		var bytes float64
		for _, s := range f.Sites {
			bytes += s.UplinkBytes
		}
		ep.UplinkMeanBits = bytes * 8 / d.Seconds() / float64(len(f.Sites))
	}
	return ep
}

func hasFaults(sc *scenarios.Scenario) bool {
	return slices.ContainsFunc(sc.Faults, func(f scenarios.Fault) bool {
		return f.Action == scenarios.FaultKill || f.Action == scenarios.FaultPartition
	})
}

// machine names this host and its CPU, as a calibration's provenance does.
func machine() string {
	host, _ := os.Hostname()
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s (%s, %d CPUs)", host, model, runtime.NumCPU())
}

// commit is the edgesim commit this binary was built from.
func commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
