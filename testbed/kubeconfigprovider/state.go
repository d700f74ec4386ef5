package kubeconfigprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// runRecord is the state record of a run's namespace, written before the
// namespace is created and removed once it is deleted, so that Clean can
// delete the namespace of a run that was killed. The namespace's run label
// (LabelRun = RunID) proves it is the run's.
type runRecord struct {
	netem.Record
	Target  Target `json:"target"`
	Kubectl string `json:"kubectl"`
	RunID   string `json:"run_id"`
	// Cordoned are the nodes the run's kills cordoned and did not
	// uncordon yet; each carries AnnotationCordonedBy = RunID.
	Cordoned []string `json:"cordoned,omitempty"`
}

// Stamp implements nodecontainer.Record.
func (r runRecord) Stamp() *netem.Record { return &r.Record }

// records are the kubeconfig provider's namespace records.
var records = nodecontainer.Records{Subdir: "kubeconfig", What: "namespace"}

// ErrNotOwned: a recorded namespace does not carry the run's label (it
// was deleted and made again by someone else); it is left alone.
var ErrNotOwned = errors.New("not this run's namespace")

// CleanReport lists what Clean removed and what it left alone.
type CleanReport = nodecontainer.CleanReport

// Clean deletes the namespaces recorded in stateDir by runs whose process
// is gone, when the namespace still carries the run's labels, uncordons
// the nodes they cordoned, when the node still carries the run's mark,
// then removes their records. Nothing else in the cluster is touched.
// Each node it uncordons is listed among the removed as "cordon of node
// N (run ID)".
func Clean(ctx context.Context, stateDir string) (CleanReport, error) {
	var lifted []string
	rep, err := nodecontainer.Clean(ctx, records, stateDir, nodecontainer.CleanOptions[runRecord]{
		Delete: func(ctx context.Context, r runRecord) error {
			nodes, err := deleteOwned(ctx, r)
			for _, k := range nodes {
				lifted = append(lifted, fmt.Sprintf("cordon of node %s (run %s)", k, r.RunID))
			}
			return err
		},
		NotOwned: ErrNotOwned,
	})
	rep.Removed = append(rep.Removed, lifted...)
	return rep, err
}

// deleteOwned uncordons the nodes a recorded run cordoned that still
// carry its mark, and deletes its namespace if it carries the run's
// labels; a namespace that is gone already counts as deleted. It returns
// the nodes it uncordoned.
func deleteOwned(ctx context.Context, r runRecord) (lifted []string, _ error) {
	path := r.Kubectl
	if path == "" {
		var err error
		if path, err = FindKubectl(exec.LookPath, nodeimage.DefaultCacheDir); err != nil {
			return nil, err
		}
	}
	kc := &Kubectl{Path: path, Target: r.Target}
	for _, k := range r.Cordoned {
		out, err := kc.Kubectl(ctx, nil, "get", "node", k, "--ignore-not-found", "-o", "jsonpath={.metadata.annotations.edgesim\\.dev/cordoned-by}")
		if err != nil {
			return lifted, fmt.Errorf("node %s: %w", k, err)
		}
		if strings.TrimSpace(string(out)) != r.RunID {
			continue // gone, uncordoned, or cordoned again by someone else
		}
		if err := uncordon(ctx, kc, k); err != nil {
			return lifted, fmt.Errorf("node %s: %w", k, err)
		}
		lifted = append(lifted, k)
	}
	out, err := kc.Kubectl(ctx, nil, "get", "namespace", r.Name, "--ignore-not-found", "-o", "json")
	if err != nil {
		return lifted, fmt.Errorf("namespace %s: %w", r.Name, err)
	}
	if len(out) == 0 {
		return lifted, nil
	}
	var ns struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(out, &ns); err != nil {
		return lifted, fmt.Errorf("namespace %s: %w", r.Name, err)
	}
	if l := ns.Metadata.Labels; l[LabelManagedBy] != ManagedBy || l[LabelRun] != r.RunID {
		return lifted, fmt.Errorf("namespace %s: %w (its %s label is %q, the run's was %q)", r.Name, ErrNotOwned, LabelRun, l[LabelRun], r.RunID)
	}
	if _, err := kc.Kubectl(ctx, nil, "delete", "namespace", r.Name, "--wait=true", "--timeout=120s"); err != nil {
		return lifted, fmt.Errorf("delete namespace %s: %w", r.Name, err)
	}
	return lifted, nil
}

func writeRecord(stateDir, ns string, t Target, kubectl, runID string, cordoned []string) (string, error) {
	return records.Write(stateDir, ns, runRecord{Record: netem.OwnRecord(ns), Target: t, Kubectl: kubectl, RunID: runID, Cordoned: cordoned})
}
