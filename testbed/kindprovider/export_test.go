package kindprovider

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

// DeleteOwned is the seam Clean deletes clusters through.
var DeleteOwned = &deleteOwned

// WriteRecord is writeRecord.
var WriteRecord = writeRecord

// Cluster is one cluster of a layout: its name, pod subnet, plan nodes and
// which site labels it holds.
type Cluster struct {
	Name, PodSubnet string
	Nodes           []string
	Holds           func(site string) bool
}

// Clusters spreads a plan over clusters as Provision does.
func Clusters(plan *provider.Plan, layout Layout, name string) []Cluster {
	var out []Cluster
	for _, m := range members(plan, layout, name) {
		c := Cluster{Name: m.name, PodSubnet: m.podSubnet, Holds: m.kube().Holds}
		for _, b := range m.bindings {
			c.Nodes = append(c.Nodes, b.Node)
		}
		out = append(out, c)
	}
	return out
}

// NewEngine makes the links' engine of a run whose testbed (not yet its
// cluster) is named testbedName, as Provision does.
func NewEngine(ctx context.Context, testbedName, stateDir string, reg prometheus.Registerer) (netem.Engine, error) {
	p := &Provider{cfg: Config{Name: ClusterName(testbedName), StateDir: stateDir, Registry: reg}}
	return nodecontainer.NewEngine(ctx, p.engineConfig())
}

// EngineName is the links' engine name of a cluster.
var EngineName = nodecontainer.EngineName
