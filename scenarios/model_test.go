package scenarios_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
)

const twoSites = header + `spec:
  duration: 10s
  sites:
  - name: a
    workload:
      model: {variant: v2-int8}
  - name: b
%s`

var _ = Describe("Per-site models (sites[].workload.model)", func() {
	It("gives a site its own embedded variant and the others the scenario's model", func() {
		s := mustLoad("t.yaml", header+`spec:
  duration: 10s
  workload:
    model: {variant: v2-int8}
  sites:
  - name: a
  - name: b
    workload:
      model: {variant: v2}
`)
		Expect(s.Workload.Model).To(Equal(scenarios.Model{Name: "v2-int8", Variant: "v2-int8", Embedded: "edgesim-det/v2-int8"}))
		Expect(s.Sites[0].Model).To(BeNil())
		Expect(s.SiteModel("a")).To(Equal(s.Workload.Model))
		Expect(s.SiteModel("b").Ref()).To(BeEmpty(), "v2 is the default model")
		Expect(s.SiteModel("b").Name).To(Equal("default"))
		Expect(s.Workload.Model.Ref()).To(Equal("embedded:edgesim-det/v2-int8"))
	})

	It("resolves a site's model directory against the scenario file and loads it", func() {
		dir := GinkgoT().TempDir()
		copyModel("../runtime/models/edgesim-det/v2-int8", filepath.Join(dir, "models", "mine"))
		s, err := scenarios.Load("t.yaml", []byte(header+`spec:
  duration: 10s
  sites:
  - name: a
    workload:
      model: {name: mine, path: models/mine}
`), dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.SiteModel("a")).To(Equal(scenarios.Model{Name: "mine", Path: filepath.Join(dir, "models", "mine")}))
	})

	It("refuses a variant edgenode does not embed, with its line, column and the embedded ones", func() {
		list := loadErrors(header + `spec:
  duration: 10s
  sites:
  - name: a
    workload:
      model: {variant: v2-int9}
`)
		Expect(list).To(ConsistOf(MatchFields2(9, 24, "spec.sites[0].workload.model.variant", `edgenode embeds no edgesim-det variant "v2-int9"`)))
		Expect(list[0].Msg).To(ContainSubstring(`did you mean "v2-int8"?`))
	})

	It("refuses a site's model directory that does not exist or does not load", func() {
		dir := GinkgoT().TempDir()
		copyModel("../runtime/models/edgesim-det/v2-int8", filepath.Join(dir, "broken"))
		Expect(os.WriteFile(filepath.Join(dir, "broken", "weights.bin"), []byte("not these weights"), 0o644)).To(Succeed())
		_, err := scenarios.Load("t.yaml", []byte(header+`spec:
  duration: 10s
  sites:
  - name: a
    workload:
      model: {path: missing}
  - name: b
    workload:
      model: {path: broken}
`), dir)
		Expect(err).To(MatchError(And(
			ContainSubstring("t.yaml:9:21: spec.sites[0].workload.model.path: the model does not load: detector: model missing"),
			ContainSubstring("t.yaml:12:21: spec.sites[1].workload.model.path: the model does not load: detector: model tampered"),
		)))
	})

	It("refuses variant and path together, and a site model when detection runs in the cloud", func() {
		Expect(loadErrors(fmt.Sprintf(twoSites, "    workload:\n      model: {variant: v2, path: x}\n"))).To(ContainElement(
			MatchFields2(12, 24, "spec.sites[1].workload.model.variant", "give either variant")))
		Expect(loadErrors(header + `spec:
  duration: 10s
  workload: {placement: cloud}
  sites:
  - name: a
    workload:
      model: {variant: v2-int8}
`)).To(ConsistOf(MatchFields2(10, 14, "spec.sites[0].workload.model", "a site's own model needs placement edge")))
	})
})

func copyModel(from, to string) {
	GinkgoHelper()
	Expect(os.MkdirAll(to, 0o755)).To(Succeed())
	for _, f := range []string{"manifest.json", "weights.bin"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(to, f), b, 0o644)).To(Succeed())
	}
}

var _ = Describe("Per-site models and rollouts", func() {
	It("refuses a rollout over a site with its own model, or from an embedded variant", func() {
		doc := strings.Replace(rolloutDoc(`    - {at: 10s, model: `+goodModel+`, strategy: {rolling: {batch: 3}}, gate: {window: 10s, recallMin: 50%}}
`, ""), "    - {name: b}\n", "    - {name: b, workload: {model: {variant: v2-pruned}}}\n", 1)
		Expect(loadErrors(doc)).To(ContainElement(HaveField("Msg", ContainSubstring(`site "b" runs a model of its own (sites[1].workload.model)`))))
		doc = strings.Replace(rolloutDoc(`    - {at: 10s, model: `+goodModel+`, strategy: {rolling: {batch: 3}}, gate: {window: 10s, recallMin: 50%}}
`, ""), "  rollouts:\n", "  workload: {model: {variant: v2-pruned}}\n  rollouts:\n", 1)
		Expect(loadErrors(doc)).To(ContainElement(HaveField("Msg", ContainSubstring("starting from an embedded variant (v2-pruned) is not supported yet"))))
	})
})
