package plan_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/scenarios"
)

// inlinePlan is a one-site store with no faults on the fixture's small-box
// (one worker, a deterministic 100 ms inference): at detect fps f a node
// carries 10/f cameras.
const inlinePlan = `apiVersion: edgesim.dev/v1alpha1
kind: Plan
metadata: {name: knee}
spec:
  calibration: calibration-test-fixture.yaml
  scenario:
    apiVersion: edgesim.dev/v1alpha1
    kind: Scenario
    metadata: {name: one-store}
    spec:
      seed: 3
      duration: 20s
      sites:
        - name: store
          nodes: 1
          resources: {cpu: "1", memory: 1Gi}
          cameras:
            - {name: cam, count: 2, resolution: 640x360, fps: 10, bitrate: 600Kbit}
      links:
        - {between: [cameras:store, site:store], delay: 2ms}
      workload: {model: {name: edgesim-det}, detectFPS: 5}
      slo:
        e2eLatency: {p50: 150ms, p95: 400ms, p99: 1s}
        recallMin: 90%
  sites:
    - {site: store, count: 4}
  sweep:
    camerasPerNode: [1, 2, 3]
    detectFps: [2, 5]
`

func writePlan(text string) string {
	dir := GinkgoT().TempDir()
	for _, f := range []string{"calibration-test-fixture.yaml", "scenario-two-stores.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, f), b, 0o644)).To(Succeed())
	}
	path := filepath.Join(dir, "plan.yaml")
	Expect(os.WriteFile(path, []byte(text), 0o644)).To(Succeed())
	return path
}

