package validate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
)

// SiteFigures are one side's figures of one site over the measured
// window, with the same definition on both sides.
type SiteFigures struct {
	Site string
	// Answered frames were captured in the window and answered before it
	// ended; LatencyP50/P95 are their capture-to-answer latencies (nearest
	// rank on both sides).
	Answered               int
	LatencyP50, LatencyP95 time.Duration
	// InferP50 is the median inference time of the frames that reached the
	// model: on the emulated side the nodes' own figure for each answered
	// frame, on the simulated side the median of the calibration's table
	// the simulator draws from (WithCalibratedInference). It tells the
	// host's speed during an emulated run from the calibration's.
	InferP50 time.Duration
	// Expected is the answers the detection rate calls for: frames captured
	// in the window times min(1, detect fps / fps). Frames captured while a
	// camera had no session count (the emulated samples do not say which
	// frames were sent; the simulator's NotSent are counted alike).
	Expected float64
	// Uplink says whether the site has a WAN uplink; UplinkBytes are the
	// bytes it delivered toward the cloud in the window, counted per
	// packet as the netem model counts them.
	Uplink      bool
	UplinkBytes float64
	// Gaps are the failover gaps of the site's cameras (one per affected
	// camera and fault), as the reports define them.
	Gaps []time.Duration
	// AlertsExpected are the scripted events a rule covers, Alerted those
	// whose alert reached the cloud; TimeToAlertP50 is the median over
	// them of event start to the alert at the cloud (nearest rank), and
	// TimeToAlertP95 their 95th percentile.
	AlertsExpected, Alerted        int
	TimeToAlertP50, TimeToAlertP95 time.Duration
}

// Dropped is the answers the detection rate called for that never came
// (never negative).
func (f SiteFigures) Dropped() float64 { return max(0, f.Expected-float64(f.Answered)) }

// Figures are one side of a point: per site, in the scenario's site order.
type Figures struct {
	Sites []SiteFigures
}

// Site returns the figures of a site.
func (f Figures) Site(name string) (SiteFigures, bool) {
	i := slices.IndexFunc(f.Sites, func(s SiteFigures) bool { return s.Site == name })
	if i < 0 {
		return SiteFigures{}, false
	}
	return f.Sites[i], true
}

// answerRatio is the share of a camera's frames the detection rate calls
// for, as reports count it.
func answerRatio(fps, detectFPS float64) float64 {
	if fps > 0 && detectFPS > 0 && detectFPS < fps {
		return detectFPS / fps
	}
	return 1
}

// Window is the measured window of an emulated run: the run phase, from
// its start for the scenario's duration. Warm is how much longer the
// warm-up took than the scenario's own warm-up (the testbed waits for
// every camera's first answer): scripted events, placed by the cameras
// after the scenario's warm-up, happen that much earlier in the window.
type Window struct {
	Start time.Time
	End   time.Time
	Warm  time.Duration
}

// EmulatedWindow finds the window of a run's samples.
func EmulatedWindow(run *reports.Run, sc *scenarios.Scenario) (Window, error) {
	var w Window
	var warmStart time.Time
	for _, p := range run.Phases {
		switch p.Name {
		case reports.PhaseWarmUp:
			warmStart = p.Start
		case reports.PhaseRun:
			w.Start = p.Start
		}
	}
	if w.Start.IsZero() {
		return w, errors.New("validate: the emulated run has no run phase: it ended before measuring")
	}
	w.End = w.Start.Add(sc.Duration)
	if !warmStart.IsZero() {
		w.Warm = max(0, w.Start.Sub(warmStart)-sc.Warmup)
	}
	return w, nil
}

// FromEmulation computes the figures of an emulated run over its window
// from the raw samples (not from the report, which also counts frames
// captured during tear-down and link bytes of the whole run). Failover
// gaps and time to alert are the report's own.
func FromEmulation(sc *scenarios.Scenario, run *reports.Run, rep *reports.Result) (Figures, error) {
	return FromEmulations(sc, []*reports.Run{run}, []*reports.Result{rep})
}

