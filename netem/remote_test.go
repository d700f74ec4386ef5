package netem_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/netem"
)

// ipv4Packet is a minimal IPv4 packet (20-byte header with a valid
// checksum, protocol 253 "experimental") carrying size bytes in all.
func ipv4Packet(src, dst net.IP, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(size))
	binary.BigEndian.PutUint16(p[4:], 0x1234)
	p[8] = 64
	p[9] = 253
	copy(p[12:16], src.To4())
	copy(p[16:20], dst.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	for i := 20; i < size; i++ {
		p[i] = byte(i)
	}
	return p
}

// loopbackRelay is a relay's UDP socket on 127.0.0.1 (port 0: any).
func loopbackRelay(port int) *net.UDPConn {
	GinkgoHelper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = c.Close() }) // a spec may close it first
	return c
}

// receive is what relay r received within a short wait (nil: nothing),
// after checking it came from host h's socket.
func receive(r *net.UDPConn, h *netem.Host) []byte {
	buf := make([]byte, 65536)
	_ = r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, from, err := r.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	Expect(from.String()).To(Equal(h.RelayAddr().String()))
	return buf[:n]
}

func relayErrorsMetric(reg *prometheus.Registry, host string) float64 {
	mfs, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range mfs {
		if mf.GetName() != netem.MetricRelayErrors {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "host" && lp.GetValue() == host {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

var _ = Describe("Remote hosts", func() {
	const delay = 20 * time.Millisecond
	var (
		ctx            context.Context
		reg            *prometheus.Registry
		eng            *netem.Userspace
		a, b           *netem.Host
		relayA, relayB *net.UDPConn
		link           *netem.Link
	)
	BeforeEach(func() {
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			Skip("the userspace engine needs /dev/net/tun")
		}
		ctx = context.Background()
		reg = prometheus.NewRegistry()
		testbedN++
		var err error
		eng, err = netem.NewUserspace(ctx, netem.WithRegisterer(reg), netem.WithStateDir(GinkgoT().TempDir()),
			netem.WithName(fmt.Sprintf("r%d-%d", os.Getpid(), testbedN)), netem.WithSeed(1))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(eng.Close(ctx)).To(Succeed()) })
		relayA, relayB = loopbackRelay(0), loopbackRelay(0)
		a, err = eng.AddHost(ctx, netem.HostSpec{Name: "edge-1", Group: "site:a", Remote: relayA.LocalAddr().(*net.UDPAddr)})
		Expect(err).NotTo(HaveOccurred())
		b, err = eng.AddHost(ctx, netem.HostSpec{Name: "cloud-1", Group: "cloud", Remote: relayB.LocalAddr().(*net.UDPAddr)})
		Expect(err).NotTo(HaveOccurred())
		link, err = eng.Link(ctx, "site:a", "cloud", netem.LinkConfig{Delay: delay}, netem.LinkConfig{Delay: delay})
		Expect(err).NotTo(HaveOccurred())
	})

	It("has a relay address and no namespace", func() {
		Expect(a.Remote().String()).To(Equal(relayA.LocalAddr().String()))
		Expect(a.RelayAddr().IP.String()).To(Equal("127.0.0.1"))
		Expect(a.RelayAddr().Port).NotTo(BeZero())
		Expect(a.RelayAddr().Port).NotTo(Equal(b.RelayAddr().Port))
		Expect(a.NetnsPath()).To(BeEmpty())
		Expect(a.NetnsName()).To(BeEmpty())
		Expect(a.Interface()).To(BeEmpty())
		Expect(a.Do(func() error { Fail("ran in a namespace"); return nil })).To(MatchError(netem.ErrRemoteHost))
		var eh netem.EngineHost = a
		Expect(eh.Address().String()).To(Equal("10.240.0.1"))
	})

	It("rejects a remote host with a namespace or without an IPv4 address", func() {
		_, err := eng.AddHost(ctx, netem.HostSpec{Name: "x", Group: "g", PID: os.Getpid(), Remote: relayA.LocalAddr().(*net.UDPAddr)})
		Expect(err).To(MatchError(ContainSubstring("without NetnsPath or PID")))
		_, err = eng.AddHost(ctx, netem.HostSpec{Name: "y", Group: "g", Remote: &net.UDPAddr{IP: net.IPv6loopback, Port: 9}})
		Expect(err).To(MatchError(ContainSubstring("not an IPv4 address")))
		Expect(eng.Hosts()).To(HaveLen(2))
	})

	It("forwards a relay's packets through the link with its delay, both ways, and counts them", func() {
		pkt := ipv4Packet(a.Address(), b.Address(), 100)
		sent := time.Now()
		_, err := relayA.WriteToUDP(pkt, a.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []byte { return receive(relayB, b) }).WithTimeout(5 * time.Second).Should(Equal(pkt))
		Expect(time.Since(sent)).To(BeNumerically(">=", delay))
		Expect(link.Stats()[netem.Up].Packets).To(BeEquivalentTo(1))
		Expect(link.Stats()[netem.Up].Bytes).To(BeEquivalentTo(100))
		Expect(metricValue(reg, netem.MetricPackets, "site:a<->cloud", netem.Up)).To(BeEquivalentTo(1))
		Expect(metricValue(reg, netem.MetricBytes, "site:a<->cloud", netem.Up)).To(BeEquivalentTo(100))

		back := ipv4Packet(b.Address(), a.Address(), 1500) // the engine's MTU
		sent = time.Now()
		_, err = relayB.WriteToUDP(back, b.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []byte { return receive(relayA, a) }).WithTimeout(5 * time.Second).Should(Equal(back))
		Expect(time.Since(sent)).To(BeNumerically(">=", delay))
		Expect(link.Stats()[netem.Down].Bytes).To(BeEquivalentTo(1500))
		Expect(relayErrorsMetric(reg, "edge-1")).To(BeZero())
		problems, err := testutil.GatherAndLint(reg)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
	})

	It("drops packets to unknown destinations and datagrams larger than the MTU", func() {
		_, err := relayA.WriteToUDP(ipv4Packet(a.Address(), net.IPv4(10, 240, 9, 9), 100), a.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		_, err = relayA.WriteToUDP(ipv4Packet(a.Address(), b.Address(), 3000), a.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		Eventually(a.RelayErrors).Should(BeEquivalentTo(1)) // the oversized one
		Consistently(func() []byte { return receive(relayB, b) }, 200*time.Millisecond).Should(BeNil())
		Expect(eng.Stats()).To(HaveEach(HaveField("Packets", BeZero())))
		// And the host still forwards.
		pkt := ipv4Packet(a.Address(), b.Address(), 60)
		_, err = relayA.WriteToUDP(pkt, a.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []byte { return receive(relayB, b) }).WithTimeout(5 * time.Second).Should(Equal(pkt))
	})

	It("keeps forwarding after its relay refused packets before it listened", func() {
		gone := loopbackRelay(0)
		port := gone.LocalAddr().(*net.UDPAddr).Port
		Expect(gone.Close()).To(Succeed())
		c, err := eng.AddHost(ctx, netem.HostSpec{Name: "cloud-2", Group: "cloud", Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}})
		Expect(err).NotTo(HaveOccurred())
		// The engine sends to c's relay, which is not there: the kernel
		// answers with ICMP port unreachable, the socket reports it.
		Eventually(func() uint64 {
			_, err := relayA.WriteToUDP(ipv4Packet(a.Address(), c.Address(), 80), a.RelayAddr())
			Expect(err).NotTo(HaveOccurred())
			return c.RelayErrors()
		}).WithTimeout(5 * time.Second).Should(BeNumerically(">=", 1))
		Eventually(func() float64 { return relayErrorsMetric(reg, "cloud-2") }).Should(BeNumerically(">=", 1))
		Expect(relayErrorsMetric(reg, "edge-1")).To(BeZero())

		relayC := loopbackRelay(port)
		pkt := ipv4Packet(c.Address(), a.Address(), 90)
		_, err = relayC.WriteToUDP(pkt, c.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []byte { return receive(relayA, a) }).WithTimeout(5 * time.Second).Should(Equal(pkt))
		pkt = ipv4Packet(a.Address(), c.Address(), 70)
		_, err = relayA.WriteToUDP(pkt, a.RelayAddr())
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []byte { return receive(relayC, c) }).WithTimeout(5 * time.Second).Should(Equal(pkt))
	})
})
