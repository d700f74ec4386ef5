package testbed_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// brokenCluster is a provider whose deploy fails the way a cluster does
// when a Service gets no endpoints; it has evidence and cluster events.
type brokenCluster struct {
	cfg       testbed.ProviderConfig
	destroyed bool
}

func (b *brokenCluster) Name() string                                   { return "kind" }
func (b *brokenCluster) Provision(context.Context, *testbed.Plan) error { return nil }
func (b *brokenCluster) Deploy(context.Context) error {
	_, _ = b.cfg.Log.Write([]byte("waiting for edgenodes\n"))
	return errors.New("Service edgenode-store-1 has no endpoints")
}
func (b *brokenCluster) StartCameras(context.Context, string) error           { return nil }
func (b *brokenCluster) StopCameras(context.Context) error                    { return nil }
func (b *brokenCluster) Inject(context.Context, testbed.Action) error         { return nil }
func (b *brokenCluster) LinkStats(context.Context) ([]netem.LinkStats, error) { return nil, nil }
func (b *brokenCluster) Alerts(context.Context) ([]byte, error)               { return nil, nil }
func (b *brokenCluster) Destroy(context.Context) error                        { b.destroyed = true; return nil }
func (b *brokenCluster) Diagnose(context.Context) []evidence.Diagnostic {
	return []evidence.Diagnostic{{Title: "Service endpoints", Command: "kubectl get endpointslices", Output: "edgenode-store-1   <none>"}}
}
func (b *brokenCluster) ClusterEvents(context.Context) []evidence.ClusterEvent {
	return []evidence.ClusterEvent{{At: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), Kind: evidence.NodeNotReady, Node: "store-1-edge-2"}}
}
func (b *brokenCluster) Clusters(context.Context) []evidence.Cluster {
	return []evidence.Cluster{{Name: "es-quickstart", Nodes: 5, Create: 40 * time.Second, Ready: 9 * time.Second, ControlPlane: "es-quickstart-control-plane", ControlPlaneMemory: 600 << 20}}
}

// lostCluster loses its API server while the cameras start.
type lostCluster struct {
	brokenCluster
	stopped bool
}

func (l *lostCluster) Deploy(context.Context) error { return nil }
func (l *lostCluster) StartCameras(ctx context.Context, _ string) error {
	l.cfg.Observe(testbed.ObservedEvent{At: time.Now(), Kind: "api-server-lost", Target: "context lab", Detail: "no answer from /readyz", Ends: true})
	<-ctx.Done() // what a call to the lost cluster does: wait until given up
	return ctx.Err()
}
func (l *lostCluster) StopCameras(context.Context) error { l.stopped = true; return nil }

var _ = Describe("a provider that loses its cluster", func() {
	It("ends the run at once with a partial report that says why, and still tears down", func(ctx SpecContext) {
		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderKind
		var made *lostCluster
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), Report: render.WriteEvery,
			Providers: testbed.Providers{scenarios.ProviderKind: func(c testbed.ProviderConfig) (testbed.Provider, error) {
				made = &lostCluster{brokenCluster: brokenCluster{cfg: c}}
				return made, nil
			}},
		})
		Expect(err).To(MatchError(testbed.ErrEnded))
		Expect(err).NotTo(MatchError(testbed.ErrInterrupted))
		Expect(err).To(MatchError(ContainSubstring("api-server-lost context lab: no answer from /readyz")))
		Expect(made.stopped).To(BeTrue(), "the cameras are stopped and their samples collected as far as possible")
		Expect(made.destroyed).To(BeTrue())
		Expect(res.Report.Partial).To(BeTrue())
		Expect(res.Report.PartialReason).To(ContainSubstring("api-server-lost"))
		Expect(res.Run.ObservedFaults).To(ConsistOf(HaveField("Kind", "api-server-lost")))
		md, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("api-server-lost"))
	}, SpecTimeout(time.Minute))
})

