package kindprovider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/internal/naming"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
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
	// TolerationSeconds: see ManifestConfig.
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
	cfg Config

	plan    *provider.Plan
	members []*member
	rt      cluster.Runtime
	mcfg    ManifestConfig
	eng     netem.Engine
	links   provider.Links
	pids    map[string]int
	hosts   map[string]netem.EngineHost // plan node -> its emulated host
	// owner marks this run's Podman containers (cluster.OwnerAnnotation);
	// restoreConf undoes cluster.UsePodmanConf.
	owner       string
	restoreConf func() error

	mu       sync.Mutex
	stopSync context.CancelFunc
	syncDone chan struct{}
	samples  string
}

// New checks that the provider can run here and returns it.
func New(cfg Config) (*Provider, error) {
	var missing []error
	if os.Geteuid() != 0 {
		missing = append(missing, errors.New("the kind provider attaches links to node containers' network namespaces and needs root: run edgesim as root"))
	}
	for name, p := range map[string]string{"edgenode": cfg.Binaries.Edgenode, "edgesim": cfg.Binaries.Edgesim} {
		if p == "" {
			missing = append(missing, fmt.Errorf("no %s binary given: build it with `go tool task build`", name))
		} else if _, err := os.Stat(p); err != nil {
			missing = append(missing, fmt.Errorf("%s binary %s: %w (build it with `go tool task build`)", name, p, err))
		}
	}
	for _, tool := range []string{"nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Errorf("%s is missing: install util-linux and iproute2", tool))
		}
	}
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
	return &Provider{cfg: cfg, links: provider.Links{}, pids: map[string]int{}, hosts: map[string]netem.EngineHost{}}, nil
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
	p.mcfg = ManifestConfig{EdgenodeImage: "check", CamerasImage: "check", TolerationSeconds: p.cfg.TolerationSeconds,
		Token: provider.NewRunToken()}
	if err := check(plan, p.mcfg); err != nil {
		return err
	}
	if err := os.MkdirAll(p.cfg.Dir, 0o755); err != nil {
		return err
	}
	rt, err := cluster.DetectRuntime(ctx, p.cfg.Runtime)
	if err != nil {
		return err
	}
	p.rt = rt
	p.owner = ownerToken()
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
	start := time.Now()
	edge, err := BuildImage(ctx, ImageSpec{Repo: "localhost/edgesim/edgenode", Binaries: map[string]string{"edgenode": p.cfg.Binaries.Edgenode}, Entrypoint: []string{"/edgenode"}}, imgDir)
	if err != nil {
		return err
	}
	cams, err := BuildImage(ctx, ImageSpec{Repo: "localhost/edgesim/edgesim", Binaries: map[string]string{"edgesim": p.cfg.Binaries.Edgesim}, Entrypoint: []string{"/edgesim"}}, imgDir)
	if err != nil {
		return err
	}
	p.mcfg.EdgenodeImage, p.mcfg.CamerasImage = edge.Ref, cams.Ref
	p.logf("workload images %s and %s built in %s", edge.Ref, cams.Ref, time.Since(start).Round(time.Millisecond))

	ownNetwork := !cluster.NetworkExists(ctx, rt)
	for _, m := range p.members {
		if err := p.create(ctx, m, nodeImage, ownNetwork); err != nil {
			return err
		}
		ownNetwork = false // the first cluster made it
	}
	start = time.Now()
	for _, m := range p.members {
		for i, b := range m.bindings {
			c := m.container(i)
			img := edge
			if b.Role == provider.RoleCamera {
				img = cams
			}
			if err := LoadImage(ctx, string(rt), c, img.Archive); err != nil {
				return err
			}
			pid, err := p.containerPID(ctx, c)
			if err != nil {
				return err
			}
			p.pids[b.Node] = pid
		}
	}
	p.logf("images loaded in %s", time.Since(start).Round(time.Millisecond))
	if err := p.attachLinks(ctx); err != nil {
		return err
	}
	if p.cfg.Layout == LayoutFederated {
		cloud := p.plan.NodesOf(provider.RoleCloud)[0]
		h, ok := p.hosts[cloud.Name]
		if !ok {
			return fmt.Errorf("kind provider: cloud node %s has no emulated address", cloud.Name)
		}
		p.mcfg.CloudURL = fmt.Sprintf("http://%s:%d", h.Address(), CloudNodePort)
	}
	return nil
}

