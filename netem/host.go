package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// HostSpec describes an emulated host. Without NetnsPath or PID the engine
// creates a network namespace for it; with one of them it attaches a TUN
// device to that existing namespace and never deletes the namespace. With
// Remote the host lives on another machine and needs no namespace here.
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
	// Remote makes a remote host: instead of a TUN device, the engine
	// exchanges the host's packets with a relay at this IPv4 UDP address,
	// one IPv4 packet per datagram, from the host's RelayAddr. It excludes
	// NetnsPath and PID.
	Remote *net.UDPAddr
}

// Host is an emulated host: a network namespace with a TUN device whose
// packets go through the fabric, or a remote host whose packets a relay
// sends and receives over UDP (see HostSpec.Remote).
type Host struct {
	name, group string
	addr        net.IP
	ip          uint32
	nsName      string // created named namespace, "" when attached
	nsPath      string
	ns          netns.NsHandle
	tunName     string
	tun         int // non-blocking TUN (or relay socket) descriptor, -1 when closed
	eng         *Userspace

	remote, relayAddr *net.UDPAddr  // remote hosts only: the relay and our end
	relayErrs         atomic.Uint64 // see RelayErrors

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
// /run/netns/NAME, so `ip netns exec NAME` works too. It is "" for a
// remote host.
func (h *Host) NetnsPath() string { return h.nsPath }

// NetnsName is the name of a namespace the engine created ("" if attached).
func (h *Host) NetnsName() string { return h.nsName }

// Interface is the name of the host's TUN device inside its namespace
// ("" for a remote host).
func (h *Host) Interface() string { return h.tunName }

// Do runs fn on an OS thread inside the host's network namespace; sockets
// opened in fn stay in that namespace. For a remote host it returns an
// error wrapping ErrRemoteHost and does not run fn.
func (h *Host) Do(fn func() error) error {
	if h.remote != nil {
		return fmt.Errorf("%w: host %s is relayed from %s", ErrRemoteHost, h.name, h.remote)
	}
	return inNetns(h.ns, fn)
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
	if spec.Remote != nil && (spec.NetnsPath != "" || spec.PID != 0) {
		return nil, fmt.Errorf("netem: host %s: a remote host has no namespace here; give Remote without NetnsPath or PID", spec.Name)
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
	if spec.Remote != nil {
		if err = h.openRelay(spec.Remote); err != nil {
			return nil, err
		}
		e.startHost(h)
		return h, nil
	}
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
		if errors.Is(err, os.ErrExist) {
			// Made by someone else between the check and now: not ours.
			name := h.nsName
			h.nsName = ""
			return nil, errors.Join(err, e.state.removeNetns(name))
		}
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
		h.tun, terr = OpenTUN(h.tunName)
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
	if err = hdl.AddrAdd(link, &netlink.Addr{IPNet: h.Prefix()}); err != nil {
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
	e.startHost(h)
	return h, nil
}

// startHost makes h routable and starts reading its packets; e.mu is held.
func (e *Userspace) startHost(h *Host) {
	e.hosts = append(e.hosts, h)
	next := maps2(*e.byIP.Load())
	next[h.ip] = h
	e.byIP.Store(&next)
	e.wg.Add(1)
	go e.readLoop(h)
}

// release closes h's TUN (or relay socket) and namespace handle and deletes the namespace
// the engine made for it; removed reports that it was deleted.
func (h *Host) release() (removed bool, err error) {
	var errs []error
	if h.tun >= 0 {
		errs = append(errs, unix.Close(h.tun))
		h.tun = -1
	}
	if h.ns.IsOpen() {
		h.ns.Close()
	}
	if h.nsName != "" {
		if _, derr := deleteNetns(h.nsName); derr != nil {
			errs = append(errs, derr)
		} else {
			removed = true
		}
	}
	return removed, errors.Join(errs...)
}

// undoHost removes what AddHost made for h; e.mu is held.
func (e *Userspace) undoHost(h *Host) error {
	removed, err := h.release()
	errs := []error{err}
	if removed && e.state != nil {
		errs = append(errs, e.state.removeNetns(h.nsName))
	}
	return errors.Join(errs...)
}

// Hosts returns the hosts in the order they were added.
func (e *Userspace) Hosts() []*Host {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.hosts)
}

// tunQueueLen sizes the TUN device's ring, where packets wait for the
// reader thread: deep enough to ride out a reader descheduled for tens of
// milliseconds at a gigabit, since drops there are before the link model
// and would not be counted as link drops.
const tunQueueLen = 8192
