// Package k3sprovider runs edgesim scenarios on K3s clusters of Podman
// containers (testbed/k3s/cluster): a K3s server as the control plane and
// one agent per plan node, labelled with its tier and site. It loads the
// workload images into the agents' containerd, attaches the emulated links
// to the agent containers and injects node faults on them
// (testbed/nodecontainer, shared with the kind provider); what runs on the
// cluster is the shared Kubernetes layer, testbed/kube.
package k3sprovider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/k3s/cluster"
	"github.com/edgesim/edgesim/testbed/k3s/k3simage"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Config configures the K3s provider.
type Config struct {
	// Config is what every provider is given; Name is the cluster's name
	// here (a DNS label of at most MaxName characters, see ClusterName),
	// and StateDir gets the cluster's record below it, in k3s/.
	provider.Config
	// Image is the K3s node image; "" is the one `edgesim image k3s`
	// builds by default, which must exist.
	Image string
	// NodeGracePeriod is how long a silent node stays Ready (see
	// cluster.Spec.NodeGracePeriod; default DefaultNodeGracePeriod,
	// Kubernetes' own is 50 s).
	NodeGracePeriod time.Duration
	// TolerationSeconds: see kube.ManifestConfig (0: 5 s).
	TolerationSeconds int64
	// Retain keeps the cluster after Destroy, for debugging; its record
	// stays, so `edgesim clean` deletes it afterwards.
	Retain bool
	// ReadyTimeout bounds the wait for every node to be Ready (default
	// 8 minutes).
	ReadyTimeout time.Duration
}

// DefaultNodeGracePeriod is the node-monitor grace period of the
// provider's clusters, as for kind.
const DefaultNodeGracePeriod = 10 * time.Second

// MaxName is the longest cluster name.
const MaxName = 40

// Provider runs a plan on one K3s cluster: every plan node is an agent
// container, the server is the control plane only (no plan node runs on
// it). Links are netem userspace links between the agents, which carry
// all pod traffic between them (as for kind).
type Provider struct {
	// Base hands Deploy, the cameras, alerts, ClusterEvents and Diagnose
	// to the shared Kubernetes layer.
	kube.Base
	// Testbed acts on the agent containers: node faults, links.
	nodecontainer.Testbed
	cfg Config

	bindings []kube.Binding
	cl       *cluster.Cluster
	owner    string
	record   string
}

// host is what New asks of this machine; specs replace it.
type host struct {
	euid     func() int
	lookPath func(string) (string, error)
	stat     func(string) (os.FileInfo, error)
	// defaultImage is the image `edgesim image k3s` builds by default.
	defaultImage func(ctx context.Context) (string, error)
	// preflight checks root, Podman and the image (cluster.Preflight).
	preflight func(ctx context.Context, image string) error
	runtime   nodecontainer.Runner
}

func realHost() host {
	return host{euid: os.Geteuid, lookPath: exec.LookPath, stat: os.Stat, defaultImage: defaultImage,
		preflight: cluster.Preflight, runtime: nodecontainer.CLI("podman")}
}

// defaultImage is the tag of the image `edgesim image k3s` builds with
// its defaults (worked out from the K3s module, Go and the kind node
// image, without building anything).
func defaultImage(ctx context.Context) (string, error) {
	b, err := k3simage.New()
	if err != nil {
		return "", err
	}
	s, err := b.Resolve(ctx)
	if err != nil {
		return "", err
	}
	return s.Tag(), nil
}

// New checks, before anything starts, that the provider can run here
// (root, Podman, nsenter and ip, the two binaries and the K3s node image)
// and returns it; the error lists everything missing and the command that
// provides it.
func New(cfg Config) (*Provider, error) { return newProvider(cfg, realHost()) }

