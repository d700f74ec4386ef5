package kubeconfigprovider

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/agent"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Labels proving a namespace is a run's: `edgesim clean --provider
// kubeconfig` deletes only namespaces that carry both.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "edgesim"
	LabelRun       = "edgesim.dev/run"
)

// Options are the kubeconfig provider's settings that a run does not
// derive from its scenario.
type Options struct {
	// Target is the cluster.
	Target Target
	// Kubectl is the kubectl binary ("" = FindKubectl).
	Kubectl string
	// Selectors map plan nodes onto nodes by tier or site (see Map).
	Selectors []Selector
	// Registry receives the workload images; the nodes pull them from it.
	Registry nodecontainer.Registry
	// TolerationSeconds: see kube.ManifestConfig.
	TolerationSeconds int64
	// APIPoll is how often the API server is asked whether it is still
	// there while the run goes on (0 = DefaultAPIPoll); after APILost
	// failed answers in a row (0 = DefaultAPILost) the run ends with a
	// partial report.
	APIPoll time.Duration
	APILost int
}

// Provider runs a plan on a cluster edgesim did not create: it maps the
// plan's nodes onto the cluster's, pushes the workload images to the
// registry the user names, runs everything in a namespace of its own
// labelled with the run, and puts every mapped node on the emulated links
// through its agent (a privileged DaemonSet pod relaying a TUN device in
// the node's network namespace to the link engine on this machine). Where
// the cluster refuses privileged pods, unprivileged agents replace them
// and the run goes on without link emulation (LinksNotEmulated says why).
type Provider struct {
	kube.Base
	cfg provider.Config
	o   Options
	kc  *Kubectl

	plan    *provider.Plan
	ns      string
	runID   string
	mapping map[string]string // plan node -> node name
	nodeIPs map[string]net.IP // node name -> InternalIP
	agents  *agents
	// noLinks says why the links are not emulated ("" = they are).
	noLinks string
	created bool   // the namespace exists and is ours
	record  string // the run's state record, removed with the namespace

	eng   netem.Engine
	links provider.Links
	hosts map[string]netem.EngineHost
	// cordoned are the nodes a kill cordoned, uncordoned by start or
	// Destroy.
	cordoned map[string]bool
	// watch ends the run when the API server is gone; lost is set then.
	watch *apiWatch
	lost  atomic.Bool
}

// New checks the options and returns the provider.
func New(c provider.Config, o Options) (*Provider, error) {
	var missing []error
	if o.Registry.Name == "" {
		missing = append(missing, errors.New("no image registry: give --image-registry HOST[:PORT][/PATH], a registry the cluster's nodes pull from"))
	}
	if os.Geteuid() != 0 {
		missing = append(missing, errors.New("the link engine opens sockets and devices on this machine and needs root: run edgesim as root"))
	}
	if c.Binaries.Edgenode == "" || c.Binaries.Edgesim == "" {
		missing = append(missing, errors.New("no workload binaries: build them with `go tool task build`"))
	}
	if o.Kubectl == "" {
		p, err := FindKubectl(exec.LookPath, nodeimage.DefaultCacheDir)
		if err != nil {
			missing = append(missing, err)
		}
		o.Kubectl = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the kubeconfig provider cannot run: %w", errors.Join(missing...))
	}
	return &Provider{cfg: c, o: o, kc: &Kubectl{Path: o.Kubectl, Target: o.Target}, cordoned: map[string]bool{}}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return string(scenarios.ProviderKubeconfig) }

func (p *Provider) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprintf(p.cfg.Log, "kubeconfig provider: "+format+"\n", args...)
	}
}

// Namespace is the run's namespace.
func (p *Provider) Namespace() string { return p.ns }

