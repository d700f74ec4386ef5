package nodecontainer

import (
	"context"
	"fmt"
	"os"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Testbed is what a provider whose Kubernetes nodes are containers
// embeds: its node containers, their PIDs and links, and the
// provider.Provider methods that act on them (Inject, LinkStats).
type Testbed struct {
	Nodes Nodes
	// Links are nil until AttachLinks.
	Links *Links
	// PIDs are the plan nodes' container PIDs, for AttachLinks.
	PIDs map[string]int
	// Locate finds the container a plan node runs in.
	Locate func(node string) (string, bool)
	// OnNodeFault, if set, is told about every node fault applied (the
	// layer's NodeFault, so its failover breakdown waits for the clusters
	// to see the node's loss).
	OnNodeFault func(provider.Action)
}

// Inject implements provider.Provider (see Nodes.Inject).
func (t *Testbed) Inject(ctx context.Context, a provider.Action) error {
	if err := t.Nodes.Inject(ctx, a, t.Locate, t.Links); err != nil {
		return err
	}
	if t.OnNodeFault != nil && a.Node != "" {
		t.OnNodeFault(a)
	}
	return nil
}

// LinkStats implements provider.Provider, with plan link names.
func (t *Testbed) LinkStats(context.Context) ([]netem.LinkStats, error) {
	return t.Links.Stats(), nil
}

// PID is a plan node's container PID (for AttachLinks).
func (t *Testbed) PID(node string) int { return t.PIDs[node] }

// Measure completes what a provider measured of a cluster it built with
// what is measured at the end of a run: the control plane's resident
// memory (left 0 when it cannot be read, which the report shows).
func (t *Testbed) Measure(ctx context.Context, c evidence.Cluster, logf func(string, ...any)) evidence.Cluster {
	rss, err := t.Nodes.ResidentMemory(ctx, c.ControlPlane)
	if err != nil {
		logf("control plane %s: resident memory not measured: %v", c.ControlPlane, err)
		return c
	}
	c.ControlPlaneMemory = rss
	logf("control plane %s: resident memory %d MiB", c.ControlPlane, rss>>20)
	return c
}

// Teardown starts a provider's Destroy: it saves the workloads' logs and
// stops the layer's watches (layer may be nil), and removes the links.
func (t *Testbed) Teardown(ctx context.Context, layer *kube.Layer) error {
	if layer != nil {
		layer.Close(ctx)
	}
	err := t.Links.Close(ctx)
	t.Links = nil
	return err
}

// Missing lists what a provider whose nodes are containers needs of this
// machine and it lacks, each with the command that provides it: the
// workload binaries, and nsenter and ip for the links.
func Missing(bins provider.Binaries, lookPath func(string) (string, error), stat func(string) (os.FileInfo, error)) []error {
	var missing []error
	for _, b := range []struct{ name, path string }{{"edgenode", bins.Edgenode}, {"edgesim", bins.Edgesim}} {
		if b.path == "" {
			missing = append(missing, fmt.Errorf("no %s binary given: build it with `go tool task build`", b.name))
		} else if _, err := stat(b.path); err != nil {
			missing = append(missing, fmt.Errorf("%s binary %s: %w (build it with `go tool task build`)", b.name, b.path, err))
		}
	}
	for _, tool := range []string{"nsenter", "ip"} {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Errorf("%s is missing: install util-linux and iproute2", tool))
		}
	}
	return missing
}
