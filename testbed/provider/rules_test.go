package provider_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/provider"
)

var _ = Describe("RulesFor", func() {
	It("gives an edge node the zones of its site's cameras and the scenario's rules", func() {
		p, err := provider.NewPlan(quickstart(), true)
		Expect(err).NotTo(HaveOccurred())
		edge := p.NodesOf(provider.RoleEdge)[0]
		cfg := provider.RulesFor(p, edge)
		Expect(cfg.Zones).To(HaveLen(1))
		Expect(cfg.Zones[0].Name).To(Equal("entrance"))
		Expect(cfg.Zones[0].Cameras).To(HaveLen(4), "edge nodes serve the edge-placed cameras only")
		Expect(cfg.Rules).To(HaveLen(1))
		Expect(cfg.Rules[0].Dwell).To(Equal(3 * time.Second))
		Expect(cfg.Validate()).To(Succeed())

		cloud := provider.RulesFor(p, p.NodesOf(provider.RoleCloud)[0])
		Expect(cloud.Zones[0].Cameras).To(HaveLen(8), "the cloud may serve every camera after failover")
	})
})