// Provision implements provider.Provider: the preflight (nothing is
// created when it fails), the images pushed, the namespace and the agents,
// then the links.
func (p *Provider) Provision(ctx context.Context, plan *provider.Plan) error {
	p.plan = plan
	p.ns = nodecontainer.ClusterName(p.cfg.Name, 63)
	if p.kc.Target.Kubeconfig == "" && plan.Scenario != nil {
		p.kc.Target.Kubeconfig = plan.Scenario.Kubeconfig
	}
	if p.kc.Target.Kubeconfig == "" {
		return errors.New("kubeconfig provider: no kubeconfig: give --kubeconfig FILE or the scenario's spec.kubeconfig")
	}
	kctx, err := CheckKubeconfig(p.kc.Target)
	if err != nil {
		return err
	}
	mapping, err := Preflight(ctx, p.kc, plan, p.ns, p.o.Selectors, p.o.Registry)
	if err != nil {
		return err
	}
	p.mapping = mapping
	if err := p.checkFree(ctx); err != nil {
		return err
	}
	if p.nodeIPs, err = nodeAddresses(ctx, p.kc); err != nil {
		return err
	}
	p.runID = strings.ToLower(provider.NewRunToken())[:16]
	p.agents = &agents{cl: p.kc, ns: p.ns, logf: p.logf}
	mc := kube.ManifestConfig{
		Namespace:         p.ns,
		NamespaceLabels:   map[string]string{LabelManagedBy: ManagedBy, LabelRun: p.runID, "pod-security.kubernetes.io/enforce": "privileged"},
		PullPolicy:        "IfNotPresent",
		NodeNames:         mapping,
		TolerationSeconds: p.o.TolerationSeconds,
		Token:             provider.NewRunToken(),
	}
	layer, err := kube.New(plan, p.agents, mc, kube.Config{Dir: p.cfg.Dir, Log: p.cfg.Log, LogPrefix: "kubeconfig provider: "})
	if err != nil {
		return err
	}
	p.Layer = layer
	if err := p.pushImages(ctx); err != nil {
		return err
	}
	if err := p.startAgents(ctx); err != nil {
		return err
	}
	m := &kube.Member{Name: p.ns, Cluster: p.kc}
	for _, n := range plan.Nodes {
		m.Nodes = append(m.Nodes, kube.NodeName{Plan: n.Name, Kube: mapping[n.Name]})
	}
	p.Layer.Add(m)
	if p.noLinks == "" {
		if err := p.attachLinks(ctx); err != nil {
			return err
		}
	}
	if p.cfg.Observe != nil {
		observe := func(e provider.ObservedEvent) {
			p.lost.Store(true)
			p.cfg.Observe(e)
		}
		p.watch = watchAPI(ctx, p.kc, "context "+kctx, cmp.Or(p.o.APIPoll, DefaultAPIPoll), cmp.Or(p.o.APILost, DefaultAPILost), time.Now, observe)
	}
	return nil
}

// checkFree refuses a namespace that exists already: it is not this
// run's, and nothing of it may be touched.
func (p *Provider) checkFree(ctx context.Context) error {
	out, err := p.kc.Kubectl(ctx, nil, "get", "namespace", p.ns, "--ignore-not-found", "-o", "name")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) != "" {
		return fmt.Errorf("namespace %s exists already: it is not this run's; delete it if it is a leftover of edgesim's (`edgesim clean --provider kubeconfig`), or choose another --name", p.ns)
	}
	return nil
}

