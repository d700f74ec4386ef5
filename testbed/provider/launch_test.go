package provider_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

var _ = Describe("EdgenodeConfig", func() {
	It("gives each edge node its site's model and the cloud the scenario's", func() {
		sc, err := scenarios.Load("t.yaml", []byte(`apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  duration: 10s
  sites:
  - name: a
    workload:
      model: {variant: v2-int8}
  - name: b
`), "")
		Expect(err).NotTo(HaveOccurred())
		p, err := provider.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())
		models := map[string]string{}
		for _, n := range append(p.NodesOf(provider.RoleEdge), p.NodesOf(provider.RoleCloud)...) {
			f := provider.EdgenodeConfig(p, n, provider.EdgenodeEnv{NodeID: n.Name})
			models[n.Name] = "(embedded default)"
			if f.Model != nil {
				models[n.Name] = *f.Model
			}
		}
		Expect(models).To(Equal(map[string]string{
			"a-edge-1": "embedded:edgesim-det/v2-int8",
			"b-edge-1": "(embedded default)",
			"cloud-1":  "(embedded default)",
		}))
	})
})
