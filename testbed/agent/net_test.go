package agent_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/edgesim/edgesim/testbed/agent"
	"github.com/edgesim/edgesim/testbed/kube"
)

func requireRoot() {
	if os.Geteuid() != 0 {
		Skip("needs root to create network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		Skip("needs /dev/net/tun")
	}
}

// newNS makes an unnamed network namespace, with lo up, that lives as
// long as the spec.
func newNS() netns.NsHandle {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	Expect(err).NotTo(HaveOccurred())
	defer orig.Close()
	ns, err := netns.New()
	Expect(err).NotTo(HaveOccurred())
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	Expect(netns.Set(orig)).To(Succeed())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(ns.Close)
	return ns
}

// in runs fn on a thread inside ns.
func in(ns netns.NsHandle, fn func()) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	Expect(err).NotTo(HaveOccurred())
	defer orig.Close()
	Expect(netns.Set(ns)).To(Succeed())
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}

// counter is the value of an agent metric, 0 when absent.
func counter(g prometheus.Gatherer, name, relay, dir string) float64 {
	mfs, err := g.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["relay"] == relay && l["direction"] == dir {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// udpPacket is an IPv4 packet holding a UDP datagram (no UDP checksum).
func udpPacket(src, dst net.IP, sport, dport int, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:16], src.To4())
	copy(p[16:20], dst.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], uint16(sport))
	binary.BigEndian.PutUint16(p[22:], uint16(dport))
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

func linkNames(ns netns.NsHandle) map[string]string {
	aliases := map[string]string{}
	in(ns, func() {
		links, err := netlink.LinkList()
		Expect(err).NotTo(HaveOccurred())
		for _, l := range links {
			aliases[l.Attrs().Name] = l.Attrs().Alias
		}
	})
	return aliases
}

// foreign makes a device the agent under test did not make (a vxlan one:
// dummy devices need a module not every kernel has).
func foreign(ns netns.NsHandle, name, alias string, vni int) {
	in(ns, func() {
		Expect(netlink.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: name}, VxlanId: vni, Port: 4790 + vni})).To(Succeed())
		if alias != "" {
			l, err := netlink.LinkByName(name)
			Expect(err).NotTo(HaveOccurred())
			Expect(netlink.LinkSetAlias(l, alias)).To(Succeed())
		}
	})
}

func newAgent(ns netns.NsHandle, runID string) (*agent.Agent, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	var a *agent.Agent
	in(ns, func() {
		var err error
		a, err = agent.New(ctx(), agent.Config{RunID: runID, Registerer: reg})
		Expect(err).NotTo(HaveOccurred())
	})
	DeferCleanup(func() { Expect(a.Close(ctx())).To(Succeed()) })
	return a, reg
}

