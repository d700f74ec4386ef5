package kube

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/edgesim/edgesim/netem"
)

// Pod traffic between two workers is carried in a VXLAN tunnel whose outer
// packets go from one worker's netem TUN address to the other's, so they
// cross the emulated link between the two workers' groups. The routes to
// the peer's pod network are the two halves of its PodCIDR: more specific
// than the CNI's route for the whole PodCIDR, which stays in place and
// keeps working when the tunnels are gone.
const (
	tunnelMTU = 1500 // pods keep their usual MTU ...
	// ... so the TUN devices carry it plus the VXLAN overhead (50 bytes).
	EngineMTU   = tunnelMTU + 50
	vxlanPort   = 4789
	vniBase     = 4000
	tunnelNet   = "100.127" // point-to-point addresses 100.127.<i>.<j>
	maxTunneled = 250
)

// TunnelCmd is one ip(8) command run inside a worker's network namespace.
type TunnelCmd struct {
	Node string   // plan node whose namespace runs it
	Args []string // arguments of ip(8)
}

// TunnelPeer is what TunnelCommands needs to know about a worker.
type TunnelPeer struct {
	Node    string
	Addr    net.IP     // its netem TUN address
	PodCIDR *net.IPNet // its IPv4 PodCIDR
}

// TunnelCommands returns, for every pair of workers, the ip(8) commands
// that create the VXLAN tunnel between them and route each one's pod
// network through it. It is pure; the provider runs the commands.
func TunnelCommands(ws []TunnelPeer) ([]TunnelCmd, error) {
	if len(ws) > maxTunneled {
		return nil, fmt.Errorf("kube: %d workers: at most %d can be linked", len(ws), maxTunneled)
	}
	var out []TunnelCmd
	pair := 0
	for i := range ws {
		for j := range ws {
			if j <= i {
				continue
			}
			vni := vniBase + pair
			pair++
			for _, e := range [][2]int{{i, j}, {j, i}} {
				self, peer := ws[e[0]], ws[e[1]]
				dev := "esv" + strconv.Itoa(e[1])
				lo, hi, err := halves(peer.PodCIDR)
				if err != nil {
					return nil, fmt.Errorf("kube: worker %s: %w", peer.Node, err)
				}
				local := fmt.Sprintf("%s.%d.%d", tunnelNet, e[0], e[1])
				remote := fmt.Sprintf("%s.%d.%d", tunnelNet, e[1], e[0])
				out = append(out,
					TunnelCmd{self.Node, []string{"link", "add", dev, "type", "vxlan", "id", strconv.Itoa(vni),
						"local", self.Addr.String(), "remote", peer.Addr.String(), "dstport", strconv.Itoa(vxlanPort)}},
					TunnelCmd{self.Node, []string{"link", "set", dev, "mtu", strconv.Itoa(tunnelMTU), "up"}},
					TunnelCmd{self.Node, []string{"addr", "add", local, "peer", remote, "dev", dev}},
					TunnelCmd{self.Node, []string{"route", "replace", lo.String(), "via", remote, "dev", dev, "onlink"}},
					TunnelCmd{self.Node, []string{"route", "replace", hi.String(), "via", remote, "dev", dev, "onlink"}},
				)
			}
		}
	}
	return out, nil
}

// halves splits an IPv4 network into its two halves.
func halves(n *net.IPNet) (*net.IPNet, *net.IPNet, error) {
	if n == nil || n.IP.To4() == nil {
		return nil, nil, fmt.Errorf("no IPv4 PodCIDR")
	}
	ones, bits := n.Mask.Size()
	if ones >= bits {
		return nil, nil, fmt.Errorf("PodCIDR %s cannot be split", n)
	}
	mask := net.CIDRMask(ones+1, bits)
	lo := &net.IPNet{IP: n.IP.To4().Mask(n.Mask), Mask: mask}
	hiIP := make(net.IP, 4)
	copy(hiIP, lo.IP)
	hiIP[ones/8] |= 0x80 >> (ones % 8)
	return lo, &net.IPNet{IP: hiIP, Mask: mask}, nil
}

// Tunnel routes the pod network of every host (podCIDRs[i] belongs to
// hosts[i]) to every other host through VXLAN tunnels between their netem
// addresses, so that pod traffic crosses the emulated links. The engine
// must have been made with an MTU of at least 1550 (WithMTU).
func Tunnel[H netem.EngineHost](ctx context.Context, hosts []H, podCIDRs []*net.IPNet) error {
	if len(hosts) != len(podCIDRs) {
		return fmt.Errorf("kube: %d hosts but %d PodCIDRs", len(hosts), len(podCIDRs))
	}
	ws := make([]TunnelPeer, len(hosts))
	ns := map[string]string{}
	for i, h := range hosts {
		ws[i] = TunnelPeer{Node: h.Name(), Addr: h.Address(), PodCIDR: podCIDRs[i]}
		ns[h.Name()] = h.NetnsPath()
	}
	cmds, err := TunnelCommands(ws)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		args := append([]string{"--net=" + ns[c.Node], "ip"}, c.Args...)
		if out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("kube: node %s: ip %s: %w: %s", c.Node, strings.Join(c.Args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	// A pod reaching another node's emulated address directly (a NodePort
	// of another cluster, in the federated layout) sends through the TUN
	// device and gets its answers through a tunnel, so each side sees a
	// source on another device than its route back: strict reverse-path
	// filtering would drop them. Loose mode still drops unroutable sources.
	for _, h := range hosts {
		if err := h.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/conf/all/rp_filter", []byte("2"), 0o644) }); err != nil {
			return fmt.Errorf("kube: node %s: loose reverse-path filter: %w", h.Name(), err)
		}
	}
	return nil
}

// podCIDRs reads every node's IPv4 PodCIDR, by node name.
func podCIDRs(ctx context.Context, cl Cluster) (map[string]*net.IPNet, error) {
	out, err := cl.Kubectl(ctx, nil, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}`)
	if err != nil {
		return nil, err
	}
	m := map[string]*net.IPNet{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if _, n, err := net.ParseCIDR(f[1]); err == nil && n.IP.To4() != nil {
			m[f[0]] = n
		}
	}
	return m, nil
}