// FromEmulations pools the figures of repeated emulated runs of one point
// (FromEmulation of each): latency and time-to-alert percentiles over
// every run's answered frames and alerted events together, the failover
// gaps of every run (the largest is the largest of all), and the counts
// and bytes as the runs' mean.
func FromEmulations(sc *scenarios.Scenario, runs []*reports.Run, reps []*reports.Result) (Figures, error) {
	if len(runs) == 0 || len(runs) != len(reps) {
		return Figures{}, errors.New("validate: no emulated run, or runs and reports that do not pair")
	}
	n := float64(len(runs))
	var f Figures
	for _, s := range sc.Sites {
		f.Sites = append(f.Sites, SiteFigures{Site: s.Name})
	}
	lat := make([][]time.Duration, len(f.Sites))
	tta := make([][]time.Duration, len(f.Sites))
	infer := make([][]time.Duration, len(f.Sites))
	answered, expected, alerted := make([]float64, len(f.Sites)), make([]float64, len(f.Sites)), make([]float64, len(f.Sites))
	for k, run := range runs {
		rep := reps[k]
		if run == nil || rep == nil {
			return Figures{}, errors.New("validate: the emulated run has no samples or no report")
		}
		w, err := EmulatedWindow(run, sc)
		if err != nil {
			return Figures{}, err
		}
		siteOf := map[string]string{}
		for i := range f.Sites {
			sf := &f.Sites[i]
			for _, c := range run.Cameras {
				if c.Site != sf.Site || c.Reference {
					continue
				}
				siteOf[c.ID] = sf.Site
				r := answerRatio(c.FPS, c.DetectFPS)
				for _, fr := range c.Frames {
					if fr.Capture.Before(w.Start) || !fr.Capture.Before(w.End) {
						continue
					}
					expected[i] += r
					if fr.Answered && fr.Capture.Add(fr.Latency).Before(w.End) {
						answered[i]++
						lat[i] = append(lat[i], fr.Latency)
						if fr.Infer > 0 {
							infer[i] = append(infer[i], fr.Infer)
						}
					}
				}
			}
			for _, l := range run.Links {
				if l.Uplink && !l.Reference && l.Site == sf.Site {
					sf.Uplink = true
					sf.UplinkBytes += (counterAt(l.Samples, w.End) - counterAt(l.Samples, w.Start)) / n
				}
			}
		}
		for _, g := range rep.Failover {
			if g.Reference {
				continue
			}
			if i := siteIndex(f, siteOf[g.Camera]); i >= 0 {
				f.Sites[i].Gaps = append(f.Sites[i].Gaps, ms(g.GapMs))
			}
		}
		for _, t := range rep.TimeToAlert {
			i := siteIndex(f, siteOf[t.Camera])
			if t.Reference || i < 0 {
				continue
			}
			if k == 0 {
				f.Sites[i].AlertsExpected++ // the same scripted events in every run
			}
			if t.Alerted {
				alerted[i]++
				tta[i] = append(tta[i], ms(t.TimeToAlertMs))
			}
		}
	}
	for i := range f.Sites {
		sf := &f.Sites[i]
		sf.Expected, sf.Answered, sf.Alerted = expected[i]/n, int(math.Round(answered[i]/n)), int(math.Round(alerted[i]/n))
		d := reports.NewDistribution(lat[i])
		sf.LatencyP50, sf.LatencyP95 = ms(d.P50Ms), ms(d.P95Ms)
		sf.InferP50 = ms(reports.NewDistribution(infer[i]).P50Ms)
		d = reports.NewDistribution(tta[i])
		sf.TimeToAlertP50, sf.TimeToAlertP95 = ms(d.P50Ms), ms(d.P95Ms)
	}
	return f, nil
}