var _ = Describe("Relay", func() {
	It("carries packets between its TUN device and the engine's UDP socket, one per datagram", func(sctx SpecContext) {
		requireRoot()
		ns := newNS()
		a, reg := newAgent(ns, "relay-spec")
		var engine, app *net.UDPConn
		in(ns, func() {
			var err error
			engine, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			Expect(err).NotTo(HaveOccurred())
		})
		DeferCleanup(engine.Close)
		// Attached from whatever thread: the agent works in its namespace.
		r, err := a.Attach(sctx, agent.RelayConfig{Name: "esa0", Address: "10.99.0.1/24", MTU: 1550, ListenPort: 47001, Engine: engine.LocalAddr().String()})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.LocalAddr().Port).To(Equal(47001))
		Expect(a.Relays()).To(Equal([]string{"esa0"}))
		links := linkNames(ns)
		Expect(links).To(HaveKeyWithValue("esa0", "edgesim-agent:relay-spec"))
		in(ns, func() {
			l, err := netlink.LinkByName("esa0")
			Expect(err).NotTo(HaveOccurred())
			Expect(l.Attrs().MTU).To(Equal(1550))
			Expect(l.Attrs().Flags & net.FlagUp).NotTo(BeZero())
		})

		By("a packet the namespace routes into the TUN device reaching the engine")
		in(ns, func() {
			snd, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999})
			Expect(err).NotTo(HaveOccurred())
			defer snd.Close()
			_, err = snd.Write([]byte("to the engine"))
			Expect(err).NotTo(HaveOccurred())
		})
		buf := make([]byte, 2000)
		Expect(engine.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		n, from, err := engine.ReadFromUDP(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(from.Port).To(Equal(47001))
		Expect(buf[0] >> 4).To(Equal(byte(4)))
		Expect(net.IP(buf[16:20]).String()).To(Equal("10.99.0.2"))
		Expect(string(buf[28:n])).To(Equal("to the engine"))
		Eventually(func() float64 {
			return counter(reg, "edgesim_agent_relay_packets_total", "esa0", agent.ToEngine)
		}).Should(BeNumerically(">=", 1))
		Eventually(func() float64 {
			return counter(reg, "edgesim_agent_relay_bytes_total", "esa0", agent.ToEngine)
		}).Should(BeNumerically(">=", n))

		By("a datagram from the engine written to the TUN device as a packet")
		in(ns, func() {
			app, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: 6666})
			Expect(err).NotTo(HaveOccurred())
		})
		DeferCleanup(app.Close)
		pkt := udpPacket(net.IPv4(10, 99, 0, 2), net.IPv4(10, 99, 0, 1), 5555, 6666, []byte("from the engine"))
		_, err = engine.WriteToUDP(pkt, from)
		Expect(err).NotTo(HaveOccurred())
		Expect(app.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		n, src, err := app.ReadFromUDP(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:n])).To(Equal("from the engine"))
		Expect(src.String()).To(Equal("10.99.0.2:5555"))
		// The relay counts a packet after writing it to the device: the
		// application may read it first.
		Eventually(func() float64 {
			return counter(reg, "edgesim_agent_relay_packets_total", "esa0", agent.FromEngine)
		}).Should(Equal(1.0))
		Eventually(func() float64 {
			return counter(reg, "edgesim_agent_relay_bytes_total", "esa0", agent.FromEngine)
		}).Should(Equal(float64(len(pkt))))

		By("what is not IPv4 dropped and counted")
		_, err = engine.WriteToUDP([]byte("not a packet"), from)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() float64 {
			return counter(reg, "edgesim_agent_relay_dropped_total", "esa0", agent.FromEngine)
		}).Should(Equal(1.0))

		By("detaching removing the device")
		Expect(a.Detach(sctx, "esa0")).To(Succeed())
		Expect(linkNames(ns)).NotTo(HaveKey("esa0"))
		Expect(a.Relays()).To(BeEmpty())
	})

	It("refuses a bad configuration before touching the node", func(sctx SpecContext) {
		reg := prometheus.NewRegistry()
		m, err := agent.NewRelayMetrics(reg)
		Expect(err).NotTo(HaveOccurred())
		for _, c := range []agent.RelayConfig{
			{Name: "eth0", Address: "10.0.0.1/24", ListenPort: 1, Engine: "127.0.0.1:1"},
			{Name: "esa0", Address: "10.0.0.1", ListenPort: 1, Engine: "127.0.0.1:1"},
			{Name: "esa0", Address: "fd00::1/64", ListenPort: 1, Engine: "127.0.0.1:1"},
			{Name: "esa0", Address: "10.0.0.1/24", ListenPort: 0, Engine: "127.0.0.1:1"},
			{Name: "esa0", Address: "10.0.0.1/24", ListenPort: 1, Engine: "localhost:1"},
		} {
			_, err := agent.NewRelay(sctx, c, m)
			Expect(err).To(HaveOccurred(), fmt.Sprint(c))
		}
	})
})

