package scenarios_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
)

var _ = Describe("Hardware classes", func() {
	const classes = `spec:
  duration: 1s
  hardware:
    - {name: small-box, cpu: "1", memory: 1Gi}
    - {name: cloud-vm, cpu: 4}
`
	It("give the nodes of the sites and cloud that name them their resources and class name", func() {
		s := mustLoad("h.yaml", header+classes+`  cloud: {nodes: 2, hardware: cloud-vm}
  sites:
    - {name: a, nodes: 2, hardware: small-box}
    - {name: b, resources: {cpu: 500m}}
`)
		small := scenarios.Resources{CPU: 1000, Memory: units.GiB, Class: "small-box"}
		Expect(s.Sites[0].Nodes).To(HaveLen(2))
		for _, n := range s.Sites[0].Nodes {
			Expect(n.Resources).To(Equal(small))
		}
		for _, n := range s.Cloud.Nodes {
			Expect(n.Resources).To(Equal(scenarios.Resources{CPU: 4000, Class: "cloud-vm"}))
		}
		Expect(s.Sites[1].Nodes[0].Resources).To(Equal(scenarios.Resources{CPU: 500}), "inline resources have no class")
	})

	It("rejects hardware together with resources, at the hardware field", func() {
		list := loadErrors(header + classes + "  sites:\n    - {name: a, hardware: small-box, resources: {cpu: 1}}\n")
		Expect(list).To(HaveLen(1))
		Expect(list[0].Path).To(Equal("spec.sites[0].hardware"))
		Expect(list[0].Line).To(Equal(10))
		Expect(list[0].Col).To(BeNumerically(">", 1))
		Expect(list[0].Msg).To(Equal("give either hardware (a class of spec.hardware) or resources, not both"))
	})

	It("rejects an unknown class, listing the defined ones", func() {
		list := loadErrors(header + classes + "  cloud: {hardware: big-vm}\n  sites:\n    - {name: a, hardware: smal-box}\n")
		Expect(list).To(HaveLen(2))
		Expect(list[0].Path).To(Equal("spec.cloud.hardware"))
		Expect(list[0].Line).To(Equal(9))
		Expect(list[0].Msg).To(Equal(`no hardware class "big-vm" in spec.hardware (defined: cloud-vm, small-box)`))
		Expect(list[1].Path).To(Equal("spec.sites[0].hardware"))
		Expect(list[1].Msg).To(Equal(`no hardware class "smal-box" in spec.hardware (defined: cloud-vm, small-box); did you mean "small-box"?`))
		Expect(list[1].Error()).To(HavePrefix("t.yaml:11:"))
	})

	It("says where to define a class when there are none", func() {
		list := loadErrors(header + "spec:\n  duration: 1s\n  sites: [{name: a, hardware: small-box}]\n")
		Expect(list).To(HaveLen(1))
		Expect(list[0].Msg).To(ContainSubstring("spec.hardware defines none; define it there"))
	})

	It("checks the classes themselves: names, duplicates, empty classes and their values", func() {
		list := loadErrors(header + `spec:
  duration: 1s
  hardware:
    - {name: Box, cpu: 1}
    - {name: box}
    - {name: box, memory: 1Mi}
    - {name: tiny, cpu: 0}
  sites: [{name: a}]
`)
		Expect(list).To(HaveLen(5))
		Expect(list[0].Path).To(Equal("spec.hardware[0].name"))
		Expect(list[1].Path).To(Equal("spec.hardware[1]"))
		Expect(list[1].Msg).To(ContainSubstring("gives neither cpu nor memory"))
		Expect(list[2].Path).To(Equal("spec.hardware[2].name"))
		Expect(list[2].Msg).To(ContainSubstring("defined twice"))
		Expect(list[3].Path).To(Equal("spec.hardware[2].memory"))
		Expect(list[3].Msg).To(ContainSubstring("too small"))
		Expect(list[4].Path).To(Equal("spec.hardware[3].cpu"))
	})
})
