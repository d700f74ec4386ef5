package testbed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/wire"
)

// liveProvider is a provider whose cameras answer at once, whose links
// carry fixed counts and whose edgenodes serve fixed metrics, except
// store-1-edge-2, whose scrape fails once it was killed.
type liveProvider struct {
	brokenCluster
	plan   *testbed.Plan
	dir    string // the cameras' samples
	mu     sync.Mutex
	killed map[string]bool
}

func (p *liveProvider) Provision(_ context.Context, plan *testbed.Plan) error {
	p.plan, p.killed = plan, map[string]bool{}
	return nil
}
func (p *liveProvider) Deploy(context.Context) error { return nil }

// StartCameras writes a sample of every camera answered in 30 ms (the
// warm-up's); the kill (Inject) adds one more answered and one not.
func (p *liveProvider) StartCameras(_ context.Context, dir string) error {
	p.dir = dir
	return p.samples(wire.LatencyLine{Frame: 1, Sent: true, Answered: true, LatencyMS: 30, Node: "store-1-edge-1"})
}

func (p *liveProvider) samples(lines ...wire.LatencyLine) error {
	for _, c := range p.plan.Cameras {
		var b bytes.Buffer
		for _, l := range lines {
			l.CaptureUS = time.Now().UnixMicro()
			line, _ := json.Marshal(l)
			b.Write(append(line, '\n'))
		}
		if err := os.MkdirAll(filepath.Join(p.dir, c.Host), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(p.dir, c.Host, "latency-"+c.ID+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(b.Bytes())
		if err := errors.Join(err, f.Close()); err != nil {
			return err
		}
	}
	return nil
}

func (p *liveProvider) Inject(_ context.Context, a testbed.Action) error {
	p.mu.Lock()
	p.killed[a.Node] = true
	p.mu.Unlock()
	return p.samples(wire.LatencyLine{Frame: 2, Sent: true, Answered: true, LatencyMS: 30, Node: "store-1-edge-1"}, wire.LatencyLine{Frame: 3, Sent: true})
}

func (p *liveProvider) LinkStats(context.Context) ([]netem.LinkStats, error) {
	var out []netem.LinkStats
	for _, l := range p.plan.Links {
		for _, dir := range []string{"up", "down"} {
			out = append(out, netem.LinkStats{Link: l.Name, Direction: dir, DirStats: netem.DirStats{Bytes: 1000, Packets: 10,
				Drops: map[string]uint64{netem.ReasonLoss: 1}}})
		}
	}
	return out, nil
}

func (p *liveProvider) EdgenodeMetrics(_ context.Context, node string) (io.ReadCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed[node] {
		return nil, errors.New("connection refused")
	}
	return io.NopCloser(strings.NewReader(`# HELP edgenode_frames_inferred_total Frames run through the detector.
# TYPE edgenode_frames_inferred_total counter
edgenode_frames_inferred_total 7
# HELP edgenode_detections_total Detections sent back to cameras, per camera and label.
# TYPE edgenode_detections_total counter
edgenode_detections_total{camera="store-1-cam-1",label="person"} 3
`)), nil
}

// gatherText is what a scrape of live shows.
func gatherText(live *testbed.Live) string {
	fams, err := live.Gather()
	Expect(err).NotTo(HaveOccurred())
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		Expect(enc.Encode(f)).To(Succeed())
	}
	return b.String()
}

var _ = Describe("live metrics", func() {
	It("gathers nothing before the run, then the run's progress, links, cameras and every edgenode's metrics labelled by node and site", func(ctx SpecContext) {
		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Warmup, sc.Duration = 0, 4*time.Second
		sc.Faults[0].At = 500 * time.Millisecond
		live := testbed.NewLive()
		live.VerdictEvery = time.Millisecond
		Expect(gatherText(live)).To(BeEmpty())

		p := &liveProvider{brokenCluster: brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}}}
		done := make(chan error, 1)
		go func() {
			defer GinkgoRecover()
			_, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Provider: p, Live: live})
			done <- err
		}()
		Eventually(func() string { return gatherText(live) }).WithTimeout(30 * time.Second).Should(And(
			ContainSubstring(`edgesim_run_phase{phase="run"} 1`),
			ContainSubstring(`edgesim_run_phase{phase="warm-up"} 0`),
			ContainSubstring(`edgesim_run_faults_fired_total{kind="kill"} 1`),
			ContainSubstring(`edgesim_edgenode_up{node="store-1-edge-2",site="store-1"} 0`),
			ContainSubstring(`edgesim_camera_frames_total{camera="store-1-cam-1",placement="edge",site="store-1"} 3`),
			// The verdicts follow with the run's next sample: the answered
			// frames of the run phase took 30 ms, within p50 <= 250 ms.
			ContainSubstring(`edgesim_run_slo_verdict{gated="true",slo="e2e latency p50 (all cameras)",verdict="pass"} 1`),
		))
		text := gatherText(live)
		Expect(text).To(ContainSubstring(`edgesim_run_info{provider="local",scenario="quickstart"} 1`))
		Expect(text).To(ContainSubstring(`edgesim_edgenode_up{node="store-1-edge-1",site="store-1"} 1`))
		Expect(text).To(ContainSubstring(`edgesim_edgenode_up{node="cloud-1",site=""} 1`))
		Expect(text).To(ContainSubstring(`edgenode_frames_inferred_total{node="store-1-edge-1",site="store-1"} 7`))
		Expect(text).To(ContainSubstring(`edgenode_detections_total{camera="store-1-cam-1",label="person",node="cloud-1",site=""} 3`))
		Expect(text).NotTo(ContainSubstring(`edgenode_frames_inferred_total{node="store-1-edge-2"`), "a node that did not answer has only its up")
		Expect(text).To(ContainSubstring(`edgesim_link_bytes_total{direction="up",leg="backhaul",link="store-1-uplink",placement="edge",site="store-1",uplink="true"} 1000`))
		Expect(text).To(ContainSubstring(`edgesim_link_bytes_total{direction="down",leg="backhaul",link="store-1-uplink",placement="edge",site="store-1",uplink="false"} 1000`))
		Expect(text).To(ContainSubstring(`edgesim_link_packets_dropped_total{direction="up",leg="access",link="store-1-cameras",placement="edge",reason="loss",site="store-1",uplink="false"} 1`))
		Expect(text).To(ContainSubstring(`edgesim_run_cameras 4`))
		Expect(text).To(ContainSubstring(`edgesim_camera_frames_total{camera="store-1-cam-1",placement="edge",site="store-1"} 3`))
		Expect(text).To(ContainSubstring(`edgesim_camera_frames_answered_total{camera="store-1-cam-1",placement="edge",site="store-1"} 2`))
		// Four cameras answered twice each in 30 ms: in the 0.05 s bucket,
		// not in the 0.025 s one.
		Expect(text).To(ContainSubstring(`edgesim_camera_e2e_latency_seconds_bucket{placement="edge",site="store-1",le="0.025"} 0`))
		Expect(text).To(ContainSubstring(`edgesim_camera_e2e_latency_seconds_bucket{placement="edge",site="store-1",le="0.05"} 8`))
		Expect(text).To(ContainSubstring(`edgesim_camera_e2e_latency_seconds_count{placement="edge",site="store-1"} 8`))
		for _, state := range []string{"fail", "not_exercised"} {
			Expect(text).To(ContainSubstring(fmt.Sprintf(`edgesim_run_slo_verdict{gated="true",slo="e2e latency p50 (all cameras)",verdict=%q} 0`, state)))
		}
		Eventually(done).WithTimeout(time.Minute).Should(Receive(BeNil()))
	}, SpecTimeout(2*time.Minute))

	It("serves one run", func(ctx SpecContext) {
		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		live := testbed.NewLive()
		for i := range 2 {
			_, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Live: live,
				Provider: &brokenCluster{cfg: testbed.ProviderConfig{Log: GinkgoWriter}}})
			if i == 0 {
				Expect(err).To(MatchError(ContainSubstring("no endpoints")))
			} else {
				Expect(err).To(MatchError(ContainSubstring("a Live serves one run")))
			}
		}
	})
})