var _ = Describe("Tunnels", func() {
	tunnels := func() []kube.TunnelEnd {
		_, a, _ := net.ParseCIDR("10.244.1.0/24")
		_, b, _ := net.ParseCIDR("10.244.2.0/24")
		ts, err := kube.Tunnels([]kube.TunnelPeer{
			{Node: "a", Addr: net.ParseIP("10.99.0.1"), PodCIDR: a},
			{Node: "b", Addr: net.ParseIP("10.99.0.2"), PodCIDR: b},
		})
		Expect(err).NotTo(HaveOccurred())
		return ts[:1] // node a's end
	}

	It("makes the VXLAN devices, addresses and routes by netlink, marked as edgesim's", func(sctx SpecContext) {
		requireRoot()
		ns := newNS()
		a, _ := newAgent(ns, "t1")
		Expect(a.ApplyTunnels(sctx, tunnels())).To(Succeed())
		Expect(a.ApplyTunnels(sctx, tunnels())).To(Succeed(), "applying again replaces")
		in(ns, func() {
			l, err := netlink.LinkByName("esv1")
			Expect(err).NotTo(HaveOccurred())
			Expect(l.Attrs().Alias).To(Equal("edgesim-agent:t1"))
			Expect(l.Attrs().MTU).To(Equal(1500))
			vx, ok := l.(*netlink.Vxlan)
			Expect(ok).To(BeTrue(), l.Type())
			Expect(vx.VxlanId).To(Equal(4000))
			Expect(vx.Port).To(Equal(4789))
			Expect(vx.SrcAddr.String()).To(Equal("10.99.0.1"))
			Expect(vx.Group.String()).To(Equal("10.99.0.2"))
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			Expect(err).NotTo(HaveOccurred())
			Expect(addrs).To(HaveLen(1))
			Expect(addrs[0].IP.String()).To(Equal("100.127.0.1"))
			Expect(addrs[0].Peer.IP.String()).To(Equal("100.127.1.0"))
			routes, err := netlink.RouteList(l, netlink.FAMILY_V4)
			Expect(err).NotTo(HaveOccurred())
			var via []string
			for _, r := range routes {
				if r.Gw != nil {
					via = append(via, r.Dst.String()+" via "+r.Gw.String())
				}
			}
			Expect(via).To(ConsistOf("10.244.2.0/25 via 100.127.1.0", "10.244.2.128/25 via 100.127.1.0"))
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(Equal("2\n"))
		})
		Expect(a.ApplyTunnels(sctx, nil)).To(Succeed())
		Expect(linkNames(ns)).NotTo(HaveKey("esv1"), "tunnels no longer wanted are deleted")
	})

	It("refuses to replace a device that is not edgesim's", func(sctx SpecContext) {
		requireRoot()
		ns := newNS()
		foreign(ns, "esv1", "", 10)
		a, _ := newAgent(ns, "t2")
		Expect(a.ApplyTunnels(sctx, tunnels())).To(MatchError(ContainSubstring("not edgesim's")))
		Expect(linkNames(ns)).To(HaveKeyWithValue("esv1", ""))
	})

	It("Sweep deletes every device with edgesim's alias and nothing else; Close deletes this agent's", func(sctx SpecContext) {
		requireRoot()
		ns := newNS()
		foreign(ns, "keep0", "", 10)
		foreign(ns, "keep1", "edgesim-something-else", 11)
		foreign(ns, "old0", "edgesim-agent:an-earlier-run", 12)
		earlier, _ := newAgent(ns, "earlier")
		Expect(earlier.ApplyTunnels(sctx, tunnels())).To(Succeed())
		Expect(linkNames(ns)).To(HaveKey("esv1"))

		later, _ := newAgent(ns, "later")
		gone, err := later.Sweep(sctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(gone).To(ConsistOf("esv1", "old0"))
		links := linkNames(ns)
		Expect(links).To(HaveKey("keep0"))
		Expect(links).To(HaveKey("keep1"))
		Expect(links).NotTo(HaveKey("esv1"))
		Expect(links).NotTo(HaveKey("old0"))

		Expect(later.ApplyTunnels(sctx, tunnels())).To(Succeed())
		Expect(later.Close(sctx)).To(Succeed())
		links = linkNames(ns)
		Expect(links).NotTo(HaveKey("esv1"))
		Expect(links).To(HaveKey("keep0"))
	})
})

// serving serves a new agent of run runID with cfg (its Gatherer the
// agent's registry) until the spec ends.
func serving(sctx SpecContext, runID string, cfg agent.ServerConfig) *agent.Server {
	reg := prometheus.NewRegistry()
	a, err := agent.New(sctx, agent.Config{RunID: runID, Registerer: reg})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(a.Close(ctx())).To(Succeed()) })
	cfg.Gatherer = reg
	s, err := agent.NewServer(a, cfg)
	Expect(err).NotTo(HaveOccurred())
	sctx2, cancel := context.WithCancel(ctx())
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx2) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).Should(Receive(BeNil()))
	})
	return s
}

