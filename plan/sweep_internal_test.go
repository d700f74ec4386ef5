package plan

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

var _ = Describe("replicating a site", func() {
	It("gives every replica its own copy of each of the site's faults, and leaves the others' alone", func() {
		slow := netem.LinkConfig{Delay: 200 * time.Millisecond}
		f := &Fleet{
			Sites: []Site{{Name: "store", Nodes: 2}, {Name: "depot", Nodes: 1}},
			Faults: []Fault{
				{At: time.Second, Action: FaultKill, Node: "store-edge-1"},
				{At: 2 * time.Second, Action: FaultRestart, Node: "store-edge-2", Duration: time.Second},
				{At: 3 * time.Second, Action: FaultPause, Node: "depot-edge-1", Duration: time.Second},
				{At: 4 * time.Second, Action: FaultPartition, Site: "store", Link: LinkWAN, Duration: time.Second},
				{At: 5 * time.Second, Action: FaultDegrade, Site: "store", Link: LinkLAN, Up: slow, Down: slow},
				{At: 6 * time.Second, Action: FaultTraceSwitch, Site: "depot", Link: LinkWAN},
				{At: 7 * time.Second, Action: FaultKill, Node: "cloud-1"},
			},
		}
		Expect(replicate(f, []SiteScale{{Site: "store", Count: 2, Type: "shop"}})).To(Succeed())
		Expect(f.Sites).To(HaveLen(3))
		at := func(ft Fault) string { return ft.At.String() + " " + ft.Node + ft.Site }
		var got []string
		for _, ft := range f.Faults {
			got = append(got, at(ft))
		}
		Expect(got).To(ConsistOf(
			"1s store-1-edge-1", "1s store-2-edge-1",
			"2s store-1-edge-2", "2s store-2-edge-2",
			"4s store-1", "4s store-2",
			"5s store-1", "5s store-2",
			"3s depot-edge-1", "6s depot", "7s cloud-1",
		))
		for _, ft := range f.Faults {
			if ft.Action == FaultDegrade {
				Expect(ft.Up).To(Equal(slow), "a copy keeps the fault's settings")
			}
		}
	})
})

var _ = Describe("the node-loss study", func() {
	It("kills the first edge node of a site that the scenario's own faults leave alone", func() {
		f := &Fleet{Faults: []Fault{
			{Action: FaultPause, Node: "store-edge-1"},
			{Action: FaultKill, Node: "cloud-1"},
		}}
		Expect(lossNode(f, Site{Name: "store", Nodes: 3})).To(Equal("store-edge-2"))
		Expect(lossNode(&Fleet{}, Site{Name: "store", Nodes: 3})).To(Equal("store-edge-1"))
		f.Faults = append(f.Faults, Fault{Action: FaultRestart, Node: "store-edge-2"})
		_, err := lossNode(f, Site{Name: "store", Nodes: 2})
		Expect(err).To(MatchError(ContainSubstring("every edge node of site store")))
	})
})
