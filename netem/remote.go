package netem

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Remote hosts. A host with HostSpec.Remote has no namespace and no TUN
// device on this machine: its packets come from and go to a relay
// elsewhere (an agent that owns a TUN device there), one IPv4 packet per
// UDP datagram. The engine reads and writes a connected UDP socket where
// it would read and write the TUN device, so routing, links and counters
// are the same as for any other host.

// ErrRemoteHost is returned (wrapped) by Do for a remote host, which has
// no network namespace on this machine.
var ErrRemoteHost = errors.New("netem: remote host has no network namespace here")

// relaySockBuf is the socket buffer size asked for in each direction: the
// relay socket stands in for the TUN device's ring (tunQueueLen packets).
// The kernel caps it at net.core.rmem_max and wmem_max.
const relaySockBuf = 4 << 20

// Remote is the relay address of a remote host (HostSpec.Remote), nil for
// a host with a namespace here.
func (h *Host) Remote() *net.UDPAddr { return cloneUDPAddr(h.remote) }

// RelayAddr is the local address of a remote host's socket: the source
// address the kernel chose toward the relay, and the port. The relay must
// send the host's packets there. It is nil for a host with a namespace here.
func (h *Host) RelayAddr() *net.UDPAddr { return cloneUDPAddr(h.relayAddr) }

// Prefix is the host's address with the prefix length of the engine's
// subnet, as its TUN device carries it (a relay gives its own device the
// same).
func (h *Host) Prefix() *net.IPNet {
	ones, bits := h.eng.opts.subnet.Mask.Size()
	return &net.IPNet{IP: h.Address(), Mask: net.CIDRMask(ones, bits)}
}

// RelayErrors counts the datagrams a remote host could not exchange with
// its relay: errors the socket reported (such as ICMP port unreachable
// while the relay is not listening), failed sends, and datagrams larger
// than the engine's MTU. It is 0 for a host with a namespace here.
func (h *Host) RelayErrors() uint64 { return h.relayErrs.Load() }

func cloneUDPAddr(a *net.UDPAddr) *net.UDPAddr {
	if a == nil {
		return nil
	}
	return &net.UDPAddr{IP: append(net.IP(nil), a.IP...), Port: a.Port, Zone: a.Zone}
}

// openRelay makes h's non-blocking UDP socket connected to remote and
// stores it as h.tun; release closes it.
func (h *Host) openRelay(remote *net.UDPAddr) error {
	ip := remote.IP.To4()
	if ip == nil || remote.Port <= 0 || remote.Port > 65535 {
		return fmt.Errorf("netem: host %s: remote %s is not an IPv4 address with a port", h.name, remote)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("netem: host %s: relay socket: %w", h.name, err)
	}
	h.tun = fd
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, relaySockBuf)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, relaySockBuf)
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
		return fmt.Errorf("netem: host %s: bind relay socket: %w", h.name, err)
	}
	to := &unix.SockaddrInet4{Port: remote.Port}
	copy(to.Addr[:], ip)
	if err := unix.Connect(fd, to); err != nil {
		return fmt.Errorf("netem: host %s: connect to relay %s: %w", h.name, remote, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("netem: host %s: relay socket address: %w", h.name, err)
	}
	local, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return fmt.Errorf("netem: host %s: relay socket has a non-IPv4 address", h.name)
	}
	h.remote = &net.UDPAddr{IP: append(net.IP(nil), ip...), Port: remote.Port}
	h.relayAddr = &net.UDPAddr{IP: net.IPv4(local.Addr[0], local.Addr[1], local.Addr[2], local.Addr[3]).To4(), Port: local.Port}
	return nil
}

// isRelayError reports whether err, from a read of a remote host's
// socket, is an error of the path to the relay (an ICMP error the kernel
// queued on the connected socket) rather than of the socket itself. The
// read that reports it also clears it.
func isRelayError(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN,
		unix.ENETDOWN, unix.ENOPROTOOPT, unix.EOPNOTSUPP, unix.EMSGSIZE:
		return true
	}
	return false
}
