// Command kindcni is the pod network of edgesim's kind node images: a small
// DaemonSet process that writes a ptp + host-local + portmap CNI
// configuration for its node's PodCIDR and keeps a route to every other
// node's PodCIDR through that node's InternalIP. Nodes of a kind cluster
// share one container network, so plain routes are enough; it does no
// masquerading and no network policy.
//
// It talks to the API server with the pod's service account over plain
// HTTPS (CONTROL_PLANE_ENDPOINT when kind sets it, otherwise the in-cluster
// service address), so it needs no client library.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

const (
	saDir       = "/var/run/secrets/kubernetes.io/serviceaccount"
	confDir     = "/etc/cni/net.d"
	confName    = "10-edgesim.conflist"
	resyncEvery = 10 * time.Second
)

// node is the part of a v1.Node that the CNI needs.
type node struct {
	Name       string
	PodCIDRs   []string
	InternalIP string
}

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			PodCIDR  string   `json:"podCIDR"`
			PodCIDRs []string `json:"podCIDRs"`
		} `json:"spec"`
		Status struct {
			Addresses []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"addresses"`
		} `json:"status"`
	} `json:"items"`
}

// parseNodes decodes a v1.NodeList.
func parseNodes(b []byte) ([]node, error) {
	var l nodeList
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("decode node list: %w", err)
	}
	out := make([]node, 0, len(l.Items))
	for _, it := range l.Items {
		n := node{Name: it.Metadata.Name, PodCIDRs: it.Spec.PodCIDRs}
		if len(n.PodCIDRs) == 0 && it.Spec.PodCIDR != "" {
			n.PodCIDRs = []string{it.Spec.PodCIDR}
		}
		for _, a := range it.Status.Addresses {
			if a.Type == "InternalIP" && n.InternalIP == "" && net.ParseIP(a.Address).To4() != nil {
				n.InternalIP = a.Address
			}
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// route sends a peer node's PodCIDR through that node's InternalIP.
type route struct {
	Dst *net.IPNet
	Gw  net.IP
}

// plan returns this node's IPv4 PodCIDR and the routes to every other node's
// IPv4 PodCIDR. ok is false while this node has no PodCIDR yet.
func plan(self string, nodes []node) (podCIDR string, routes []route, ok bool) {
	for _, n := range nodes {
		v4 := ipv4CIDR(n.PodCIDRs)
		if v4 == nil {
			continue
		}
		if n.Name == self {
			podCIDR, ok = v4.String(), true
			continue
		}
		gw := net.ParseIP(n.InternalIP)
		if gw == nil {
			continue
		}
		routes = append(routes, route{Dst: v4, Gw: gw.To4()})
	}
	return podCIDR, routes, ok
}

func ipv4CIDR(cidrs []string) *net.IPNet {
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err == nil && n.IP.To4() != nil {
			return n
		}
	}
	return nil
}

// confList renders the CNI configuration for a node's PodCIDR.
func confList(podCIDR string, mtu int) ([]byte, error) {
	if _, _, err := net.ParseCIDR(podCIDR); err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "edgesim",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"ranges":  []any{[]any{map[string]any{"subnet": podCIDR}}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// writeIfChanged replaces path atomically when its content differs.
func writeIfChanged(path string, content []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(content) {
		return false, nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}

type apiClient struct {
	// bases are tried in order: kind's CONTROL_PLANE_ENDPOINT first (it
	// works before kube-proxy runs), then the in-cluster service address
	// (it works where node names do not resolve).
	bases []string
	http  *http.Client
}

// apiBases lists the API server addresses to try, from the environment.
func apiBases(getenv func(string) string) ([]string, error) {
	var bases []string
	if ep := getenv("CONTROL_PLANE_ENDPOINT"); ep != "" {
		bases = append(bases, "https://"+ep)
	}
	if h, p := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT"); h != "" && p != "" {
		bases = append(bases, "https://"+net.JoinHostPort(h, p))
	}
	if len(bases) == 0 {
		return nil, errors.New("neither CONTROL_PLANE_ENDPOINT nor KUBERNETES_SERVICE_HOST/PORT is set")
	}
	return bases, nil
}

func newAPIClient() (*apiClient, error) {
	bases, err := apiBases(os.Getenv)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("service account ca.crt holds no certificate")
	}
	return &apiClient{
		bases: bases,
		http:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
	}, nil
}

func (c *apiClient) nodes(ctx context.Context) ([]node, error) {
	var errs []error
	for _, base := range c.bases {
		nodes, err := c.nodesFrom(ctx, base)
		if err == nil {
			return nodes, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (c *apiClient) nodesFrom(ctx context.Context, base string) ([]node, error) {
	token, err := os.ReadFile(filepath.Join(saDir, "token"))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list nodes at %s: %s: %s", base, resp.Status, body)
	}
	return parseNodes(body)
}

func syncOnce(ctx context.Context, c *apiClient, self string, mtu int) error {
	nodes, err := c.nodes(ctx)
	if err != nil {
		return err
	}
	podCIDR, routes, ok := plan(self, nodes)
	if !ok {
		return fmt.Errorf("node %q has no IPv4 PodCIDR yet", self)
	}
	conf, err := confList(podCIDR, mtu)
	if err != nil {
		return err
	}
	if changed, err := writeIfChanged(filepath.Join(confDir, confName), conf); err != nil {
		return err
	} else if changed {
		fmt.Printf("wrote CNI config for %s\n", podCIDR)
	}
	for _, r := range routes {
		if err := netlink.RouteReplace(&netlink.Route{Dst: r.Dst, Gw: r.Gw}); err != nil {
			return fmt.Errorf("route %s via %s: %w", r.Dst, r.Gw, err)
		}
	}
	return nil
}

func main() {
	self := os.Getenv("NODE_NAME")
	if self == "" {
		fmt.Fprintln(os.Stderr, "kindcni: NODE_NAME must be set (downward API spec.nodeName)")
		os.Exit(2)
	}
	mtu := 1500
	if link, err := linkForHostIP(os.Getenv("HOST_IP")); err == nil {
		mtu = link.Attrs().MTU
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := newAPIClient()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kindcni:", err)
		os.Exit(2)
	}
	t := time.NewTicker(resyncEvery)
	defer t.Stop()
	for {
		if err := syncOnce(ctx, c, self, mtu); err != nil {
			fmt.Fprintln(os.Stderr, "kindcni: sync:", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// linkForHostIP finds the interface that holds the node's own address.
func linkForHostIP(hostIP string) (netlink.Link, error) {
	ip := net.ParseIP(hostIP)
	if ip == nil {
		return nil, errors.New("no HOST_IP")
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.Equal(ip) {
			return netlink.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, errors.New("no interface holds HOST_IP")
}