// create writes the state record of one cluster, creates it, checks its
// workers and starts watching it.
func (p *Provider) create(ctx context.Context, m *member, image string, ownNetwork bool) error {
	workers := make([]cluster.Worker, len(m.bindings))
	for i, b := range m.bindings {
		workers[i] = b.Worker
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
	if err := checkNames(ctx, m); err != nil {
		return err
	}
	// In a real fleet the control plane runs on machines of its own; here
	// it shares the host's CPUs with the emulated nodes, so it yields to
	// them when both want a CPU (relative weight; it still gets all the
	// CPU that is free).
	if _, err := p.runtime(ctx, "update", "--cpu-shares", strconv.Itoa(controlPlaneShares), m.cl.ControlPlane()); err != nil {
		p.logf("control plane %s keeps its CPU weight: %v", m.cl.ControlPlane(), err)
	}
	p.startWatch(m)
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

// startWatch starts watching a cluster's nodes and pods for the failover
// breakdown; Destroy stops it.
func (p *Provider) startWatch(m *member) {
	m.watch = newClusterWatch(time.Now, p.planNode, func(ev evidence.ClusterEvent) {
		switch ev.Kind {
		case evidence.NodeNotReady, evidence.NodeReady:
			p.logf("node %s: %s (%s)", ev.Node, ev.Kind, ev.Detail)
		case evidence.PodDeleted:
			p.logf("pod %s on %s deleted (%s)", ev.Pod, ev.Node, ev.Detail)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	m.stopWatch, m.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(m.watchDone)
		m.watch.run(ctx, m.cl.KubectlCommand)
	}()
}

// planNode is the plan node a Kubernetes node stands for ("" for a
// control plane).
func (p *Provider) planNode(k8sNode string) string {
	for _, m := range p.members {
		for i, b := range m.bindings {
			if m.container(i) == k8sNode {
				return b.Node
			}
		}
	}
	return ""
}

// events merges every cluster's events in time order.
func (p *Provider) events() []evidence.ClusterEvent {
	var out []evidence.ClusterEvent
	for _, m := range p.members {
		if m.watch != nil {
			out = append(out, m.watch.Events()...)
		}
	}
	slices.SortStableFunc(out, func(a, b evidence.ClusterEvent) int { return a.At.Compare(b.At) })
	return out
}

// ClusterEvents implements provider.ClusterEventSource: the node and pod
// changes seen since the cluster was created. When a node loss left
// edgenode pods not yet replaced (the run may end before Kubernetes is
// done), it first waits for the replacements to be Ready, at most the
// pods' toleration plus settleLimit, so the failover breakdown is whole.
func (p *Provider) ClusterEvents(ctx context.Context) []evidence.ClusterEvent {
	if len(p.members) == 0 {
		return nil
	}
	limit := time.Duration(p.mcfg.TolerationSeconds)*time.Second + settleLimit
	deadline := time.Now().Add(limit)
	logged := false
	for {
		evs := p.events()
		pending := unsettled(evs)
		if len(pending) == 0 {
			return evs
		}
		if !logged {
			p.logf("waiting up to %s for Kubernetes to replace %s", limit.Round(time.Second), strings.Join(pending, ", "))
			logged = true
		}
		if time.Now().After(deadline) {
			p.logf("not replaced after %s: %s (the failover breakdown stops there)", limit.Round(time.Second), strings.Join(pending, ", "))
			return evs
		}
		select {
		case <-ctx.Done():
			return evs
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Edgenodes lists the edgenode pods running on a plan node's worker: the
// cameras they serve are the ones a fault on the node interrupts.
func (p *Provider) Edgenodes(node string) []string {
	m, c := p.where(node)
	if m == nil || m.watch == nil {
		return nil
	}
	return m.watch.edgenodesOn(c)
}

// Diagnose implements provider.Diagnoser: kubectl's view of the nodes, the
// workloads, their Service endpoints and recent events, and a description
// of every node that is not Ready.
func (p *Provider) Diagnose(ctx context.Context) []evidence.Diagnostic {
	var out []evidence.Diagnostic
	for _, m := range p.members {
		if m.cl == nil {
			continue
		}
		prefix := ""
		if len(p.members) > 1 {
			prefix = m.name + ": "
		}
		run := func(title string, args ...string) {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			b, err := m.cl.Kubectl(cctx, nil, args...)
			text := string(b)
			if err != nil {
				text += "\n" + err.Error()
			}
			out = append(out, evidence.Diagnostic{Title: prefix + title, Command: "kubectl " + strings.Join(args, " "), Output: text})
		}
		run("Nodes", "get", "nodes", "-o", "wide", "--show-labels")
		run("Pods", "-n", Namespace, "get", "pods", "-o", "wide")
		run("Service endpoints", "-n", Namespace, "get", "services,endpointslices", "-o", "wide")
		run("Events", "-n", Namespace, "get", "events", "--sort-by=.lastTimestamp")
		if nodes, err := m.cl.Nodes(ctx); err == nil {
			for _, n := range nodes {
				if !n.Ready {
					run("Node "+n.Name+" (not Ready)", "describe", "node", n.Name)
				}
			}
		}
	}
	return out
}

// controlPlaneShares is the control-plane container's CPU weight (the
// workers keep the default, 1024).
const controlPlaneShares = 128

// settleLimit bounds how long ClusterEvents waits for replacements beyond
// the pods' toleration of a NotReady node.
const settleLimit = 45 * time.Second

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
		if l[cluster.LabelTier] != b.Worker.Tier || l[cluster.LabelSite] != b.Worker.Site {
			return fmt.Errorf("kind provider: node %s has labels %s=%q %s=%q, want those of plan node %s (%s, %s): kind named its workers in another order",
				c, cluster.LabelTier, l[cluster.LabelTier], cluster.LabelSite, l[cluster.LabelSite], b.Node, b.Worker.Tier, b.Worker.Site)
		}
	}
	return nil
}

func (p *Provider) runtime(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, string(p.rt), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", p.rt, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (p *Provider) containerPID(ctx context.Context, c string) (int, error) {
	out, err := p.runtime(ctx, "inspect", "-f", "{{.State.Pid}}", c)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("node container %s has no process (pid %q): is it running?", c, strings.TrimSpace(string(out)))
	}
	return pid, nil
}

// Deploy implements provider.Provider: applies the edgenode manifests and
// waits until every Deployment (cloud first) is available.
func (p *Provider) Deploy(ctx context.Context) error {
	objs, err := Manifests(p.plan, p.mcfg)
	if err != nil {
		return err
	}
	for _, m := range p.members { // the cloud's first
		mine, err := p.apply(ctx, m, "edgenodes", objs)
		if err != nil {
			return err
		}
		for _, o := range mine {
			if d, ok := o.(*Deployment); ok {
				if _, err := m.cl.Kubectl(ctx, nil, "-n", Namespace, "rollout", "status", "deployment/"+d.Metadata.Name, "--timeout=180s"); err != nil {
					return fmt.Errorf("edgenodes %s not ready: %w (pods: %s)", d.Metadata.Name, err, podSummary(ctx, m))
				}
			}
		}
	}
	return nil
}

// apply applies the objects that belong in a cluster (by their site label;
// the namespace goes everywhere) and returns them.
func (p *Provider) apply(ctx context.Context, m *member, what string, objs []Object) ([]Object, error) {
	var mine []Object
	for _, o := range objs {
		if site, ok := o.header().Metadata.Labels[labelSite]; !ok || m.holds(site) {
			mine = append(mine, o)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	b, err := Render(mine)
	if err != nil {
		return nil, err
	}
	file := "manifests-" + what + ".yaml"
	if len(p.members) > 1 {
		file = "manifests-" + m.name + "-" + what + ".yaml"
	}
	if err := os.WriteFile(filepath.Join(p.cfg.Dir, file), b, 0o644); err != nil {
		return nil, err
	}
	_, err = m.cl.Kubectl(ctx, bytes.NewReader(b), "apply", "-f", "-")
	return mine, err
}

func podSummary(ctx context.Context, m *member) string {
	out, err := m.cl.Kubectl(ctx, nil, "-n", Namespace, "get", "pods", "-o", "wide", "--no-headers")
	if err != nil {
		return err.Error()
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// StartCameras implements provider.Provider: one pod per camera host; their
// samples are copied below dir every second while they run.
func (p *Provider) StartCameras(ctx context.Context, dir string) error {
	objs, err := CameraManifests(p.plan, p.mcfg)
	if err != nil {
		return err
	}
	start := time.Now()
	for _, n := range p.plan.NodesOf(provider.RoleCamera) {
		if err := p.waitReachable(ctx, n.Name, time.Minute); err != nil {
			return err
		}
	}
	p.logf("every camera node reaches its edgenode Services (%s)", time.Since(start).Round(time.Millisecond))
	for _, m := range p.members {
		if _, err := p.apply(ctx, m, "cameras", objs); err != nil {
			return err
		}
	}
	for _, n := range p.plan.NodesOf(provider.RoleCamera) {
		m, _ := p.where(n.Name)
		if _, err := m.cl.Kubectl(ctx, nil, "-n", Namespace, "wait", "--for=condition=Ready", "pod/"+CamerasName(n.Name), "--timeout=120s"); err != nil {
			return fmt.Errorf("cameras %s not running: %w (pods: %s)", n.Name, err, podSummary(ctx, m))
		}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	p.mu.Lock()
	p.samples, p.stopSync, p.syncDone = dir, cancel, done
	p.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				_ = p.copySamples(sctx, dir)
			}
		}
	}()
	return nil
}

// waitReachable waits until the camera host's node gets an answer from
// /readyz of every Service its cameras stream to, through kube-proxy and
// the emulated links, so that cameras do not start while the Service's
// rules or the tunnels are still being set up (they would fail over to
// their next endpoint and stay there).
func (p *Provider) waitReachable(ctx context.Context, host string, timeout time.Duration) error {
	m, c := p.where(host)
	services := map[string]bool{}
	for _, cam := range p.plan.CamerasOn(host) {
		for _, ep := range cam.Endpoints {
			n, _ := p.plan.Node(ep)
			site := n.Site
			if n.Role == provider.RoleCloud {
				site = ""
			}
			services[EdgenodeName(site)] = true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for svc := range services {
		var url string
		if svc == EdgenodeName("") && p.mcfg.CloudURL != "" {
			url = p.mcfg.cloudURL("/readyz") // another cluster's, over the WAN
		} else {
			out, err := m.cl.Kubectl(ctx, nil, "-n", Namespace, "get", "service", svc, "-o", "jsonpath={.spec.clusterIP}")
			if err != nil {
				return err
			}
			url = fmt.Sprintf("http://%s:%d/readyz", strings.TrimSpace(string(out)), EdgenodePort)
		}
		var last error
		for {
			if _, last = p.runtime(ctx, "exec", c, "curl", "-sf", "-m", "2", "-o", "/dev/null", url); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kind provider: camera node %s cannot reach Service %s (%s) after %s: %v", c, svc, url, timeout, last)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// copySamples copies every camera host's samples from its node.
func (p *Provider) copySamples(ctx context.Context, dir string) error {
	var errs []error
	for _, n := range p.plan.NodesOf(provider.RoleCamera) {
		c, _ := p.Container(n.Name)
		dst := filepath.Join(dir, n.Name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if _, err := p.runtime(ctx, "cp", c+":"+SamplesDir(n.Name)+"/.", dst); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StopCameras implements provider.Provider: deletes the camera pods (they
// flush their samples on SIGTERM) and copies the samples a last time.
func (p *Provider) StopCameras(ctx context.Context) error {
	p.mu.Lock()
	stop, done, dir := p.stopSync, p.syncDone, p.samples
	p.stopSync = nil
	p.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	<-done
	var deletes []error
	start := time.Now()
	for _, n := range p.plan.NodesOf(provider.RoleCamera) {
		m, _ := p.where(n.Name)
		if _, err := m.cl.Kubectl(ctx, nil, "-n", Namespace, "delete", "pod", CamerasName(n.Name), "--wait=true", "--timeout=60s"); err != nil {
			deletes = append(deletes, err)
		}
	}
	copyErr := p.copySamples(ctx, dir)
	p.logf("cameras stopped and samples collected in %s", time.Since(start).Round(time.Millisecond))
	return stopCamerasError(deletes, copyErr, p.cfg.Retain)
}

// stopCamerasError is StopCameras' outcome. A camera pod that was not
// deleted in time (an overloaded node, an API server too slow to answer)
// is moot when the cluster is deleted after it: Destroy removes the pod
// with the cluster, and the samples were copied anyway; what it may cost
// is the cameras' last flush, which the warning says. With Retain the
// cluster stays, so the failure stands. A failed copy always stands.
func stopCamerasError(deletes []error, copyErr error, retain bool) error {
	del := errors.Join(deletes...)
	if del != nil && !retain {
		del = provider.Moot(fmt.Errorf("camera pods not deleted in time; the cluster's deletion removes them, but their last samples may be missing: %w", del))
	}
	return errors.Join(del, copyErr)
}

// Inject implements provider.Provider. Node faults act on the node
// container: kill (SIGKILL), start, pause and resume (freezer); link faults
// act on the netem link as the local provider does.
func (p *Provider) Inject(ctx context.Context, a provider.Action) error {
	switch a.Kind {
	case provider.ActionKill, provider.ActionStart, provider.ActionPause, provider.ActionResume:
		c, ok := p.Container(a.Node)
		if !ok {
			return fmt.Errorf("%s: no node %s", a.Kind, a.Node)
		}
		verb := map[provider.ActionKind]string{provider.ActionKill: "kill", provider.ActionStart: "start", provider.ActionPause: "pause", provider.ActionResume: "unpause"}[a.Kind]
		_, err := p.runtime(ctx, verb, c)
		return err
	}
	return p.links.Apply(ctx, a)
}

// LinkStats implements provider.Provider, with plan link names.
func (p *Provider) LinkStats(context.Context) ([]netem.LinkStats, error) {
	return p.links.Stats(p.eng), nil
}

// Alerts implements provider.Provider: the alerts the cloud edgenodes wrote
// on their nodes.
func (p *Provider) Alerts(ctx context.Context) ([]byte, error) {
	if p.Cluster() == nil {
		return nil, nil
	}
	var out []byte
	for _, n := range p.plan.NodesOf(provider.RoleCloud) {
		c, _ := p.Container(n.Name)
		b, err := p.runtime(ctx, "exec", c, "sh", "-c", "cat "+HostDataDir+"/alerts/alerts.jsonl 2>/dev/null || true")
		if err != nil {
			return out, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// Destroy implements provider.Provider: saves the workloads' logs, removes
// the links and deletes the cluster(s) unless they are retained.
func (p *Provider) Destroy(ctx context.Context) error {
	var errs []error
	p.mu.Lock()
	stop, done := p.stopSync, p.syncDone
	p.stopSync = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	var logs []byte
	for _, m := range p.members {
		if m.cl == nil {
			continue
		}
		// Logs of pods on a dead node cannot be had: do not wait for them.
		if out, err := m.cl.Kubectl(ctx, nil, "-n", Namespace, "logs", "--all-containers", "--prefix", "--tail=-1",
			"--ignore-errors", "--request-timeout=10s",
			"-l", labelPart+"=edgesim", "--max-log-requests=50"); err == nil {
			logs = append(logs, out...)
		}
	}
	if len(logs) > 0 {
		_ = os.WriteFile(filepath.Join(p.cfg.Dir, "pods.log"), logs, 0o644)
	}
	for _, m := range p.members {
		if m.stopWatch != nil {
			m.stopWatch()
			<-m.watchDone
			m.stopWatch = nil
		}
	}
	if p.eng != nil {
		errs = append(errs, p.eng.Close(context.WithoutCancel(ctx)))
		p.eng = nil
	}
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
const ClusterNamePrefix = "es-"

// ClusterName turns a run's testbed name into a kind cluster name: a DNS
// label of at most cluster.MaxName characters starting with
// ClusterNamePrefix (shortened with naming.Fit when longer).
func ClusterName(testbedName string) string {
	b := []byte(strings.ToLower(testbedName))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return naming.Fit(ClusterNamePrefix+strings.Trim(string(b), "-"), cluster.MaxName)
}

// engineName is the netem testbed name of a cluster's links: the cluster
// name, shortened with naming.Fit when longer than netem allows.
func engineName(cluster string) string { return naming.Fit(cluster, netem.MaxName) }
