package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kube"
)

func cidr(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	Expect(err).NotTo(HaveOccurred())
	return n
}

var _ = Describe("Tunnels", func() {
	two := []kube.TunnelPeer{
		{Node: "a", Addr: net.ParseIP("10.240.0.1"), PodCIDR: cidr("10.244.1.0/24")},
		{Node: "b", Addr: net.ParseIP("10.240.0.2"), PodCIDR: cidr("10.244.2.0/24")},
	}

	It("makes one VXLAN pair per pair of workers and routes the peer's PodCIDR halves through it", func() {
		ts, err := kube.Tunnels(two)
		Expect(err).NotTo(HaveOccurred())
		Expect(ts).To(HaveLen(2))
		Expect(ts[0].Node).To(Equal("a"))
		Expect(ts[0].Dev).To(Equal("esv1"))
		Expect(ts[0].VNI).To(Equal(4000))
		Expect(ts[0].Local.Equal(net.ParseIP("10.240.0.1"))).To(BeTrue())
		Expect(ts[0].Remote.Equal(net.ParseIP("10.240.0.2"))).To(BeTrue())
		Expect(ts[0].Addr.Equal(net.ParseIP("100.127.0.1"))).To(BeTrue())
		Expect(ts[0].Peer.Equal(net.ParseIP("100.127.1.0"))).To(BeTrue())
		Expect(ts[0].Routes).To(Equal([]*net.IPNet{cidr("10.244.2.0/25"), cidr("10.244.2.128/25")}))
		Expect(ts[1].Node).To(Equal("b"))
		Expect(ts[1].Dev).To(Equal("esv0"))
		Expect(ts[1].VNI).To(Equal(4000))
	})

	It("gives exactly today's ip(8) commands", func() {
		cmds, err := kube.TunnelCommands(two)
		Expect(err).NotTo(HaveOccurred())
		Expect(cmds).To(Equal([]kube.TunnelCmd{
			{Node: "a", Args: []string{"link", "add", "esv1", "type", "vxlan", "id", "4000", "local", "10.240.0.1", "remote", "10.240.0.2", "dstport", "4789"}},
			{Node: "a", Args: []string{"link", "set", "esv1", "mtu", "1500", "up"}},
			{Node: "a", Args: []string{"addr", "add", "100.127.0.1", "peer", "100.127.1.0", "dev", "esv1"}},
			{Node: "a", Args: []string{"route", "replace", "10.244.2.0/25", "via", "100.127.1.0", "dev", "esv1", "onlink"}},
			{Node: "a", Args: []string{"route", "replace", "10.244.2.128/25", "via", "100.127.1.0", "dev", "esv1", "onlink"}},
			{Node: "b", Args: []string{"link", "add", "esv0", "type", "vxlan", "id", "4000", "local", "10.240.0.2", "remote", "10.240.0.1", "dstport", "4789"}},
			{Node: "b", Args: []string{"link", "set", "esv0", "mtu", "1500", "up"}},
			{Node: "b", Args: []string{"addr", "add", "100.127.1.0", "peer", "100.127.0.1", "dev", "esv0"}},
			{Node: "b", Args: []string{"route", "replace", "10.244.1.0/25", "via", "100.127.0.1", "dev", "esv0", "onlink"}},
			{Node: "b", Args: []string{"route", "replace", "10.244.1.128/25", "via", "100.127.0.1", "dev", "esv0", "onlink"}},
		}))
	})

	It("survives a JSON round trip, routes in CIDR notation", func() {
		ts, err := kube.Tunnels(two)
		Expect(err).NotTo(HaveOccurred())
		b, err := json.Marshal(ts)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring(`"routes":["10.244.2.0/25","10.244.2.128/25"]`))
		var back []kube.TunnelEnd
		Expect(json.Unmarshal(b, &back)).To(Succeed())
		Expect(back).To(HaveLen(2))
		for i := range ts {
			Expect(back[i].IPArgs()).To(Equal(ts[i].IPArgs()))
		}
	})

	It("gives every pair its own VNI", func() {
		var ws []kube.TunnelPeer
		for i := range 4 {
			ws = append(ws, kube.TunnelPeer{Node: fmt.Sprint(i), Addr: net.IPv4(10, 240, 0, byte(i+1)), PodCIDR: cidr(fmt.Sprintf("10.244.%d.0/24", i))})
		}
		ts, err := kube.Tunnels(ws)
		Expect(err).NotTo(HaveOccurred())
		vnis := map[int]int{}
		for _, t := range ts {
			vnis[t.VNI]++
		}
		Expect(vnis).To(HaveLen(6))
		for vni, n := range vnis {
			Expect(n).To(Equal(2), fmt.Sprint(vni))
		}
	})

	It("refuses a worker without an IPv4 PodCIDR", func() {
		_, err := kube.Tunnels([]kube.TunnelPeer{
			{Node: "a", Addr: net.ParseIP("10.240.0.1"), PodCIDR: cidr("10.244.1.0/24")},
			{Node: "b", Addr: net.ParseIP("10.240.0.2")},
		})
		Expect(err).To(MatchError(ContainSubstring("worker b: no IPv4 PodCIDR")))
	})
})

