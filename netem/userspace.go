package netem

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Directions of a link: Up is from its first group to its second.
const (
	Up   = "up"
	Down = "down"
)

// ErrClosed is returned by an engine after Close.
var ErrClosed = errors.New("netem: engine closed")

// HostSpec describes an emulated host. Without NetnsPath or PID the engine
// creates a network namespace for it; with one of them it attaches a TUN
// device to that existing namespace and never deletes the namespace.
type HostSpec struct {
	Name  string
	Group string
	// NetnsPath (e.g. /proc/1234/ns/net or /run/netns/x) or PID selects an
	// existing namespace to attach to.
	NetnsPath string
	PID       int
	// Address is the host's IPv4 address inside the subnet; zero picks
	// the next free one.
	Address net.IP
}

// Host is an emulated host: a network namespace with a TUN device whose
// packets go through the fabric.
type Host struct {
	name, group string
	addr        net.IP
	ip          uint32
	nsName      string // created named namespace, "" when attached
	nsPath      string
	ns          netns.NsHandle
	tunName     string
	tun         int // non-blocking TUN descriptor, -1 when closed
	eng         *Userspace

	cacheGroup string // reader-goroutine cache of the last route
	cacheDir   *direction
	cacheGen   uint64
}

// Name is the host's name.
func (h *Host) Name() string { return h.name }

// Group is the host's link group (e.g. a site or a tier).
func (h *Host) Group() string { return h.group }

// Address is the host's IPv4 address.
func (h *Host) Address() net.IP { return slices.Clone(h.addr) }

// NetnsPath is the path of the host's network namespace, usable with
// `nsenter --net=PATH` or setns; for a created namespace it is
// /run/netns/NAME, so `ip netns exec NAME` works too.
func (h *Host) NetnsPath() string { return h.nsPath }

// NetnsName is the name of a namespace the engine created ("" if attached).
func (h *Host) NetnsName() string { return h.nsName }

// Interface is the name of the host's TUN device inside its namespace.
func (h *Host) Interface() string { return h.tunName }

// Do runs fn on an OS thread inside the host's network namespace; sockets
// opened in fn stay in that namespace.
func (h *Host) Do(fn func() error) error { return inNetns(h.ns, fn) }

type direction struct {
	link *Link
	name string
	mu   sync.Mutex
	// guarded by mu
	model     *Model
	waitUntil time.Time
	sleeping  bool
	wake      chan struct{}
	hr        *hrTimer // with the real clock; nil with an injected one

	kicks atomic.Uint64 // counts kickLocked wake-ups; ends a spin
	late  lateHist      // release lateness after the due time
	// guarded by mu, with precise release: how early the timer is armed,
	// and when the armed timer is meant to fire (zero: not armed).
	spinWindow time.Duration
	armedAt    time.Time
}

// Link joins two groups; each direction has its own model.
type Link struct {
	name     string
	a, b     string
	up, down *direction
	eng      *Userspace
	implicit bool // made by traffic, not by Link; reoriented by the first Link call
}

// Name is the link's name, "a<->b", as used in the link label of metrics.
func (l *Link) Name() string { return l.name }

func (l *Link) dirs() []*direction {
	if l.up == l.down {
		return []*direction{l.up}
	}
	return []*direction{l.up, l.down}
}

func (d *direction) apply(f func(now time.Time, m *Model) error) error {
	now := d.link.eng.clock.Now()
	d.mu.Lock()
	err := f(now, d.model)
	d.kickLocked()
	d.mu.Unlock()
	return err
}