// pushImages builds the workload images and pushes them to the registry.
func (p *Provider) pushImages(ctx context.Context) error {
	dir := filepath.Join(p.cfg.Dir, "images")
	defer os.RemoveAll(dir)
	imgs, err := nodecontainer.BuildWorkloads(ctx, p.cfg.Binaries, dir, p.Layer, p.logf)
	if err != nil {
		return err
	}
	start := time.Now()
	edge, err := nodecontainer.PushImage(ctx, imgs.Edgenode, p.o.Registry)
	if err != nil {
		return err
	}
	cams, err := nodecontainer.PushImage(ctx, imgs.Cameras, p.o.Registry)
	if err != nil {
		return err
	}
	p.Layer.Manifests.EdgenodeImage, p.Layer.Manifests.CamerasImage = edge, cams
	p.logf("images pushed to %s in %s", p.o.Registry.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// startAgents creates the run's namespace and the agents' DaemonSet and
// waits until an agent is ready on every mapped node.
func (p *Provider) startAgents(ctx context.Context) error {
	mc := p.Layer.Manifests
	filesToken := provider.NewRunToken()
	objs := []kube.Object{
		&kube.NamespaceObject{Meta: kube.Meta{APIVersion: "v1", Kind: "Namespace", Metadata: kube.ObjectMeta{Name: p.ns, Labels: mc.NamespaceLabels}}},
		AgentSecret(p.ns, filesToken),
		AgentManifest(p.ns, mc.CamerasImage, mc.PullPolicy, p.runID, p.mapping, true),
	}
	b, err := kube.Render(objs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.cfg.Dir, "manifests-agents.yaml"), b, 0o644); err != nil {
		return err
	}
	if p.record, err = writeRecord(p.cfg.StateDir, p.ns, p.kc.Target, p.kc.Path, p.runID, nil); err != nil {
		return err
	}
	// Created, not applied: a namespace of the same name made meanwhile
	// by someone else must fail here, not be adopted.
	if _, err := p.kc.Kubectl(ctx, bytes.NewReader(b), "create", "-f", "-"); err != nil {
		return err
	}
	p.created = true
	start := time.Now()
	pods, err := p.waitAgents(ctx, true, sortedValues(p.mapping))
	var refused *refusal
	if errors.As(err, &refused) {
		pods, err = p.startAgentsWithoutLinks(ctx, refused)
	}
	if err != nil {
		return err
	}
	p.agents.pods = pods
	hc := &http.Client{Timeout: 10 * time.Second}
	p.agents.files = map[string]*agent.FilesClient{}
	for k := range pods {
		if ip := p.nodeIPs[k]; ip != nil {
			p.agents.files[k] = agent.NewFilesClient(net.JoinHostPort(ip.String(), strconv.Itoa(AgentMetricsPort)), filesToken, hc)
		}
	}
	p.logf("agents ready on %d nodes in %s", len(p.agents.pods), time.Since(start).Round(time.Millisecond))
	return nil
}

// startAgentsWithoutLinks replaces the privileged agents the cluster
// refused (refusal) with agents that ask for no privilege: the run goes
// on without link emulation. They still need the nodes' network and data
// directory; a cluster that refuses those too stops the run.
func (p *Provider) startAgentsWithoutLinks(ctx context.Context, refused *refusal) (map[string]string, error) {
	p.logf("%v: the run goes on without link emulation", refused)
	if _, err := p.kc.Kubectl(ctx, nil, "-n", p.ns, "delete", "daemonset", agentDaemonSet(true), "--wait=true", "--timeout=60s"); err != nil {
		return nil, err
	}
	mc := p.Layer.Manifests
	b, err := kube.Render([]kube.Object{AgentManifest(p.ns, mc.CamerasImage, mc.PullPolicy, p.runID, p.mapping, false)})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.cfg.Dir, "manifests-agents-nolinks.yaml"), b, 0o644); err != nil {
		return nil, err
	}
	if _, err := p.kc.Kubectl(ctx, bytes.NewReader(b), "create", "-f", "-"); err != nil {
		return nil, err
	}
	pods, err := p.waitAgents(ctx, false, sortedValues(p.mapping))
	if errors.Is(err, ErrAgentsRefused) {
		return nil, fmt.Errorf("%w, also without privileges: the agents need the nodes' network namespace (to reach the Services from each node) and the nodes' directory %s (the samples and alerts): allow both for the run's namespaces, e.g. Pod Security level privileged (the privileged agents were refused first: %v)",
			err, kube.HostDataDir, refused)
	}
	if err != nil {
		return nil, err
	}
	p.noLinks = "the cluster refused the privileged edgesim agents: " + refused.words
	return pods, nil
}

// LinksNotEmulated implements provider.LinkEmulation.
func (p *Provider) LinksNotEmulated() string { return p.noLinks }

