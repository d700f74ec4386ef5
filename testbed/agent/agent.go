// Package agent is edgesim's node agent: what runs, as `edgesim agent`,
// in a privileged hostNetwork pod of the DaemonSet edgesim puts on every
// node of a cluster it did not create. It relays the node's packets to
// and from the link engine over UDP (Relay), makes the VXLAN tunnels that
// carry pod traffic between workers across the emulated links
// (ApplyTunnels), and does the node-side file chores that would
// otherwise need a shell in the node (Root, Probe). Every network device
// it makes carries an ifalias starting with AliasPrefix, which is how a
// later agent (Sweep) knows it may remove it.
//
// The package never prints and never exits; the command does.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/edgesim/edgesim/testbed/kube"
)

// AliasPrefix starts the ifalias of every device an agent makes; the
// run id follows it.
const AliasPrefix = "edgesim-agent:"

// rpFilter is the reverse-path filter setting of all interfaces.
const rpFilter = "/proc/sys/net/ipv4/conf/all/rp_filter"

// Config configures an Agent.
type Config struct {
	// RunID names this agent's run; it goes into the ifalias of every
	// device the agent makes.
	RunID string
	// Registerer receives the agent's metrics (required).
	Registerer prometheus.Registerer
}

// Agent owns the relays and tunnels of one node. It works in the network
// namespace of the thread that made it (the host's, in the DaemonSet's
// hostNetwork pod), whichever goroutine calls it later.
type Agent struct {
	alias   string
	ns      netns.NsHandle
	metrics *RelayMetrics

	mu      sync.Mutex
	relays  map[string]*Relay
	tunnels []string // names of the VXLAN devices this agent made
	closed  bool
}

// New returns an Agent for the network namespace of the calling thread.
func New(ctx context.Context, cfg Config) (*Agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.RunID == "" || strings.ContainsAny(cfg.RunID, "\n\x00") || len(AliasPrefix)+len(cfg.RunID) > 255 {
		return nil, fmt.Errorf("agent: run id %q: want a non-empty single line of at most %d bytes", cfg.RunID, 255-len(AliasPrefix))
	}
	if cfg.Registerer == nil {
		return nil, errors.New("agent: no metrics Registerer")
	}
	m, err := NewRelayMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("agent: network namespace: %w", err)
	}
	return &Agent{alias: AliasPrefix + cfg.RunID, ns: ns, metrics: m, relays: map[string]*Relay{}}, nil
}

// Alias is the ifalias of the devices this agent makes.
func (a *Agent) Alias() string { return a.alias }

// do runs fn on a thread in the agent's network namespace.
func (a *Agent) do(fn func() error) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer cur.Close()
	if cur.Equal(a.ns) {
		defer runtime.UnlockOSThread()
		return fn()
	}
	if err := netns.Set(a.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("agent: enter network namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(cur); err != nil {
		return errors.Join(ferr, err) // the thread stays locked and dies with its goroutine
	}
	runtime.UnlockOSThread()
	return ferr
}

// Sweep deletes every device whose ifalias starts with AliasPrefix: the
// leftovers of an earlier agent (whatever its run). Devices without that
// alias are never touched. It returns the names it deleted.
func (a *Agent) Sweep(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var gone []string
	err := a.do(func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("agent: list devices: %w", err)
		}
		var errs []error
		for _, l := range links {
			if !strings.HasPrefix(l.Attrs().Alias, AliasPrefix) {
				continue
			}
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("agent: delete %s: %w", l.Attrs().Name, err))
				continue
			}
			gone = append(gone, l.Attrs().Name)
		}
		return errors.Join(errs...)
	})
	return gone, err
}

// Attach starts a Relay for cfg (its Alias set to the agent's), replacing
// this agent's relay of the same name.
func (a *Agent) Attach(ctx context.Context, cfg RelayConfig) (*Relay, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errors.New("agent: closed")
	}
	if old := a.relays[cfg.Name]; old != nil {
		_ = old.Close()
		delete(a.relays, cfg.Name)
	}
	cfg.Alias = a.alias
	var r *Relay
	err := a.do(func() error {
		var err error
		r, err = NewRelay(ctx, cfg, a.metrics)
		return err
	})
	if err != nil {
		return nil, err
	}
	a.relays[cfg.Name] = r
	return r, nil
}

// Relays are the names of the agent's relays, sorted.
func (a *Agent) Relays() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	names := make([]string, 0, len(a.relays))
	for n := range a.relays {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Detach closes the relay name; with name "" it closes every relay and
// deletes every tunnel device of the agent.
func (a *Agent) Detach(ctx context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if name != "" {
		r := a.relays[name]
		if r == nil {
			return fmt.Errorf("agent: no relay %s", name)
		}
		delete(a.relays, name)
		return r.Close()
	}
	return a.cleanup(ctx)
}

// cleanup closes every relay and deletes every tunnel; a.mu is held.
func (a *Agent) cleanup(ctx context.Context) error {
	var errs []error
	for n, r := range a.relays {
		errs = append(errs, r.Close())
		delete(a.relays, n)
	}
	errs = append(errs, a.deleteTunnels(ctx, a.tunnels))
	a.tunnels = nil
	return errors.Join(errs...)
}

// deleteTunnels deletes the named devices if they are still this agent's.
func (a *Agent) deleteTunnels(_ context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return a.do(func() error {
		var errs []error
		for _, n := range names {
			l, err := netlink.LinkByName(n)
			if err != nil {
				continue // gone already
			}
			if l.Attrs().Alias != a.alias {
				continue
			}
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("agent: delete %s: %w", n, err))
			}
		}
		return errors.Join(errs...)
	})
}

