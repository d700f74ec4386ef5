// Package kctest is test support for the kubeconfig provider: a kind
// cluster made outside edgesim, the way a user would make one with kind's
// Go API, whose nodes pull images from go-containerregistry's in-process
// registry through a containerd mirror configuration, and an object dump
// of a cluster to check that a run leaves it as it found it.
//
// Everything here needs root and Podman (kind's podman provider); the
// specs that use it carry the "cluster" label.
package kctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/sys/unix"
)

// KindNetwork is the Podman network kind puts every cluster's nodes on.
const KindNetwork = "kind"

// Registry is go-containerregistry's in-process registry served over plain
// HTTP on the gateway address of kind's Podman network, which every kind
// node reaches, and on loopback for pushes from this machine. It never
// listens on all addresses.
type Registry struct {
	srv   *http.Server
	lns   []net.Listener
	addr  string
	local string
	// CreatedNetwork is set when StartRegistry had to create kind's
	// network (it is left in place, as kind leaves it).
	CreatedNetwork bool
}

// StartRegistry starts a registry on kind's network gateway (creating the
// network the way kind would when it does not exist yet) and on
// 127.0.0.1. The registry's request log goes to logw (nil discards it).
//
// On a machine where no container has used the network yet its bridge, and
// so the gateway address, does not exist: the listener is bound with
// IP_FREEBIND and starts answering once the first node brings the bridge
// up. Push through LocalAddr so pushes work before that.
func StartRegistry(ctx context.Context, logw io.Writer) (*Registry, error) {
	if logw == nil {
		logw = io.Discard
	}
	created, err := ensureKindNetwork(ctx)
	if err != nil {
		return nil, err
	}
	gw, err := KindGateway(ctx)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	gln, err := lc.Listen(ctx, "tcp4", net.JoinHostPort(gw.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("registry: listen on kind's network gateway %s: %w", gw, err)
	}
	port := gln.Addr().(*net.TCPAddr).Port
	// The same port on loopback when it is free, so both addresses differ
	// only by host; any port otherwise.
	lln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		lln, err = net.Listen("tcp4", "127.0.0.1:0")
	}
	if err != nil {
		gln.Close()
		return nil, fmt.Errorf("registry: listen on loopback: %w", err)
	}
	r := &Registry{
		srv:            &http.Server{Handler: registry.New(registry.Logger(log.New(logw, "registry: ", log.LstdFlags)))},
		lns:            []net.Listener{gln, lln},
		addr:           gln.Addr().String(),
		local:          lln.Addr().String(),
		CreatedNetwork: created,
	}
	for _, ln := range r.lns {
		go func() { _ = r.srv.Serve(ln) }()
	}
	return r, nil
}

// Addr is the registry's host:port as kind's nodes reach it (the network
// gateway): the host part of the image references pods use.
func (r *Registry) Addr() string { return r.addr }

// LocalAddr is the registry's host:port on loopback, for pushes from this
// machine.
func (r *Registry) LocalAddr() string { return r.local }

// Close stops the registry.
func (r *Registry) Close() error {
	err := r.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// KindGateway returns the IPv4 gateway of kind's Podman network.
func KindGateway(ctx context.Context) (net.IP, error) {
	out, err := exec.CommandContext(ctx, "podman", "network", "inspect", KindNetwork).Output()
	if err != nil {
		return nil, fmt.Errorf("podman network inspect %s: %w%s", KindNetwork, err, stderrOf(err))
	}
	return parseGateway(out)
}

// parseGateway reads the first IPv4 gateway (or, lacking one, the first
// host of the first IPv4 subnet, which Podman makes the gateway) from
// `podman network inspect` (Podman 4 and later).
func parseGateway(inspect []byte) (net.IP, error) {
	var nets []struct {
		Subnets []struct {
			Subnet  string `json:"subnet"`
			Gateway string `json:"gateway"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal(inspect, &nets); err != nil {
		return nil, fmt.Errorf("podman network inspect %s: %w", KindNetwork, err)
	}
	for _, n := range nets {
		for _, s := range n.Subnets {
			if ip := net.ParseIP(s.Gateway); ip != nil && ip.To4() != nil {
				return ip.To4(), nil
			}
			if _, sn, err := net.ParseCIDR(s.Subnet); err == nil && sn.IP.To4() != nil {
				ip := append(net.IP(nil), sn.IP.To4()...)
				ip[3]++
				return ip, nil
			}
		}
	}
	return nil, fmt.Errorf("podman network %s has no IPv4 subnet", KindNetwork)
}

// ensureKindNetwork creates kind's network as kind's podman provider
// (sigs.k8s.io/kind/pkg/cluster/internal/providers/podman/network.go)
// would when it is missing: a bridge with a ULA IPv6 subnet derived from
// the name, or IPv4 only where Podman or the kernel has no IPv6. It
// reports whether it created the network.
func ensureKindNetwork(ctx context.Context) (bool, error) {
	if exec.CommandContext(ctx, "podman", "network", "inspect", KindNetwork).Run() == nil {
		return false, nil
	}
	// kind's first choice, fc00:f853:ccd:e793::/64, is what its
	// generateULASubnetFromName("kind", 0) gives.
	err := exec.CommandContext(ctx, "podman", "network", "create", "-d=bridge", "--ipv6", "--subnet", "fc00:f853:ccd:e793::/64", KindNetwork).Run()
	if err != nil {
		err = exec.CommandContext(ctx, "podman", "network", "create", "-d=bridge", KindNetwork).Run()
	}
	if err != nil {
		if exec.CommandContext(ctx, "podman", "network", "inspect", KindNetwork).Run() == nil {
			return false, nil // made by someone else meanwhile
		}
		return false, fmt.Errorf("create podman network %s: %w%s", KindNetwork, err, stderrOf(err))
	}
	return true, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
