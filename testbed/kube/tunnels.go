package kube

import (
	"context"
	"encoding/json"
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
	EngineMTU = tunnelMTU + 50
	vxlanPort = 4789
	vniBase   = 4000
	// point-to-point addresses are 100.127.<i>.<j> (p2pAddr)
	maxTunneled = 250
)

// TunnelCmd is one ip(8) command run inside a worker's network namespace.
type TunnelCmd struct {
	Node string   // plan node whose namespace runs it
	Args []string // arguments of ip(8)
}

// TunnelPeer is what Tunnels needs to know about a worker.
type TunnelPeer struct {
	Node    string
	Addr    net.IP     // its netem TUN address
	PodCIDR *net.IPNet // its IPv4 PodCIDR
}

// TunnelEnd is one end of the VXLAN tunnel between two workers: the device
// on Node, its outer addresses (the two workers' netem TUN addresses),
// its point-to-point inner addresses and the routes through it to the
// peer's pod network. It is the one definition both executors share:
// ip(8) in a node's namespace (IPArgs) and edgesim's node agent
// (netlink). It encodes to JSON with addresses and routes as text.
type TunnelEnd struct {
	Node   string       // plan node the device is made on
	Dev    string       // device name, "esv<peer index>"
	VNI    int          // VXLAN network identifier, shared by both ends
	Local  net.IP       // outer source: this worker's netem address
	Remote net.IP       // outer destination: the peer's netem address
	Addr   net.IP       // inner point-to-point address of this end
	Peer   net.IP       // inner point-to-point address of the other end
	Routes []*net.IPNet // the peer's pod network, routed via Peer
}

// TunnelMTU is the MTU of the VXLAN devices: the pods' usual MTU.
const TunnelMTU = tunnelMTU

// VXLANPort is the UDP destination port of the tunnels' outer packets.
const VXLANPort = vxlanPort

// IPArgs returns the ip(8) argument lists that make t: create the
// device, set its MTU and bring it up, give it its point-to-point
// address and replace the routes through it.
func (t TunnelEnd) IPArgs() [][]string {
	out := [][]string{
		{"link", "add", t.Dev, "type", "vxlan", "id", strconv.Itoa(t.VNI),
			"local", t.Local.String(), "remote", t.Remote.String(), "dstport", strconv.Itoa(vxlanPort)},
		{"link", "set", t.Dev, "mtu", strconv.Itoa(tunnelMTU), "up"},
		{"addr", "add", t.Addr.String(), "peer", t.Peer.String(), "dev", t.Dev},
	}
	for _, r := range t.Routes {
		out = append(out, []string{"route", "replace", r.String(), "via", t.Peer.String(), "dev", t.Dev, "onlink"})
	}
	return out
}

// tunnelJSON is TunnelEnd on the wire: routes as CIDR strings.
type tunnelJSON struct {
	Node   string   `json:"node"`
	Dev    string   `json:"dev"`
	VNI    int      `json:"vni"`
	Local  net.IP   `json:"local"`
	Remote net.IP   `json:"remote"`
	Addr   net.IP   `json:"addr"`
	Peer   net.IP   `json:"peer"`
	Routes []string `json:"routes,omitempty"`
}

// MarshalJSON encodes t with its routes in CIDR notation.
func (t TunnelEnd) MarshalJSON() ([]byte, error) {
	w := tunnelJSON{Node: t.Node, Dev: t.Dev, VNI: t.VNI, Local: t.Local, Remote: t.Remote, Addr: t.Addr, Peer: t.Peer}
	for _, r := range t.Routes {
		w.Routes = append(w.Routes, r.String())
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (t *TunnelEnd) UnmarshalJSON(b []byte) error {
	var w tunnelJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = TunnelEnd{Node: w.Node, Dev: w.Dev, VNI: w.VNI, Local: w.Local, Remote: w.Remote, Addr: w.Addr, Peer: w.Peer}
	for _, s := range w.Routes {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return fmt.Errorf("kube: tunnel %s: route: %w", w.Dev, err)
		}
		t.Routes = append(t.Routes, n)
	}
	return nil
}

// Tunnels returns, for every pair of workers, the two ends of the VXLAN
// tunnel between them, each routing the peer's pod network (the two
// halves of its PodCIDR) through it. It is pure; an executor makes them.
func Tunnels(ws []TunnelPeer) ([]TunnelEnd, error) {
	if len(ws) > maxTunneled {
		return nil, fmt.Errorf("kube: %d workers: at most %d can be linked", len(ws), maxTunneled)
	}
	var out []TunnelEnd
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
				lo, hi, err := halves(peer.PodCIDR)
				if err != nil {
					return nil, fmt.Errorf("kube: worker %s: %w", peer.Node, err)
				}
				out = append(out, TunnelEnd{
					Node:   self.Node,
					Dev:    "esv" + strconv.Itoa(e[1]),
					VNI:    vni,
					Local:  self.Addr,
					Remote: peer.Addr,
					Addr:   p2pAddr(e[0], e[1]),
					Peer:   p2pAddr(e[1], e[0]),
					Routes: []*net.IPNet{lo, hi},
				})
			}
		}
	}
	return out, nil
}

// p2pAddr is the inner address of worker i's end of its tunnel to j.
func p2pAddr(i, j int) net.IP { return net.IPv4(100, 127, byte(i), byte(j)).To4() }

// TunnelCommands returns the ip(8) commands that make Tunnels(ws), in
// order, each to be run in its node's network namespace.
func TunnelCommands(ws []TunnelPeer) ([]TunnelCmd, error) {
	ts, err := Tunnels(ws)
	if err != nil {
		return nil, err
	}
	var out []TunnelCmd
	for _, t := range ts {
		for _, args := range t.IPArgs() {
			out = append(out, TunnelCmd{Node: t.Node, Args: args})
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
	ts, err := Tunnels(ws)
	if err != nil {
		return err
	}
	for _, t := range ts {
		for _, a := range t.IPArgs() {
			args := append([]string{"--net=" + ns[t.Node], "ip"}, a...)
			if out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("kube: node %s: ip %s: %w: %s", t.Node, strings.Join(a, " "), err, strings.TrimSpace(string(out)))
			}
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
