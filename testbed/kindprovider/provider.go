// Package kindprovider runs edgesim scenarios on kind clusters: it creates
// and deletes the clusters (one, or a cloud cluster plus one per site),
// builds the workload images and loads them into the nodes, attaches the
// emulated links to the node containers and injects node faults on them.
// What runs on the clusters is the shared Kubernetes layer, testbed/kube.
package kindprovider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Config configures the kind provider.
type Config struct {
	// Binaries are put into the workload images.
	Binaries provider.Binaries
	// Dir receives the image archives, workloads' logs and the rendered
	// manifests.
	Dir string
	// StateDir is netem's state record directory ("" = netem's default).
	StateDir string
	Registry prometheus.Registerer
	Seed     int64
	// Name is the kind cluster's name (a DNS label of at most 40
	// characters).
	Name string
	// NodeImage is the kind node image, e.g. the tag
	// testbed/kind/nodeimage builds; "" is the default release's image,
	// built first when this machine has none.
	NodeImage string
	// NodeGracePeriod is how long a silent node stays Ready (see
	// cluster.Spec.NodeGracePeriod; default 10 s, Kubernetes' own is 50 s).
	NodeGracePeriod time.Duration
	// Layout spreads the nodes over one cluster (default) or a cloud
	// cluster plus one per site.
	Layout Layout
	// Runtime is "podman" or "docker"; "" detects one.
	Runtime cluster.Runtime
	// Retain keeps the cluster after Destroy (for debugging; delete it
	// with `kind delete cluster --name NAME`).
	Retain bool
	// TolerationSeconds: see kube.ManifestConfig.
	TolerationSeconds int64
	// Log receives progress lines (nil discards).
	Log io.Writer
	// Observe is told about events nobody asked for (unused so far).
	Observe func(provider.ObservedEvent)
}

// Provider runs a plan on one kind cluster. Each plan node is a kind
// worker; links are netem userspace links between the workers: every
// worker's network namespace gets a netem TUN device, and pod traffic
// between workers is carried in VXLAN tunnels whose outer packets cross
// those devices, so the emulated links see every pod-to-pod packet
// (control-plane traffic stays on kind's own network).
type Provider struct {
	// Base hands Deploy, the cameras, alerts, ClusterEvents and Diagnose
	// to the shared Kubernetes layer.
	kube.Base
	// Testbed acts on the node containers: node faults, links.
	nodecontainer.Testbed
	cfg Config

	plan    *provider.Plan
	members []*member
	rt      cluster.Runtime
	// owner marks this run's Podman containers (cluster.OwnerAnnotation);
	// restoreConf undoes cluster.UsePodmanConf.
	owner       string
	restoreConf func() error
}

// New checks that the provider can run here and returns it.
func New(cfg Config) (*Provider, error) {
	var missing []error
	if os.Geteuid() != 0 {
		missing = append(missing, errors.New("the kind provider attaches links to node containers' network namespaces and needs root: run edgesim as root"))
	}
	missing = append(missing, nodecontainer.Missing(cfg.Binaries, exec.LookPath, os.Stat)...)
	if cfg.Name == "" {
		cfg.Name = "edgesim"
	}
	layout, err := ParseLayout(string(cfg.Layout))
	if err != nil {
		missing = append(missing, err)
	}
	cfg.Layout = layout
	if len(missing) > 0 {
		return nil, fmt.Errorf("the kind provider cannot run here: %w", errors.Join(missing...))
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Observe == nil {
		cfg.Observe = func(provider.ObservedEvent) {}
	}
	if cfg.NodeGracePeriod == 0 {
		cfg.NodeGracePeriod = 10 * time.Second
	}
	p := &Provider{cfg: cfg}
	p.PIDs, p.Locate = map[string]int{}, p.Container
	return p, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return string(scenarios.ProviderKind) }

func (p *Provider) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprintf(p.cfg.Log, "kind provider: "+format+"\n", args...)
	}
}

// Cluster is the created cluster (nil before Provision); in the federated
// layout the cloud's.
func (p *Provider) Cluster() *cluster.Cluster {
	if len(p.members) == 0 {
		return nil
	}
	return p.members[0].cl
}

// Container is the node container a plan node runs on.
func (p *Provider) Container(node string) (string, bool) {
	m, c := p.where(node)
	return c, m != nil
}

// where finds the cluster and container of a plan node.
func (p *Provider) where(node string) (*member, string) {
	for _, m := range p.members {
		for i, b := range m.bindings {
			if b.Node == node {
				return m, m.container(i)
			}
		}
	}
	return nil, ""
}

