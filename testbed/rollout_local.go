package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

// rolledNodes lists the edge nodes some rollout of the scenario swaps.
func rolledNodes(sc *scenarios.Scenario) map[string]bool {
	out := map[string]bool{}
	for _, ro := range sc.Rollouts {
		for _, site := range ro.Sites() {
			for _, s := range sc.Sites {
				if s.Name == site {
					for _, n := range s.Nodes {
						out[n.Name] = true
					}
				}
			}
		}
	}
	return out
}

// modelLink is the name of the current-model link of a node a rollout
// swaps: the edgenode loads <dir>/model-<node>, a symbolic link the
// rollout moves from one model directory to another.
func (l *Local) modelLink(node string) string { return filepath.Join(l.dir, "model-"+node) }

// prepareModel makes node's model link, to the scenario's model (the
// embedded one copied out when none is given), for a node a rollout swaps.
func (l *Local) prepareModel(node string) (string, error) {
	link := l.modelLink(node)
	if _, err := os.Lstat(link); err == nil {
		return link, nil // a restarted node keeps the model it was swapped to
	}
	target, err := provider.PlanModel(l.plan, l.dir)
	if err != nil {
		return "", err
	}
	return link, os.Symlink(target, link)
}

// ModelDir implements provider.ModelRoller.
func (l *Local) ModelDir(node string) string {
	dir, err := os.Readlink(l.modelLink(node))
	if err != nil {
		return ""
	}
	return dir
}

// ServeModel implements provider.ModelRoller: an HTTP file server
// listening in the first cloud node's namespace (provider.ServeModel).
func (l *Local) ServeModel(ctx context.Context, dir string, files []string) (string, func(), error) {
	cloud := l.plan.NodesOf(RoleCloud)
	if len(cloud) == 0 {
		return "", nil, errors.New("no cloud node to serve the model from")
	}
	return provider.ServeModel(l.hosts[cloud[0].Name], dir, files)
}

// FetchModel implements provider.ModelRoller: the files are fetched from
// inside node's namespace, across its links (provider.FetchModel).
func (l *Local) FetchModel(ctx context.Context, node, url string, files []string, dst string) (int64, error) {
	return provider.FetchModel(ctx, l.hosts[node], url, files, dst)
}

// SwapModel implements provider.ModelRoller: it moves node's model link to dir,
// asks its edgenode to reload (POST /admin/model, a hot swap that keeps
// the streams), and waits until /readyz reports the new model, which also
// waits out a drain.
func (l *Local) SwapModel(ctx context.Context, node, dir string) (string, error) {
	link := l.modelLink(node)
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(dir, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, link); err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	served, err := provider.ReloadModel(rctx, l.client(node), l.edgenodeURL(node, ""), l.token)
	if err != nil {
		return "", fmt.Errorf("hot-swap %s: %w", node, err)
	}
	if err := l.waitReady(ctx, node, 30*time.Second); err != nil {
		return served, err
	}
	return served, nil
}

var _ provider.ModelRoller = (*Local)(nil)
