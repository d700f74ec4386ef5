package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/edgesim/edgesim/netem"
)

// RelayPrefix starts the name of every TUN device a Relay makes.
const RelayPrefix = "esa"

// maxPacket is the largest packet a Relay carries either way.
const maxPacket = 65535

// RelayConfig says which TUN device a Relay makes and where it sends.
type RelayConfig struct {
	// Name of the TUN device; it starts with RelayPrefix ("esa0").
	Name string `json:"name"`
	// Address is the device's IPv4 address and prefix ("10.240.0.7/16"):
	// the node's address on the emulated network.
	Address string `json:"address"`
	// MTU of the device; 0 leaves the kernel's default.
	MTU int `json:"mtu"`
	// ListenPort is the local UDP port the Relay listens on.
	ListenPort int `json:"listenPort"`
	// Engine is the IPv4 address and port ("192.0.2.1:7000") of the link
	// engine; datagrams from elsewhere are ignored.
	Engine string `json:"engine"`
	// Alias, when set, becomes the device's ifalias (Agent sets it to
	// mark the device as its own).
	Alias string `json:"alias,omitempty"`
}

// Direction label values of the relay metrics.
const (
	ToEngine   = "to_engine"
	FromEngine = "from_engine"
)

// RelayMetrics are the counters of all the Relays of one registry.
type RelayMetrics struct {
	packets, bytes, errs, dropped *prometheus.CounterVec
}

// NewRelayMetrics registers the relay counters on reg:
// edgesim_agent_relay_{packets,bytes,errors,dropped}_total, labelled
// with the relay's device name and the direction (to_engine,
// from_engine).
func NewRelayMetrics(reg prometheus.Registerer) (*RelayMetrics, error) {
	mk := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "edgesim", Subsystem: "agent_relay", Name: name, Help: help,
		}, []string{"relay", "direction"})
	}
	m := &RelayMetrics{
		packets: mk("packets_total", "Packets the relay carried between its TUN device and the link engine."),
		bytes:   mk("bytes_total", "IP bytes the relay carried between its TUN device and the link engine."),
		errs:    mk("errors_total", "Reads and writes of the relay that failed."),
		dropped: mk("dropped_total", "Packets the relay dropped because they were not IPv4."),
	}
	for _, c := range []prometheus.Collector{m.packets, m.bytes, m.errs, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("agent: register relay metrics: %w", err)
		}
	}
	return m, nil
}

type relayCounters struct {
	packets, bytes, errs, dropped prometheus.Counter
}

func (m *RelayMetrics) counters(relay, dir string) relayCounters {
	return relayCounters{
		packets: m.packets.WithLabelValues(relay, dir),
		bytes:   m.bytes.WithLabelValues(relay, dir),
		errs:    m.errs.WithLabelValues(relay, dir),
		dropped: m.dropped.WithLabelValues(relay, dir),
	}
}

func (m *RelayMetrics) forget(relay string) {
	for _, v := range []*prometheus.CounterVec{m.packets, m.bytes, m.errs, m.dropped} {
		v.DeletePartialMatch(prometheus.Labels{"relay": relay})
	}
}

// Relay joins a TUN device on the node to the link engine: every packet
// the node routes into the device goes to the engine as one UDP datagram,
// and every datagram from the engine is written to the device as one
// packet.
type Relay struct {
	cfg     RelayConfig
	tun     *os.File
	conn    *net.UDPConn
	metrics *RelayMetrics
	wg      sync.WaitGroup
	once    sync.Once
}