// Provision implements provider.Provider: builds and loads the workload
// images, creates the cluster(s) with one labelled worker per plan node and
// attaches the plan's links.
func (p *Provider) Provision(ctx context.Context, plan *provider.Plan) error {
	p.plan = plan
	p.members = members(plan, p.cfg.Layout, p.cfg.Name)
	if len(p.members) > maxFederated {
		return fmt.Errorf("kind provider: %d clusters: the federated layout takes at most %d (sites + cloud)", len(p.members), maxFederated)
	}
	rt, err := cluster.DetectRuntime(ctx, p.cfg.Runtime)
	if err != nil {
		return err
	}
	p.rt = rt
	p.Nodes = nodecontainer.NewNodes(nodecontainer.CLI(string(rt)))
	layer, err := kube.New(plan, p.Nodes, kube.ManifestConfig{TolerationSeconds: p.cfg.TolerationSeconds, Token: provider.NewRunToken()},
		kube.Config{Dir: p.cfg.Dir, Log: p.cfg.Log, LogPrefix: "kind provider: ", Retain: p.cfg.Retain, NodeGracePeriod: p.cfg.NodeGracePeriod})
	if err != nil {
		return err
	}
	p.Layer, p.OnNodeFault = layer, layer.NodeFault
	p.owner = nodecontainer.OwnerToken()
	if rt == cluster.Podman && p.restoreConf == nil {
		if p.restoreConf, err = cluster.UsePodmanConf(recordDir(p.cfg.StateDir), p.owner); err != nil {
			return err
		}
	}
	nodeImage, err := p.nodeImage(ctx, rt)
	if err != nil {
		return err
	}
	imgDir := filepath.Join(p.cfg.Dir, "images")
	defer os.RemoveAll(imgDir)
	imgs, err := nodecontainer.BuildWorkloads(ctx, p.cfg.Binaries, imgDir, p.Layer, p.logf)
	if err != nil {
		return err
	}

	ownNetwork := !cluster.NetworkExists(ctx, rt)
	for _, m := range p.members {
		if err := p.create(ctx, m, nodeImage, ownNetwork); err != nil {
			return err
		}
		ownNetwork = false // the first cluster made it
	}
	start := time.Now()
	for _, m := range p.members {
		for i, b := range m.bindings {
			if p.PIDs[b.Node], err = p.Nodes.LoadWorkload(ctx, imgs, b.Role, m.container(i)); err != nil {
				return err
			}
		}
	}
	p.logf("images loaded in %s", time.Since(start).Round(time.Millisecond))
	p.Links, err = nodecontainer.AttachLinks(ctx, p.Layer, p.engineConfig(), p.PID)
	if err != nil {
		return err
	}
	if p.cfg.Layout == LayoutFederated {
		cloud := p.plan.NodesOf(provider.RoleCloud)[0]
		h, ok := p.Links.Host(cloud.Name)
		if !ok {
			return fmt.Errorf("kind provider: cloud node %s has no emulated address", cloud.Name)
		}
		p.Layer.Manifests.CloudURL = fmt.Sprintf("http://%s:%d", h.Address(), kube.CloudNodePort)
	}
	return nil
}

// create writes the state record of one cluster, creates it, checks its
// workers and starts watching it.
func (p *Provider) create(ctx context.Context, m *member, image string, ownNetwork bool) error {
	workers := make([]cluster.Worker, len(m.bindings))
	for i := range m.bindings {
		workers[i] = m.worker(i)
	}
	var err error
	// Written before kind is asked, with the owner mark Clean checks on
	// the containers; rewritten with their IDs once they exist.
	proof := cluster.Proof{Owner: p.owner}
	if m.record, err = writeRecord(p.cfg.StateDir, m.name, p.rt, ownNetwork, proof); err != nil {
		return err
	}
	start := time.Now()
	m.cl, err = cluster.Create(ctx, p.rt, cluster.Spec{Name: m.name, Image: image, Workers: workers,
		NodeGracePeriod: p.cfg.NodeGracePeriod, PodSubnet: m.podSubnet}, cluster.WithLog(p.cfg.Log))
	if err != nil {
		return err
	}
	proof.IDs = m.cl.ContainerIDs
	if _, err := writeRecord(p.cfg.StateDir, m.name, p.rt, ownNetwork, proof); err != nil {
		return err
	}
	p.logf("cluster %s created in %s", m.name, time.Since(start).Round(time.Millisecond))
	p.logf("failover settings: %s", kube.FailoverSettings(p.cfg.NodeGracePeriod, p.cfg.TolerationSeconds))
	if err := checkNames(ctx, m); err != nil {
		return err
	}
	if err := p.Nodes.YieldCPU(ctx, m.cl.ControlPlane()); err != nil {
		p.logf("control plane %s keeps its CPU weight: %v", m.cl.ControlPlane(), err)
	}
	p.Layer.Add(m.kube())
	return nil
}

// nodeImage is the configured node image, or the default release's,
// built when this machine does not have it yet.
func (p *Provider) nodeImage(ctx context.Context, rt cluster.Runtime) (string, error) {
	if p.cfg.NodeImage != "" {
		return p.cfg.NodeImage, nil
	}
	v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
	if err != nil {
		return "", err
	}
	b := nodeimage.New(v, nodeimage.WithRuntime(string(rt)), nodeimage.WithProgress(p.cfg.Log))
	if !b.Cached(ctx) {
		p.logf("node image %s is not on this machine: building it now, once (tens of minutes; `edgesim image node` does the same)", b.Image())
		if err := b.Check(ctx); err != nil {
			return "", fmt.Errorf("cannot build the kind node image: %w (install the host tools with hack/kind/install-deps.sh)", err)
		}
	}
	res, err := b.Build(ctx)
	if err != nil {
		return "", err
	}
	return res.Image, nil
}

