package testbed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// procStat is a /proc/stat of two CPUs with the given aggregate busy and
// idle jiffies (busy split over user and system) and procs_running.
func procStat(busy, idle uint64, running int) []byte {
	return fmt.Appendf(nil, "cpu  %d 0 %d %d 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 1 0 1 1 0 0 0 0 0 0\nintr 12345\nctxt 999\nprocs_running %d\nprocs_blocked 0\n",
		busy/2, busy-busy/2, idle, running)
}

// countingProc is a /proc whose CPU counters advance by busy and idle
// jiffies on every read of stat, with running threads runnable.
type countingProc struct {
	mu                sync.Mutex
	busy, idle, reads uint64
	stepBusy          uint64
	stepIdle          uint64
	running           int
}

func (p *countingProc) Open(name string) (fs.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := fstest.MapFS{"loadavg": {Data: []byte("3.10 2.00 1.00 7/400 4242\n")}}
	if name == "stat" {
		p.reads++
		p.busy += p.stepBusy
		p.idle += p.stepIdle
		m["stat"] = &fstest.MapFile{Data: procStat(p.busy, p.idle, p.running)}
	}
	return m.Open(name)
}

var _ = Describe("HostProbe", func() {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

	It("gives the CPU share busy since the previous sample and the runnable threads besides its own", func() {
		proc := fstest.MapFS{
			"stat":    {Data: procStat(1000, 1000, 3)},
			"loadavg": {Data: []byte("1.50 1.00 0.50 3/400 4242\n")},
		}
		p := testbed.NewHostProbe(proc)
		_, cpus, ok, err := p.Sample(t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeFalse(), "the first reading only primes the counters")
		Expect(cpus).To(Equal(2))

		proc["stat"] = &fstest.MapFile{Data: procStat(1000+150, 1000+50, 3)}
		s, cpus, ok, err := p.Sample(t0.Add(time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(cpus).To(Equal(2))
		Expect(s).To(Equal(reports.HostSample{At: t0.Add(time.Second), CPUBusy: 0.75, Runnable: 2, Load1: 1.5}))
	})

	It("counts I/O wait as idle and steal as busy", func() {
		stat := func(user, idle, iowait, steal int) []byte {
			return fmt.Appendf(nil, "cpu  %d 0 0 %d %d 0 0 %d 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\nprocs_running 1\n", user, idle, iowait, steal)
		}
		proc := fstest.MapFS{"stat": {Data: stat(0, 0, 0, 0)}, "loadavg": {Data: []byte("0.00 0 0 1/1 1\n")}}
		p := testbed.NewHostProbe(proc)
		_, _, _, err := p.Sample(t0)
		Expect(err).NotTo(HaveOccurred())
		proc["stat"] = &fstest.MapFile{Data: stat(10, 40, 30, 20)}
		s, _, _, err := p.Sample(t0.Add(time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.CPUBusy).To(BeNumerically("~", 0.3, 1e-9))
		Expect(s.Runnable).To(BeZero())
	})

	It("gives the threads' time running or waiting since the previous sample, over the interval, where schedstat is readable", func() {
		schedstat := func(run, wait uint64) *fstest.MapFile {
			return &fstest.MapFile{Data: fmt.Appendf(nil, "%d %d 7\n", run, wait)}
		}
		proc := fstest.MapFS{
			"stat":                   {Data: procStat(1000, 1000, 9)},
			"loadavg":                {Data: []byte("1.50 1.00 0.50 3/400 4242\n")},
			"10/task/10/schedstat":   schedstat(5e9, 1e9),
			"10/task/11/schedstat":   schedstat(100, 0),
			"20/task/20/schedstat":   schedstat(7e9, 0),
			"30/task/30/schedstat":   schedstat(1e9, 0),
			"30/task/30/stat":        {Data: []byte("not a schedstat")},
			"self/task/10/schedstat": schedstat(1, 1), // only numeric pids are threads
		}
		p := testbed.NewHostProbe(proc)
		_, _, ok, err := p.Sample(t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeFalse())

		// Over 2 s: thread 10 ran 1 s and waited 0.5 s; 11 ran 0.5 s; 20
		// waited 2 s (and cannot count for more than the interval however its
		// counters moved); 30 ended; 40 started and ran 0.5 s.
		proc["stat"] = &fstest.MapFile{Data: procStat(1100, 1100, 9)}
		proc["10/task/10/schedstat"] = schedstat(6e9, 1.5e9)
		proc["10/task/11/schedstat"] = schedstat(100+0.5e9, 0)
		proc["20/task/20/schedstat"] = schedstat(7e9, 5e9)
		delete(proc, "30/task/30/schedstat")
		proc["40/task/40/schedstat"] = schedstat(0.5e9, 0)
		s, _, ok, err := p.Sample(t0.Add(2 * time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(s.Runnable).To(BeNumerically("~", (1.5+0.5+2+0.5)/2, 1e-9), "not the 8 procs_running shows at the sample")
	})

	It("says what is wrong with a /proc it cannot read", func() {
		_, _, _, err := testbed.NewHostProbe(fstest.MapFS{"loadavg": {Data: []byte("0 0 0 1/1 1")}}).Sample(t0)
		Expect(err).To(MatchError(ContainSubstring("host headroom")))
		_, _, _, err = testbed.NewHostProbe(fstest.MapFS{"stat": {Data: []byte("intr 1\n")}, "loadavg": {Data: []byte("0 0 0 1/1 1")}}).Sample(t0)
		Expect(err).To(MatchError(ContainSubstring("/proc/stat has no cpu lines")))
	})
})

// finishingCluster is a provider whose run completes: its cameras answer
// (it writes their samples), and its tear-down can fail as given.
type finishingCluster struct {
	plan       *testbed.Plan
	stopErr    error
	destroyErr error
	release    netem.ReleaseStats
}

func (f *finishingCluster) Name() string { return "kind" }
func (f *finishingCluster) Provision(_ context.Context, p *testbed.Plan) error {
	f.plan = p
	return nil
}
func (f *finishingCluster) Deploy(context.Context) error { return nil }
func (f *finishingCluster) StartCameras(_ context.Context, dir string) error {
	now := time.Now()
	for _, c := range f.plan.Cameras {
		var b bytes.Buffer
		for i := range 5 {
			fmt.Fprintf(&b, `{"frame":%d,"capture_us":%d,"sent":true,"answered":true,"latency_ms":20,"node":"n"}`+"\n", i, now.Add(time.Duration(i)*time.Millisecond).UnixMicro())
		}
		if err := os.MkdirAll(filepath.Join(dir, c.Host), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c.Host, "latency-"+c.ID+".jsonl"), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
func (f *finishingCluster) StopCameras(context.Context) error            { return f.stopErr }
func (f *finishingCluster) Inject(context.Context, testbed.Action) error { return nil }
func (f *finishingCluster) LinkStats(context.Context) ([]netem.LinkStats, error) {
	return []netem.LinkStats{{Link: "site-wan", Direction: netem.Up, Release: f.release}}, nil
}
func (f *finishingCluster) Alerts(context.Context) ([]byte, error) { return nil, nil }
func (f *finishingCluster) Destroy(context.Context) error          { return f.destroyErr }

var _ = Describe("a run's tear-down and host", func() {
	var (
		sc   *scenarios.Scenario
		prov *finishingCluster
		proc fs.FS
	)
	BeforeEach(func() {
		var err error
		sc, err = scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Warmup, sc.Duration = 0, 300*time.Millisecond
		prov = &finishingCluster{}
		proc = &countingProc{stepBusy: 10, stepIdle: 190, running: 2} // 5% busy, 0.5 runnable per CPU
	})
	run := func(ctx context.Context) (*testbed.Result, error) {
		return testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Provider: prov, Proc: proc, Report: render.WriteEvery})
	}
	reportMD := func(res *testbed.Result) string {
		b, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		return string(b)
	}

	It("finishes without error when a failed tear-down step was made moot by destroying the cluster, and says so", func(ctx SpecContext) {
		prov.stopErr = errors.Join(testbed.Moot(errors.New(`kubectl delete pod cams: timed out waiting for the condition`)))
		res, err := run(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Report.Partial).To(BeFalse())
		Expect(res.Report.Warnings).To(ContainElement(And(ContainSubstring("tear-down: kubectl delete pod cams: timed out"), ContainSubstring("moot"))))
		Expect(reportMD(res)).To(ContainSubstring("timed out waiting for the condition"))
	})

	It("fails when the cluster that would make it moot was not destroyed", func(ctx SpecContext) {
		prov.stopErr = testbed.Moot(errors.New("kubectl delete pod cams: timed out"))
		prov.destroyErr = errors.New("delete kind cluster: boom")
		_, err := run(ctx)
		Expect(err).To(MatchError(ContainSubstring("boom")))
		Expect(err).To(MatchError(ContainSubstring("kubectl delete pod cams: timed out")))
	})

	It("still fails on a tear-down error that is not moot", func(ctx SpecContext) {
		prov.stopErr = errors.Join(testbed.Moot(errors.New("delete timed out")), errors.New("copy samples: no such container"))
		_, err := run(ctx)
		Expect(err).To(MatchError(ContainSubstring("copy samples")))
		Expect(err).NotTo(MatchError(ContainSubstring("delete timed out")))
	})

	It("writes samples.json by default, and the report recomputes from it", func(ctx SpecContext) {
		Expect(sc.Report.Formats).To(ConsistOf("json", "html", "markdown", "junit"), "the scenario's defaults")
		res, err := run(ctx)
		Expect(err).NotTo(HaveOccurred())
		f, err := os.Open(filepath.Join(res.Dir, "samples.json"))
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		back, err := reports.ReadSamples(f)
		Expect(err).NotTo(HaveOccurred())
		again, err := reports.Analyze(back)
		Expect(err).NotTo(HaveOccurred())
		var want, got bytes.Buffer
		Expect(reports.WriteJSON(&want, res.Report)).To(Succeed())
		Expect(reports.WriteJSON(&got, again)).To(Succeed())
		Expect(got.String()).To(Equal(want.String()))
	})

	It("samples the host and leaves an idle host's report without a banner", func(ctx SpecContext) {
		prov.release = netem.ReleaseStats{Packets: 100, P99: 150 * time.Microsecond, Max: time.Millisecond}
		res, err := run(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Run.Host).NotTo(BeNil())
		Expect(res.Run.Host.CPUs).To(Equal(2))
		Expect(res.Run.Host.Release).To(ConsistOf(HaveField("Link", "site-wan")))
		h := res.Report.Headroom
		Expect(h).NotTo(BeNil())
		Expect(h.Samples).To(BeNumerically(">=", 1))
		Expect(h.CPUBusyMean).To(BeNumerically("~", 0.05, 1e-9))
		Expect(h.Saturated).To(BeFalse())
		Expect(reportMD(res)).NotTo(ContainSubstring("HOST SATURATED"))
	})

	It("puts a saturated host at the top of the report", func(ctx SpecContext) {
		proc = &countingProc{stepBusy: 196, stepIdle: 4, running: 6} // 98% busy, 2.5 runnable per CPU
		res, err := run(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Report.Headroom.Saturated).To(BeTrue())
		lines := strings.SplitN(reportMD(res), "\n", 4)
		Expect(lines[2]).To(HavePrefix("> ⚠️ **HOST SATURATED"))
		Expect(lines[2]).To(ContainSubstring("CPU 98% busy"))
		Expect(lines[2]).To(ContainSubstring("e2e latency (every percentile and scope)"))
	})

	It("runs on without host figures when /proc cannot be read, and says so", func(ctx SpecContext) {
		proc = fstest.MapFS{}
		prov.release = netem.ReleaseStats{Packets: 100, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond}
		res, err := run(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Report.Headroom).NotTo(BeNil(), "the release lateness is still there")
		Expect(res.Report.Headroom.Samples).To(BeZero())
		Expect(res.Report.Headroom.Saturated).To(BeTrue(), "judged on what was sampled")
		Expect(res.Report.Headroom.Reasons).To(ConsistOf(ContainSubstring("site-wan up")))
		Expect(res.Report.Warnings).To(ContainElement(ContainSubstring("cannot say whether the host was saturated")))
	})
})
