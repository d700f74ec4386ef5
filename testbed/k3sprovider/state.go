package k3sprovider

import (
	"context"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/k3s/cluster"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// clusterRecord is the state record of the cluster a run creates: written
// before its containers exist (with the owner mark cluster.Create puts on
// them), again with their IDs, and removed once the cluster is deleted.
// Clean deletes only what the proof covers (cluster.DeleteOwned).
type clusterRecord struct {
	netem.Record
	Proof cluster.Proof `json:"proof"`
}

// Stamp implements nodecontainer.Record.
func (r clusterRecord) Stamp() *netem.Record { return &r.Record }

// records are the K3s provider's cluster records (STATE-DIR/k3s).
var records = nodecontainer.Records{Subdir: "k3s", What: "k3s cluster"}

func writeRecord(stateDir, name string, proof cluster.Proof) (string, error) {
	return records.Write(stateDir, name, clusterRecord{Record: netem.OwnRecord(name), Proof: proof})
}

// Clean deletes the K3s clusters recorded in stateDir by runs whose
// process is gone (killed before their tear-down), with their networks and
// kubeconfigs, then their records. Clusters of running runs, records not
// of edgesim's and clusters with a container or network the record's
// proof does not cover (a same-named cluster someone else made) are left
// alone.
func Clean(ctx context.Context, stateDir string) (nodecontainer.CleanReport, error) {
	return nodecontainer.Clean(ctx, records, stateDir, nodecontainer.CleanOptions[clusterRecord]{
		Delete: func(ctx context.Context, r clusterRecord) error {
			return deleteOwned(ctx, r.Name, r.Proof, "")
		},
		NotOwned: cluster.ErrNotOwned,
	})
}

// deleteOwned is cluster.DeleteOwned (a seam for specs).
var deleteOwned = cluster.DeleteOwned

// workerOf is the agent of a plan node's binding.
func workerOf(b kube.Binding) kindcluster.Worker {
	return kindcluster.Worker{Tier: b.Tier, Site: b.Site}
}