// NewRelay makes the TUN device cfg.Name in the network namespace of the
// calling thread (the host's, for the agent), gives it cfg.Address,
// cfg.MTU and no qdisc, brings it up, opens the UDP socket and starts
// relaying until Close. m may be shared by many Relays.
func NewRelay(ctx context.Context, cfg RelayConfig, m *RelayMetrics) (_ *Relay, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(cfg.Name, RelayPrefix) || len(cfg.Name) > unix.IFNAMSIZ-1 || strings.ContainsAny(cfg.Name, "/ \t\n:") {
		return nil, fmt.Errorf("agent: relay device name %q: want %s followed by at most %d characters", cfg.Name, RelayPrefix, unix.IFNAMSIZ-1-len(RelayPrefix))
	}
	pfx, err := netip.ParsePrefix(cfg.Address)
	if err != nil || !pfx.Addr().Is4() {
		return nil, fmt.Errorf("agent: relay %s: address %q: want an IPv4 address with a prefix length", cfg.Name, cfg.Address)
	}
	eng, err := netip.ParseAddrPort(cfg.Engine)
	if err != nil || !eng.Addr().Unmap().Is4() || eng.Port() == 0 {
		return nil, fmt.Errorf("agent: relay %s: engine %q: want IPv4:port", cfg.Name, cfg.Engine)
	}
	if cfg.ListenPort <= 0 || cfg.ListenPort > 65535 {
		return nil, fmt.Errorf("agent: relay %s: listen port %d out of range", cfg.Name, cfg.ListenPort)
	}
	if cfg.MTU < 0 || cfg.MTU > maxPacket {
		return nil, fmt.Errorf("agent: relay %s: MTU %d out of range", cfg.Name, cfg.MTU)
	}
	// The device, its settings and the socket all belong to the namespace
	// of this thread: stay on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	fd, err := netem.OpenTUN(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("agent: relay %s: %w", cfg.Name, err)
	}
	tun := os.NewFile(uintptr(fd), "/dev/net/tun")
	defer func() {
		if err != nil {
			tun.Close()
		}
	}()
	link, err := netlink.LinkByName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("agent: relay %s: find device: %w", cfg.Name, err)
	}
	if cfg.Alias != "" {
		if err := netlink.LinkSetAlias(link, cfg.Alias); err != nil {
			return nil, fmt.Errorf("agent: relay %s: set alias: %w", cfg.Name, err)
		}
	}
	if cfg.MTU > 0 {
		if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
			return nil, fmt.Errorf("agent: relay %s: set MTU: %w", cfg.Name, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), 32)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return nil, fmt.Errorf("agent: relay %s: add address %s: %w", cfg.Name, cfg.Address, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("agent: relay %s: set up: %w", cfg.Name, err)
	}
	// No qdisc, as on netem's own TUN devices: transmission is not handed
	// to a softirq that a busy machine defers.
	_ = netlink.QdiscReplace(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT},
		QdiscType:  "noqueue",
	})
	conn, err := net.DialUDP("udp4", &net.UDPAddr{Port: cfg.ListenPort}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(eng.Addr().Unmap(), eng.Port())))
	if err != nil {
		return nil, fmt.Errorf("agent: relay %s: UDP socket: %w", cfg.Name, err)
	}
	r := &Relay{cfg: cfg, tun: tun, conn: conn, metrics: m}
	r.wg.Add(2)
	go r.toEngine(m.counters(cfg.Name, ToEngine))
	go r.fromEngine(m.counters(cfg.Name, FromEngine))
	return r, nil
}

// Config is the configuration r was made with.
func (r *Relay) Config() RelayConfig { return r.cfg }

// LocalAddr is the address of r's UDP socket.
func (r *Relay) LocalAddr() *net.UDPAddr { return r.conn.LocalAddr().(*net.UDPAddr) }

// Close stops relaying and closes the TUN device, which removes it, and
// the socket. It is safe to call more than once.
func (r *Relay) Close() error {
	var err error
	r.once.Do(func() {
		err = errors.Join(r.conn.Close(), r.tun.Close())
		r.wg.Wait()
		r.metrics.forget(r.cfg.Name)
	})
	return err
}

func closed(err error) bool { return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) }

func isIPv4(p []byte) bool { return len(p) >= 20 && p[0]>>4 == 4 }

func (r *Relay) toEngine(c relayCounters) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, err := r.tun.Read(buf)
		if err != nil {
			if closed(err) {
				return
			}
			// The poller retries EAGAIN and EINTR; any other error
			// (EBADFD: the device was deleted) would repeat forever.
			c.errs.Inc()
			return
		}
		if !isIPv4(buf[:n]) {
			c.dropped.Inc()
			continue
		}
		if _, err := r.conn.Write(buf[:n]); err != nil {
			if closed(err) {
				return
			}
			c.errs.Inc() // the engine is not there (yet): ICMP refused
			continue
		}
		c.packets.Inc()
		c.bytes.Add(float64(n))
	}
}

func (r *Relay) fromEngine(c relayCounters) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			if closed(err) {
				return
			}
			c.errs.Inc()
			continue
		}
		if !isIPv4(buf[:n]) {
			c.dropped.Inc()
			continue
		}
		if _, err := r.tun.Write(buf[:n]); err != nil {
			if closed(err) {
				return
			}
			c.errs.Inc()
			continue
		}
		c.packets.Inc()
		c.bytes.Add(float64(n))
	}
}
