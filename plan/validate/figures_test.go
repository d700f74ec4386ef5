package validate_test

import (
	"context"
	"math"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/validate"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

var _ = Describe("FromEmulation", func() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var run *reports.Run
	BeforeEach(func() {
		sc := load("one-store")
		// warm-up 0-3 s (the scenario asks for none), run 3-18 s (15 s)
		run = &reports.Run{Scenario: "one-store", Start: at(0), End: at(20 * time.Second), Duration: sc.Duration,
			Phases: []reports.Phase{{Name: reports.PhaseWarmUp, Start: at(0), End: at(secs(3))},
				{Name: reports.PhaseRun, Start: at(secs(3)), End: at(secs(18) + 300*time.Millisecond)}},
			Cameras: []reports.Camera{{ID: "store-1-cam-1", Site: "store-1", Placement: reports.PlacementEdge, FPS: 10, DetectFPS: 5, Frames: []reports.FrameSample{
				{Frame: 1, Capture: at(secs(2)), Answered: true, Latency: time.Second},                         // warm-up: out
				{Frame: 2, Capture: at(secs(4)), Answered: true, Latency: 100 * time.Millisecond},              // in
				{Frame: 3, Capture: at(secs(5)), Answered: true, Latency: 300 * time.Millisecond},              // in
				{Frame: 4, Capture: at(secs(6))},                                                               // in, unanswered
				{Frame: 5, Capture: at(secs(18) - 100*time.Millisecond), Answered: true, Latency: time.Second}, // answered after the end: sent, not answered
				{Frame: 6, Capture: at(secs(19)), Answered: true, Latency: 50 * time.Millisecond},              // tear-down: out
			}}, {ID: "store-1-cam-1-via-cloud", Site: "store-1-via-cloud", Placement: reports.PlacementCloud, Reference: true, Frames: []reports.FrameSample{
				{Frame: 1, Capture: at(secs(4)), Answered: true, Latency: 9 * time.Second}}}},
			Links: []reports.LinkSeries{{Link: "wan", Direction: "up", Site: "store-1", Uplink: true, Samples: []reports.CounterSample{
				{At: at(secs(2)), Bytes: 1000}, {At: at(secs(4)), Bytes: 3000}, {At: at(secs(17)), Bytes: 16000}, {At: at(secs(19)), Bytes: 16000}}},
				{Link: "lan", Direction: "up", Site: "store-1", Samples: []reports.CounterSample{{At: at(secs(2)), Bytes: 99}, {At: at(secs(19)), Bytes: 1e9}}}},
		}
	})

	It("measures the run phase's window from the raw samples", func() {
		sc := load("one-store")
		rep, err := reports.Analyze(run)
		Expect(err).NotTo(HaveOccurred())
		f, err := validate.FromEmulation(sc, run, rep)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Sites).To(HaveLen(1))
		s := f.Sites[0]
		Expect(s.Site).To(Equal("store-1"))
		Expect(s.Answered).To(Equal(2))
		Expect(s.Expected).To(Equal(2.0), "4 frames captured in the window, half of them called for at 5 of 10 fps")
		Expect(s.Dropped()).To(Equal(0.0))
		Expect(s.LatencyP50).To(Equal(100 * time.Millisecond))
		Expect(s.LatencyP95).To(Equal(300 * time.Millisecond))
		Expect(s.Uplink).To(BeTrue())
		// 3 s -> 2000 B (interpolated between 2 s and 4 s), 18 s -> 16000 B
		Expect(s.UplinkBytes).To(BeNumerically("~", 14000, 1e-6))
	})

	It("pools repeated runs: latency over every run's frames, counts and bytes as the runs' mean", func() {
		sc := load("one-store")
		rep, err := reports.Analyze(run)
		Expect(err).NotTo(HaveOccurred())
		slow := *run
		slow.Cameras = []reports.Camera{run.Cameras[0]}
		slow.Cameras[0].Frames = []reports.FrameSample{
			{Frame: 2, Capture: at(secs(4)), Answered: true, Latency: 500 * time.Millisecond, Infer: 14 * time.Millisecond},
			{Frame: 3, Capture: at(secs(5)), Answered: true, Latency: 700 * time.Millisecond, Infer: 16 * time.Millisecond},
			{Frame: 4, Capture: at(secs(6)), Answered: true, Latency: 900 * time.Millisecond, Infer: 18 * time.Millisecond},
			{Frame: 5, Capture: at(secs(7))},
		}
		slowRep, err := reports.Analyze(&slow)
		Expect(err).NotTo(HaveOccurred())
		f, err := validate.FromEmulations(sc, []*reports.Run{run, &slow}, []*reports.Result{rep, slowRep})
		Expect(err).NotTo(HaveOccurred())
		s := f.Sites[0]
		Expect(s.Answered).To(Equal(3), "(2 + 3) / 2, rounded")
		Expect(s.Expected).To(Equal(2.0))
		Expect(s.LatencyP50).To(Equal(500*time.Millisecond), "the median of 100, 300, 500, 700 and 900 ms")
		Expect(s.LatencyP95).To(Equal(900 * time.Millisecond))
		Expect(s.UplinkBytes).To(BeNumerically("~", 14000, 1e-6), "both runs carried the same")
		Expect(s.InferP50).To(Equal(16*time.Millisecond), "the median over the answered frames that say their inference time")

		_, err = validate.FromEmulations(sc, []*reports.Run{run}, nil)
		Expect(err).To(MatchError(ContainSubstring("do not pair")))
	})

	It("finds the window and how much longer the warm-up took than the scenario's", func() {
		sc := load("one-store")
		sc.Warmup = 0
		w, err := validate.EmulatedWindow(run, sc)
		Expect(err).NotTo(HaveOccurred())
		Expect(w).To(Equal(validate.Window{Start: at(secs(3)), End: at(secs(18)), Warm: secs(3)}))
		sc.Warmup = secs(1)
		w, _ = validate.EmulatedWindow(run, sc)
		Expect(w.Warm).To(Equal(secs(2)))
		run.Phases = run.Phases[:1]
		_, err = validate.EmulatedWindow(run, sc)
		Expect(err).To(MatchError(ContainSubstring("no run phase")))
	})
})