// ApplyTunnels makes the VXLAN tunnel ends ts on this node, as
// TunnelEnd.IPArgs would with ip(8): a vxlan device (VNI, outer local
// and remote address, destination port 4789, MTU 1500, up), its
// point-to-point address and the routes via the peer (onlink, replacing
// routes to the same destinations). A device of the same name that is
// edgesim's (by its alias) is made anew; one that is not is an error.
// This agent's tunnel devices not in ts are deleted. Reverse-path
// filtering becomes loose (2) on all interfaces: pod traffic answered
// through a tunnel arrives on another device than the route back.
func (a *Agent) ApplyTunnels(ctx context.Context, ts []kube.TunnelEnd) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("agent: closed")
	}
	var want []string
	for _, t := range ts {
		if err := checkTunnel(t); err != nil {
			return err
		}
		if slices.Contains(want, t.Dev) {
			return fmt.Errorf("agent: tunnel device %s given twice", t.Dev)
		}
		want = append(want, t.Dev)
	}
	var stale []string
	for _, n := range a.tunnels {
		if !slices.Contains(want, n) {
			stale = append(stale, n)
		}
	}
	if err := a.deleteTunnels(ctx, stale); err != nil {
		return err
	}
	a.tunnels = slices.DeleteFunc(a.tunnels, func(n string) bool { return slices.Contains(stale, n) })
	for _, t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.do(func() error { return a.makeTunnel(t) }); err != nil {
			return err
		}
		if !slices.Contains(a.tunnels, t.Dev) {
			a.tunnels = append(a.tunnels, t.Dev)
		}
	}
	return a.do(func() error {
		if err := os.WriteFile(rpFilter, []byte("2"), 0o644); err != nil {
			return fmt.Errorf("agent: loose reverse-path filter: %w", err)
		}
		return nil
	})
}

func checkTunnel(t kube.TunnelEnd) error {
	switch {
	case t.Dev == "" || len(t.Dev) > 15 || strings.HasPrefix(t.Dev, RelayPrefix):
		return fmt.Errorf("agent: tunnel device name %q", t.Dev)
	case t.VNI <= 0 || t.VNI >= 1<<24:
		return fmt.Errorf("agent: tunnel %s: VNI %d", t.Dev, t.VNI)
	case t.Local.To4() == nil || t.Remote.To4() == nil || t.Addr.To4() == nil || t.Peer.To4() == nil:
		return fmt.Errorf("agent: tunnel %s: want IPv4 local, remote, addr and peer", t.Dev)
	}
	for _, r := range t.Routes {
		if r == nil || r.IP.To4() == nil {
			return fmt.Errorf("agent: tunnel %s: want IPv4 routes", t.Dev)
		}
	}
	return nil
}

// makeTunnel makes one tunnel end; it runs in the agent's namespace.
func (a *Agent) makeTunnel(t kube.TunnelEnd) error {
	if old, err := netlink.LinkByName(t.Dev); err == nil {
		if !strings.HasPrefix(old.Attrs().Alias, AliasPrefix) {
			return fmt.Errorf("agent: tunnel %s: a device of that name exists and is not edgesim's (no %q alias)", t.Dev, AliasPrefix)
		}
		if err := netlink.LinkDel(old); err != nil {
			return fmt.Errorf("agent: tunnel %s: delete the old device: %w", t.Dev, err)
		}
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: t.Dev, MTU: kube.TunnelMTU},
		VxlanId:   t.VNI,
		SrcAddr:   t.Local.To4(),
		Group:     t.Remote.To4(),
		Port:      kube.VXLANPort,
		Learning:  true, // as ip(8) makes it
	}
	if err := netlink.LinkAdd(vx); err != nil {
		return fmt.Errorf("agent: tunnel %s: add vxlan device: %w", t.Dev, err)
	}
	link, err := netlink.LinkByName(t.Dev)
	if err == nil {
		err = netlink.LinkSetAlias(link, a.alias)
	}
	if err != nil {
		if link != nil {
			_ = netlink.LinkDel(link)
		} else {
			_ = netlink.LinkDel(vx)
		}
		return fmt.Errorf("agent: tunnel %s: mark as edgesim's: %w", t.Dev, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("agent: tunnel %s: set up: %w", t.Dev, err)
	}
	host := net.CIDRMask(32, 32)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: t.Addr.To4(), Mask: host}, Peer: &net.IPNet{IP: t.Peer.To4(), Mask: host}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("agent: tunnel %s: address %s peer %s: %w", t.Dev, t.Addr, t.Peer, err)
	}
	for _, r := range t.Routes {
		rt := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: r, Gw: t.Peer.To4(), Flags: int(netlink.FLAG_ONLINK)}
		if err := netlink.RouteReplace(rt); err != nil {
			return fmt.Errorf("agent: tunnel %s: route %s via %s: %w", t.Dev, r, t.Peer, err)
		}
	}
	return nil
}

// Close closes every relay and deletes every tunnel device this agent
// made (their routes go with them). The agent is unusable afterwards.
func (a *Agent) Close(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	err := a.cleanup(ctx)
	return errors.Join(err, a.ns.Close())
}
