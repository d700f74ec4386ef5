package testbed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// gatesScenario: one camera on two edge nodes, a loiter at the door from
// the start of the run for 2 s, and s-edge-1 killed at +2s.
const gatesScenario = `apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: gates}
spec:
  seed: 1
  duration: 4s
  sites:
    - name: s
      nodes: 2
      cameras:
        - name: cam
          count: 1
          fps: 10
          zones: [{name: door, rect: [0, 0, 1, 1]}]
          events: [{kind: loiter, zone: door, label: person, at: 0s, duration: 2s}]
  links:
    - between: [site:s, cloud]
      profile: lan
  workload:
    alerts: [{zone: door, labels: [person], dwell: 1s}]
  faults:
    - {at: 2s, action: kill, target: {node: s-edge-1}}
  slo:
    e2eLatency: {p95: 500ms}
    timeToAlert: 3s
    failoverMax: 5s
`

// replay is a provider that plays a scripted run back instead of running
// processes: the cameras' samples and ground truth in fakecam's files, and
// the cloud's alerts. Its scene: the loiterer (ground-truth track 1, the
// edgenode's tracker id 7) and a bystander (track 1000001, tracker id 8),
// each alerted on once, the bystander first.
type replay struct {
	failKill bool

	mu       sync.Mutex
	plan     *testbed.Plan
	dir      string
	camStart time.Time
	killAt   time.Time
	killed   string
	alerts   []byte
}

func (p *replay) Name() string                                          { return "local" }
func (p *replay) Provision(_ context.Context, plan *testbed.Plan) error { p.plan = plan; return nil }
func (p *replay) Deploy(context.Context) error                          { return nil }
func (p *replay) LinkStats(context.Context) ([]netem.LinkStats, error)  { return nil, nil }
func (p *replay) Destroy(context.Context) error                         { return nil }

func (p *replay) Alerts(context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alerts, nil
}

func (p *replay) Inject(_ context.Context, a testbed.Action) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.Kind == testbed.ActionKill {
		if p.failKill {
			return errors.New("no such container")
		}
		p.killAt, p.killed = time.Now(), a.Node
	}
	return nil
}

// StartCameras writes every camera's first answered frame, so the warm-up
// sees them answering.
func (p *replay) StartCameras(_ context.Context, dir string) error {
	p.dir, p.camStart = dir, time.Now()
	return p.write(1, time.Time{})
}

// StopCameras writes the rest of the run, now that the fault times are
// known.
func (p *replay) StopCameras(context.Context) error { return p.write(0, time.Now()) }

const (
	loiterBox    = "[100,100,150,200]"
	bystanderBox = "[400,100,450,200]"
)

func (p *replay) write(frames int, until time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if frames == 0 {
		frames = int(until.Sub(p.camStart) / (100 * time.Millisecond))
	}
	for _, c := range p.plan.Cameras {
		dir := filepath.Join(p.dir, c.Host)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		var lat, truth []byte
		edge := c.Endpoints[0] // s-edge-1, or the cloud node for the mirror
		lost := 0
		for i := range frames {
			capture := p.camStart.Add(time.Duration(i) * 100 * time.Millisecond)
			node, latency := edge, 20*time.Millisecond
			if c.Placement == scenarios.PlacementCloud {
				latency = 900 * time.Millisecond // the mirror rides a slow path
			}
			if node == p.killed && capture.After(p.killAt.Add(20*time.Millisecond)) {
				// One more answer from the dying node, then a second without
				// answers, then s-edge-2 takes over.
				switch lost++; {
				case lost == 1:
				case lost <= 11:
					node = ""
				default:
					node = "s-edge-2"
				}
			}
			line := map[string]any{"frame": i, "capture_us": capture.UnixMicro(), "sent": true}
			if node != "" {
				line["answered"], line["latency_ms"], line["node"] = true, float64(latency.Milliseconds()), node
				line["detections"] = []json.RawMessage{
					json.RawMessage(`{"label":"person","score":0.9,"box":[101,101,151,201],"track":7}`),
					json.RawMessage(`{"label":"person","score":0.9,"box":[401,99,449,201],"track":8}`),
				}
			}
			b, _ := json.Marshal(line)
			lat = append(append(lat, b...), '\n')
			events := ""
			if i < 20 { // the run starts with the camera (no warm-up): the loiter covers its first 2 s
				events = `,"events":["loiter:door"]`
			}
			truth = append(truth, fmt.Sprintf(`{"frame":%d,"pts_ms":%d,"capture_us":%d,"width":640,"height":360,"objects":[`+
				`{"track":1,"label":"person","box":%s},{"track":1000001,"label":"person","box":%s}]%s}`+"\n",
				i, i*100, capture.UnixMicro(), loiterBox, bystanderBox, events)...)
		}
		if err := os.WriteFile(filepath.Join(dir, "latency-"+c.ID+".jsonl"), lat, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "groundtruth-"+c.ID+".jsonl"), truth, 0o644); err != nil {
			return err
		}
		if until.IsZero() || c.Placement == scenarios.PlacementCloud {
			continue
		}
		// The bystander's alert from frame 5, the loiterer's from frame 15.
		for _, a := range []struct {
			id           string
			track, frame int
		}{{"bystander", 8, 5}, {"loiterer", 7, 15}} {
			raised := p.camStart.Add(time.Duration(a.frame)*100*time.Millisecond + 30*time.Millisecond)
			b, _ := json.Marshal(map[string]any{"id": a.id, "node": edge, "camera": c.ID, "zone": "door", "label": "person",
				"track": a.track, "frame": a.frame, "raised": raised, "received": raised})
			p.alerts = append(append(p.alerts, b...), '\n')
		}
	}
	return nil
}