func siteIndex(f Figures, site string) int {
	return slices.IndexFunc(f.Sites, func(s SiteFigures) bool { return s.Site == site })
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// counterAt is a cumulative byte counter at t, interpolated linearly
// between the readings around it (the testbed reads counters about once a
// second); before the first reading it is 0, after the last the last.
func counterAt(s []reports.CounterSample, t time.Time) float64 {
	s = slices.SortedStableFunc(slices.Values(s), func(a, b reports.CounterSample) int { return a.At.Compare(b.At) })
	i := slices.IndexFunc(s, func(c reports.CounterSample) bool { return !c.At.Before(t) })
	switch {
	case len(s) == 0:
		return 0
	case i < 0:
		return float64(s[len(s)-1].Bytes)
	case i == 0:
		// Before the first reading the counter grew from 0 at an unknown
		// time: take the first reading's value only when t is on it.
		if s[0].At.Equal(t) {
			return float64(s[0].Bytes)
		}
		return 0
	}
	a, b := s[i-1], s[i]
	span := b.At.Sub(a.At).Seconds()
	if span <= 0 {
		return float64(b.Bytes)
	}
	frac := t.Sub(a.At).Seconds() / span
	return float64(a.Bytes) + frac*(float64(b.Bytes)-float64(a.Bytes))
}

// FromSimulation computes the figures of a simulated point. The simulated
// run is the window: it starts at the emulated run phase's start and lasts
// the scenario's duration (see Simulate).
func FromSimulation(sc *scenarios.Scenario, r *plan.Result) (Figures, error) {
	return FromSimulations(sc, []*plan.Result{r})
}

// FromSimulations pools the figures of simulated runs of one point under
// several seeds, as FromEmulations pools emulated runs: latency and
// time-to-alert percentiles over every run's answered frames and alerted
// events together, every run's failover gaps, and the counts and bytes as
// the runs' mean.
func FromSimulations(sc *scenarios.Scenario, rs []*plan.Result) (Figures, error) {
	if len(rs) == 0 {
		return Figures{}, errors.New("validate: no simulated run")
	}
	n := float64(len(rs))
	var f Figures
	for _, s := range sc.Sites {
		sf := SiteFigures{Site: s.Name, Uplink: hasUplink(sc, s.Name)}
		ratio := answerRatio(s.Cameras[0].FPS, sc.Workload.DetectFPS)
		var lat, tta plan.Histogram
		var answered, captured, alerted, uplink float64
		for k, r := range rs {
			i := slices.IndexFunc(r.Sites, func(x plan.SiteResult) bool { return x.Name == s.Name })
			if i < 0 {
				return Figures{}, fmt.Errorf("validate: the simulation has no site %s", s.Name)
			}
			sr := &r.Sites[i]
			h := sr.LatencyHistogram()
			lat.Merge(&h)
			answered += float64(sr.Frames.Answered)
			captured += float64(sr.Frames.Captured)
			alerted += float64(sr.Alerted)
			uplink += float64(sr.Uplink.Bytes)
			if k == 0 {
				sf.AlertsExpected = sr.AlertsExpected // the same scripted events in every run
			}
			// The simulator's time-to-alert histograms are per site type;
			// FromScenario leaves each site its own type.
			t := slices.IndexFunc(r.Types, func(x plan.TypeResult) bool { return x.Type == cmp.Or(sr.Type, sr.Name) })
			if t < 0 || r.Types[t].Sites != 1 {
				return Figures{}, fmt.Errorf("validate: site %s shares its site type with other sites: time to alert is per type", s.Name)
			}
			h = r.Types[t].TimeToAlertHistogram()
			tta.Merge(&h)
			for _, g := range r.Failover {
				if g.Site == s.Name {
					sf.Gaps = append(sf.Gaps, g.Gap)
				}
			}
		}
		sf.Answered, sf.Alerted = int(math.Round(answered/n)), int(math.Round(alerted/n))
		sf.Expected, sf.UplinkBytes = captured/n*ratio, uplink/n
		sf.LatencyP50, sf.LatencyP95 = lat.Quantile(0.50), lat.Quantile(0.95)
		sf.TimeToAlertP50, sf.TimeToAlertP95 = tta.Quantile(0.50), tta.Quantile(0.95)
		f.Sites = append(f.Sites, sf)
	}
	return f, nil
}

// hasUplink says whether a site has a WAN link to the cloud.
func hasUplink(sc *scenarios.Scenario, site string) bool {
	return slices.ContainsFunc(sc.Links, func(l scenarios.Link) bool {
		ends := []scenarios.Endpoint{l.A, l.B}
		return slices.ContainsFunc(ends, func(e scenarios.Endpoint) bool { return e.Kind == scenarios.EndpointSite && e.Site == site }) &&
			slices.ContainsFunc(ends, func(e scenarios.Endpoint) bool { return e.Kind == scenarios.EndpointCloud })
	})
}

// WithCalibratedInference sets each site's InferP50 on the simulated side:
// the median of the inference table the simulator draws the site's frames
// from, for the model on the class that infers them (the site's edge
// nodes, or the cloud's for cloud placement). A class measured in
// isolation also has a table for a worker that was idle, which the
// simulator mixes in by each worker's idle time; the busy table's median
// is given then.
func WithCalibratedInference(f *Figures, fleet *plan.Fleet, cal *plan.Calibration) error {
	for i := range f.Sites {
		sf := &f.Sites[i]
		k := slices.IndexFunc(fleet.Sites, func(s plan.Site) bool { return s.Name == sf.Site })
		if k < 0 {
			return fmt.Errorf("validate: the fleet has no site %s", sf.Site)
		}
		class, model := fleet.Sites[k].Class, fleet.ModelOf(fleet.Sites[k])
		if fleet.Placement == plan.PlacementCloud {
			class, model = fleet.Cloud.Class, fleet.Model
		}
		st, err := cal.Inference(class, model)
		if err != nil {
			return err
		}
		sf.InferP50 = time.Duration(st.Busy.At(0.5) * float64(time.Second))
	}
	return nil
}