func newProvider(cfg Config, h host) (*Provider, error) {
	var missing []error
	root := h.euid() == 0
	if !root {
		missing = append(missing, errors.New("K3s nodes are privileged Podman containers and the links attach to their network namespaces: run edgesim as root (sudo)"))
	}
	_, perr := h.lookPath("podman")
	if perr != nil {
		missing = append(missing, errors.New("podman is not installed: install it with hack/kind/install-deps.sh (as root)"))
	}
	missing = append(missing, nodecontainer.Missing(cfg.Binaries, h.lookPath, h.stat)...)
	if cfg.Name == "" {
		cfg.Name = "edgesim"
	}
	if root && perr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if cfg.Image == "" {
			img, err := h.defaultImage(ctx)
			if err != nil {
				missing = append(missing, fmt.Errorf("no K3s node image: cannot work out the default one (%v); build it with `edgesim image k3s`", err))
			}
			cfg.Image = img
		}
		if cfg.Image != "" {
			if err := h.preflight(ctx, cfg.Image); err != nil {
				missing = append(missing, err)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the k3s provider cannot run here: %w", errors.Join(missing...))
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Observe == nil {
		cfg.Observe = func(provider.ObservedEvent) {}
	}
	if cfg.NodeGracePeriod == 0 {
		cfg.NodeGracePeriod = DefaultNodeGracePeriod
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 8 * time.Minute
	}
	p := &Provider{cfg: cfg}
	p.Nodes, p.PIDs, p.Locate = nodecontainer.NewNodes(h.runtime), map[string]int{}, p.Container
	return p, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return string(scenarios.ProviderK3s) }

func (p *Provider) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprintf(p.cfg.Log, "k3s provider: "+format+"\n", args...)
	}
}

// Image is the K3s node image the provider runs.
func (p *Provider) Image() string { return p.cfg.Image }

// Cluster is the created cluster (nil before Provision and after
// Destroy).
func (p *Provider) Cluster() *cluster.Cluster { return p.cl }

// Container is the agent container a plan node runs on.
func (p *Provider) Container(node string) (string, bool) {
	for i, b := range p.bindings {
		if b.Node == node {
			return cluster.AgentName(p.cfg.Name, i), true
		}
	}
	return "", false
}

// Spec is the cluster a plan runs on: an agent per plan node, in plan
// order, labelled with its tier and site (kube.Bindings), and the fast
// failover settings.
func (p *Provider) Spec(plan *provider.Plan, owner string) cluster.Spec {
	s := cluster.Spec{Name: p.cfg.Name, Image: p.cfg.Image, NodeGracePeriod: p.cfg.NodeGracePeriod, Owner: owner}
	for _, b := range kube.Bindings(plan) {
		s.Agents = append(s.Agents, workerOf(b))
	}
	return s
}

// FailoverSettings says how the cluster is tuned for fast failover, next
// to Kubernetes' defaults.
func (p *Provider) FailoverSettings() string {
	return kube.FailoverSettings(p.cfg.NodeGracePeriod, p.cfg.TolerationSeconds)
}

// Provision implements provider.Provider: builds the workload images,
// creates the cluster with one labelled agent per plan node, waits for
// every node to be Ready, loads the images into the agents and attaches
// the plan's links.
func (p *Provider) Provision(ctx context.Context, plan *provider.Plan) error {
	p.bindings = kube.Bindings(plan)
	layer, err := kube.New(plan, p.Nodes, kube.ManifestConfig{TolerationSeconds: p.cfg.TolerationSeconds, Token: provider.NewRunToken()},
		kube.Config{Dir: p.cfg.Dir, Log: p.cfg.Log, LogPrefix: "k3s provider: ", Retain: p.cfg.Retain, NodeGracePeriod: p.cfg.NodeGracePeriod})
	if err != nil {
		return err
	}
	p.Layer, p.OnNodeFault = layer, layer.NodeFault
	imgDir := filepath.Join(p.cfg.Dir, "images")
	defer os.RemoveAll(imgDir)
	imgs, err := nodecontainer.BuildWorkloads(ctx, p.cfg.Binaries, imgDir, p.Layer, p.logf)
	if err != nil {
		return err
	}

	if err := p.create(ctx, plan); err != nil {
		return err
	}
	start := time.Now()
	for i, b := range p.bindings {
		if p.PIDs[b.Node], err = p.Nodes.LoadWorkload(ctx, imgs, b.Role, cluster.AgentName(p.cfg.Name, i)); err != nil {
			return err
		}
	}
	p.logf("images loaded in %s", time.Since(start).Round(time.Millisecond))
	p.Links, err = nodecontainer.AttachLinks(ctx, p.Layer,
		nodecontainer.EngineConfig{Cluster: p.cfg.Name, StateDir: p.cfg.StateDir, Registry: p.cfg.Registry, Seed: p.cfg.Seed}, p.PID)
	return err
}