func gatesRun(ctx context.Context, p testbed.Provider, compare bool, edit ...func(string) string) *testbed.Result {
	GinkgoHelper()
	text := gatesScenario
	for _, e := range edit {
		text = e(text)
	}
	sc, err := scenarios.Load("gates.yaml", []byte(text), "")
	Expect(err).NotTo(HaveOccurred())
	res, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Provider: p, Compare: compare})
	Expect(err).NotTo(HaveOccurred())
	return res
}

func sloNamed(res *testbed.Result, name string) reports.SLOVerdict {
	GinkgoHelper()
	v, ok := res.Report.SLO(name)
	Expect(ok).To(BeTrue(), "no SLO %q among %v", name, res.Report.SLOs)
	return v
}

var _ = Describe("SLO gates of a run with its comparison mirror", Ordered, ContinueOnFailure, func() {
	var res *testbed.Result
	BeforeAll(func(ctx SpecContext) { res = gatesRun(ctx, &replay{}, true) })

	It("takes a surviving node's answer for recovery, not the killed node's last one", func() {
		Expect(res.Report.Failover).To(HaveLen(1))
		g := res.Report.Failover[0]
		Expect(g.Camera).To(Equal("s-cam-1"))
		Expect(g.RecoveredBy).To(Equal("s-edge-2"))
		Expect(g.FramesLost).To(Equal(10))
		Expect(g.GapMs).To(BeNumerically(">=", 1000), "the camera went 10 frames without answer")
	})

	It("does not count the bystander's alert for the loiter", func() {
		Expect(res.Report.TimeToAlert).To(HaveLen(2), "the loiter on the camera and on its mirror")
		t := res.Report.TimeToAlert[0]
		Expect(t.Camera).To(Equal("s-cam-1"))
		Expect(t.AlertID).To(Equal("loiterer"))
		Expect(t.TimeToAlertMs).To(BeNumerically("~", 1530, 1))
	})

	It("gates the scenario's own cameras; the mirror's slow path is a what-if", func() {
		Expect(sloNamed(res, "e2e latency p95 (scenario's cameras)").Pass).To(BeTrue())
		Expect(sloNamed(res, "e2e latency p95 (mirror cameras) [what-if]").Pass).To(BeFalse())
		Expect(res.Report.Verdict).To(Equal(reports.VerdictPass), res.Report.Summary())
		Expect(res.ExitCode()).To(Equal(0))
	})
})

var _ = Describe("SLO gates of a run whose fault failed", func() {
	It("fails the failover gate when the kill could not be injected", func(ctx SpecContext) {
		res := gatesRun(ctx, &replay{failKill: true}, false)
		Expect(res.Run.Faults).To(HaveLen(1))
		Expect(res.Run.Faults[0].Detail).To(ContainSubstring("failed: no such container"))
		v := sloNamed(res, "failover gap (max)")
		Expect(v.Pass).To(BeFalse())
		Expect(v.Reason).To(ContainSubstring("no such container"))
		Expect(res.ExitCode()).To(Equal(1))
	})
})

// describedReplay carries out its kill in a way the report must name.
type describedReplay struct{ replay }

func (*describedReplay) DescribeFault(a testbed.Action) string {
	if a.Kind == testbed.ActionKill {
		return "pods deleted, node cordoned"
	}
	return ""
}

var _ = Describe("the record of a fault", func() {
	It("names how the provider carried it out when the provider says", func(ctx SpecContext) {
		res := gatesRun(ctx, &describedReplay{}, false)
		Expect(res.Run.Faults).To(HaveLen(1))
		Expect(res.Run.Faults[0].Detail).To(Equal("kill s-edge-1 (pods deleted, node cordoned)"))
	})
})

var _ = Describe("SLO gates of a run whose kill hit no camera", func() {
	It("reports the failover gate as not exercised, which fails the run unless the scenario allows it", func(ctx SpecContext) {
		idle := func(s string) string {
			return strings.Replace(s, "target: {node: s-edge-1}", "target: {node: s-edge-2}", 1)
		}
		res := gatesRun(ctx, &replay{}, false, idle)
		Expect(res.Report.Failover).To(BeEmpty(), "s-edge-2 served no camera")
		v := sloNamed(res, "failover gap (max)")
		Expect(v.Measured).To(Equal("not exercised"))
		Expect(v.Pass).To(BeFalse())
		Expect(res.ExitCode()).To(Equal(1))

		allowed := func(s string) string { return s + "    allowNotExercised: true\n" }
		res = gatesRun(ctx, &replay{}, false, idle, allowed)
		Expect(sloNamed(res, "failover gap (max)").Measured).To(Equal("not exercised"))
		Expect(res.ExitCode()).To(Equal(0), res.Report.Summary())
	})
})