// checkNames makes sure each worker container carries the labels of the
// plan node it stands for: faults and links are aimed by container name.
func checkNames(ctx context.Context, m *member) error {
	nodes, err := m.cl.Nodes(ctx)
	if err != nil {
		return err
	}
	labels := map[string]map[string]string{}
	for _, n := range nodes {
		labels[n.Name] = n.Labels
	}
	for i, b := range m.bindings {
		c := m.container(i)
		l := labels[c]
		if l[kube.LabelTier] != b.Tier || l[kube.LabelSite] != b.Site {
			return fmt.Errorf("kind provider: node %s has labels %s=%q %s=%q, want those of plan node %s (%s, %s): kind named its workers in another order",
				c, kube.LabelTier, l[kube.LabelTier], kube.LabelSite, l[kube.LabelSite], b.Node, b.Tier, b.Site)
		}
	}
	return nil
}

// Clusters implements provider.ClusterReporter: each cluster's create and
// ready times and its control plane's resident memory now.
func (p *Provider) Clusters(ctx context.Context) []evidence.Cluster {
	var out []evidence.Cluster
	for _, m := range p.members {
		if m.cl == nil {
			continue
		}
		out = append(out, p.Measure(ctx, evidence.Cluster{
			Name: m.name, Nodes: 1 + len(m.bindings), Create: m.cl.CreateDuration, Ready: m.cl.ReadyDuration,
			ControlPlane: m.cl.ControlPlane(), FailoverSettings: kube.FailoverSettings(p.cfg.NodeGracePeriod, p.cfg.TolerationSeconds),
		}, p.logf))
	}
	return out
}

// Destroy implements provider.Provider: saves the workloads' logs, removes
// the links and deletes the cluster(s) unless they are retained.
func (p *Provider) Destroy(ctx context.Context) error {
	errs := []error{p.Teardown(ctx, p.Layer)}
	// The last cluster first: the first one made kind's network, if any,
	// and removes it when no other cluster uses it any more.
	for _, m := range slices.Backward(p.members) {
		deleted := m.cl == nil // Create deletes what it could not finish
		if m.cl != nil && !p.cfg.Retain {
			start := time.Now()
			err := m.cl.Delete(context.WithoutCancel(ctx))
			errs = append(errs, err)
			deleted = err == nil
			p.logf("cluster %s deleted in %s", m.name, time.Since(start).Round(time.Millisecond))
			m.cl = nil
		} else if m.cl != nil {
			p.logf("cluster %s retained: delete it with `kind delete cluster --name %s`", m.name, m.name)
			deleted = true // the user owns it now
		}
		if m.record != "" && deleted {
			_ = os.Remove(m.record)
			m.record = ""
		}
	}
	if p.restoreConf != nil {
		errs = append(errs, p.restoreConf())
		p.restoreConf = nil
	}
	return errors.Join(errs...)
}

// Options are the kind provider's settings that a run does not derive
// from its scenario (see Config for each).
type Options struct {
	NodeImage         string
	Runtime           cluster.Runtime
	Retain            bool
	NodeGracePeriod   time.Duration
	TolerationSeconds int64
	Layout            Layout
}

// Factory is the provider.Factory of `provider: kind`:
//
//	testbed.Run(ctx, sc, testbed.Options{Providers: testbed.Providers{
//		scenarios.ProviderKind: kindprovider.Factory(kindprovider.Options{}),
//	}})
func Factory(o Options) provider.Factory {
	return func(c provider.Config) (provider.Provider, error) {
		return New(Config{
			Binaries: c.Binaries, Dir: c.Dir, StateDir: c.StateDir, Registry: c.Registry, Seed: c.Seed,
			Name: ClusterName(c.Name), NodeImage: o.NodeImage, Runtime: o.Runtime, Retain: o.Retain,
			NodeGracePeriod: o.NodeGracePeriod, TolerationSeconds: o.TolerationSeconds, Layout: o.Layout,
			Log: c.Log, Observe: c.Observe,
		})
	}
}

// ClusterNamePrefix starts the name of every cluster a run creates.
const ClusterNamePrefix = nodecontainer.ClusterNamePrefix

// ClusterName turns a run's testbed name into a kind cluster name: a DNS
// label of at most cluster.MaxName characters starting with
// ClusterNamePrefix (shortened with naming.Fit when longer).
func ClusterName(testbedName string) string {
	return nodecontainer.ClusterName(testbedName, cluster.MaxName)
}

// engineConfig configures the engine of the provider's links, named after
// its cluster.
func (p *Provider) engineConfig() nodecontainer.EngineConfig {
	return nodecontainer.EngineConfig{Cluster: p.cfg.Name, StateDir: p.cfg.StateDir, Registry: p.cfg.Registry, Seed: p.cfg.Seed}
}

var _ provider.ModelRoller = (*Provider)(nil)
