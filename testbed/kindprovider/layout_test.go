package kindprovider_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
)

var _ = Describe("layouts", func() {
	It("puts every node in one cluster that holds every object by default", func() {
		cs := kindprovider.Clusters(kubetest.Plan("quickstart", true), kindprovider.LayoutSingle, "es-qs-0a1b2c")
		Expect(cs).To(HaveLen(1))
		Expect(cs[0].Name).To(Equal("es-qs-0a1b2c"))
		Expect(cs[0].PodSubnet).To(BeEmpty(), "kind's default")
		Expect(cs[0].Nodes).To(ConsistOf("cloud-1", "store-1-edge-1", "store-1-edge-2", "store-1-cams", "store-1-via-cloud-cams"))
		Expect(cs[0].Holds("store-1")).To(BeTrue())
		Expect(cs[0].Holds(kube.CloudSite)).To(BeTrue())
	})

	It("federates a cloud cluster and one per site, with distinct pod networks and the mirror at its site", func() {
		cs := kindprovider.Clusters(kubetest.Plan("quickstart", true), kindprovider.LayoutFederated, "es-qs-0a1b2c")
		Expect(cs).To(HaveLen(2))
		cloud, site := cs[0], cs[1]
		Expect(cloud.Name).To(Equal("es-qs-0a1b2c-c"))
		Expect(cloud.Nodes).To(ConsistOf("cloud-1"))
		Expect(cloud.Holds(kube.CloudSite)).To(BeTrue())
		Expect(cloud.Holds("store-1")).To(BeFalse())
		Expect(site.Name).To(Equal("es-qs-0a1b2c-s1"))
		Expect(site.Nodes).To(ConsistOf("store-1-edge-1", "store-1-edge-2", "store-1-cams", "store-1-via-cloud-cams"))
		Expect(site.Holds("store-1")).To(BeTrue())
		Expect(site.Holds("store-1-via-cloud")).To(BeTrue(), "the mirror's cameras stand at the site")
		Expect(site.Holds(kube.CloudSite)).To(BeFalse())
		Expect(cloud.PodSubnet).NotTo(Equal(site.PodSubnet))
	})

	It("keeps federated names within kind's 40 characters", func() {
		long := kindprovider.ClusterName("a-very-long-scenario-name-for-a-fleet-abcdef")
		for _, c := range kindprovider.Clusters(kubetest.Plan("factory-5g", false), kindprovider.LayoutFederated, long) {
			Expect(len(c.Name)).To(BeNumerically("<=", 40), c.Name)
		}
	})

	It("accepts the two layouts by name and refuses others", func() {
		Expect(kindprovider.ParseLayout("")).To(Equal(kindprovider.LayoutSingle))
		Expect(kindprovider.ParseLayout("federated")).To(Equal(kindprovider.LayoutFederated))
		_, err := kindprovider.ParseLayout("mesh")
		Expect(err).To(MatchError(ContainSubstring(`want "single" or "federated"`)))
	})
})

var _ = Describe("kind clusters", func() {
	It("label their workers with the labels the workloads are pinned by", func() {
		Expect(cluster.LabelTier).To(Equal(kube.LabelTier))
		Expect(cluster.LabelSite).To(Equal(kube.LabelSite))
	})

	It("names clusters as kind wants them", func() {
		Expect(kindprovider.ClusterName("quickstart-0a1b2c")).To(Equal("es-quickstart-0a1b2c"))
		Expect(kindprovider.ClusterName("Night_Watch.4G-ff00aa")).To(Equal("es-night-watch-4g-ff00aa"))
		Expect(len(kindprovider.ClusterName(strings.Repeat("x", 60)))).To(BeNumerically("<=", 40))
	})

})
