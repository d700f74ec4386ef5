package netem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/edgesim/edgesim/netem/internal/rtio"
)

// Directions of a link: Up is from its first group to its second.
const (
	Up   = "up"
	Down = "down"
)

// ErrClosed is returned by an engine after Close.
var ErrClosed = errors.New("netem: engine closed")

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
	stop     *rtio.Stopper
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
	stop, err := rtio.NewStopper()
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
		stop.Close()
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

func maps2[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
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
	e.stop.Stop()
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
				_ = d.hr.Close()
			}
		}
	}
	for _, h := range e.hosts {
		_, err := h.release()
		errs = append(errs, err)
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
	e.stop.Close()
	if e.state != nil {
		if err := errors.Join(errs...); err == nil {
			errs = append(errs, e.state.remove())
		}
	}
	return errors.Join(errs...)
}
