package testbed_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

func quickstart() *scenarios.Scenario {
	sc, err := scenarios.Example("quickstart")
	Expect(err).NotTo(HaveOccurred())
	return sc
}

var _ = Describe("NewPlan", func() {
	It("makes one host per node and one camera host per site", func() {
		p, err := testbed.NewPlan(quickstart(), false)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.NodesOf(testbed.RoleCloud)).To(HaveLen(1))
		Expect(p.NodesOf(testbed.RoleEdge)).To(HaveLen(2))
		Expect(p.NodesOf(testbed.RoleCamera)).To(HaveLen(1))
		Expect(p.Cameras).To(HaveLen(4))
	})

	It("spreads cameras over the site's edge nodes, then fails over to the others and the cloud", func() {
		p, err := testbed.NewPlan(quickstart(), false)
		Expect(err).NotTo(HaveOccurred())
		edges := p.NodesOf(testbed.RoleEdge)
		cloud := p.NodesOf(testbed.RoleCloud)[0].Name
		Expect(p.Cameras[0].Endpoints).To(Equal([]string{edges[0].Name, edges[1].Name, cloud}))
		Expect(p.Cameras[1].Endpoints).To(Equal([]string{edges[1].Name, edges[0].Name, cloud}))
	})

	It("adds a cloud-placement mirror whose path composes access and backhaul", func() {
		sc := quickstart()
		p, err := testbed.NewPlan(sc, true)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Cameras).To(HaveLen(8))
		var mirror []testbed.Camera
		for _, c := range p.Cameras {
			if c.Placement == scenarios.PlacementCloud {
				mirror = append(mirror, c)
			}
		}
		Expect(mirror).To(HaveLen(4))
		Expect(mirror[0].Endpoints).To(Equal([]string{p.NodesOf(testbed.RoleCloud)[0].Name}))
		Expect(mirror[0].ReportSite).To(HaveSuffix(testbed.CloudViaSuffix))

		var access, backhaul, path *testbed.Link
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
		Expect(path.A).To(Equal("cameras:store-1" + testbed.CloudViaSuffix))
		Expect(path.B).To(Equal("cloud"))
	})

	It("turns the kill fault into a timed action against the node", func() {
		sc := quickstart()
		p, err := testbed.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())
		steps, err := testbed.Timeline(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(steps).To(HaveLen(1))
		Expect(steps[0].At).To(Equal(15 * time.Second))
		Expect(steps[0].Action).To(Equal(testbed.Action{Kind: testbed.ActionKill, Node: "store-1-edge-2"}))
	})

	It("undoes a pause and a partition after their duration", func() {
		sc := quickstart()
		sc.Faults = []scenarios.Fault{
			{Name: "p", At: 2 * time.Second, Action: scenarios.FaultPause, Duration: 3 * time.Second, Target: scenarios.FaultTarget{Nodes: []string{"store-1-edge-1"}}},
			{Name: "q", At: time.Second, Action: scenarios.FaultPartition, Duration: 10 * time.Second, Target: scenarios.FaultTarget{Links: []string{sc.Links[1].Name}}},
		}
		p, err := testbed.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())
		steps, err := testbed.Timeline(p)
		Expect(err).NotTo(HaveOccurred())
		var got []string
		for _, s := range steps {
			got = append(got, s.At.String()+" "+s.Action.String())
		}
		Expect(got).To(Equal([]string{
			"1s partition " + sc.Links[1].Name,
			"2s pause store-1-edge-1",
			"5s resume store-1-edge-1",
			"11s heal " + sc.Links[1].Name,
		}))
	})
})

var _ = Describe("RulesFor", func() {
	It("gives an edge node the zones of its site's cameras and the scenario's rules", func() {
		p, err := testbed.NewPlan(quickstart(), true)
		Expect(err).NotTo(HaveOccurred())
		edge := p.NodesOf(testbed.RoleEdge)[0]
		cfg := testbed.RulesFor(p, edge)
		Expect(cfg.Zones).To(HaveLen(1))
		Expect(cfg.Zones[0].Name).To(Equal("entrance"))
		Expect(cfg.Zones[0].Cameras).To(HaveLen(4), "edge nodes serve the edge-placed cameras only")
		Expect(cfg.Rules).To(HaveLen(1))
		Expect(cfg.Rules[0].Dwell).To(Equal(3 * time.Second))
		Expect(cfg.Validate()).To(Succeed())

		cloud := testbed.RulesFor(p, p.NodesOf(testbed.RoleCloud)[0])
		Expect(cloud.Zones[0].Cameras).To(HaveLen(8), "the cloud may serve every camera after failover")
	})
})

var _ = Describe("TestbedName", func() {
	It("keeps two runs of one scenario apart and fits netem's 24 characters", func() {
		a, b := testbed.TestbedName("a-very-long-scenario-name-indeed"), testbed.TestbedName("a-very-long-scenario-name-indeed")
		Expect(a).NotTo(Equal(b))
		Expect(len(a)).To(BeNumerically("<=", 24))
		Expect(testbed.TestbedName("night watch/4g")).To(MatchRegexp(`^night-watch-4g-[0-9a-f]{6}$`))
	})
})
