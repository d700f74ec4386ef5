package kindprovider

import (
	"fmt"

	"github.com/edgesim/edgesim/internal/naming"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Layout is how a plan's nodes are spread over kind clusters.
type Layout string

// Layouts.
const (
	// LayoutSingle is one cluster; workers are labelled with their tier
	// and site.
	LayoutSingle Layout = "single"
	// LayoutFederated is a cloud cluster plus one cluster per site (its
	// edge nodes and camera hosts), each with its own control plane. The
	// clusters' pod networks are distinct and joined through the same
	// emulated links; the sites reach the cloud edgenodes through a
	// NodePort on the first cloud worker, over the WAN link.
	LayoutFederated Layout = "federated"
)

// ParseLayout checks a layout name ("" is LayoutSingle).
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(s); l {
	case "", LayoutSingle:
		return LayoutSingle, nil
	case LayoutFederated:
		return l, nil
	}
	return "", fmt.Errorf("kind layout %q: want %q or %q", s, LayoutSingle, LayoutFederated)
}

// member is one kind cluster of a testbed and the plan nodes on its
// workers.
type member struct {
	name      string
	labels    []string // site labels of the objects it holds (nil: all of them)
	podSubnet string   // "" for kind's default
	bindings  []kube.Binding
	cl        *cluster.Cluster
	record    string // its state record
}

// container is kind's name of the i-th worker's container.
func (m *member) container(i int) string { return cluster.WorkerName(m.name, i) }

// worker is the kind worker of the i-th binding.
func (m *member) worker(i int) cluster.Worker {
	return cluster.Worker{Tier: m.bindings[i].Tier, Site: m.bindings[i].Site}
}

// kube is the member as the shared Kubernetes layer sees it, once its
// cluster exists: kind names each worker's Kubernetes node after its
// container.
func (m *member) kube() *kube.Member {
	km := &kube.Member{Name: m.name, Sites: m.labels, Cluster: m.cl}
	for i, b := range m.bindings {
		km.Nodes = append(km.Nodes, kube.NodeName{Plan: b.Node, Kube: m.container(i)})
	}
	return km
}

// members spreads a plan's nodes over clusters. Names derive from the
// cluster name (see ClusterName): the single cluster takes it as it is;
// federated clusters add "-c" (cloud) or "-s<i>" (the i-th site, in plan
// order) to it, shortened to leave room for that.
func members(plan *provider.Plan, layout Layout, name string) []*member {
	all := kube.Bindings(plan)
	if layout != LayoutFederated {
		return []*member{{name: name, bindings: all}}
	}
	name = naming.Fit(name, cluster.MaxName-len(fmt.Sprintf("-s%d", maxFederated)))
	cloud := &member{name: name + "-c", podSubnet: podSubnet(0), labels: []string{kube.CloudSite}}
	out := []*member{cloud}
	sites := map[string]*member{}
	for _, b := range all {
		n, _ := plan.Node(b.Node)
		if n.Role == provider.RoleCloud {
			cloud.bindings = append(cloud.bindings, b)
			continue
		}
		m := sites[n.Site]
		if m == nil {
			m = &member{name: fmt.Sprintf("%s-s%d", name, len(out)), podSubnet: podSubnet(len(out)),
				labels: []string{n.Site, n.Site + provider.CloudViaSuffix}} // the site and its cloud-placement mirror
			sites[n.Site] = m
			out = append(out, m)
		}
		m.bindings = append(m.bindings, b)
	}
	return out
}

// podSubnet is the i-th federated cluster's pod network, 10.200.0.0/16 and
// up: distinct from each other, from kind's Service network
// (10.96.0.0/16) and from netem's host addresses (10.240.0.0/16).
func podSubnet(i int) string { return fmt.Sprintf("10.%d.0.0/16", 200+i) }

// maxFederated bounds the clusters of a federated testbed (their pod
// networks stay below netem's).
const maxFederated = 40
