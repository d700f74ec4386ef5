package netem

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/transport/v5"
)

// pump runs one Model against a Clock: packets go in with send, and a
// goroutine hands each one to out when the model delivers it.
type pump struct {
	mu     sync.Mutex
	model  *Model
	clock  Clock
	out    func(*Packet)
	wake   chan struct{}
	done   chan struct{}
	closed bool
	wg     sync.WaitGroup
}

func newPump(cfg LinkConfig, o options, out func(*Packet)) (*pump, error) {
	now := o.clock.Now()
	m, err := NewModel(cfg, o.seed, now)
	if err != nil {
		return nil, err
	}
	p := &pump{model: m, clock: o.clock, out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p, nil
}

func (p *pump) send(pkt *Packet) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	ok, _ := p.model.Send(p.clock.Now(), pkt)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return ok
}

func (p *pump) run() {
	defer p.wg.Done()
	timer := p.clock.NewTimer(time.Hour)
	timer.Stop()
	var out []*Packet
	for {
		now := p.clock.Now()
		p.mu.Lock()
		out = p.model.Deliver(now, out[:0])
		next, has := p.model.Next()
		p.mu.Unlock()
		for i, pkt := range out {
			p.out(pkt)
			out[i] = nil
		}
		var tc <-chan time.Time
		if has {
			timer.Reset(next.Sub(p.clock.Now()))
			tc = timer.C()
		}
		select {
		case <-tc:
		case <-p.wake:
			timer.Stop()
		case <-p.done:
			timer.Stop()
			return
		}
	}
}

func (p *pump) update(cfg LinkConfig) error {
	p.mu.Lock()
	err := p.model.Update(p.clock.Now(), cfg)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return err
}

func (p *pump) ramp(to LinkConfig, over time.Duration) error {
	p.mu.Lock()
	err := p.model.Ramp(p.clock.Now(), to, over)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return err
}

func (p *pump) stats() DirStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.model.Stats()
}

func (p *pump) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	p.wg.Wait()
}

// PacketConn is a net.PacketConn whose outgoing datagrams cross an emulated
// link (delay, loss, rate, ...) before the wrapped connection sends them.
// Reads are untouched: wrap both ends to impair both directions. With
// WithClock and WithSeed the impairment is deterministic, which is what
// unit tests of WebRTC code want.
type PacketConn struct {
	net.PacketConn
	pump *pump
}

// NewPacketConn wraps inner. Options used: WithClock, WithSeed.
func NewPacketConn(inner net.PacketConn, cfg LinkConfig, opts ...Option) (*PacketConn, error) {
	o := options{clock: realClock{}}
	for _, f := range opts {
		f(&o)
	}
	c := &PacketConn{PacketConn: inner}
	p, err := newPump(cfg, o, func(pkt *Packet) {
		_, _ = inner.WriteTo(pkt.Data(), pkt.addr)
	})
	if err != nil {
		return nil, err
	}
	c.pump = p
	return c, nil
}

// WriteTo queues p for addr on the emulated link. Like a real network it
// reports success for a datagram the link later drops.
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	b := make([]byte, len(p))
	copy(b, p)
	if !c.pump.send(&Packet{Buf: b, N: len(b), addr: addr}) && c.pump.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

// Update replaces the link's configuration.
func (c *PacketConn) Update(cfg LinkConfig) error { return c.pump.update(cfg) }

// Ramp moves the configuration linearly to cfg over the given time.
func (c *PacketConn) Ramp(cfg LinkConfig, over time.Duration) error { return c.pump.ramp(cfg, over) }

// Stats returns the link's totals.
func (c *PacketConn) Stats() DirStats { return c.pump.stats() }

// Close stops the link (datagrams still in flight are dropped) and closes
// the wrapped connection.
func (c *PacketConn) Close() error {
	c.pump.close()
	return c.PacketConn.Close()
}

// udpConn impairs a pion transport.UDPConn's outgoing datagrams.
type udpConn struct {
	transport.UDPConn
	pump *pump
}

func (c *udpConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	b := make([]byte, len(p))
	copy(b, p)
	c.pump.send(&Packet{Buf: b, N: len(b), addr: addr})
	return len(p), nil
}

func (c *udpConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) { return c.WriteTo(p, addr) }

func (c *udpConn) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (int, int, error) {
	if len(oob) > 0 {
		return 0, 0, errors.New("netem: control messages are not supported on an emulated link")
	}
	n, err := c.WriteTo(p, addr)
	return n, 0, err
}

func (c *udpConn) Write(p []byte) (int, error) {
	ra := c.RemoteAddr()
	if ra == nil {
		return 0, errors.New("netem: Write on an unconnected UDP socket; use WriteTo")
	}
	return c.WriteTo(p, ra)
}

func (c *udpConn) Close() error {
	c.pump.close()
	return c.UDPConn.Close()
}

// Net is a pion transport.Net whose UDP sockets send through an emulated
// link: pass it to webrtc.SettingEngine.SetNet to run WebRTC code over a
// deterministic, impaired network in unit tests. Every socket gets its own
// model of cfg, seeded from the seed and the socket's number.
type Net struct {
	transport.Net
	cfg  LinkConfig
	o    options
	mu   sync.Mutex
	n    int64
	live map[*pump]struct{}
}

// NewNet wraps inner (e.g. stdnet.NewNet()). Options used: WithClock,
// WithSeed.
func NewNet(inner transport.Net, cfg LinkConfig, opts ...Option) (*Net, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{clock: realClock{}}
	for _, f := range opts {
		f(&o)
	}
	return &Net{Net: inner, cfg: cfg, o: o, live: map[*pump]struct{}{}}, nil
}

func (n *Net) wrap(c transport.UDPConn) (transport.UDPConn, error) {
	n.mu.Lock()
	o := n.o
	o.seed = n.o.seed + n.n
	n.n++
	cfg := n.cfg
	n.mu.Unlock()
	p, err := newPump(cfg, o, func(pkt *Packet) { _, _ = c.WriteTo(pkt.Data(), pkt.addr) })
	if err != nil {
		c.Close()
		return nil, err
	}
	n.mu.Lock()
	n.live[p] = struct{}{}
	n.mu.Unlock()
	return &udpConn{UDPConn: c, pump: p}, nil
}

// ListenUDP implements transport.Net.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.wrap(c)
}

// DialUDP implements transport.Net.
func (n *Net) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return n.wrap(c)
}

// ListenPacket implements transport.Net; UDP sockets are impaired.
func (n *Net) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(transport.UDPConn); ok {
		return n.wrap(uc)
	}
	return c, nil
}

// Update changes the configuration of every socket, open and future.
func (n *Net) Update(cfg LinkConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cfg = cfg
	for p := range n.live {
		if err := p.update(cfg); err != nil {
			return err
		}
	}
	return nil
}