var _ = Describe("WithCalibratedInference", func() {
	It("gives each site the median of the table the simulator draws its frames from", func() {
		sc, cal := load("one-store"), loadFixture()
		fleet, err := plan.FromScenario(sc, cal)
		Expect(err).NotTo(HaveOccurred())
		st, err := cal.Inference(fleet.Sites[0].Class, fleet.Model)
		Expect(err).NotTo(HaveOccurred())
		f := validate.Figures{Sites: []validate.SiteFigures{{Site: "store-1"}}}
		Expect(validate.WithCalibratedInference(&f, fleet, cal)).To(Succeed())
		Expect(f.Sites[0].InferP50).To(Equal(time.Duration(st.Busy.At(0.5) * float64(time.Second))))
		Expect(f.Sites[0].InferP50).To(BeNumerically(">", 0))

		By("naming what the calibration lacks")
		fleet.Model = "no-such-model"
		Expect(validate.WithCalibratedInference(&f, fleet, cal)).To(MatchError(ContainSubstring("no-such-model")))
		f.Sites[0].Site = "elsewhere"
		Expect(validate.WithCalibratedInference(&f, fleet, cal)).To(MatchError(ContainSubstring("no site elsewhere")))
	})
})

var _ = Describe("FromSimulations", func() {
	sc := load("one-store")
	simulate := func(runs int) []*plan.Result {
		rs, err := validate.Simulate(context.Background(), sc, loadFixture(), 0, runs)
		Expect(err).NotTo(HaveOccurred())
		return rs
	}

	It("takes one run's site figures and its type's time to alert", func() {
		r := simulate(1)[0]
		f, err := validate.FromSimulation(sc, r)
		Expect(err).NotTo(HaveOccurred())
		sr := r.Sites[0]
		Expect(sr.Frames.Answered).To(BeNumerically(">", 0))
		Expect(r.Failover).NotTo(BeEmpty(), "the scenario kills a node")
		Expect(f.Sites).To(Equal([]validate.SiteFigures{{Site: "store-1", Answered: int(sr.Frames.Answered),
			LatencyP50: sr.LatencyP50, LatencyP95: sr.LatencyP95, Expected: float64(sr.Frames.Captured) / 2,
			Uplink: true, UplinkBytes: float64(sr.Uplink.Bytes), Gaps: gapsOf(r),
			AlertsExpected: 1, Alerted: sr.Alerted, TimeToAlertP50: r.Types[0].TimeToAlertP50, TimeToAlertP95: r.Types[0].TimeToAlertP95}}))
	})

	It("pools runs: percentiles over every run's frames, every run's gaps, counts and bytes as the mean", func() {
		rs := simulate(4)
		f, err := validate.FromSimulations(sc, rs)
		Expect(err).NotTo(HaveOccurred())
		got := f.Sites[0]
		var answered, captured, bytes float64
		var gaps []time.Duration
		var lo, hi time.Duration
		for k, r := range rs {
			sr := r.Sites[0]
			answered, captured, bytes = answered+float64(sr.Frames.Answered), captured+float64(sr.Frames.Captured), bytes+float64(sr.Uplink.Bytes)
			gaps = append(gaps, gapsOf(r)...)
			if k == 0 || sr.LatencyP95 < lo {
				lo = sr.LatencyP95
			}
			hi = max(hi, sr.LatencyP95)
		}
		Expect(got.Answered).To(Equal(int(math.Round(answered / 4))))
		Expect(got.Expected).To(BeNumerically("~", captured/4/2, 1e-9))
		Expect(got.UplinkBytes).To(BeNumerically("~", bytes/4, 1e-9))
		Expect(got.Gaps).To(Equal(gaps))
		Expect(lo).To(BeNumerically("<", hi), "the seeds' p95 differ")
		Expect(got.LatencyP95).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)), "the pooled p95 lies within the runs'")
		Expect(got.AlertsExpected).To(Equal(1), "the scripted events once, not once per run")
	})

	It("names a site the simulation lacks, and refuses a site sharing its type", func() {
		r := simulate(1)[0]
		r.Sites[0].Name = "elsewhere"
		_, err := validate.FromSimulations(sc, []*plan.Result{r})
		Expect(err).To(MatchError(ContainSubstring("no site store-1")))
		r = simulate(1)[0]
		r.Types[0].Sites = 2
		_, err = validate.FromSimulations(sc, []*plan.Result{r})
		Expect(err).To(MatchError(ContainSubstring("shares its site type")))
		_, err = validate.FromSimulations(sc, nil)
		Expect(err).To(MatchError(ContainSubstring("no simulated run")))
	})
})

