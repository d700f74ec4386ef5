package main

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const nodesJSON = `{"kind":"NodeList","items":[
 {"metadata":{"name":"c-worker2"},"spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24","fd00:10:244:2::/64"]},
  "status":{"addresses":[{"type":"InternalIP","address":"fc00:f853:ccd:e793::4"},{"type":"InternalIP","address":"10.89.0.4"},{"type":"Hostname","address":"c-worker2"}]}},
 {"metadata":{"name":"c-control-plane"},"spec":{"podCIDR":"10.244.0.0/24"},
  "status":{"addresses":[{"type":"InternalIP","address":"10.89.0.2"}]}},
 {"metadata":{"name":"c-worker"},"spec":{"podCIDR":"10.244.1.0/24"},
  "status":{"addresses":[{"type":"InternalIP","address":"10.89.0.3"}]}},
 {"metadata":{"name":"c-worker3"},"spec":{},
  "status":{"addresses":[{"type":"InternalIP","address":"10.89.0.5"}]}}]}`

var _ = Describe("the edgesim CNI", func() {
	It("reads PodCIDRs and IPv4 InternalIPs from a node list", func() {
		nodes, err := parseNodes([]byte(nodesJSON))
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes).To(Equal([]node{
			{Name: "c-control-plane", PodCIDRs: []string{"10.244.0.0/24"}, InternalIP: "10.89.0.2"},
			{Name: "c-worker", PodCIDRs: []string{"10.244.1.0/24"}, InternalIP: "10.89.0.3"},
			{Name: "c-worker2", PodCIDRs: []string{"10.244.2.0/24", "fd00:10:244:2::/64"}, InternalIP: "10.89.0.4"},
			{Name: "c-worker3", InternalIP: "10.89.0.5"},
		}))
		_, err = parseNodes([]byte("<html>"))
		Expect(err).To(HaveOccurred())
	})

	It("routes every other node's PodCIDR through that node", func() {
		nodes, _ := parseNodes([]byte(nodesJSON))
		cidr, routes, ok := plan("c-worker", nodes)
		Expect(ok).To(BeTrue())
		Expect(cidr).To(Equal("10.244.1.0/24"))
		got := map[string]string{}
		for _, r := range routes {
			got[r.Dst.String()] = r.Gw.String()
		}
		Expect(got).To(Equal(map[string]string{"10.244.0.0/24": "10.89.0.2", "10.244.2.0/24": "10.89.0.4"}))
	})

	It("waits while its own node has no PodCIDR", func() {
		nodes, _ := parseNodes([]byte(nodesJSON))
		_, _, ok := plan("c-worker3", nodes)
		Expect(ok).To(BeFalse())
	})

	It("writes a ptp + host-local + portmap configuration for the PodCIDR", func() {
		b, err := confList("10.244.1.0/24", 1400)
		Expect(err).NotTo(HaveOccurred())
		var conf struct {
			CNIVersion string `json:"cniVersion"`
			Plugins    []struct {
				Type string `json:"type"`
				MTU  int    `json:"mtu"`
				IPAM struct {
					Type   string                `json:"type"`
					Ranges [][]map[string]string `json:"ranges"`
				} `json:"ipam"`
			} `json:"plugins"`
		}
		Expect(json.Unmarshal(b, &conf)).To(Succeed())
		Expect(conf.CNIVersion).To(Equal("1.0.0"))
		Expect(conf.Plugins).To(HaveLen(2))
		Expect(conf.Plugins[0].Type).To(Equal("ptp"))
		Expect(conf.Plugins[0].MTU).To(Equal(1400))
		Expect(conf.Plugins[0].IPAM.Type).To(Equal("host-local"))
		Expect(conf.Plugins[0].IPAM.Ranges).To(Equal([][]map[string]string{{{"subnet": "10.244.1.0/24"}}}))
		Expect(conf.Plugins[1].Type).To(Equal("portmap"))
		_, err = confList("10.244.1.0", 1500)
		Expect(err).To(HaveOccurred())
	})

	It("rewrites the configuration only when it changes", func() {
		p := filepath.Join(GinkgoT().TempDir(), confName)
		changed, err := writeIfChanged(p, []byte("a"))
		Expect(err).NotTo(HaveOccurred())
		Expect(changed).To(BeTrue())
		changed, err = writeIfChanged(p, []byte("a"))
		Expect(err).NotTo(HaveOccurred())
		Expect(changed).To(BeFalse())
		changed, _ = writeIfChanged(p, []byte("b"))
		Expect(changed).To(BeTrue())
		b, _ := os.ReadFile(p)
		Expect(string(b)).To(Equal("b"))
	})
})

var _ = Describe("API server addresses", func() {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	It("tries kind's control-plane endpoint before the service address", func() {
		bases, err := apiBases(env(map[string]string{"CONTROL_PLANE_ENDPOINT": "c-control-plane:6443", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(bases).To(Equal([]string{"https://c-control-plane:6443", "https://10.96.0.1:443"}))
	})

	It("fails clearly with neither", func() {
		_, err := apiBases(env(nil))
		Expect(err).To(MatchError(ContainSubstring("CONTROL_PLANE_ENDPOINT")))
	})
})
