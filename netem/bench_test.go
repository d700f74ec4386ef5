package netem

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
)

// benchPayload makes 1400-byte IP packets.
const benchPayload = 1400 - 28 // IPv4 20 + UDP 8

// udpPath is a UDP sender and receiver across one path; the sender runs
// only while enabled, so two paths can be measured in alternating slices.
type udpPath struct {
	rc, sc *net.UDPConn
	got    atomic.Int64
	on     atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newUDPPath(b *testing.B, src, dst func(func() error) error, to net.IP, port int) *udpPath {
	p := &udpPath{stop: make(chan struct{})}
	if err := dst(func() (err error) {
		p.rc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to, Port: port})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	_ = p.rc.SetReadBuffer(16 << 20)
	if err := src(func() (err error) {
		p.sc, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: to, Port: port})
		return err
	}); err != nil {
		p.rc.Close()
		b.Fatal(err)
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		pc := ipv4.NewPacketConn(p.rc)
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		for {
			n, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			p.got.Add(int64(n))
		}
	}()
	go func() {
		defer p.wg.Done()
		pc := ipv4.NewPacketConn(p.sc)
		msgs := make([]ipv4.Message, 32)
		payload := make([]byte, benchPayload)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{payload}
		}
		idle := time.NewTicker(time.Millisecond)
		defer idle.Stop()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			if !p.on.Load() {
				<-idle.C
				continue
			}
			_, _ = pc.WriteBatch(msgs, 0)
		}
	}()
	return p
}

// slice runs the sender for d and returns the packets received meanwhile
// (after a short settling time, excluded).
func (p *udpPath) slice(d time.Duration) (packets int64, took time.Duration) {
	p.on.Store(true)
	time.Sleep(20 * time.Millisecond)
	start, n0 := time.Now(), p.got.Load()
	time.Sleep(d)
	packets, took = p.got.Load()-n0, time.Since(start)
	p.on.Store(false)
	time.Sleep(20 * time.Millisecond) // drain
	return packets, took
}

func (p *udpPath) close() {
	close(p.stop)
	p.sc.Close()
	p.rc.Close()
	p.wg.Wait()
}

type vethPair struct {
	names [2]string
	ns    [2]netns.NsHandle
	addr  [2]net.IP
	state *stateFile
}

// newVethPair makes two namespaces joined by a veth pair, recorded in the
// default state directory like an engine's, so that `edgesim clean`
// removes them if the benchmark is killed.
func newVethPair(b *testing.B) *vethPair {
	v := &vethPair{}
	st, err := newStateFile(DefaultStateDir(), fmt.Sprintf("bench-%d-veth", os.Getpid()))
	if err != nil {
		b.Skip("cannot record state:", err)
	}
	v.state = st
	for i := range 2 {
		v.names[i] = fmt.Sprintf("%sbench-%d-veth%d", Prefix, os.Getpid(), i)
		if err := st.addNetns(v.names[i]); err != nil {
			v.close()
			b.Fatal(err)
		}
		h, err := createNetns(v.names[i])
		if err != nil {
			v.close()
			b.Skip("cannot create namespaces:", err)
		}
		v.ns[i] = h
		v.addr[i] = net.IPv4(10, 241, 0, byte(i+1)).To4()
	}
	h0, err := netlink.NewHandleAt(v.ns[0])
	if err != nil {
		v.close()
		b.Fatal(err)
	}
	defer h0.Close()
	h1, err := netlink.NewHandleAt(v.ns[1])
	if err != nil {
		v.close()
		b.Fatal(err)
	}
	defer h1.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "es-v0", MTU: 1500}, PeerName: "es-v1", PeerNamespace: netlink.NsFd(v.ns[1])}
	if err := h0.LinkAdd(veth); err != nil {
		v.close()
		b.Fatal(err)
	}
	for i, h := range []*netlink.Handle{h0, h1} {
		l, err := h.LinkByName(fmt.Sprintf("es-v%d", i))
		if err != nil {
			v.close()
			b.Fatal(err)
		}
		_ = h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: v.addr[i], Mask: net.CIDRMask(24, 32)}})
		_ = h.LinkSetUp(l)
		if lo, err := h.LinkByName("lo"); err == nil {
			_ = h.LinkSetUp(lo)
		}
	}
	return v
}

