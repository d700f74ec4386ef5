package nodecontainer

import (
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
)

// Record is what a provider's cluster state record must give: netem's
// record of the run's process (whether the run is still alive) and the
// cluster's name.
type Record interface {
	Stamp() *netem.Record
}

// Records are one provider's cluster state records, in a directory of
// their own below a netem state directory (netem's Clean reads every
// *.json at the top). A run writes a cluster's record before it creates
// the cluster (with the owner mark it puts on the cluster's containers),
// rewrites it once the containers exist (with their IDs) and removes it
// after deleting the cluster; Clean deletes the clusters of runs that were
// killed first.
type Records struct {
	// Subdir is the records' directory below the state directory, e.g.
	// "kind".
	Subdir string
	// What names a cluster of the provider in messages, e.g. "kind
	// cluster".
	What string
}

// Dir is the records' directory below stateDir ("" = netem's default).
func (r Records) Dir(stateDir string) string {
	if stateDir == "" {
		stateDir = netem.DefaultStateDir()
	}
	return filepath.Join(stateDir, r.Subdir)
}

// Write writes (or replaces, atomically) the record of cluster name and
// returns its path.
func (r Records) Write(stateDir, name string, rec Record) (string, error) {
	dir := r.Dir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s records: state directory: %w", r.Subdir, err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".json")
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

// CleanOptions say how Clean deletes one provider's clusters.
type CleanOptions[R Record] struct {
	// Delete deletes a recorded cluster when the record's proof covers
	// everything of it, and otherwise returns an error wrapping NotOwned
	// and deletes nothing.
	Delete func(ctx context.Context, rec R) error
	// NotOwned is the error Delete wraps for a cluster it cannot prove is
	// the run's (it is kept, with its record).
	NotOwned error
	// Order, when set, orders the deletions (e.g. the cluster that made a
	// shared network last).
	Order func(a, b R) int
}

// Clean deletes the clusters recorded below stateDir by runs whose process
// is gone (killed before their tear-down), then their records. Clusters of
// running runs, records not of edgesim's (their cluster name does not
// start with ClusterNamePrefix) and clusters the proof does not cover are
// left alone.
func Clean[R Record](ctx context.Context, r Records, stateDir string, o CleanOptions[R]) (CleanReport, error) {
	var rep CleanReport
	files, err := filepath.Glob(filepath.Join(r.Dir(stateDir), "*.json"))
	if err != nil {
		return rep, err
	}
	var errs []error
	type entry struct {
		file string
		rec  R
	}
	var recs []entry
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rec R
		if err := json.Unmarshal(b, &rec); err != nil || !strings.HasPrefix(rec.Stamp().Name, ClusterNamePrefix) {
			errs = append(errs, fmt.Errorf("%s: %s is not a cluster record of edgesim's; remove it by hand", r.Subdir, f))
			continue
		}
		recs = append(recs, entry{f, rec})
	}
	if o.Order != nil {
		slices.SortStableFunc(recs, func(a, b entry) int { return o.Order(a.rec, b.rec) })
	}
	for _, e := range recs {
		st := e.rec.Stamp()
		if st.Alive() {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s %s (pid %d still running)", r.What, st.Name, st.PID))
			continue
		}
		if err := o.Delete(ctx, e.rec); err != nil {
			if o.NotOwned != nil && errors.Is(err, o.NotOwned) {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("%v (record %s kept)", err, e.file))
			} else {
				errs = append(errs, err)
			}
			continue
		}
		rep.Removed = append(rep.Removed, r.What+" "+st.Name)
		if err := os.Remove(e.file); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// OwnerToken is a fresh owner mark for one run's containers.
func OwnerToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "run-" + hex.EncodeToString(b)
}