func (p *Provider) agentSummary(ctx context.Context) string {
	out, err := p.kc.Kubectl(ctx, nil, "-n", p.ns, "get", "pods,events", "-o", "wide", "--no-headers")
	if err != nil {
		return err.Error()
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// attachLinks makes the engine, a remote host per plan node relayed by
// its node's agent, the plan's links, and the pod tunnels on the nodes.
func (p *Provider) attachLinks(ctx context.Context) error {
	eng, err := nodecontainer.NewEngine(ctx, nodecontainer.EngineConfig{Cluster: p.ns, StateDir: p.cfg.StateDir, Registry: p.cfg.Registry, Seed: p.cfg.Seed})
	if err != nil {
		return err
	}
	p.eng = eng
	add := func(ctx context.Context, n provider.Node) (netem.EngineHost, error) {
		k := p.mapping[n.Name]
		ip := p.nodeIPs[k]
		if ip == nil {
			return nil, fmt.Errorf("node %s has no InternalIP address", k)
		}
		h, err := eng.AddHost(ctx, netem.HostSpec{Name: n.EngineHost(), Group: n.Group, Remote: &net.UDPAddr{IP: ip, Port: RelayPort}})
		if err != nil {
			return nil, err
		}
		remote := h.(interface {
			RelayAddr() *net.UDPAddr
			Prefix() *net.IPNet
		})
		relay := remote.RelayAddr()
		_, err = p.agents.exec(ctx, k, nil, "attach", "--name", "esa0", "--address", remote.Prefix().String(),
			"--mtu", strconv.Itoa(kube.EngineMTU), "--listen-port", strconv.Itoa(RelayPort), "--engine", relay.String())
		if err != nil {
			return nil, fmt.Errorf("agent on %s: attach: %w", k, err)
		}
		return h, nil
	}
	tunnel := func(ctx context.Context, hosts []netem.EngineHost, cidrs []*net.IPNet) error {
		peers := make([]kube.TunnelPeer, len(hosts))
		for i, h := range hosts {
			peers[i] = kube.TunnelPeer{Node: h.Name(), Addr: h.Address(), PodCIDR: cidrs[i]}
		}
		ts, err := kube.Tunnels(peers)
		if err != nil {
			return err
		}
		byNode := map[string][]kube.TunnelEnd{}
		for _, t := range ts {
			byNode[t.Node] = append(byNode[t.Node], t)
		}
		for _, h := range hosts { // every node, also one without peers: loose rp_filter
			b, err := json.Marshal(byNode[h.Name()])
			if err != nil {
				return err
			}
			k := p.hostNode(h.Name())
			if _, err := p.agents.exec(ctx, k, bytes.NewReader(b), "tunnels"); err != nil {
				return fmt.Errorf("agent on %s: tunnels: %w", k, err)
			}
		}
		return nil
	}
	p.hosts, p.links, err = p.Layer.AttachLinksWith(ctx, eng, add, tunnel)
	return err
}

// hostNode is the node name of an engine host's plan node.
func (p *Provider) hostNode(engineHost string) string {
	for _, n := range p.plan.Nodes {
		if n.EngineHost() == engineHost || n.Name == engineHost {
			return p.mapping[n.Name]
		}
	}
	return ""
}

// nodeAddresses reads every node's InternalIP.
func nodeAddresses(ctx context.Context, cl kube.Cluster) (map[string]net.IP, error) {
	out, err := cl.Kubectl(ctx, nil, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}`)
	if err != nil {
		return nil, err
	}
	m := map[string]net.IP{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, a := range f[1:] {
			if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
				m[f[0]] = ip.To4()
				break
			}
		}
	}
	return m, nil
}

// Inject implements provider.Provider. Link faults act on the emulated
// links. A node kill deletes the run's pods on the node at once and
// cordons it, so Kubernetes replaces them elsewhere (the node itself, not
// edgesim's, keeps running); start uncordons it. Pause and resume need a
// node edgesim owns and are refused.
func (p *Provider) Inject(ctx context.Context, a provider.Action) error {
	switch a.Kind {
	case provider.ActionKill, provider.ActionStart:
		k := p.mapping[a.Node]
		if k == "" {
			return fmt.Errorf("%s: no node %s", a.Kind, a.Node)
		}
		if a.Kind == provider.ActionStart {
			if !p.cordoned[k] {
				return nil // someone else's cordon, or none: not edgesim's to lift
			}
			if err := uncordon(ctx, p.kc, k); err != nil {
				return err
			}
			delete(p.cordoned, k)
			return p.saveRecord()
		}
		if err := p.cordon(ctx, k); err != nil {
			return err
		}
		p.logf("kill %s: node %s cordoned and the run's pods on it deleted (Kubernetes; the node keeps running)", a.Node, k)
		_, err := p.kc.Kubectl(ctx, nil, "-n", p.ns, "delete", "pods", "--field-selector", "spec.nodeName="+k,
			"-l", "app.kubernetes.io/part-of=edgesim,app.kubernetes.io/name!="+AgentName, "--grace-period=0", "--force", "--wait=false")
		return err
	case provider.ActionPause, provider.ActionResume:
		return fmt.Errorf("%s %s: a cluster edgesim did not create cannot freeze its nodes; use kill", a.Kind, a.Node)
	}
	if p.noLinks != "" {
		return fmt.Errorf("%w (%s)", provider.ErrLinksNotEmulated, p.noLinks)
	}
	if p.links == nil {
		return fmt.Errorf("%s: no emulated links", a)
	}
	return p.links.Apply(ctx, a)
}

// AnnotationCordonedBy marks a node a run's kill cordoned with the run's
// id: only such a node is uncordoned again, by the run or by `edgesim
// clean`. A node cordoned already (by someone else) stays as it is.
const AnnotationCordonedBy = "edgesim.dev/cordoned-by"

// cordon cordons node k for the run unless it is cordoned already, and
// records it (annotation first, then the run's record, then the cordon).
func (p *Provider) cordon(ctx context.Context, k string) error {
	out, err := p.kc.Kubectl(ctx, nil, "get", "node", k, "-o", "jsonpath={.spec.unschedulable}")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) == "true" && !p.cordoned[k] {
		p.logf("node %s was cordoned already (not by this run): it stays cordoned after the run", k)
		return nil
	}
	if _, err := p.kc.Kubectl(ctx, nil, "annotate", "--overwrite", "node", k, AnnotationCordonedBy+"="+p.runID); err != nil {
		return err
	}
	p.cordoned[k] = true
	if err := p.saveRecord(); err != nil {
		return err
	}
	_, err = p.kc.Kubectl(ctx, nil, "cordon", k)
	return err
}

// uncordon lifts a run's cordon and its mark.
func uncordon(ctx context.Context, cl kube.Cluster, k string) error {
	if _, err := cl.Kubectl(ctx, nil, "uncordon", k); err != nil {
		return err
	}
	_, err := cl.Kubectl(ctx, nil, "annotate", "node", k, AnnotationCordonedBy+"-")
	return err
}

// saveRecord rewrites the run's record with the nodes it cordoned.
func (p *Provider) saveRecord() error {
	if p.record == "" {
		return nil
	}
	_, err := writeRecord(p.cfg.StateDir, p.ns, p.kc.Target, p.kc.Path, p.runID, slices.Sorted(maps.Keys(p.cordoned)))
	return err
}

// DescribeFault implements provider.FaultDescriber: node faults go
// through Kubernetes, link faults through the link engine that the
// agents relay each node's traffic to. The runner asks after Inject, so a
// kill's node is among p.cordoned unless it was cordoned already.
func (p *Provider) DescribeFault(a provider.Action) string {
	k := p.mapping[a.Node]
	switch a.Kind {
	case provider.ActionKill:
		if !p.cordoned[k] {
			return "Kubernetes: the run's pods on node " + k + " force-deleted (the node was cordoned already); the node keeps running"
		}
		return "Kubernetes: node " + k + " cordoned and the run's pods on it force-deleted; the node keeps running"
	case provider.ActionStart:
		return "Kubernetes: node " + k + " uncordoned"
	case provider.ActionPause, provider.ActionResume:
		return ""
	}
	if p.noLinks != "" {
		return "" // not carried out: Inject says why
	}
	return "link engine on this machine, relayed by the agents on the nodes"
}

// LinkStats implements provider.Provider.
func (p *Provider) LinkStats(context.Context) ([]netem.LinkStats, error) {
	if p.eng == nil {
		return nil, nil
	}
	return p.links.Stats(p.eng), nil
}

// Destroy implements provider.Provider: the workloads' logs, the
// agents' cleanup (they remove their devices when their pods stop), the
// run's namespace, the engine, and the nodes a kill cordoned.
func (p *Provider) Destroy(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	p.watch.stop()
	if p.Layer != nil {
		p.Layer.Close(ctx) // its one call to the API server is bounded
	}
	if p.lost.Load() && readyz(ctx, p.kc, reachTimeout) != nil {
		// Every call would wait for a server that is gone: leave the
		// cluster side to `edgesim clean`, which the record allows.
		errs = append(errs, fmt.Errorf("the API server is still gone: namespace %s and the nodes the run cordoned (%s) stay; run `sudo edgesim clean` once it answers",
			p.ns, listOrNone(slices.Sorted(maps.Keys(p.cordoned)))))
	} else {
		errs = append(errs, p.deleteOwn(ctx)...)
	}
	if p.eng != nil {
		errs = append(errs, p.eng.Close(ctx))
		p.eng = nil
	}
	return errors.Join(errs...)
}

// deleteOwn lifts the run's cordons and deletes its namespace, and its
// record once nothing of the run is left in the cluster.
func (p *Provider) deleteOwn(ctx context.Context) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(p.cordoned)) {
		if err := uncordon(ctx, p.kc, k); err != nil {
			errs = append(errs, err)
		} else {
			delete(p.cordoned, k)
		}
	}
	if p.created {
		start := time.Now()
		if _, err := p.kc.Kubectl(ctx, nil, "delete", "namespace", p.ns, "--wait=true", "--timeout=120s"); err != nil {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w (`edgesim clean --provider kubeconfig` retries)", p.ns, err))
		} else {
			p.created = false
			p.logf("namespace %s deleted in %s", p.ns, time.Since(start).Round(time.Millisecond))
		}
	}
	if p.record != "" && !p.created && len(p.cordoned) == 0 {
		_ = os.Remove(p.record)
		p.record = ""
	}
	return errs
}

// Factory is the provider.Factory of `provider: kubeconfig`.
func Factory(o Options) provider.Factory {
	return func(c provider.Config) (provider.Provider, error) { return New(c, o) }
}

func sortedValues(m map[string]string) []string {
	return slices.Sorted(maps.Values(m))
}
