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

	It("spreads cameras by their index in the site across groups, and over the cloud nodes with cloud placement, as the fleet simulator does", func() {
		scenario := func(placement string) *scenarios.Scenario {
			sc, err := scenarios.Load("spread.yaml", []byte(`apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: spread}
spec:
  duration: 10s
  cloud: {nodes: 2}
  sites:
    - name: s
      nodes: 2
      cameras:
        - {name: a, count: 1, resolution: 640x360, fps: 10, bitrate: 600Kbit}
        - {name: b, count: 3, resolution: 640x360, fps: 10, bitrate: 600Kbit}
  links:
    - {between: [cameras:s, site:s], profile: lan}
    - {between: [site:s, cloud], profile: 4g}
  workload: {placement: `+placement+`}
`), "")
			Expect(err).NotTo(HaveOccurred())
			return sc
		}
		first := func(p *provider.Plan) []string {
			var out []string
			for _, c := range p.Cameras {
				out = append(out, c.Endpoints[0])
			}
			return out
		}
		p, err := provider.NewPlan(scenario("edge"), false)
		Expect(err).NotTo(HaveOccurred())
		e := p.NodesOf(provider.RoleEdge)
		Expect(first(p)).To(Equal([]string{e[0].Name, e[1].Name, e[0].Name, e[1].Name}), "group b's first camera is the site's second")

		p, err = provider.NewPlan(scenario("cloud"), false)
		Expect(err).NotTo(HaveOccurred())
		cl := p.NodesOf(provider.RoleCloud)
		Expect(cl).To(HaveLen(2))
		Expect(first(p)).To(Equal([]string{cl[0].Name, cl[1].Name, cl[0].Name, cl[1].Name}))
		Expect(p.Cameras[1].Endpoints).To(Equal([]string{cl[1].Name, cl[0].Name}), "the other cloud node is the failover target")
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