// create writes the cluster's state record, creates the cluster, waits for
// its nodes and starts watching it.
func (p *Provider) create(ctx context.Context, plan *provider.Plan) error {
	p.owner = nodecontainer.OwnerToken()
	// Written before any container exists, with the owner mark Create puts
	// on them; rewritten with their IDs once they exist.
	var err error
	if p.record, err = writeRecord(p.cfg.StateDir, p.cfg.Name, cluster.Proof{Owner: p.owner}); err != nil {
		return err
	}
	spec := p.Spec(plan, p.owner)
	cl, err := cluster.Create(ctx, spec)
	if err != nil {
		return err
	}
	p.cl = cl
	if _, err := writeRecord(p.cfg.StateDir, p.cfg.Name, cluster.Proof{Owner: p.owner, IDs: cl.ContainerIDs}); err != nil {
		return err
	}
	p.logf("cluster %s: server and %d agents up, K3s started in %s", p.cfg.Name, len(spec.Agents), cl.CreateDuration.Round(time.Millisecond))
	if err := cl.WaitReady(ctx, p.cfg.ReadyTimeout); err != nil {
		return err
	}
	p.logf("cluster %s ready: every node Ready %s after K3s started (%s since the start)", p.cfg.Name,
		cl.ReadyDuration.Round(time.Millisecond), (cl.CreateDuration + cl.ReadyDuration).Round(time.Millisecond))
	p.logf("failover settings: %s", p.FailoverSettings())
	if err := p.Nodes.YieldCPU(ctx, cluster.ServerName(p.cfg.Name)); err != nil {
		p.logf("server %s keeps its CPU weight: %v", cluster.ServerName(p.cfg.Name), err)
	}
	m := &kube.Member{Name: p.cfg.Name, Cluster: cl}
	for i, b := range p.bindings {
		m.Nodes = append(m.Nodes, kube.NodeName{Plan: b.Node, Kube: cluster.AgentName(p.cfg.Name, i)})
	}
	p.Layer.Add(m)
	return nil
}

// Clusters implements provider.ClusterReporter: the cluster's create and
// ready times, its failover settings and the server's resident memory now.
func (p *Provider) Clusters(ctx context.Context) []evidence.Cluster {
	if p.cl == nil {
		return nil
	}
	return []evidence.Cluster{p.Measure(ctx, evidence.Cluster{
		Name: p.cfg.Name, Nodes: 1 + len(p.bindings), Create: p.cl.CreateDuration, Ready: p.cl.ReadyDuration,
		ControlPlane: cluster.ServerName(p.cfg.Name), FailoverSettings: p.FailoverSettings(),
	}, p.logf)}
}

// Destroy implements provider.Provider: saves the workloads' logs, removes
// the links and deletes the cluster (unless retained) and then its record.
// A cluster whose Create failed half-way is deleted by its owner mark.
func (p *Provider) Destroy(ctx context.Context) error {
	errs := []error{p.Teardown(ctx, p.Layer)}
	dctx := context.WithoutCancel(ctx)
	deleted := false
	switch {
	case p.cl != nil && p.cfg.Retain:
		p.logf("cluster %s retained (kubectl: `podman exec %s kubectl --kubeconfig=/etc/rancher/k3s/k3s.yaml get pods -A`); `edgesim clean` deletes it", p.cfg.Name, cluster.ServerName(p.cfg.Name))
	case p.cl != nil:
		start := time.Now()
		err := p.cl.Delete(dctx)
		errs = append(errs, err)
		deleted = err == nil
		p.logf("cluster %s deleted in %s", p.cfg.Name, time.Since(start).Round(time.Millisecond))
		p.cl = nil
	case p.record != "":
		err := deleteOwned(dctx, p.cfg.Name, cluster.Proof{Owner: p.owner}, "")
		errs = append(errs, err)
		deleted = err == nil
	}
	if deleted && p.record != "" {
		_ = os.Remove(p.record)
		p.record = ""
	}
	return errors.Join(errs...)
}

// Options are the K3s provider's settings that a run does not derive from
// its scenario (see Config for each).
type Options struct {
	Image             string
	Retain            bool
	NodeGracePeriod   time.Duration
	TolerationSeconds int64
}

// Factory is the provider.Factory of `provider: k3s`:
//
//	testbed.Run(ctx, sc, testbed.Options{Providers: testbed.Providers{
//		scenarios.ProviderK3s: k3sprovider.Factory(k3sprovider.Options{}),
//	}})
func Factory(o Options) provider.Factory {
	return func(c provider.Config) (provider.Provider, error) {
		c.Name = ClusterName(c.Name)
		return New(Config{Config: c, Image: o.Image, Retain: o.Retain,
			NodeGracePeriod: o.NodeGracePeriod, TolerationSeconds: o.TolerationSeconds})
	}
}

// ClusterName turns a run's testbed name into a K3s cluster name
// (nodecontainer.ClusterName, at most MaxName characters).
func ClusterName(testbedName string) string {
	return nodecontainer.ClusterName(testbedName, MaxName)
}

var _ provider.ModelRoller = (*Provider)(nil)
