package kubeconfigprovider

import (
	"context"
	"time"

	"github.com/edgesim/edgesim/testbed/agent"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

// NewMapped is a provider past its preflight: plan nodes mapped onto
// nodes, its namespace made (so Destroy deletes it).
func NewMapped(kubectl, ns string, mapping map[string]string) *Provider {
	return &Provider{kc: &Kubectl{Path: kubectl, Target: Target{Kubeconfig: "/k/config"}}, ns: ns, mapping: mapping,
		created: true, cordoned: map[string]bool{}, plan: &provider.Plan{}, runID: "r1"}
}

// Agents are the layer's machines through the agent pods.
func Agents(cl kube.Cluster, ns string, pods map[string]string) kube.Machines {
	return &agents{cl: cl, ns: ns, pods: pods}
}

// AgentsWithFiles are Agents that read through the agents' TCP port
// first (node name -> client), logging to logf.
func AgentsWithFiles(cl kube.Cluster, ns string, pods map[string]string, files map[string]*agent.FilesClient, logf func(string, ...any)) kube.Machines {
	return &agents{cl: cl, ns: ns, pods: pods, files: files, logf: logf}
}

// WriteRecord writes a run's namespace record.
var WriteRecord = writeRecord

// AgentsReady is agentsReady.
var AgentsReady = agentsReady

// WatchAPI starts the API server's watch; the func stops it.
func WatchAPI(cl kube.Cluster, poll time.Duration, lost int, now func() time.Time, observe func(provider.ObservedEvent)) func() {
	return watchAPI(context.Background(), cl, "context lab", poll, lost, now, observe).stop
}

// StartAgents runs p's startAgents with the cameras image img, writing
// its manifests and record below dir.
func StartAgents(ctx context.Context, p *Provider, img, dir string) error {
	p.Layer = &kube.Layer{Manifests: kube.ManifestConfig{Namespace: p.ns, CamerasImage: img, PullPolicy: "IfNotPresent"}}
	p.cfg.Dir, p.cfg.StateDir = dir, dir
	p.agents = &agents{cl: p.kc, ns: p.ns}
	return p.startAgents(ctx)
}
