package kube

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/edgesim/edgesim/testbed/provider"
)

// A model directory other than the image's built-in model reaches the
// edgenode pods as a ConfigMap: one key per file of the directory
// (binaryData), mounted read-only at modelDir, and the edgenode's
// configuration names modelDir as its model.
const (
	modelDir = "/var/lib/edgesim-model"
	// MaxModelBytes bounds the files of a model directory a ConfigMap can
	// carry: the API server refuses a ConfigMap whose data exceed 1 MiB.
	MaxModelBytes = 1 << 20
)

// ModelFiles are the files of a model directory (name -> content).
type ModelFiles map[string][]byte

// ReadModel reads the regular files of a model directory for a ConfigMap:
// a directory whose files exceed MaxModelBytes, or that holds
// subdirectories, is refused with the reason.
func ReadModel(dir string) (ModelFiles, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	files, total := ModelFiles{}, 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("model %s: %s is not a regular file; a Kubernetes provider ships a model directory of plain files only", dir, e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		files[e.Name()] = b
		total += len(b)
	}
	if total > MaxModelBytes {
		return nil, fmt.Errorf("model %s: %d bytes of files, but a ConfigMap carries at most %d; use a smaller variant (edgenode optimize) or provider: local", dir, total, MaxModelBytes)
	}
	if _, ok := files["manifest.json"]; !ok {
		return nil, fmt.Errorf("model %s: no manifest.json", dir)
	}
	return files, nil
}

// ReadModels reads every model directory a plan's edgenodes run, by path
// (none when they all run the image's built-in model).
func ReadModels(plan *provider.Plan) (map[string]ModelFiles, error) {
	out := map[string]ModelFiles{}
	for _, n := range plan.Nodes {
		p := modelPath(plan, n)
		if p == "" || out[p] != nil || rolledSite(plan, n) {
			continue
		}
		files, err := ReadModel(p)
		if err != nil {
			return nil, err
		}
		out[p] = files
	}
	return out, nil
}

// rolledSite reports whether a rollout of the plan switches the model of
// n's site (n an edge node).
func rolledSite(plan *provider.Plan, n provider.Node) bool {
	if n.Role != provider.RoleEdge {
		return false
	}
	for _, ro := range plan.Scenario.Rollouts {
		if slices.Contains(ro.Sites(), n.Site) {
			return true
		}
	}
	return false
}

// modelPath is the model directory node n's edgenode runs: its site's
// own (sites[].workload.model) or the scenario's ("" = a model built into
// the image, the default or an embedded variant).
func modelPath(plan *provider.Plan, n provider.Node) string {
	if n.Role == provider.RoleCamera {
		return ""
	}
	return provider.ModelOf(plan, n).Path
}

// modelConfigMap is the ConfigMap that carries files to the edgenodes of
// Deployment name.
func modelConfigMap(name, ns string, files ModelFiles, labels map[string]string) *ConfigMap {
	cm := &ConfigMap{Meta: meta("v1", "ConfigMap", name+"-model", ns, labels), BinaryData: map[string]string{}}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cm.BinaryData[k] = base64.StdEncoding.EncodeToString(files[k])
	}
	return cm
}