var _ = Describe("providers beyond the local one", func() {
	var sc *scenarios.Scenario
	BeforeEach(func() {
		var err error
		sc, err = scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderKind
	})

	It("says which providers exist when the scenario names another", func(ctx SpecContext) {
		_, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir()})
		Expect(err).To(MatchError(ContainSubstring(`provider "kind" is not available here (available: [local])`)))
	})

	It("makes the provider with the run's name, shows its progress, and reports its evidence when the run fails", func(ctx SpecContext) {
		var made *brokenCluster
		var messages []string
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), Report: render.WriteEvery,
			Providers: testbed.Providers{scenarios.ProviderKind: func(c testbed.ProviderConfig) (testbed.Provider, error) {
				made = &brokenCluster{cfg: c}
				return made, nil
			}},
			Progress: func(p testbed.Progress) {
				if p.Message != "" {
					messages = append(messages, p.Phase+": "+p.Message)
				}
			},
		})
		Expect(err).To(MatchError(ContainSubstring("deploy: Service edgenode-store-1 has no endpoints")))
		Expect(made).NotTo(BeNil())
		Expect(made.cfg.Name).To(HavePrefix("quickstart-"), "one name per run")
		Expect(made.destroyed).To(BeTrue(), "the cluster is deleted after a failure")
		Expect(messages).To(ContainElement("provision: waiting for edgenodes"), "the provider's log lines become progress messages")

		Expect(res.Report.Partial).To(BeTrue())
		Expect(res.ExitCode()).NotTo(BeZero())
		Expect(res.Report.PartialReason).To(ContainSubstring("no endpoints"))
		Expect(res.Report.Diagnostics).To(ConsistOf(HaveField("Title", "Service endpoints")))
		Expect(res.Run.ClusterEvents).To(HaveLen(1))
		Expect(res.Report.Clusters).To(ConsistOf(HaveField("ControlPlaneMemory", uint64(600<<20))), "what the provider measured of its cluster")
		md, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("edgenode-store-1   <none>"))
		Expect(string(md)).To(ContainSubstring("**Cluster** es-quickstart, 5 nodes"))
	})

	It("records, shows and reports at the top that a provider could not emulate the links", func(ctx SpecContext) {
		var messages []string
		res, err := testbed.Run(ctx, sc, testbed.Options{
			ResultsDir: GinkgoT().TempDir(), Report: render.WriteEvery,
			Provider: &unemulated{brokenCluster: brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}}},
			Progress: func(p testbed.Progress) {
				if p.Message != "" {
					messages = append(messages, p.Phase+": "+p.Message)
				}
			},
		})
		Expect(err).To(MatchError(ContainSubstring("no endpoints")))
		Expect(res.Run.LinksNotEmulated).To(Equal("the cluster refused privileged pods"))
		Expect(res.Report.LinksNotEmulated).To(Equal(res.Run.LinksNotEmulated))
		Expect(messages).To(ContainElement(HavePrefix("provision: links not emulated (the cluster refused privileged pods)")))
		md, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("LINKS NOT EMULATED (the cluster refused privileged pods)"))

		res, err = testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(),
			Provider: &unemulated{brokenCluster: brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}}, emulated: true}})
		Expect(err).To(HaveOccurred())
		Expect(res.Run.LinksNotEmulated).To(BeEmpty(), "a provider that says \"\" emulates them")
	})

	It("gives two runs started in the same second a results directory each", func(ctx SpecContext) {
		base := GinkgoT().TempDir()
		same := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)
		var dirs []string
		for range 2 {
			res, err := testbed.Run(ctx, sc, testbed.Options{
				ResultsDir: base, Now: func() time.Time { return same },
				Provider: &brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}},
			})
			Expect(err).To(MatchError(ContainSubstring("no endpoints")))
			dirs = append(dirs, res.Dir)
		}
		Expect(dirs[0]).NotTo(Equal(dirs[1]))
		Expect(dirs[1]).To(Equal(dirs[0] + "-2"))
		for _, d := range dirs {
			Expect(filepath.Join(d, "logs")).To(BeADirectory())
		}
	})

	Describe("tear-down", func() {
		run := func(ctx context.Context, o testbed.Options) (error, *hungProvider) {
			p := &hungProvider{brokenCluster: brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}}, destroying: make(chan struct{})}
			o.ResultsDir, o.Provider = GinkgoT().TempDir(), p
			_, err := testbed.Run(ctx, sc, o)
			return err, p
		}

		It("has a deadline", func(ctx SpecContext) {
			err, p := run(ctx, testbed.Options{TeardownTimeout: 50 * time.Millisecond})
			Expect(err).To(MatchError(testbed.ErrTeardownCut))
			Expect(err).To(MatchError(ContainSubstring("edgesim clean")))
			Expect(p.ctxEnded).To(BeTrue(), "Destroy's context ended")
		}, SpecTimeout(time.Minute))

		It("is cut short by a second interrupt", func(ctx SpecContext) {
			abort := make(chan struct{})
			done := make(chan error, 1)
			var p *hungProvider
			go func() {
				var err error
				err, p = run(ctx, testbed.Options{Abort: abort})
				done <- err
			}()
			Consistently(done, "200ms").ShouldNot(Receive(), "tear-down waits for the provider (deadline 2 min)")
			close(abort)
			var err error
			Eventually(done, "30s").Should(Receive(&err))
			Expect(err).To(MatchError(ContainSubstring("interrupted again")))
			Expect(p.ctxEnded).To(BeTrue())
		}, SpecTimeout(time.Minute))
	})
})

// unemulated says it could not emulate the links, unless emulated.
type unemulated struct {
	brokenCluster
	emulated bool
}

func (u *unemulated) LinksNotEmulated() string {
	if u.emulated {
		return ""
	}
	return "the cluster refused privileged pods"
}

// hungProvider fails to deploy and then hangs in Destroy until its context
// ends.
type hungProvider struct {
	brokenCluster
	destroying chan struct{}
	ctxEnded   bool
}

func (h *hungProvider) Destroy(ctx context.Context) error {
	close(h.destroying)
	<-ctx.Done()
	h.ctxEnded = true
	return ctx.Err()
}