var _ = Describe("Tunnel", func() {
	It("carries pod traffic between namespaces across the emulated link", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("needs root to create network namespaces and TUN devices")
		}
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			Skip("needs /dev/net/tun")
		}
		eng, err := netem.NewUserspace(ctx, netem.WithRegisterer(prometheus.NewRegistry()), netem.WithStateDir(GinkgoT().TempDir()),
			netem.WithName(fmt.Sprintf("kp%d", os.Getpid())), netem.WithSeed(1), netem.WithMTU(kube.EngineMTU))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(eng.Close(context.Background())).To(Succeed()) })
		a, err := eng.AddHost(ctx, netem.HostSpec{Name: "edge-1", Group: "site:a"})
		Expect(err).NotTo(HaveOccurred())
		b, err := eng.AddHost(ctx, netem.HostSpec{Name: "cloud-1", Group: "cloud"})
		Expect(err).NotTo(HaveOccurred())
		lk, err := eng.Link(ctx, "site:a", "cloud", netem.LinkConfig{Delay: 5 * time.Millisecond}, netem.LinkConfig{})
		Expect(err).NotTo(HaveOccurred())
		Expect(kube.Tunnel(ctx, []*netem.Host{a, b}, []*net.IPNet{cidr("10.244.1.0/24"), cidr("10.244.2.0/24")})).To(Succeed())
		// A "pod" address on each side.
		for h, addr := range map[*netem.Host]string{a: "10.244.1.7/32", b: "10.244.2.9/32"} {
			for _, args := range [][]string{{"addr", "add", addr, "dev", "lo"}, {"link", "set", "lo", "up"}} {
				out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + h.NetnsPath(), "ip"}, args...)...).CombinedOutput()
				Expect(err).NotTo(HaveOccurred(), string(out))
			}
		}
		var rcv *net.UDPConn
		Expect(b.Do(func() error {
			var err error
			rcv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.244.2.9"), Port: 5004})
			return err
		})).To(Succeed())
		DeferCleanup(rcv.Close)
		var snd *net.UDPConn
		Expect(a.Do(func() error {
			var err error
			snd, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.244.1.7")}, &net.UDPAddr{IP: net.ParseIP("10.244.2.9"), Port: 5004})
			return err
		})).To(Succeed())
		DeferCleanup(snd.Close)

		payload := make([]byte, 1400) // a full-size RTP packet, below the pods' MTU
		got := make(chan int, 16)
		go func() {
			buf := make([]byte, 2000)
			for {
				n, _, err := rcv.ReadFromUDP(buf)
				if err != nil {
					return
				}
				got <- n
			}
		}()
		Eventually(func() int {
			_, _ = snd.Write(payload)
			select {
			case n := <-got:
				return n
			case <-time.After(100 * time.Millisecond):
				return 0
			}
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Equal(1400))
		up := func() uint64 {
			for _, s := range eng.Stats() {
				if s.Link == lk.Name() && s.Direction == netem.Up {
					return s.Bytes
				}
			}
			return 0
		}
		Expect(up()).To(BeNumerically(">=", 1400+50), "the outer packets crossed the link, VXLAN overhead included")

		Expect(lk.Partition(true)).To(Succeed())
		Eventually(got).Should(HaveLen(0)) // drain what was in flight
		for range 5 {
			_, _ = snd.Write(payload)
		}
		Consistently(got, 300*time.Millisecond).ShouldNot(Receive())
		Expect(lk.Partition(false)).To(Succeed())
		Eventually(func() bool {
			_, _ = snd.Write(payload)
			select {
			case <-got:
				return true
			case <-time.After(100 * time.Millisecond):
				return false
			}
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(BeTrue())
	})
})