// kickLocked wakes the scheduler if the model's next event is earlier than
// what it waits for.
func (d *direction) kickLocked() {
	next, ok := d.model.Next()
	if !ok {
		return
	}
	if d.sleeping && (d.waitUntil.IsZero() || next.Before(d.waitUntil)) {
		d.waitUntil = next
		d.kicks.Add(1)
		if d.hr != nil {
			wait := time.Until(next)
			if d.spinWindow > 0 && wait > d.spinWindow {
				d.armedAt = next.Add(-d.spinWindow)
				wait -= d.spinWindow
			} else {
				d.armedAt = time.Time{}
			}
			d.hr.arm(wait)
			return
		}
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Update replaces both directions' configuration at once.
func (l *Link) Update(up, down LinkConfig) error {
	if err := up.Validate(); err != nil {
		return err
	}
	if err := down.Validate(); err != nil {
		return err
	}
	if err := l.up.apply(func(now time.Time, m *Model) error { return m.Update(now, up) }); err != nil {
		return err
	}
	if l.down != l.up {
		return l.down.apply(func(now time.Time, m *Model) error { return m.Update(now, down) })
	}
	return nil
}

// UpdateDirection replaces the configuration of one direction (Up or Down).
func (l *Link) UpdateDirection(dir string, cfg LinkConfig) error {
	d, err := l.dir(dir)
	if err != nil {
		return err
	}
	return d.apply(func(now time.Time, m *Model) error { return m.Update(now, cfg) })
}

func (l *Link) dir(dir string) (*direction, error) {
	switch dir {
	case Up:
		return l.up, nil
	case Down:
		return l.down, nil
	}
	return nil, fmt.Errorf("netem: direction %q: use %q or %q", dir, Up, Down)
}

// Config returns a direction's configuration in force now.
func (l *Link) Config(dir string) (LinkConfig, error) {
	d, err := l.dir(dir)
	if err != nil {
		return LinkConfig{}, err
	}
	var c LinkConfig
	err = d.apply(func(now time.Time, m *Model) error { c = m.Config(now); return nil })
	return c, err
}

// Ramp moves both directions linearly to new configurations over the given
// duration (see Model.Ramp). It returns at once; the ramp runs on the
// link's clock.
func (l *Link) Ramp(ctx context.Context, up, down LinkConfig, over time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := up.Validate(); err != nil {
		return err
	}
	if err := down.Validate(); err != nil {
		return err
	}
	if err := l.up.apply(func(now time.Time, m *Model) error { return m.Ramp(now, up, over) }); err != nil {
		return err
	}
	if l.down != l.up {
		return l.down.apply(func(now time.Time, m *Model) error { return m.Ramp(now, down, over) })
	}
	return nil
}

// Partition cuts (true) or heals (false) both directions, keeping the
// other parameters.
func (l *Link) Partition(on bool) error {
	for _, d := range l.dirs() {
		if err := d.apply(func(now time.Time, m *Model) error {
			c := m.Config(now)
			c.Partition = on
			return m.Update(now, c)
		}); err != nil {
			return err
		}
	}
	return nil
}

// SetTrace replaces a direction's capacity with a Mahimahi trace starting
// now (nil returns to RateBits).
func (l *Link) SetTrace(dir string, t *Trace, once bool) error {
	d, err := l.dir(dir)
	if err != nil {
		return err
	}
	return d.apply(func(now time.Time, m *Model) error {
		c := m.Config(now)
		c.Trace, c.TraceOnce = t, once
		return m.Update(now, c)
	})
}

// Stats returns both directions' totals, keyed by Up and Down.
func (l *Link) Stats() map[string]DirStats {
	out := map[string]DirStats{}
	l.up.mu.Lock()
	out[Up] = l.up.model.Stats()
	l.up.mu.Unlock()
	if l.down != l.up {
		l.down.mu.Lock()
		out[Down] = l.down.model.Stats()
		l.down.mu.Unlock()
	}
	return out
}

type routeKey struct{ src, dst string }

// Userspace is the userspace engine: every host is a network namespace with
// a TUN device, and a fabric forwards IPv4 packets between the TUN devices
// through the model of the link between the two hosts' groups.
//
// Traffic between two groups without a configured link, and between hosts
// of one group without a link from that group to itself, is forwarded
// unimpaired (and counted) on an implicit link.
type Userspace struct {
	opts     options
	clock    Clock
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	pool     sync.Pool
	metrics  *metrics
	stop     *stopper
	stopping atomic.Bool // checked per packet: a busy thread may never poll

	mu       sync.Mutex
	closed   bool
	hosts    []*Host
	byIP     atomic.Pointer[map[uint32]*Host]
	routes   atomic.Pointer[map[routeKey]*direction]
	routeGen atomic.Uint64
	links    map[routeKey]*Link // by (a, b) as given
	state    *stateFile
	nextHost uint32
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$`)

// Name limits: a testbed name (WithName) and a host name (HostSpec.Name)
// are letters, digits, '.', '_', ':' and '-', starting with a letter or
// digit, of at most this many bytes (a namespace the engine creates is
// named Prefix + testbed name + "-" + host name).
const (
	MaxName     = 24
	MaxHostName = 32
)

// CheckName checks a testbed name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) || len(name) > MaxName {
		return fmt.Errorf("netem: testbed name %q: use up to %d letters, digits, '.', '_', ':' or '-'", name, MaxName)
	}
	return nil
}

// CheckHostName checks a host name.
func CheckHostName(name string) error {
	if !nameRE.MatchString(name) || len(name) > MaxHostName {
		return fmt.Errorf("netem: host name %q: use up to %d letters, digits, '.', '_', ':' or '-'", name, MaxHostName)
	}
	return nil
}

// NewUserspace checks that namespaces and TUN devices can be made here and
// returns an engine with no hosts.
func NewUserspace(ctx context.Context, opts ...Option) (*Userspace, error) {
	o := options{clock: realClock{}, mtu: 1500, priority: true, precise: true}
	for _, f := range opts {
		f(&o)
	}
	if o.stateDir == "" {
		o.stateDir = DefaultStateDir()
	}
	if o.subnet == nil {
		_, o.subnet, _ = net.ParseCIDR("10.240.0.0/16")
	}
	if o.subnet.IP.To4() == nil {
		return nil, fmt.Errorf("netem: subnet %s: only IPv4 subnets are supported", o.subnet)
	}
	if o.name == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		o.name = hex.EncodeToString(b[:])
	}
	if err := CheckName(o.name); err != nil {
		return nil, err
	}
	if o.mtu < 576 || o.mtu > 9000 {
		return nil, fmt.Errorf("netem: MTU %d: use 576..9000", o.mtu)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, ErrNoTUN
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop, err := newStopper()
	if err != nil {
		return nil, fmt.Errorf("netem: eventfd: %w", err)
	}
	e := &Userspace{opts: o, clock: o.clock, links: map[routeKey]*Link{}, stop: stop}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	bufSize := o.mtu + 64
	e.pool.New = func() any { return &Packet{Buf: make([]byte, bufSize)} }
	e.byIP.Store(&map[uint32]*Host{})
	e.routes.Store(&map[routeKey]*direction{})
	m, err := newMetrics(o.reg)
	if err != nil {
		stop.close()
		return nil, err
	}
	e.metrics = m
	m.mu.Lock()
	m.engines = append(m.engines, e)
	m.mu.Unlock()
	return e, nil
}

// Name is the testbed name used in namespace names.
func (e *Userspace) Name() string { return e.opts.name }

func (e *Userspace) getPacket() *Packet { return e.pool.Get().(*Packet) }

func (e *Userspace) putPacket(p *Packet) {
	p.to = nil
	p.N = 0
	e.pool.Put(p)
}

func (e *Userspace) clonePacket(p *Packet) *Packet {
	q := e.getPacket()
	q.N = copy(q.Buf, p.Data())
	q.to = p.to
	return q
}

func ip4(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func (e *Userspace) allocAddress(want net.IP) (net.IP, error) {
	ones, bits := e.opts.subnet.Mask.Size()
	size := uint32(1) << (bits - ones)
	base := ip4(e.opts.subnet.IP)
	used := *e.byIP.Load()
	if want != nil {
		if want.To4() == nil || !e.opts.subnet.Contains(want) {
			return nil, fmt.Errorf("netem: address %s is not an IPv4 address in the subnet %s", want, e.opts.subnet)
		}
		if used[ip4(want)] != nil {
			return nil, fmt.Errorf("netem: address %s is already used by host %s", want, used[ip4(want)].name)
		}
		return want.To4(), nil
	}
	for i := e.nextHost + 1; i < size-1; i++ {
		if used[base+i] == nil {
			e.nextHost = i
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, base+i)
			return ip, nil
		}
	}
	return nil, fmt.Errorf("netem: subnet %s is full; choose a larger one with WithSubnet", e.opts.subnet)
}

// AddHost creates (or attaches) a host and starts forwarding its packets.
// On error nothing of the host is left behind.
func (e *Userspace) AddHost(ctx context.Context, spec HostSpec) (h *Host, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckHostName(spec.Name); err != nil {
		return nil, err
	}
	if spec.Group == "" {
		return nil, fmt.Errorf("netem: host %s has no group; give every host the group its links are configured for", spec.Name)
	}
	if spec.NetnsPath != "" && spec.PID != 0 {
		return nil, fmt.Errorf("netem: host %s: give NetnsPath or PID, not both", spec.Name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	for _, o := range e.hosts {
		if o.name == spec.Name {
			return nil, fmt.Errorf("netem: host %s already exists", spec.Name)
		}
	}
	addr, err := e.allocAddress(spec.Address)
	if err != nil {
		return nil, err
	}
	if e.state == nil {
		st, err := newStateFile(e.opts.stateDir, e.opts.name)
		if err != nil {
			return nil, err
		}
		e.state = st
	}
	h = &Host{name: spec.Name, group: spec.Group, addr: addr, ip: ip4(addr), eng: e, ns: netns.None(), tun: -1}
	made := h // h itself is nil once an error is returned
	defer func() {
		if err != nil {
			_ = e.undoHost(made)
		}
	}()
	switch {
	case spec.NetnsPath != "":
		h.ns, err = netns.GetFromPath(spec.NetnsPath)
		h.nsPath = spec.NetnsPath
	case spec.PID != 0:
		h.ns, err = netns.GetFromPid(spec.PID)
		h.nsPath = fmt.Sprintf("/proc/%d/ns/net", spec.PID)
	default:
		h.nsName = Prefix + e.opts.name + "-" + strings.ReplaceAll(spec.Name, ":", "-")
		h.nsPath = NetnsDir + "/" + h.nsName
		if _, serr := os.Lstat(h.nsPath); serr == nil {
			name := h.nsName
			h.nsName = "" // not ours: never delete it
			return nil, fmt.Errorf("netem: network namespace %s already exists; run `edgesim clean` or choose another testbed name", name)
		}
		if err = e.state.addNetns(h.nsName); err != nil {
			return nil, err
		}
		h.ns, err = createNetns(h.nsName)
	}
	if err != nil {
		return nil, permErr("network namespace for host "+spec.Name, err)
	}
	hdl, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		return nil, permErr("netlink in namespace of host "+spec.Name, err)
	}
	defer hdl.Close()
	h.tunName = "es0"
	for i := 0; i < 16; i++ {
		name := fmt.Sprintf("es%d", i)
		if _, lerr := hdl.LinkByName(name); lerr != nil {
			h.tunName = name
			break
		}
	}
	if err = h.Do(func() error {
		var terr error
		h.tun, terr = openTUN(h.tunName)
		return terr
	}); err != nil {
		return nil, err
	}
	if h.nsName != "" {
		if lo, lerr := hdl.LinkByName("lo"); lerr == nil {
			if err = hdl.LinkSetUp(lo); err != nil {
				return nil, permErr("set lo up", err)
			}
		}
	}
	link, err := hdl.LinkByName(h.tunName)
	if err != nil {
		return nil, fmt.Errorf("netem: find TUN %s: %w", h.tunName, err)
	}
	if err = hdl.LinkSetMTU(link, e.opts.mtu); err != nil {
		return nil, permErr("set MTU", err)
	}
	_ = hdl.LinkSetTxQLen(link, tunQueueLen)
	ones, _ := e.opts.subnet.Mask.Size()
	if err = hdl.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: addr, Mask: net.CIDRMask(ones, 32)}}); err != nil {
		return nil, permErr("add address "+addr.String(), err)
	}
	if err = hdl.LinkSetUp(link); err != nil {
		return nil, permErr("set TUN up", err)
	}
	// No qdisc on the TUN: a queueing qdisc hands transmission to the
	// NET_TX softirq, which a busy machine defers to ksoftirqd for
	// milliseconds. The TUN's own ring (txqueuelen) still buffers.
	_ = hdl.QdiscReplace(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT},
		QdiscType:  "noqueue",
	})
	e.hosts = append(e.hosts, h)
	next := maps2(*e.byIP.Load())
	next[h.ip] = h
	e.byIP.Store(&next)
	e.wg.Add(1)
	go e.readLoop(h)
	return h, nil
}

func maps2[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// undoHost removes what AddHost made for h; e.mu is held.
func (e *Userspace) undoHost(h *Host) error {
	var errs []error
	if h.tun >= 0 {
		errs = append(errs, unix.Close(h.tun))
		h.tun = -1
	}
	if h.ns.IsOpen() {
		h.ns.Close()
	}
	if h.nsName != "" {
		if _, err := deleteNetns(h.nsName); err != nil {
			errs = append(errs, err)
		} else if e.state != nil {
			errs = append(errs, e.state.removeNetns(h.nsName))
		}
	}
	return errors.Join(errs...)
}

func canonical(a, b string) (string, string) {
	if b < a {
		return b, a
	}
	return a, b
}

func (e *Userspace) newLink(a, b string, up, down LinkConfig) (*Link, error) {
	now := e.clock.Now()
	l := &Link{name: a + "<->" + b, a: a, b: b, eng: e}
	mk := func(name string, cfg LinkConfig) (*direction, error) {
		d := &direction{link: l, name: name, wake: make(chan struct{}, 1)}
		obs := e.metrics.queueObserver(l.name, name)
		m, err := NewModel(cfg, linkSeed(e.opts.seed, l.name, name), now,
			WithPacketFree(e.putPacket), WithPacketClone(e.clonePacket),
			WithQueueDelayObserver(obs))
		if err != nil {
			return nil, err
		}
		d.model = m
		if _, real := e.clock.(realClock); real {
			if d.hr, err = newHRTimer(); err != nil {
				return nil, fmt.Errorf("netem: timerfd: %w", err)
			}
		}
		return d, nil
	}
	var err error
	if l.up, err = mk(Up, up); err != nil {
		return nil, err
	}
	if a == b {
		l.down = l.up
	} else if l.down, err = mk(Down, down); err != nil {
		return nil, err
	}
	for _, d := range l.dirs() {
		e.wg.Add(1)
		go e.schedLoop(d)
	}
	return l, nil
}

// Link configures the link between groups a and b: up applies to packets
// from a to b, down to packets from b to a. Calling it again for the same
// pair updates the link. A link from a group to itself applies up to all
// traffic inside the group.
func (e *Userspace) Link(ctx context.Context, a, b string, up, down LinkConfig) (*Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a == "" || b == "" {
		return nil, errors.New("netem: a link needs two group names")
	}
	if err := up.Validate(); err != nil {
		return nil, fmt.Errorf("%s->%s: %w", a, b, err)
	}
	if err := down.Validate(); err != nil {
		return nil, fmt.Errorf("%s->%s: %w", b, a, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if l := e.links[routeKey{a, b}]; l != nil {
		l.implicit = false
		return l, l.Update(up, down)
	}
	if l := e.links[routeKey{b, a}]; l != nil {
		if l.implicit && a != b {
			// Made by traffic in the other orientation: take the caller's,
			// so that names and directions match what was configured.
			delete(e.links, routeKey{b, a})
			l.a, l.b, l.name = a, b, a+"<->"+b
			l.up, l.down = l.down, l.up
			l.up.name, l.down.name = Up, Down
			l.implicit = false
			e.addLinkLocked(l)
			return l, l.Update(up, down)
		}
		return l, l.Update(down, up)
	}
	l, err := e.newLink(a, b, up, down)
	if err != nil {
		return nil, err
	}
	e.addLinkLocked(l)
	return l, nil
}

func (e *Userspace) addLinkLocked(l *Link) {
	e.links[routeKey{l.a, l.b}] = l
	next := maps2(*e.routes.Load())
	next[routeKey{l.a, l.b}] = l.up
	next[routeKey{l.b, l.a}] = l.down
	e.routes.Store(&next)
	e.routeGen.Add(1)
}

// route finds the direction for packets from group src to group dst,
// creating an unimpaired implicit link when there is none.
func (e *Userspace) route(h *Host, dst string) *direction {
	gen := e.routeGen.Load()
	if h.cacheDir != nil && h.cacheGroup == dst && h.cacheGen == gen {
		return h.cacheDir
	}
	d := (*e.routes.Load())[routeKey{h.group, dst}]
	if d == nil {
		e.mu.Lock()
		d = (*e.routes.Load())[routeKey{h.group, dst}]
		if d == nil && !e.closed {
			a, b := canonical(h.group, dst)
			l, err := e.newLink(a, b, LinkConfig{}, LinkConfig{})
			if err == nil {
				l.implicit = true
				e.addLinkLocked(l)
				d = (*e.routes.Load())[routeKey{h.group, dst}]
			}
		}
		e.mu.Unlock()
		gen = e.routeGen.Load()
	}
	h.cacheGroup, h.cacheDir, h.cacheGen = dst, d, gen
	return d
}

func (e *Userspace) readLoop(h *Host) {
	defer e.wg.Done()
	prio := lockThread(e.opts.priority)
	var out []*Packet
	p := e.getPacket()
	defer func() { e.putPacket(p) }()
	run := 0
	var busySince time.Time
	for !e.stopping.Load() {
		n, err := unix.Read(h.tun, p.Buf)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				run = 0
				prio.idle()
				if werr := waitReadable(h.tun, e.stop); werr != nil {
					return
				}
				continue
			}
			return
		}
		// Saturated = busy without a pause for busyTime, not merely a
		// backlog after a stall: a demoted reader on a busy machine would
		// let the TUN ring (before the model) fill and add latency.
		if run++; run == 1 {
			busySince = time.Now()
		} else if run%busyBatch == 0 && time.Since(busySince) > busyTime {
			prio.busy(run)
		}
		// IPv4 only; anything else (IPv6 router solicitations) stays local.
		if n < 20 || p.Buf[0]>>4 != 4 {
			continue
		}
		dst := (*e.byIP.Load())[binary.BigEndian.Uint32(p.Buf[16:20])]
		if dst == nil {
			continue
		}
		d := e.route(h, dst.group)
		if d == nil {
			return
		}
		p.N = n
		p.to = dst
		now := e.clock.Now()
		d.mu.Lock()
		ok, _ := d.model.Send(now, p)
		out = d.model.Deliver(now, out[:0])
		d.kickLocked()
		d.mu.Unlock()
		if ok {
			p = e.getPacket()
		}
		d.recordLate(now, out)
		e.write(out)
	}
}

// recordLate counts how late each packet of out leaves after its due time.
func (d *direction) recordLate(now time.Time, out []*Packet) {
	nowNs := now.UnixNano()
	for _, q := range out {
		d.late.add(nowNs - q.dueNs)
	}
}

func (e *Userspace) write(out []*Packet) {
	for i, q := range out {
		if fd := q.to.tun; fd >= 0 {
			_, _ = unix.Write(fd, q.Data())
		}
		e.putPacket(q)
		out[i] = nil
	}
}

func (e *Userspace) schedLoop(d *direction) {
	defer e.wg.Done()
	if d.hr != nil {
		e.schedLoopHR(d)
		return
	}
	timer := e.clock.NewTimer(time.Hour)
	timer.Stop()
	var out []*Packet
	for {
		now := e.clock.Now()
		d.mu.Lock()
		out = d.model.Deliver(now, out[:0])
		next, has := d.model.Next()
		d.sleeping = true
		if has {
			d.waitUntil = next
		} else {
			d.waitUntil = time.Time{}
		}
		d.mu.Unlock()
		e.write(out)
		if has {
			timer.Reset(next.Sub(e.clock.Now()))
			select {
			case <-timer.C():
			case <-d.wake:
				timer.Stop()
			case <-e.ctx.Done():
				timer.Stop()
				return
			}
		} else {
			select {
			case <-d.wake:
			case <-e.ctx.Done():
				return
			}
		}
		d.mu.Lock()
		d.sleeping = false
		d.mu.Unlock()
	}
}

// schedLoopHR is schedLoop on a timerfd: kickLocked re-arms the timer.
// With precise release on, the timer fires a little before the next packet
// is due and the thread spins for the rest (see release.go).
func (e *Userspace) schedLoopHR(d *direction) {
	prio := lockThread(e.opts.priority)
	var out []*Packet
	spin := newSpinner()
	for !e.stopping.Load() {
		now := time.Now()
		d.mu.Lock()
		if !d.armedAt.IsZero() {
			// A timed wake-up meant for armedAt: how late it came.
			spin.observe(now.Sub(d.armedAt))
			d.armedAt = time.Time{}
		}
		out = d.model.Deliver(now, out[:0])
		next, has := d.model.Next()
		d.sleeping = true
		spinning := false
		k0 := d.kicks.Load()
		if has {
			d.waitUntil = next
			// Only deliveries from the delay line are worth a spin; the
			// bottleneck's service times run on the model's own clock,
			// so waking late for one only releases a small batch.
			nd, delivery := d.model.NextDelivery()
			d.spinWindow = 0
			if e.opts.precise && delivery && spin.canSpin(now) {
				d.spinWindow = spin.window()
			}
			early := nd.Add(-d.spinWindow)
			switch {
			case d.spinWindow > 0 && !now.Before(early):
				spinning = true // to next: a service time, or the delivery
			case d.spinWindow > 0 && early.Before(next):
				d.armedAt = early
				d.hr.arm(early.Sub(now))
			default:
				if e.opts.precise {
					d.armedAt = next
				}
				d.hr.arm(next.Sub(now))
			}
		} else {
			d.waitUntil = time.Time{}
		}
		d.mu.Unlock()
		prio.busy(len(out))
		d.recordLate(now, out)
		e.write(out)
		if spinning {
			t0 := time.Now()
			spin.charge(spinUntil(next, &d.kicks, k0).Sub(t0))
		} else {
			if !has || next.Sub(now) > 100*time.Microsecond {
				prio.idle()
			}
			if err := d.hr.wait(e.stop); err != nil {
				return
			}
		}
		d.mu.Lock()
		d.sleeping = false
		d.mu.Unlock()
	}
}

// Hosts returns the hosts in the order they were added.
func (e *Userspace) Hosts() []*Host {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.hosts)
}

// LinkStats are the totals of one direction of one link.
type LinkStats struct {
	Link      string
	Direction string
	DirStats
}

// Stats returns the totals of every link and direction, sorted by link
// then direction. These are the numbers the Prometheus counters export.
func (e *Userspace) Stats() []LinkStats {
	e.mu.Lock()
	links := make([]*Link, 0, len(e.links))
	for _, l := range e.links {
		links = append(links, l)
	}
	e.mu.Unlock()
	var out []LinkStats
	for _, l := range links {
		for dir, s := range l.Stats() {
			out = append(out, LinkStats{Link: l.name, Direction: dir, DirStats: s})
		}
	}
	slices.SortFunc(out, func(a, b LinkStats) int {
		if c := strings.Compare(a.Link, b.Link); c != 0 {
			return c
		}
		return strings.Compare(a.Direction, b.Direction)
	})
	return out
}

// Close stops forwarding and removes every namespace, device and record the
// engine created. It is safe to call more than once.
func (e *Userspace) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.stopping.Store(true)
	e.cancel()
	e.stop.stop()
	var errs []error
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("netem: close: forwarding goroutines did not stop: %w", ctx.Err()))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.links {
		for _, d := range l.dirs() {
			if d.hr != nil {
				_ = d.hr.close()
			}
		}
	}
	for _, h := range e.hosts {
		if h.tun >= 0 {
			errs = append(errs, unix.Close(h.tun))
			h.tun = -1
		}
		if h.ns.IsOpen() {
			h.ns.Close()
		}
		if h.nsName != "" {
			if _, err := deleteNetns(h.nsName); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, l := range e.links {
		for _, d := range l.dirs() {
			d.mu.Lock()
			for _, p := range d.model.Flush(nil) {
				e.putPacket(p)
			}
			d.mu.Unlock()
		}
	}
	e.metrics.forget(e)
	e.stop.close()
	if e.state != nil {
		if err := errors.Join(errs...); err == nil {
			errs = append(errs, e.state.remove())
		}
	}
	return errors.Join(errs...)
}

// tunQueueLen sizes the TUN device's ring, where packets wait for the
// reader thread: deep enough to ride out a reader descheduled for tens of
// milliseconds at a gigabit, since drops there are before the link model
// and would not be counted as link drops.
const tunQueueLen = 8192