var _ = Describe("Server", func() {
	It("serves the control API on a unix socket and metrics on TCP", func(sctx SpecContext) {
		sock := filepath.Join(GinkgoT().TempDir(), "run", "agent.sock")
		// Registered before the server's: runs after it stopped.
		DeferCleanup(func() { Expect(sock).NotTo(BeAnExistingFile()) })
		s := serving(sctx, "srv", agent.ServerConfig{Socket: sock, MetricsAddr: "127.0.0.1:0"})
		fi, err := os.Stat(sock)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))

		c := agent.NewClient(sock)
		Expect(c.Attach(sctx, agent.RelayConfig{Name: "eth0", Address: "10.0.0.1/24", ListenPort: 1, Engine: "127.0.0.1:1"})).
			To(MatchError(ContainSubstring("relay device name")))
		Expect(c.Detach(sctx, "esa9")).To(MatchError(ContainSubstring("no relay esa9")))
		Expect(c.Detach(sctx, "")).To(Succeed())
		Expect(c.ApplyTunnels(sctx, []kube.TunnelEnd{{Dev: "esv0"}})).To(MatchError(ContainSubstring("VNI")))

		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + s.MetricsAddr().String() + path)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := get("/healthz")
		Expect(code).To(Equal(200))
		Expect(body).To(Equal("ok\n"))
		code, _ = get("/metrics")
		Expect(code).To(Equal(200))
		code, _ = get("/v1/cat?path=x")
		Expect(code).To(Equal(404), "no files without a files token")
		resp, err := http.Post("http://"+s.MetricsAddr().String()+"/v1/detach", "application/json", nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).NotTo(Equal(204), "the control API is not on the TCP port")
	})

	It("serves the files under its root read-only beside /metrics, to holders of the files token only", func(sctx SpecContext) {
		base := GinkgoT().TempDir()
		data := filepath.Join(base, "data")
		Expect(os.MkdirAll(filepath.Join(data, "samples", "cams"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(data, "samples", "cams", "latency-c1.jsonl"), []byte("{\"seq\":1}\n"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(base, "secret"), []byte("no"), 0o600)).To(Succeed())
		root, err := agent.OpenRoot(data)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(root.Close)
		s := serving(sctx, "files", agent.ServerConfig{Socket: filepath.Join(base, "agent.sock"), MetricsAddr: "127.0.0.1:0",
			Files: root, FilesToken: "t0k"})
		addr := s.MetricsAddr().String()
		c := agent.NewFilesClient(addr, "t0k", http.DefaultClient)

		b, err := c.Cat(sctx, filepath.Join(data, "samples", "cams", "latency-c1.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal("{\"seq\":1}\n"))
		b, err = c.Cat(sctx, "alerts/alerts.jsonl")
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(BeEmpty(), "a missing file reads as empty, as `agent cat` does")

		b, err = c.Tar(sctx, filepath.Join(data, "samples"))
		Expect(err).NotTo(HaveOccurred())
		out := GinkgoT().TempDir()
		local, err := agent.OpenRoot(out)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(local.Close)
		Expect(local.Untar(sctx, ".", bytes.NewReader(b))).To(Succeed())
		Expect(os.ReadFile(filepath.Join(out, "cams", "latency-c1.jsonl"))).To(Equal([]byte("{\"seq\":1}\n")))

		_, err = c.Cat(sctx, filepath.Join(base, "secret"))
		Expect(err).To(MatchError(ContainSubstring("400 Bad Request")), "nothing outside the root")
		_, err = c.Tar(sctx, "../")
		Expect(err).To(MatchError(ContainSubstring("400 Bad Request")))
		_, err = agent.NewFilesClient(addr, "wrong", http.DefaultClient).Cat(sctx, "samples/cams/latency-c1.jsonl")
		Expect(err).To(MatchError(ContainSubstring("401 Unauthorized")))
		resp, err := http.Get("http://" + addr + "/v1/cat?path=samples/cams/latency-c1.jsonl")
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized), "no token, no files")
		resp, err = http.Post("http://"+addr+"/v1/cat?path=x", "text/plain", nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusMethodNotAllowed), "read-only")
	})
})
