package kindprovider

import (
	"cmp"
	"context"
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
// before kind is asked to create it and removed after it was deleted (or
// retained), so that Clean can delete it when its run was killed.
type clusterRecord struct {
	netem.Record
	Runtime cluster.Runtime `json:"runtime"`
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

func writeRecord(stateDir, name string, rt cluster.Runtime, ownNetwork bool) (path string, err error) {
	dir := recordDir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kind provider: state directory: %w", err)
	}
	b, err := json.Marshal(clusterRecord{Record: netem.OwnRecord(name), Runtime: rt, OwnNetwork: ownNetwork})
	if err != nil {
		return "", err
	}
	path = filepath.Join(dir, name+".json")
	return path, os.WriteFile(path, b, 0o644)
}

// CleanReport lists what Clean removed and what it left alone.
type CleanReport struct {
	Removed []string
	Skipped []string
}

// Clean deletes the kind clusters recorded in stateDir by runs whose
// process is gone (killed before their tear-down), then their records.
// Clusters of running runs and clusters edgesim did not record are left
// alone.
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
		if err := cluster.DeleteByName(ctx, r.Runtime, r.Name, r.OwnNetwork); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Removed = append(rep.Removed, "kind cluster "+r.Name)
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
