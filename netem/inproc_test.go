package netem_test

import (
	"net"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/transport/v5/stdnet"

	"github.com/edgesim/edgesim/netem"
)

// fakeClock advances only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c     *fakeClock
	ch    chan time.Time
	at    time.Time
	armed bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) netem.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d), armed: true}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.armed && !t.at.After(c.now) {
			t.armed = false
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.at, t.armed = t.c.now.Add(d), true
	if !t.at.After(t.c.now) {
		t.armed = false
		select {
		case t.ch <- t.c.now:
		default:
		}
	}
	return was
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

func loopbackPair() (a, b net.PacketConn) {
	var err error
	a, err = net.ListenPacket("udp4", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	b, err = net.ListenPacket("udp4", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(b.Close)
	return a, b
}

var _ = Describe("In-process links", func() {
	It("holds datagrams for the delay on the injected clock", func() {
		clk := newFakeClock()
		inner, rcv := loopbackPair()
		c, err := netem.NewPacketConn(inner, netem.LinkConfig{Delay: 50 * time.Millisecond}, netem.WithClock(clk))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)
		_, err = c.WriteTo([]byte("hello"), rcv.LocalAddr())
		Expect(err).NotTo(HaveOccurred())
		clk.Advance(49 * time.Millisecond)
		Expect(c.Stats().Packets).To(BeZero())
		// Advance until the pump has re-armed its timer and delivered.
		Eventually(func() uint64 { clk.Advance(time.Millisecond); return c.Stats().Packets }).Should(BeEquivalentTo(1))
		buf := make([]byte, 16)
		Expect(rcv.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		n, _, err := rcv.ReadFrom(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:n])).To(Equal("hello"))
	})

	It("drops the same datagrams for the same seed", func() {
		run := func(seed int64) []bool {
			inner, rcv := loopbackPair()
			c, err := netem.NewPacketConn(inner, netem.LinkConfig{Loss: netem.Loss{Percent: 20}}, netem.WithSeed(seed), netem.WithClock(newFakeClock()))
			Expect(err).NotTo(HaveOccurred())
			defer c.Close()
			got := make([]bool, 200)
			for i := range got {
				_, _ = c.WriteTo([]byte{byte(i)}, rcv.LocalAddr())
			}
			Eventually(func() uint64 { return c.Stats().Packets + c.Stats().Drops[netem.ReasonLoss] }).Should(BeEquivalentTo(200))
			buf := make([]byte, 4)
			for range c.Stats().Packets {
				Expect(rcv.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
				_, _, err := rcv.ReadFrom(buf)
				Expect(err).NotTo(HaveOccurred())
				got[buf[0]] = true
			}
			return got
		}
		a, b, c := run(7), run(7), run(8)
		Expect(a).To(Equal(b))
		Expect(a).NotTo(Equal(c))
	})

	It("impairs the UDP sockets of a pion transport.Net", func() {
		inner, err := stdnet.NewNet()
		Expect(err).NotTo(HaveOccurred())
		clk := newFakeClock()
		n, err := netem.NewNet(inner, netem.LinkConfig{Partition: true}, netem.WithClock(clk))
		Expect(err).NotTo(HaveOccurred())
		snd, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		Expect(err).NotTo(HaveOccurred())
		defer snd.Close()
		rcv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		Expect(err).NotTo(HaveOccurred())
		defer rcv.Close()
		_, err = snd.WriteTo([]byte("lost"), rcv.LocalAddr())
		Expect(err).NotTo(HaveOccurred())
		Expect(n.Update(netem.LinkConfig{})).To(Succeed())
		_, err = snd.WriteTo([]byte("kept"), rcv.LocalAddr())
		Expect(err).NotTo(HaveOccurred())
		buf := make([]byte, 16)
		Expect(rcv.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		k, _, err := rcv.ReadFrom(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:k])).To(Equal("kept"))
	})
})