var fixedNow = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func runPlan(p *plan.Plan, opt plan.RunOptions) *plan.CapacityReport {
	cal, err := plan.LoadCalibration(p.Calibration)
	Expect(err).NotTo(HaveOccurred())
	opt.Now = fixedNow
	r, err := plan.RunPlan(context.Background(), p, cal, opt)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// comparable is a report's JSON without what legitimately differs between
// runs of the same work: its run statistics.
func comparable(r *plan.CapacityReport) string {
	c := *r
	c.Stats = plan.RunStats{}
	b, err := json.MarshalIndent(&c, "", " ")
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

var _ = Describe("plan files", func() {
	It("loads a plan with an inline scenario, maps the scenario's SLOs and says which it cannot judge", func() {
		p, err := plan.LoadPlan(writePlan(inlinePlan))
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Name).To(Equal("knee"))
		Expect(p.Scenario.Name).To(Equal("one-store"))
		Expect(p.Sweep.CamerasPerNode).To(Equal([]int{1, 2, 3}))
		Expect(p.Sweep.DetectFPS).To(Equal([]float64{2, 5}))
		Expect(p.Sites).To(Equal([]plan.SiteScale{{Site: "store", Count: 4, Type: "store"}}))
		Expect(p.Objectives).To(Equal(plan.Objectives{LatencyP50: 150 * time.Millisecond, LatencyP95: 400 * time.Millisecond}))
		Expect(strings.Join(p.ObjectiveNotes, "\n")).To(And(ContainSubstring("p99 is not judged"), ContainSubstring("recallMin is not judged")))
		Expect(filepath.Base(p.Calibration)).To(Equal("calibration-test-fixture.yaml"))
	})

	It("lists every objective in the report, time to alert included", func() {
		p, err := plan.LoadPlan(writePlan(inlinePlan))
		Expect(err).NotTo(HaveOccurred())
		p.Objectives.TimeToAlertP95 = 5 * time.Second
		p.Sweep.CamerasPerNode, p.Sweep.DetectFPS = []int{1}, []float64{2}
		r := runPlan(p, plan.RunOptions{})
		Expect(r.Objectives).To(Equal([]plan.Objective{{Name: "latency p50 (s)", Limit: 0.15}, {Name: "latency p95 (s)", Limit: 0.4},
			{Name: "time to alert p95 (s)", Limit: 5}}))
	})

	It("reports every problem at once with line, column and field path, unknown fields included", func() {
		text := strings.NewReplacer("  sites:\n    - {site: store, count: 4}\n", "  sites:\n    - {site: shop, count: 0}\n",
			"    detectFps: [2, 5]\n", "    detectFps: [2, 5]\n    placement: [edge, fog]\n    camerasPerNod: [1]\n").Replace(inlinePlan)
		_, err := plan.LoadPlan(writePlan(text))
		var list scenarios.ErrorList
		Expect(errors.As(err, &list)).To(BeTrue(), "%v", err)
		msg := err.Error()
		Expect(msg).To(ContainSubstring(`plan.yaml:31:5: spec.sweep.camerasPerNod`))
		Expect(msg).To(ContainSubstring(`spec.sweep.camerasPerNod: unknown field "camerasPerNod"; did you mean "camerasPerNode"?`))
		Expect(msg).To(ContainSubstring(`spec.sweep.placement[1]: "fog": use edge or cloud`))
		Expect(msg).To(ContainSubstring(`spec.sites[0].site: the scenario has no site "shop" (it has store)`))
		Expect(msg).To(ContainSubstring(`spec.sites[0].count: must be at least 1`))
	})

	It("reports an inline scenario's problems at their lines in the plan file, under spec.scenario", func() {
		_, err := plan.LoadPlan(writePlan(strings.Replace(inlinePlan, "fps: 10,", "fps: 10, colour: red,", 1)))
		Expect(err).To(MatchError(ContainSubstring(`plan.yaml:18:`)))
		Expect(err).To(MatchError(ContainSubstring(`spec.scenario.spec.sites[0].cameras[0].colour: unknown field`)))
	})

	It("refuses a sweep the calibration does not cover, naming every gap and the command that measures it", func() {
		p, err := plan.LoadPlan(writePlan(strings.Replace(inlinePlan, "detectFps: [2, 5]", "detectFps: [5]\n    hardware: [small-box, big-box]\n    model: [edgesim-det, yolo]", 1)))
		Expect(err).NotTo(HaveOccurred())
		cal, err := plan.LoadCalibration(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		_, err = plan.RunPlan(context.Background(), p, cal, plan.RunOptions{})
		Expect(err).To(MatchError(ContainSubstring(`edgesim plan calibrate --class big-box`)))
		Expect(err).To(MatchError(ContainSubstring(`edgesim plan calibrate --class small-box --model yolo`)))
	})

	It("replaces every site's WAN with each swept link value, trace paths relative to the plan file", func() {
		p, err := plan.LoadPlan(writePlan(strings.Replace(inlinePlan, "detectFps: [2, 5]", "link:\n      - {name: sat, profile: satellite}\n      - {name: slow, rate: 1Mbit, delay: 30ms}", 1)))
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Sweep.Links).To(Equal([]string{"sat", "slow"}))
		_, err = plan.LoadPlan(writePlan(strings.Replace(inlinePlan, "detectFps: [2, 5]", "link:\n      - {name: bad, profil: 4g}", 1)))
		Expect(err).To(MatchError(ContainSubstring(`unknown field "profil"`)))
	})
})

var _ = Describe("RunPlan", func() {
	It("finds the knee of each curve: 10 / detect fps cameras per node with a deterministic 100 ms inference", func() {
		p, err := plan.LoadPlan(writePlan(inlinePlan + "  objectives: {latencyP95: 800ms, droppedMax: 1%}\n"))
		Expect(err).NotTo(HaveOccurred())
		r := runPlan(p, plan.RunOptions{})
		Expect(r.Sites).To(Equal(4))
		Expect(r.Cameras).To(Equal(8))
		Expect(r.Curves).To(HaveLen(2))
		knees := map[float64]int{}
		for _, c := range r.Curves {
			Expect(c.Points).To(HaveLen(3))
			Expect(c.Knees).To(HaveLen(1))
			knees[c.Key.DetectFPS] = c.Knees[0].CamerasPerNode
		}
		Expect(knees).To(Equal(map[float64]int{2: 3, 5: 2})) // 5 at 2 fps is past the sweep
		Expect(r.Capacity).To(HaveLen(1))
		Expect(r.Capacity[0].Uplink).To(HaveLen(2))
		Expect(r.Calibration.TestFixture).To(BeTrue())
		Expect(r.Warnings).To(ContainElement(ContainSubstring("is a test fixture")))
		Expect(r.Stats.Points).To(Equal(6))
		Expect(r.Stats.CPUSeconds).To(BeNumerically(">", 0))
		Expect(r.Stats.PeakRSSBytes).To(BeNumerically(">", 1<<20))
	})

	It("charges a site's own model, unless the plan sweeps the model for every site", func() {
		own := strings.Replace(inlinePlan, "          nodes: 1\n", "          nodes: 1\n          workload: {model: {name: jittery}}\n", 1)
		own = strings.Replace(own, "detectFps: [2, 5]", "detectFps: [5]", 1)
		p, err := plan.LoadPlan(writePlan(own))
		Expect(err).NotTo(HaveOccurred())
		Expect(runPlan(p, plan.RunOptions{}).Curves).To(ConsistOf(HaveField("Key.Model", "jittery")))
		p, err = plan.LoadPlan(writePlan(strings.Replace(own, "detectFps: [5]", "detectFps: [5]\n    model: [edgesim-det]", 1)))
		Expect(err).NotTo(HaveOccurred())
		Expect(runPlan(p, plan.RunOptions{}).Curves).To(ConsistOf(HaveField("Key.Model", "edgesim-det")))
	})

	It("sizes the scenario's own cloud tier when it sweeps cloud placement over an edge scenario", func() {
		text := strings.Replace(inlinePlan, "      sites:\n", "      cloud: {nodes: 2, resources: {cpu: \"4\", memory: 8Gi}}\n      sites:\n", 1)
		text = strings.Replace(text, "detectFps: [2, 5]", "detectFps: [5]\n    placement: [edge, cloud]", 1)
		p, err := plan.LoadPlan(writePlan(text))
		Expect(err).NotTo(HaveOccurred())
		r := runPlan(p, plan.RunOptions{})
		Expect(r.Curves).To(ConsistOf(HaveField("Key.Placement", plan.PlacementEdge), HaveField("Key.Placement", plan.PlacementCloud)))
		for _, c := range r.Curves {
			if c.Key.Placement == plan.PlacementCloud {
				Expect(c.Key.Hardware).To(Equal("cloud-box"), "the cloud nodes' resources are cloud-box's")
			}
		}
	})

	It("reports progress through the callback, work and simulations", func() {
		p, err := plan.LoadPlan(writePlan(inlinePlan))
		Expect(err).NotTo(HaveOccurred())
		var seen []plan.Progress
		runPlan(p, plan.RunOptions{Progress: func(pr plan.Progress) { seen = append(seen, pr) }})
		Expect(seen).To(HaveLen(6))
		last := seen[len(seen)-1]
		Expect(last.Done).To(Equal(last.Total))
		Expect(last.WorkDone).To(Equal(last.WorkTotal))
	})

	Describe("with both placements, a cloud tier, node loss, faults and scaled sites", func() {
		var p *plan.Plan
		BeforeEach(func() {
			var err error
			p, err = plan.LoadPlan("testdata/plan-two-stores.yaml")
			Expect(err).NotTo(HaveOccurred())
		})

		It("is deterministic under the seed, and another seed changes the figures", func() {
			a, b := runPlan(p, plan.RunOptions{}), runPlan(p, plan.RunOptions{})
			Expect(comparable(a)).To(Equal(comparable(b)))
			seed := int64(1234)
			c := runPlan(p, plan.RunOptions{Seed: &seed})
			Expect(c.Seed).To(Equal(seed))
			Expect(comparable(c)).NotTo(Equal(comparable(a)))
		})

		It("gives the report of one simulation at a time when two run at once", func() {
			one := runPlan(p, plan.RunOptions{Parallelism: 1})
			var done []int
			two := runPlan(p, plan.RunOptions{Progress: func(pr plan.Progress) { done = append(done, pr.Done) }})
			Expect(comparable(two)).To(Equal(comparable(one)))
			Expect(two.Stats.Events).To(Equal(one.Stats.Events))
			Expect(len(done)).To(BeNumerically(">", 2))
			for i, n := range done {
				Expect(n).To(Equal(i+1), "progress counts finished simulations one by one")
			}
		})

		It("merges shards 0..2 of 3 into a report identical to one process's", func() {
			whole := runPlan(p, plan.RunOptions{})
			var shards []*plan.CapacityReport
			for i := range 3 {
				s := runPlan(p, plan.RunOptions{Shard: &plan.Shard{Index: i, Count: 3}})
				Expect(s.Partial).NotTo(BeNil())
				Expect(s.Curves).To(BeEmpty())
				// through the shard file, as plan merge reads it
				b, err := json.Marshal(s)
				Expect(err).NotTo(HaveOccurred())
				var back plan.CapacityReport
				Expect(json.Unmarshal(b, &back)).To(Succeed())
				shards = append(shards, &back)
			}
			shards[0], shards[2] = shards[2], shards[0] // any order
			merged, err := plan.MergeReports(shards)
			Expect(err).NotTo(HaveOccurred())
			Expect(comparable(merged)).To(Equal(comparable(whole)))
			Expect(merged.Stats.Points).To(BeNumerically(">", whole.Stats.Points)) // edge points ran on every shard

			_, err = plan.MergeReports(shards[:2])
			Expect(err).To(MatchError(ContainSubstring("shards missing")))
		})

		It("answers the planning questions per site type", func() {
			r := runPlan(p, plan.RunOptions{})
			Expect(r.Sites).To(Equal(7))
			Expect(r.Curves).To(HaveLen(2))
			var cloud *plan.SiteTypeCapacity
			for i := range r.Capacity {
				if r.Capacity[i].Type == "store-2" {
					cloud = &r.Capacity[i]
				}
			}
			Expect(cloud).NotTo(BeNil())
			Expect(cloud.Knees).To(HaveLen(2))
			Expect(cloud.Uplink).To(HaveLen(2))
			Expect(cloud.CloudTier).To(HaveLen(1))
			Expect(cloud.CloudTier[0].Hardware).To(Equal("cloud-box"))
			Expect(cloud.NodeLoss).To(HaveLen(2)) // without and with a spare
			Expect(cloud.NodeLoss[0].Spare).To(BeFalse())
			Expect(cloud.NodeLoss[1].Spare).To(BeTrue())
			Expect(cloud.NodeLoss[0].Failover.Cameras).To(BeNumerically(">", 0))
			for _, u := range cloud.Uplink {
				if u.Key.Placement == plan.PlacementCloud {
					Expect(u.MeanBits).To(BeNumerically(">", 100e3)) // video crosses the WAN
				} else {
					Expect(u.MeanBits).To(BeNumerically("<", 10e3)) // alerts only
				}
			}
		})
	})
})

var _ = Describe("the plan-fleet example", func() {
	It("is a valid plan of 1,000 stores and 100,000 cameras that its calibration covers", func() {
		p, err := plan.LoadPlan("../scenarios/examples/plan-fleet.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Sites).To(Equal([]plan.SiteScale{{Site: "store", Count: 1000, Type: "store"}}))
		Expect(p.Scenario.Cameras()).To(Equal(100))
		Expect(p.Sweep.CamerasPerNode).To(ContainElement(25)) // the store as written: 100 cameras on 4 nodes
		cal, err := plan.LoadCalibration(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		// resolves every curve and checks the calibration, then stops at
		// the first simulation
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = plan.RunPlan(ctx, p, cal, plan.RunOptions{})
		Expect(err).To(MatchError(context.Canceled))
	})
})

var _ = Describe("the validation example plans", func() {
	DescribeTable("are plans whose calibration covers every point, each point small enough to emulate on one machine",
		func(file string, cameras int) {
			p, err := plan.LoadPlan("../scenarios/examples/" + file)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Scenario.Cameras()).To(Equal(cameras))
			cal, err := plan.LoadCalibration(p.Calibration)
			Expect(err).NotTo(HaveOccurred())
			nodes := 0
			for _, s := range p.Scenario.Sites {
				nodes += len(s.Nodes)
			}
			Expect(slices.Max(p.Sweep.CamerasPerNode)*nodes).To(BeNumerically("<=", 12), "emulated in real time on this project's 2-core machine")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = plan.RunPlan(ctx, p, cal, plan.RunOptions{})
			Expect(err).To(MatchError(context.Canceled))
		},
		Entry("quickstart", "plan-quickstart.yaml", 4),
		Entry("night-watch-4g", "plan-night-watch-4g.yaml", 2),
		Entry("retail-wifi", "plan-retail-wifi.yaml", 2),
		Entry("two-stores, a multi-site scenario of its own", "plan-two-stores.yaml", 4),
		Entry("store-cloud, cloud placement", "plan-store-cloud.yaml", 4),
	)
})

var _ = Describe("sweeping cameras per node", func() {
	It("keeps the cameras a scenario scripts events on and scales the others", func() {
		// night-watch-4g scripts its loiter on the first of two cameras
		p, err := plan.LoadPlan("../scenarios/examples/plan-night-watch-4g.yaml")
		Expect(err).NotTo(HaveOccurred())
		cal, err := plan.LoadCalibration(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		p.Sweep.CamerasPerNode = []int{1, 3}
		r, err := plan.RunPlan(context.Background(), p, cal, plan.RunOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Curves).NotTo(BeEmpty())
		for _, pt := range r.Curves[0].Points {
			Expect(pt.Types).To(HaveLen(1))
			Expect(pt.Types[0].AlertsExpected).To(Equal(1), "%d cameras per node: the loitering camera and %d others", pt.CamerasPerNode, pt.CamerasPerNode-1)
		}
	})
})

var _ = Describe("a plan without a knee", func() {
	It("says when the smallest swept value fails nothing but leaves an objective unexercised", func() {
		// the quickstart scripts no event, so a time-to-alert objective is
		// exercised at no point
		p, err := plan.LoadPlan("../scenarios/examples/plan-quickstart.yaml")
		Expect(err).NotTo(HaveOccurred())
		cal, err := plan.LoadCalibration(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		p.Objectives.TimeToAlertP95 = 5 * time.Second
		p.Sweep.CamerasPerNode = []int{1}
		r, err := plan.RunPlan(context.Background(), p, cal, plan.RunOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Curves[0].Knees).To(ConsistOf(HaveField("None", And(HavePrefix("nothing exercised"), ContainSubstring("time to alert")))))
		Expect(r.Capacity[0].Knees).To(ConsistOf(HaveField("None", HavePrefix("nothing exercised"))))
	})
})
