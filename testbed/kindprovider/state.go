package kindprovider

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
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

// recordDir holds the cluster records below a netem state directory (a
// directory of its own: netem's Clean reads every *.json at the top).
func recordDir(stateDir string) string {
	if stateDir == "" {
		stateDir = netem.DefaultStateDir()
	}
	return filepath.Join(stateDir, "kind")
}

func writeRecord(stateDir, name string, rt cluster.Runtime, ownNetwork bool, proof cluster.Proof) (path string, err error) {
	dir := recordDir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kind provider: state directory: %w", err)
	}
	b, err := json.Marshal(clusterRecord{Record: netem.OwnRecord(name), Runtime: rt, Proof: proof, OwnNetwork: ownNetwork})
	if err != nil {
		return "", err
	}
	path = filepath.Join(dir, name+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// CleanReport lists what Clean removed and what it left alone.
type CleanReport struct {
	Removed []string
	Skipped []string
}

// Clean deletes the kind clusters recorded in stateDir by runs whose
// process is gone (killed before their tear-down), then their records.
// Clusters of running runs, clusters edgesim did not record and clusters
// whose containers the record's proof does not cover (a same-named cluster
// someone else made) are left alone.
func Clean(ctx context.Context, stateDir string) (CleanReport, error) {
	var rep CleanReport
	files, err := filepath.Glob(filepath.Join(recordDir(stateDir), "*.json"))
	if err != nil {
		return rep, err
	}
	var errs []error
	type entry struct {
		file string
		rec  clusterRecord
	}
	var recs []entry
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r clusterRecord
		if err := json.Unmarshal(b, &r); err != nil || !strings.HasPrefix(r.Name, ClusterNamePrefix) {
			errs = append(errs, fmt.Errorf("kind provider: %s is not a cluster record of edgesim's; remove it by hand", f))
			continue
		}
		recs = append(recs, entry{f, r})
	}
	// Clusters that made kind's network last: it can go only when no other
	// cluster uses it.
	slices.SortStableFunc(recs, func(a, b entry) int {
		return cmp.Compare(btoi(a.rec.OwnNetwork), btoi(b.rec.OwnNetwork))
	})
	for _, e := range recs {
		f, r := e.file, e.rec
		if r.Alive() {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("kind cluster %s (pid %d still running)", r.Name, r.PID))
			continue
		}
		if err := deleteOwned(ctx, r.Runtime, r.Name, r.Proof, r.OwnNetwork); err != nil {
			if errors.Is(err, cluster.ErrNotOwned) {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("%v (record %s kept)", err, f))
			} else {
				errs = append(errs, err)
			}
			continue
		}
		rep.Removed = append(rep.Removed, "kind cluster "+r.Name)
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// deleteOwned is cluster.DeleteOwned (a seam for tests).
var deleteOwned = cluster.DeleteOwned

// ownerToken is a fresh owner mark for one run's containers.
func ownerToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "run-" + hex.EncodeToString(b)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
