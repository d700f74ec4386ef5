package testbed_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgenode/app"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// rolloutScenario is a scenario of duration with sites (a YAML list) and
// one rollout (the fields of its YAML mapping) of the int8 model.
func rolloutScenario(duration, sites, rollout string) *scenarios.Scenario {
	GinkgoHelper()
	sc, err := scenarios.Load("ro.yaml", []byte(`apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: ro}
spec:
  duration: `+duration+`
  sites: `+sites+`
  rollouts:
    - {model: ../runtime/models/edgesim-det/v2-int8, `+rollout+`}
`), "")
	Expect(err).NotTo(HaveOccurred())
	return sc
}

var _ = Describe("Rollouts on the local provider", func() {
	It("resumes a model fetch where a stalled connection (a partition) left it", func(ctx SpecContext) {
		file := bytes.Repeat([]byte("edgesim-model-"), 8000) // 112000 bytes
		var mu sync.Mutex
		var ranges []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Range"))
			first := len(ranges) == 1
			mu.Unlock()
			if first { // 40000 bytes, then nothing: the link went down
				w.Header().Set("Content-Range", "bytes 0-"+strconv.Itoa(len(file)-1)+"/"+strconv.Itoa(len(file)))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(file[:40000])
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return
			}
			http.ServeContent(w, r, "weights.bin", time.Time{}, bytes.NewReader(file))
		}))
		defer srv.Close()
		dst := filepath.Join(GinkgoT().TempDir(), "weights.bin")
		n, err := testbed.FetchFile(ctx, srv.Client(), srv.URL+"/weights.bin", dst)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(int64(len(file))), "every byte once: the resume asks only for the rest")
		got, err := os.ReadFile(dst)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(file))
		Expect(ranges).To(Equal([]string{"bytes=0-", "bytes=40000-"}))
	}, NodeTimeout(30*time.Second))

	It("starts the edgenodes of rolled-out sites on a model link the rollout moves, to the scenario's model", func() {
		sc := rolloutScenario("60s", "[{name: a}, {name: b}]", "at: 5s, sites: [a], strategy: {rolling: {}}, gate: {window: 10s}")
		plan, err := testbed.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		for node, rolled := range map[string]bool{"a-edge-1": true, "b-edge-1": false} {
			args, err := testbed.LocalEdgenodeLaunch(plan, dir, node, "http://cloud")
			Expect(err).NotTo(HaveOccurred())
			cfg, err := app.ServeConfig(args[1:], func(string) (string, bool) { return "", false })
			Expect(err).NotTo(HaveOccurred())
			if !rolled {
				Expect(cfg.ModelDir).To(BeEmpty(), "the embedded model, as without a rollout")
				continue
			}
			Expect(cfg.ModelDir).To(Equal(filepath.Join(dir, "model-"+node)))
			target, err := os.Readlink(cfg.ModelDir)
			Expect(err).NotTo(HaveOccurred())
			Expect(filepath.Join(target, "manifest.json")).To(BeAnExistingFile(), "the embedded model, copied out")
		}
	})

	It("refuses, before building anything, a scenario with rollouts on a provider that does not run them", func(ctx SpecContext) {
		sc := rolloutScenario("60s", "[{name: a}]", "at: 5s, strategy: {rolling: {}}, gate: {window: 10s}")
		p := &brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}}
		_, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Provider: p})
		Expect(err).To(MatchError(ContainSubstring("the scenario has rollouts, and provider kind does not run them")))
		Expect(p.destroyed).To(BeFalse(), "nothing was provisioned")
	})

	It("swaps maxUnavailable nodes at a time, and rolls every swapped node back, newest first, when the gate had nothing to judge", func(ctx SpecContext) {
		sc := rolloutScenario("4s", "[{name: a, nodes: 3}, {name: b}]", "at: 0s, maxUnavailable: 2, strategy: {rolling: {}}, gate: {window: 1s}")
		p := &fakeRoller{dirs: map[string]string{}}
		res, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Provider: p})
		Expect(err).NotTo(HaveOccurred())
		Expect(p.fetched).To(Equal([]string{"a-edge-1"}), "one delivery per site, through its first node; b never reached")
		Expect(p.maxConcurrent).To(Equal(2))
		Expect(p.swaps[:3]).To(ConsistOf(HaveSuffix("a-edge-1 ->new"), HaveSuffix("a-edge-2 ->new"), HaveSuffix("a-edge-3 ->new")))
		Expect(p.swaps[2]).To(Equal("a-edge-3 ->new"), "the third node waits for the first two")
		Expect(p.swaps[3:]).To(Equal([]string{"a-edge-3 ->old-a-edge-3", "a-edge-2 ->old-a-edge-2", "a-edge-1 ->old-a-edge-1"}))

		Expect(res.Report.Rollouts).To(HaveLen(1))
		ro := res.Report.Rollouts[0]
		Expect(ro.Outcome).To(Equal(reports.RolloutRolledBack))
		Expect(ro.Reason).To(ContainSubstring("not exercised, which never passes: no frame"))
		Expect(ro.Decisions).To(ConsistOf(HaveField("Verdict", reports.GateNotExercised)))
		Expect(ro.Sites).To(ConsistOf(
			And(HaveField("Site", "a"), HaveField("Status", reports.RolloutRolledBack), HaveField("BytesShipped", int64(1234))),
			And(HaveField("Site", "b"), HaveField("Status", "not reached"))))
		Expect(res.ExitCode()).To(Equal(1), "a rolled-back rollout fails the run")
	}, NodeTimeout(time.Minute))
})

// fakeRoller is a provider with no cameras whose model swaps are recorded:
// "node ->dir base", the delivered model being "new".
type fakeRoller struct {
	brokenCluster
	mu                      sync.Mutex
	dirs                    map[string]string
	fetched, swaps          []string
	inFlight, maxConcurrent int
}

func (f *fakeRoller) Name() string                 { return "local" }
func (f *fakeRoller) Deploy(context.Context) error { return nil }
func (f *fakeRoller) ModelDir(node string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.dirs[node]; ok {
		return d
	}
	return "/models/old-" + node
}
func (f *fakeRoller) ServeModel(context.Context, string, []string) (string, func(), error) {
	return "http://cloud", func() {}, nil
}
func (f *fakeRoller) FetchModel(_ context.Context, node, _ string, _ []string, _ string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched = append(f.fetched, node)
	return 1234, nil
}
func (f *fakeRoller) SwapModel(_ context.Context, node, dir string) (string, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxConcurrent = max(f.maxConcurrent, f.inFlight)
	f.mu.Unlock()
	// Hold the swap until another one runs beside it (maxUnavailable 2),
	// at most 300 ms (a node swapped alone).
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		overlapped := f.maxConcurrent >= 2
		f.mu.Unlock()
		if overlapped {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	name := filepath.Base(dir)
	if !strings.HasPrefix(name, "old-") {
		name = "new"
	}
	f.swaps = append(f.swaps, node+" ->"+name)
	f.dirs[node] = dir
	return "m@" + name, nil
}
