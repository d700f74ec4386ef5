package kubeconfigprovider

import (
	"fmt"
	"slices"
	"strings"

	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

// LabelNode is the node label that maps a cluster node onto a plan node:
// `kubectl label node NODE edgesim.dev/node=PLAN-NODE`.
const LabelNode = "edgesim.dev/node"

// labelControlPlane marks control-plane nodes, which a label fix proposes
// last.
const labelControlPlane = "node-role.kubernetes.io/control-plane"

// Selector picks cluster nodes for the plan nodes of a tier or of a site
// that no node names with LabelNode: the Ready nodes carrying every one of
// Labels, in name order, one per plan node.
type Selector struct {
	// Tier ("cloud", "edge" or "camera") or Site (a scenario site) the
	// selector is for; a site's selector goes before its tier's.
	Tier, Site string
	// Labels every chosen node carries.
	Labels map[string]string
}

// ParseSelector reads a selector as the command line gives it:
// "tier=edge:zone=lab,arch=arm64" or "site=store-a:rack=3".
func ParseSelector(s string) (Selector, error) {
	scope, labels, ok := strings.Cut(s, ":")
	key, val, ok2 := strings.Cut(scope, "=")
	if !ok || !ok2 || val == "" || (key != "tier" && key != "site") {
		return Selector{}, fmt.Errorf("node selector %q: want tier=TIER:LABEL=VALUE[,LABEL=VALUE] or site=SITE:LABEL=VALUE[,...]", s)
	}
	sel := Selector{Labels: map[string]string{}}
	if key == "tier" {
		if !slices.Contains([]string{string(provider.RoleCloud), string(provider.RoleEdge), kube.TierCamera}, val) {
			return Selector{}, fmt.Errorf("node selector %q: tier %q is none of cloud, edge, camera", s, val)
		}
		sel.Tier = val
	} else {
		sel.Site = val
	}
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return Selector{}, fmt.Errorf("node selector %q: %q is not LABEL=VALUE", s, kv)
		}
		sel.Labels[k] = v
	}
	return sel, nil
}

func (s Selector) matches(n kindcluster.NodeStatus) bool {
	for k, v := range s.Labels {
		if n.Labels[k] != v {
			return false
		}
	}
	return true
}

// Problem is one reason the cluster cannot hold the plan, and what fixes
// it (a command where there is one).
type Problem struct {
	What string
	Fix  string
}

// Map maps every plan node onto its own cluster node: the node labelled
// LabelNode=<plan node>, else one a selector picks. It returns the mapping
// (plan node -> cluster node) and every problem found: a plan node no
// cluster node holds (with the `kubectl label` line that would fix it,
// naming a free Ready node where there is one), two nodes claiming one plan
// node, a mapped node that is not Ready.
func Map(plan *provider.Plan, nodes []kindcluster.NodeStatus, selectors []Selector) (map[string]string, []Problem) {
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b kindcluster.NodeStatus) int { return strings.Compare(a.Name, b.Name) })
	byName := map[string]kindcluster.NodeStatus{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	planned := map[string]bool{}
	for _, n := range plan.Nodes {
		planned[n.Name] = true
	}
	mapping := map[string]string{}
	used := map[string]bool{}
	var problems []Problem
	for _, n := range nodes {
		want, ok := n.Labels[LabelNode]
		if !ok || !planned[want] {
			continue
		}
		if prev, taken := mapping[want]; taken {
			problems = append(problems, Problem{
				What: fmt.Sprintf("nodes %s and %s both carry %s=%s", prev, n.Name, LabelNode, want),
				Fix:  fmt.Sprintf("kubectl label node %s %s-", n.Name, LabelNode),
			})
			continue
		}
		mapping[want] = n.Name
		used[n.Name] = true
	}
	claimed := func(n kindcluster.NodeStatus) bool {
		v, ok := n.Labels[LabelNode]
		return used[n.Name] || (ok && v != "")
	}
	bindings := kube.Bindings(plan)
	for i, pn := range plan.Nodes {
		if _, ok := mapping[pn.Name]; ok {
			continue
		}
		for _, sel := range orderSelectors(selectors, bindings[i].Tier, pn.Site) {
			for _, n := range nodes {
				if n.Ready && !claimed(n) && sel.matches(n) {
					mapping[pn.Name] = n.Name
					used[n.Name] = true
					break
				}
			}
			if _, ok := mapping[pn.Name]; ok {
				break
			}
		}
	}
	free := freeNodes(nodes, claimed)
	for i, pn := range plan.Nodes {
		k, ok := mapping[pn.Name]
		if !ok {
			p := Problem{What: fmt.Sprintf("plan node %s (tier %s, site %s) has no cluster node: none carries %s=%s", pn.Name, bindings[i].Tier, bindings[i].Site, LabelNode, pn.Name)}
			if len(free) > 0 {
				p.Fix = fmt.Sprintf("kubectl label node %s %s=%s", free[0], LabelNode, pn.Name)
				free = free[1:]
			} else {
				p.Fix = "add a Ready node to the cluster (every Ready node is taken)"
			}
			problems = append(problems, p)
			continue
		}
		if !byName[k].Ready {
			problems = append(problems, Problem{What: fmt.Sprintf("node %s (plan node %s) is not Ready", k, pn.Name), Fix: "kubectl describe node " + k})
		}
	}
	return mapping, problems
}

// orderSelectors are the selectors that apply to a plan node of tier and
// site, the site's first.
func orderSelectors(selectors []Selector, tier, site string) []Selector {
	var out []Selector
	for _, s := range selectors {
		if s.Site != "" && s.Site == site {
			out = append(out, s)
		}
	}
	for _, s := range selectors {
		if s.Tier != "" && s.Tier == tier {
			out = append(out, s)
		}
	}
	return out
}

// freeNodes are the Ready nodes no plan node has, workers before control
// planes, each in name order: the ones a label fix proposes.
func freeNodes(nodes []kindcluster.NodeStatus, claimed func(kindcluster.NodeStatus) bool) []string {
	var workers, planes []string
	for _, n := range nodes {
		if !n.Ready || claimed(n) {
			continue
		}
		if _, cp := n.Labels[labelControlPlane]; cp {
			planes = append(planes, n.Name)
		} else {
			workers = append(workers, n.Name)
		}
	}
	return append(workers, planes...)
}