func (v *vethPair) close() {
	for i := range 2 {
		if v.ns[i].IsOpen() {
			v.ns[i].Close()
		}
		if v.names[i] != "" {
			_, _ = deleteNetns(v.names[i])
		}
	}
	if v.state != nil {
		_ = v.state.remove()
	}
}

// BenchmarkFabricVsVeth sends 1400-byte UDP packets as fast as one sender
// can through one unimpaired fabric link and, side by side, through a plain
// veth pair between two namespaces, and reports both rates and their ratio.
func BenchmarkFabricVsVeth(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for namespaces and TUN devices")
	}
	ctx := context.Background()
	eng, err := NewUserspace(ctx, WithStateDir(b.TempDir()), WithName(fmt.Sprintf("bench-%d", os.Getpid())))
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	ha, err := eng.AddHost(ctx, HostSpec{Name: "a", Group: "a"})
	if err != nil {
		b.Fatal(err)
	}
	hb, err := eng.AddHost(ctx, HostSpec{Name: "b", Group: "b"})
	if err != nil {
		b.Fatal(err)
	}
	v := newVethPair(b)
	defer v.close()
	in := func(h netns.NsHandle) func(func() error) error {
		return func(f func() error) error { return inNetns(h, f) }
	}
	fabPath := newUDPPath(b, ha.Do, hb.Do, hb.Address(), 9800)
	defer fabPath.close()
	vethPath := newUDPPath(b, in(v.ns[0]), in(v.ns[1]), v.addr[1], 9801)
	defer vethPath.close()
	// Alternate 100 ms slices so that the machine's changing load hits
	// both paths alike; one iteration is 10 slices of each.
	var fabN, vethN int64
	var fabT, vethT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range 10 {
			n, d := fabPath.slice(100 * time.Millisecond)
			fabN, fabT = fabN+n, fabT+d
			n, d = vethPath.slice(100 * time.Millisecond)
			vethN, vethT = vethN+n, vethT+d
		}
	}
	b.StopTimer()
	fab := float64(fabN) / fabT.Seconds()
	veth := float64(vethN) / vethT.Seconds()
	b.ReportMetric(fab, "fabric-pps")
	b.ReportMetric(veth, "veth-pps")
	b.ReportMetric(fab*1400*8/1e9, "fabric-Gbit/s")
	b.ReportMetric(fab/veth, "fabric/veth")
	b.Logf("1400-byte packets: fabric %.0f pps (%.2f Gbit/s), veth %.0f pps (%.2f Gbit/s), ratio %.2f",
		fab, fab*1400*8/1e9, veth, veth*1400*8/1e9, fab/veth)
}

// BenchmarkModel is the model's own cost per packet (Send and Deliver) for
// a 4g-like direction: delay with correlated paretonormal jitter, loss,
// token bucket. It bounds the packet rate one forwarding thread can model.
func BenchmarkModel(b *testing.B) {
	cfg := LinkConfig{Delay: 30 * time.Millisecond, Jitter: 8 * time.Millisecond, Distribution: DistParetoNormal,
		DelayCorrelation: 25, Loss: Loss{Percent: 0.1}, RateBits: 1e9, QueuePackets: 10000}
	t0 := time.Unix(0, 0)
	pool := make([]*Packet, 0, 4096)
	free := func(p *Packet) { pool = append(pool, p) }
	m, err := NewModel(cfg, 1, t0, WithPacketFree(free))
	if err != nil {
		b.Fatal(err)
	}
	get := func() *Packet {
		if n := len(pool); n > 0 {
			p := pool[n-1]
			pool = pool[:n-1]
			return p
		}
		return &Packet{Buf: make([]byte, 1400), N: 1400}
	}
	var out []*Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := t0.Add(time.Duration(i) * 12 * time.Microsecond) // ~1 Gbit/s of 1400 B
		if p := get(); func() bool { ok, _ := m.Send(now, p); return ok }() == false {
			free(p)
		}
		out = m.Deliver(now, out[:0])
		for _, p := range out {
			free(p)
		}
	}
}
