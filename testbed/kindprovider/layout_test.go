package kindprovider_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kindprovider"
)

var _ = Describe("layouts", func() {
	It("puts every node in one cluster that holds every object by default", func() {
		cs := kindprovider.Clusters(plan("quickstart", true), kindprovider.LayoutSingle, "es-qs-0a1b2c")
		Expect(cs).To(HaveLen(1))
		Expect(cs[0].Name).To(Equal("es-qs-0a1b2c"))
		Expect(cs[0].PodSubnet).To(BeEmpty(), "kind's default")
		Expect(cs[0].Nodes).To(ConsistOf("cloud-1", "store-1-edge-1", "store-1-edge-2", "store-1-cams", "store-1-via-cloud-cams"))
		Expect(cs[0].Holds("store-1")).To(BeTrue())
		Expect(cs[0].Holds(kindprovider.CloudSite)).To(BeTrue())
	})

	It("federates a cloud cluster and one per site, with distinct pod networks and the mirror at its site", func() {
		cs := kindprovider.Clusters(plan("quickstart", true), kindprovider.LayoutFederated, "es-qs-0a1b2c")
		Expect(cs).To(HaveLen(2))
		cloud, site := cs[0], cs[1]
		Expect(cloud.Name).To(Equal("es-qs-0a1b2c-c"))
		Expect(cloud.Nodes).To(ConsistOf("cloud-1"))
		Expect(cloud.Holds(kindprovider.CloudSite)).To(BeTrue())
		Expect(cloud.Holds("store-1")).To(BeFalse())
		Expect(site.Name).To(Equal("es-qs-0a1b2c-s1"))
		Expect(site.Nodes).To(ConsistOf("store-1-edge-1", "store-1-edge-2", "store-1-cams", "store-1-via-cloud-cams"))
		Expect(site.Holds("store-1")).To(BeTrue())
		Expect(site.Holds("store-1-via-cloud")).To(BeTrue(), "the mirror's cameras stand at the site")
		Expect(site.Holds(kindprovider.CloudSite)).To(BeFalse())
		Expect(cloud.PodSubnet).NotTo(Equal(site.PodSubnet))
	})

	It("keeps federated names within kind's 40 characters", func() {
		long := kindprovider.ClusterName("a-very-long-scenario-name-for-a-fleet-abcdef")
		for _, c := range kindprovider.Clusters(plan("factory-5g", false), kindprovider.LayoutFederated, long) {
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

var _ = Describe("manifests of the federated layout", func() {
	It("publish the cloud on a node port and point the sites' upstreams and cameras at it", func() {
		fed := cfg
		fed.CloudURL = "http://10.240.0.1:30080"
		objs, err := kindprovider.Manifests(plan("quickstart", false), fed)
		Expect(err).NotTo(HaveOccurred())
		cams, err := kindprovider.CameraManifests(plan("quickstart", false), fed)
		Expect(err).NotTo(HaveOccurred())
		b, err := kindprovider.Render(append(objs, cams...))
		Expect(err).NotTo(HaveOccurred())
		d := docs(b)
		Expect(dig(d["Service/edgenode-cloud"], "spec", "type")).To(Equal("NodePort"))
		Expect(dig(d["Service/edgenode-cloud"], "spec", "ports", 0, "nodePort")).To(Equal(kindprovider.CloudNodePort))
		Expect(dig(d["Service/edgenode-store-1"], "spec", "type")).To(BeNil(), "the site's Service stays inside its cluster")
		Expect(dig(d["ConfigMap/edgenode-store-1-config"], "data", "edgenode.yaml")).To(ContainSubstring("upstream: http://10.240.0.1:30080\n"))
		Expect(string(b)).To(ContainSubstring("http://10.240.0.1:30080/whip"), "the cameras' last endpoint is the cloud over the WAN")
	})
})
