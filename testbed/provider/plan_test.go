package provider_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

func quickstart() *scenarios.Scenario {
	sc, err := scenarios.Example("quickstart")
	Expect(err).NotTo(HaveOccurred())
	return sc
}

var _ = Describe("NewPlan", func() {
	It("makes one host per node and one camera host per site", func() {
		p, err := provider.NewPlan(quickstart(), false)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.NodesOf(provider.RoleCloud)).To(HaveLen(1))
		Expect(p.NodesOf(provider.RoleEdge)).To(HaveLen(2))
		Expect(p.NodesOf(provider.RoleCamera)).To(HaveLen(1))
		Expect(p.Cameras).To(HaveLen(4))
	})

	It("spreads cameras over the site's edge nodes, then fails over to the others and the cloud", func() {
		p, err := provider.NewPlan(quickstart(), false)
		Expect(err).NotTo(HaveOccurred())
		edges := p.NodesOf(provider.RoleEdge)
		cloud := p.NodesOf(provider.RoleCloud)[0].Name
		Expect(p.Cameras[0].Endpoints).To(Equal([]string{edges[0].Name, edges[1].Name, cloud}))
		Expect(p.Cameras[1].Endpoints).To(Equal([]string{edges[1].Name, edges[0].Name, cloud}))
	})

	It("adds a cloud-placement mirror whose path composes access and backhaul", func() {
		sc := quickstart()
		p, err := provider.NewPlan(sc, true)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Cameras).To(HaveLen(8))
		var mirror []provider.Camera
		for _, c := range p.Cameras {
			if c.Placement == scenarios.PlacementCloud {
				mirror = append(mirror, c)
			}
		}
		Expect(mirror).To(HaveLen(4))
		Expect(mirror[0].Endpoints).To(Equal([]string{p.NodesOf(provider.RoleCloud)[0].Name}))
		Expect(mirror[0].ReportSite).To(HaveSuffix(provider.CloudViaSuffix))

		var access, backhaul, path *provider.Link
		for i := range p.Links {
			l := &p.Links[i]
			switch {
			case l.Mirror:
				path = l
			case l.Leg == "access":
				access = l
			case l.Leg == "backhaul":
				backhaul = l
			}
		}
		Expect(access).NotTo(BeNil())
		Expect(backhaul).NotTo(BeNil())
		Expect(path).NotTo(BeNil())
		Expect(backhaul.Uplink).To(BeTrue())
		Expect(path.Uplink).To(BeTrue())
		Expect(path.Up.Delay).To(Equal(access.Up.Delay + backhaul.Up.Delay))
		Expect(path.Up.RateBits).To(Equal(backhaul.Up.RateBits), "the 4g uplink is the bottleneck, not the lan")
		Expect(path.A).To(Equal("cameras:store-1" + provider.CloudViaSuffix))
		Expect(path.B).To(Equal("cloud"))
	})
})