// gapsOf are a simulated run's failover gaps at store-1.
func gapsOf(r *plan.Result) []time.Duration {
	var gaps []time.Duration
	for _, g := range r.Failover {
		if g.Site == "store-1" {
			gaps = append(gaps, g.Gap)
		}
	}
	return gaps
}

var _ = Describe("Run with repeated emulations", func() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// emulated returns a run of one-store at one camera per node whose
	// frames all took lat; saturated marks its host saturated.
	emulated := func(lat time.Duration, saturated bool) *testbed.Result {
		var frames []reports.FrameSample
		for i := range 100 {
			frames = append(frames, reports.FrameSample{Frame: uint64(i), Capture: at(secs(9) + time.Duration(i)*100*time.Millisecond),
				Answered: true, Latency: lat})
		}
		run := &reports.Run{Scenario: "one-store", Start: at(0), End: at(secs(25)), Duration: secs(15),
			Phases: []reports.Phase{{Name: reports.PhaseWarmUp, Start: at(0), End: at(secs(8))},
				{Name: reports.PhaseRun, Start: at(secs(8)), End: at(secs(23))}},
			Cameras: []reports.Camera{{ID: "store-1-cam-1", Site: "store-1", Placement: reports.PlacementEdge, FPS: 10, Frames: frames}}}
		rep, err := reports.Analyze(run)
		Expect(err).NotTo(HaveOccurred())
		rep.Headroom = &reports.Headroom{CPUs: 2, Saturated: saturated, Reasons: []string{"a spec's saturation"}}
		return &testbed.Result{Dir: "/results/" + lat.String(), Run: run, Report: rep}
	}

	It("emulates each point Repeat times, pools them, gives the single runs' range, and takes a saturated run's host", func(ctx SpecContext) {
		var calls int
		runs := []*testbed.Result{emulated(20*time.Millisecond, false), emulated(30*time.Millisecond, false)}
		o := validate.Options{Calibration: loadFixture(), Repeat: 2, Emulate: func(context.Context, *scenarios.Scenario) (*testbed.Result, error) {
			calls++
			return runs[(calls-1)%len(runs)], nil
		}}
		res, err := validate.Run(ctx, load("one-store"), []int{1}, o)
		Expect(err).NotTo(HaveOccurred())
		Expect(calls).To(Equal(2))
		row := res.Validation.Rows[0]
		Expect(row.Figure).To(Equal(validate.FigureLatencyP50))
		Expect(row.Emulated).To(BeNumerically("~", 0.020, 1e-9), "nearest-rank median of 100 frames at 20 ms and 100 at 30 ms")
		Expect(row.Note).To(ContainSubstring("emulated over 2 runs pooled; single runs 20ms-30ms"))
		Expect(res.Validation.Rows[1].Emulated).To(BeNumerically("~", 0.030, 1e-9))
		Expect(res.Validation.Commands[0]).To(ContainSubstring("2 runs pooled (results /results/20ms, /results/30ms)"))
		Expect(row.Exercised).To(BeTrue())
		Expect(res.Validation.Commands[0]).To(ContainSubstring("seeds 42-61 pooled"), "DefaultSimRuns simulated runs")
		gap := res.Validation.Rows[slices.IndexFunc(res.Validation.Rows, func(r plan.ValidationRow) bool { return r.Figure == validate.FigureFailoverGap })]
		Expect(gap.Note).To(ContainSubstring("simulated 2"), "the largest gap over as many simulated runs as emulated (one camera on the killed node each)")

		runs[1] = emulated(30*time.Millisecond, true)
		calls = 0
		res, err = validate.Run(ctx, load("one-store"), []int{1}, o)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Validation.Rows[0].Exercised).To(BeFalse())
		Expect(res.Validation.Rows[0].Note).To(ContainSubstring("a spec's saturation"))
	})
})
