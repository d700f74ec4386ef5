package scenarios_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
)

// rolloutDoc is a scenario of three sites with a rollout section and
// faults; tests replace ROLLOUT and FAULTS.
func rolloutDoc(rollouts, faults string) string {
	return header + `spec:
  duration: 90s
  sites:
    - {name: a, nodes: 2}
    - {name: b}
    - {name: c}
  links:
    - {between: [site:a, cloud], profile: 4g}
    - {between: [site:b, cloud], profile: 5g}
    - {between: [site:c, cloud], profile: 4g}
` + faults + `  rollouts:
` + rollouts
}

const goodModel = "../runtime/models/edgesim-det/v2-int8"

var _ = Describe("Rollouts", func() {
	It("resolves a rolling rollout into batches, with the model's id, files and size", func() {
		s := mustLoad("t.yaml", rolloutDoc(`    - name: int8
      at: 10s
      model: `+goodModel+`
      strategy: {rolling: {batch: 2, pause: 5s}}
      gate: {window: 10s, e2eLatency: {p95: 400ms}, recallMin: 50%, alertsPerMinuteMax: 30}
`, ""))
		Expect(s.Rollouts).To(HaveLen(1))
		r := s.Rollouts[0]
		Expect(r.Strategy).To(Equal(scenarios.StrategyRolling))
		Expect(r.Batches).To(Equal([][]string{{"a", "b"}, {"c"}}))
		Expect(r.Pause).To(Equal(5 * time.Second))
		Expect(r.MaxUnavailable).To(Equal(1))
		Expect(r.ModelID).To(Equal("edgesim-det@v2-int8"))
		Expect(r.ModelFiles).To(Equal([]string{"manifest.json", "weights.bin"}))
		Expect(r.ModelBytes).To(BeNumerically(">", 20000))
		Expect(r.Gate.Window).To(Equal(10 * time.Second))
		Expect(r.Gate.E2ELatency).To(Equal([]scenarios.LatencyObjective{{Percentile: 95, Max: 400 * time.Millisecond}}))
		Expect(r.Gate.RecallMin.Fraction()).To(BeNumerically("~", 0.5, 1e-9))
		Expect(r.Gate.CrashesMax).To(Equal(0))
		Expect(*r.Gate.AlertsPerMinuteMax).To(Equal(30.0))
		Expect(r.PlannedSpan()).To(Equal(25*time.Second), "two windows and one pause")
	})

	It("puts the canary's sites first and the rest in one batch, in the order of sites", func() {
		s := mustLoad("t.yaml", rolloutDoc(`    - at: 5s
      model: `+goodModel+`
      sites: [c, a, b]
      strategy: {canary: {sites: 1}}
      maxUnavailable: 2
      gate: {window: 10s}
`, ""))
		r := s.Rollouts[0]
		Expect(r.Name).To(Equal("rollout-1"))
		Expect(r.Strategy).To(Equal(scenarios.StrategyCanary))
		Expect(r.Batches).To(Equal([][]string{{"c"}, {"a", "b"}}))
		Expect(r.MaxUnavailable).To(Equal(2))
	})

	DescribeTable("refuses bad rollouts at validation, located, saying what to do",
		func(rollout, faults, path, want string) {
			errs := loadErrors(rolloutDoc(rollout, faults))
			Expect(errs).To(ContainElement(And(HaveField("Path", path), HaveField("Line", BeNumerically(">", 0)),
				WithTransform(func(e *scenarios.FieldError) string { return e.Msg }, ContainSubstring(want)))), errs.Error())
		},
		Entry("a model directory that does not exist", `    - {at: 5s, model: no/such/model, strategy: {rolling: {}}, gate: {window: 10s}}
`, "", "spec.rollouts[0].model", "does not load"),
		Entry("a model directory that does not load", `    - {at: 5s, model: testdata, strategy: {rolling: {}}, gate: {window: 10s}}
`, "", "spec.rollouts[0].model", "manifest.json not found"),
		Entry("no strategy", `    - {at: 5s, model: `+goodModel+`, strategy: {}, gate: {window: 10s}}
`, "", "spec.rollouts[0].strategy", "exactly one of rolling and canary"),
		Entry("a canary as large as the fleet", `    - {at: 5s, model: `+goodModel+`, strategy: {canary: {sites: 3}}, gate: {window: 10s}}
`, "", "spec.rollouts[0].strategy.canary.sites", "fewer than the rollout's 3 sites"),
		Entry("an unknown site", `    - {at: 5s, model: `+goodModel+`, sites: [d], strategy: {rolling: {}}, gate: {window: 10s}}
`, "", "spec.rollouts[0].sites[0]", `site "d" is not defined`),
		Entry("maxUnavailable 0", `    - {at: 5s, model: `+goodModel+`, maxUnavailable: 0, strategy: {rolling: {}}, gate: {window: 10s}}
`, "", "spec.rollouts[0].maxUnavailable", "at least 1"),
		Entry("a gate latency that is not a percentile", `    - {at: 5s, model: `+goodModel+`, strategy: {rolling: {}}, gate: {window: 10s, e2eLatency: {p95: 1s, max: 2s}}}
`, "", "spec.rollouts[0].gate.e2eLatency.max", "not a percentile"),
		Entry("a rollout that cannot finish in the run", `    - {at: 80s, model: `+goodModel+`, strategy: {rolling: {}}, gate: {window: 10s}}
`, "", "spec.rollouts[0].at", "ends after the run"),
		Entry("overlapping rollouts", `    - {at: 5s, model: `+goodModel+`, strategy: {rolling: {pause: 5s}}, gate: {window: 10s}}
    - {at: 30s, model: `+goodModel+`, strategy: {rolling: {}}, gate: {window: 10s}}
`, "", "spec.rollouts[1].at", "overlaps spec.rollouts[0]"),
		Entry("a node fault on a rolled-out site during the rollout", `    - {at: 5s, model: `+goodModel+`, strategy: {rolling: {}}, gate: {window: 10s}}
`, `  faults:
    - {at: 20s, action: restart, target: {node: b-edge-1}}
`, "spec.rollouts[0]", "collides with fault restart-1"),
		Entry("a node killed before the rollout (down until the end)", `    - {at: 30s, model: `+goodModel+`, strategy: {rolling: {}}, gate: {window: 10s}}
`, `  faults:
    - {at: 5s, action: kill, target: {node: a-edge-2}}
`, "spec.rollouts[0]", "kill of node a-edge-2"),
	)

	It("accepts a partition of a rolled-out site's uplink during the rollout: delivery waits for the heal", func() {
		s := mustLoad("t.yaml", rolloutDoc(`    - {at: 5s, model: `+goodModel+`, strategy: {rolling: {}}, gate: {window: 10s}}
`, `  faults:
    - {at: 6s, action: partition, target: {site: b}, duration: 5s}
`))
		Expect(s.Rollouts).To(HaveLen(1))
	})

	It("accepts a node fault on a site the rollout does not touch, and rollouts one after the other", func() {
		s := mustLoad("t.yaml", rolloutDoc(`    - {at: 5s, model: `+goodModel+`, sites: [a, b], strategy: {rolling: {batch: 2}}, gate: {window: 10s}}
    - {at: 15s, model: `+goodModel+`, sites: [a], strategy: {rolling: {}}, gate: {window: 10s}}
`, `  faults:
    - {at: 6s, action: kill, target: {node: c-edge-1}}
`))
		Expect(s.Rollouts).To(HaveLen(2))
	})

	It("runs rollouts on kind and K3s one pod at a time, and refuses them on kubeconfig", func() {
		doc := func(provider, maxUnavailable string) string {
			return strings.Replace(rolloutDoc(`    - {at: 5s, model: `+goodModel+`, maxUnavailable: `+maxUnavailable+`, strategy: {rolling: {}}, gate: {window: 10s}}
`, ""), "  duration: 90s\n", "  duration: 90s\n  provider: "+provider+"\n", 1)
		}
		for _, p := range []string{"kind", "k3s"} {
			Expect(mustLoad("t.yaml", doc(p, "1")).Rollouts).To(HaveLen(1), p)
			Expect(loadErrors(doc(p, "2")).Error()).To(ContainSubstring("replaces a site's edgenode pods one at a time"), p)
		}
		Expect(mustLoad("t.yaml", doc("local", "2")).Rollouts).To(HaveLen(1))
		Expect(loadErrors(strings.Replace(doc("kubeconfig", "1"), "  provider: kubeconfig\n", "  provider: kubeconfig\n  kubeconfig: /dev/null\n", 1)).Error()).
			To(ContainSubstring("provider kubeconfig does not run them yet"))
	})
})
