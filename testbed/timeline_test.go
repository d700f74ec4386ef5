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

var _ = Describe("Timeline", func() {
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

var _ = Describe("TestbedName", func() {
	It("keeps two runs of one scenario apart and fits netem's 24 characters", func() {
		a, b := testbed.TestbedName("a-very-long-scenario-name-indeed"), testbed.TestbedName("a-very-long-scenario-name-indeed")
		Expect(a).NotTo(Equal(b))
		Expect(len(a)).To(BeNumerically("<=", 24))
		Expect(testbed.TestbedName("night watch/4g")).To(MatchRegexp(`^night-watch-4g-[0-9a-f]{6}$`))
	})
})
