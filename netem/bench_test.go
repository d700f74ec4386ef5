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
const benchPayload = 1400 - ipUDPHeader

// blast sends UDP datagrams from inside src as fast as it can and counts
// what arrives at dst during d; it returns packets per second received.
func blast(b *testing.B, src, dst func(func() error) error, to net.IP, port int, d time.Duration) float64 {
	var rc, sc *net.UDPConn
	if err := dst(func() (err error) {
		rc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to, Port: port})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	_ = rc.SetReadBuffer(16 << 20)
	if err := src(func() (err error) {
		sc, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: to, Port: port})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	var got atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pc := ipv4.NewPacketConn(rc)
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		for {
			n, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			got.Add(int64(n))
		}
	}()
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		pc := ipv4.NewPacketConn(sc)
		msgs := make([]ipv4.Message, 32)
		payload := make([]byte, benchPayload)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{payload}
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = pc.WriteBatch(msgs, 0)
		}
	}()
	time.Sleep(200 * time.Millisecond) // reach steady state
	start, n0 := time.Now(), got.Load()
	time.Sleep(d)
	pps := float64(got.Load()-n0) / time.Since(start).Seconds()
	close(stop)
	rc.Close()
	wg.Wait()
	return pps
}

type vethPair struct {
	names  [2]string
	ns     [2]netns.NsHandle
	addr   [2]net.IP
	closed bool
}

func newVethPair(b *testing.B) *vethPair {
	v := &vethPair{}
	for i := range 2 {
		v.names[i] = fmt.Sprintf("%sbench-%d-veth%d", Prefix, os.Getpid(), i)
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
	var fab, veth float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fab += blast(b, ha.Do, hb.Do, hb.Address(), 9800, time.Second)
		veth += blast(b, in(v.ns[0]), in(v.ns[1]), v.addr[1], 9801, time.Second)
	}
	b.StopTimer()
	fab /= float64(b.N)
	veth /= float64(b.N)
	b.ReportMetric(fab, "fabric-pps")
	b.ReportMetric(veth, "veth-pps")
	b.ReportMetric(fab*1400*8/1e9, "fabric-Gbit/s")
	b.ReportMetric(fab/veth, "fabric/veth")
	b.Logf("1400-byte packets: fabric %.0f pps (%.2f Gbit/s), veth %.0f pps (%.2f Gbit/s), ratio %.2f",
		fab, fab*1400*8/1e9, veth, veth*1400*8/1e9, fab/veth)
}
