package kindprovider

import (
	"cmp"
	"context"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// clusterRecord is the state record of a cluster a run creates, written
// before kind is asked to create it (with the run's owner mark) and again
// after (with the IDs of its containers), and removed after it was deleted
// (or retained), so that Clean can delete it when its run was killed. Clean
// deletes only containers the record's proof covers.
type clusterRecord struct {
	netem.Record
	Runtime cluster.Runtime `json:"runtime"`
	Proof   cluster.Proof   `json:"proof"`
	// OwnNetwork: the run found no kind network and so made it.
	OwnNetwork bool `json:"own_network"`
}

// Stamp implements nodecontainer.Record.
func (r clusterRecord) Stamp() *netem.Record { return &r.Record }

// records are the kind provider's cluster records.
var records = nodecontainer.Records{Subdir: "kind", What: "kind cluster"}

// recordDir holds the cluster records below a netem state directory.
func recordDir(stateDir string) string { return records.Dir(stateDir) }

func writeRecord(stateDir, name string, rt cluster.Runtime, ownNetwork bool, proof cluster.Proof) (path string, err error) {
	return records.Write(stateDir, name, clusterRecord{Record: netem.OwnRecord(name), Runtime: rt, Proof: proof, OwnNetwork: ownNetwork})
}

// CleanReport lists what Clean removed and what it left alone.
type CleanReport = nodecontainer.CleanReport

// Clean deletes the kind clusters recorded in stateDir by runs whose
// process is gone (killed before their tear-down), then their records.
// Clusters of running runs, clusters edgesim did not record and clusters
// whose containers the record's proof does not cover (a same-named cluster
// someone else made) are left alone.
func Clean(ctx context.Context, stateDir string) (CleanReport, error) {
	return nodecontainer.Clean(ctx, records, stateDir, nodecontainer.CleanOptions[clusterRecord]{
		Delete: func(ctx context.Context, r clusterRecord) error {
			return deleteOwned(ctx, r.Runtime, r.Name, r.Proof, r.OwnNetwork)
		},
		NotOwned: cluster.ErrNotOwned,
		// Clusters that made kind's network last: it can go only when no
		// other cluster uses it.
		Order: func(a, b clusterRecord) int { return cmp.Compare(btoi(a.OwnNetwork), btoi(b.OwnNetwork)) },
	})
}

// deleteOwned is cluster.DeleteOwned (a seam for tests).
var deleteOwned = cluster.DeleteOwned

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
