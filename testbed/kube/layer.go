package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Cluster is kubectl access to one cluster, as its provider gives it
// (e.g. kubectl run inside the control-plane container).
type Cluster interface {
	// Kubectl runs kubectl with args and returns its stdout.
	Kubectl(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error)
	// KubectlCommand is the command Kubectl runs, for output that is
	// streamed (`get --watch`).
	KubectlCommand(ctx context.Context, args ...string) *exec.Cmd
}

// Machines are the machines the Kubernetes nodes run on (a provider's node
// containers, or the nodes of a cluster edgesim did not create, reached
// through its agent), named by their Kubernetes node names. Each call is
// one purpose, not a shell: the machines need not have one.
type Machines interface {
	// Probe gets url from node's machine (its network) and succeeds when
	// it answers with a 2xx status.
	Probe(ctx context.Context, node, url string) error
	// ReadFile returns the file at path on node's machine; a missing file
	// reads as empty.
	ReadFile(ctx context.Context, node, path string) ([]byte, error)
	// Exists reports whether path exists on node's machine.
	Exists(ctx context.Context, node, path string) (bool, error)
	// Symlink points link at target on node's machine, replacing an
	// existing link atomically.
	Symlink(ctx context.Context, node, target, link string) error
	// CopyFrom copies the contents of the directory src on node's machine
	// into the local directory dst.
	CopyFrom(ctx context.Context, node, src, dst string) error
	// CopyTo copies the contents of the local directory src into the
	// directory dst on node's machine, creating dst.
	CopyTo(ctx context.Context, node, src, dst string) error
}

// Member is one cluster of a testbed and the plan nodes it runs.
type Member struct {
	Name string
	// Sites are the site labels of the objects it holds; nil holds them
	// all (one cluster).
	Sites []string
	// Cluster reaches the cluster.
	Cluster Cluster
	// Nodes are its plan nodes, in the provider's order, each with the
	// name of its Kubernetes node.
	Nodes []NodeName

	watch     *clusterWatch
	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// NodeName is the Kubernetes node a plan node runs on.
type NodeName struct{ Plan, Kube string }

// Holds reports whether objects labelled with site belong in this cluster.
func (m *Member) Holds(site string) bool {
	return m.Sites == nil || slices.Contains(m.Sites, site)
}

// Config configures a Layer.
type Config struct {
	// Dir receives the rendered manifests and the pods' logs.
	Dir string
	// Log receives progress lines, each prefixed with LogPrefix (nil
	// discards).
	Log       io.Writer
	LogPrefix string
	// Retain says the clusters stay after the run (StopCameras' pod
	// deletions are then not moot).
	Retain bool
	// NodeGracePeriod is the clusters' node-monitor grace period: how long
	// a node that a fault silenced may take to be seen NotReady
	// (Kubernetes' default, 50 s, when 0).
	NodeGracePeriod time.Duration
}

// Layer runs a plan's workloads on the clusters a provider made: the
// provider.Provider methods every Kubernetes provider shares (Deploy,
// StartCameras, StopCameras, Alerts), the failover breakdown
// (ClusterEvents), Diagnose, and the pod tunnels through the emulated
// links (AttachLinks).
type Layer struct {
	cfg      Config
	plan     *provider.Plan
	machines Machines
	// Manifests are what the manifests need besides the plan; the
	// provider completes them (images, CloudURL) before Deploy.
	Manifests ManifestConfig
	members   []*Member

	mu       sync.Mutex
	hosts    map[string]netem.EngineHost // by plan node, once AttachLinks ran
	rollouts rolloutState
	podPort  int // 0 = EdgenodePort
	stopSync context.CancelFunc
	syncDone chan struct{}
	samples  string
	closed   bool
	// silenced are the node faults that stopped a whole Kubernetes node
	// (kill, pause) and no later start or resume undid, by plan node.
	silenced map[string]time.Time
}

// New returns the layer of a plan, checking the plan and mc (images are
// not required yet) and reading the model directories the plan's
// edgenodes run unless mc has them (a directory a ConfigMap cannot carry
// is an error here, before any cluster exists).
func New(plan *provider.Plan, machines Machines, mc ManifestConfig, cfg Config) (*Layer, error) {
	if mc.Models == nil && plan != nil && plan.Scenario != nil {
		models, err := ReadModels(plan)
		if err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
		mc.Models = models
	}
	probe := mc
	probe.EdgenodeImage, probe.CamerasImage = "check", "check"
	if err := check(plan, probe); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg, plan: plan, machines: machines, Manifests: mc}, nil
}

func (l *Layer) logf(format string, args ...any) {
	if l.cfg.Log != nil {
		fmt.Fprintf(l.cfg.Log, l.cfg.LogPrefix+format+"\n", args...)
	}
}

// Add adds a created cluster (clusters are added cloud first) and starts
// watching its nodes and pods for the failover breakdown; Close stops it.
func (l *Layer) Add(m *Member) {
	l.members = append(l.members, m)
	m.watch = newClusterWatch(time.Now, l.planNode, func(ev evidence.ClusterEvent) {
		switch ev.Kind {
		case evidence.NodeNotReady, evidence.NodeReady:
			l.logf("node %s: %s (%s)", ev.Node, ev.Kind, ev.Detail)
		case evidence.PodDeleted:
			l.logf("pod %s on %s deleted (%s)", ev.Pod, ev.Node, ev.Detail)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	m.stopWatch, m.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(m.watchDone)
		m.watch.run(ctx, l.Manifests.Ns(), m.Cluster.KubectlCommand, l.logf)
	}()
}

// where finds the cluster and Kubernetes node of a plan node.
func (l *Layer) where(node string) (*Member, string) {
	for _, m := range l.members {
		for _, n := range m.Nodes {
			if n.Plan == node {
				return m, n.Kube
			}
		}
	}
	return nil, ""
}

// planNode is the plan node a Kubernetes node stands for ("" for a
// control plane).
func (l *Layer) planNode(k8sNode string) string {
	for _, m := range l.members {
		for _, n := range m.Nodes {
			if n.Kube == k8sNode {
				return n.Plan
			}
		}
	}
	return ""
}

// events merges every cluster's events in time order.
func (l *Layer) events() []evidence.ClusterEvent {
	var out []evidence.ClusterEvent
	for _, m := range l.members {
		if m.watch != nil {
			out = append(out, m.watch.Events()...)
		}
	}
	slices.SortStableFunc(out, func(a, b evidence.ClusterEvent) int { return a.At.Compare(b.At) })
	return out
}

// settleLimit bounds how long ClusterEvents waits for replacements beyond
// the pods' toleration of a NotReady node.
const settleLimit = 45 * time.Second

// defaultNodeGrace is Kubernetes' node-monitor grace period.
const defaultNodeGrace = 50 * time.Second

// NodeFault tells the layer about a node fault its provider applied: a
// killed or paused node falls silent, and ClusterEvents waits for the
// clusters to see it NotReady; a start or resume ends that wait.
func (l *Layer) NodeFault(a provider.Action) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch a.Kind {
	case provider.ActionKill, provider.ActionPause:
		if l.silenced == nil {
			l.silenced = map[string]time.Time{}
		}
		if _, ok := l.silenced[a.Node]; !ok {
			l.silenced[a.Node] = time.Now()
		}
	case provider.ActionStart, provider.ActionResume:
		delete(l.silenced, a.Node)
	}
}

// unseen lists the silenced plan nodes (by the time their fault was
// applied) that events show no NotReady of since.
func unseen(silenced map[string]time.Time, events []evidence.ClusterEvent) []string {
	var out []string
	for node, at := range silenced {
		if !slices.ContainsFunc(events, func(e evidence.ClusterEvent) bool {
			return e.Kind == evidence.NodeNotReady && e.Node == node && !e.At.Before(at)
		}) {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

// ClusterEvents implements provider.ClusterEventSource: the node and pod
// changes seen since the clusters were added. The run may end before
// Kubernetes is done with a fault, so it first waits, bounded, for the
// failover breakdown to be whole: for every node a fault silenced to be
// seen NotReady (at most the node grace period more), and for the
// edgenode pods a node loss put out of work to be replaced and Ready (at
// most the pods' toleration plus settleLimit).
func (l *Layer) ClusterEvents(ctx context.Context) []evidence.ClusterEvent {
	if len(l.members) == 0 {
		return nil
	}
	l.mu.Lock()
	silenced := maps.Clone(l.silenced)
	l.mu.Unlock()
	limit := time.Duration(l.Manifests.TolerationSeconds)*time.Second + settleLimit
	if len(unseen(silenced, l.events())) > 0 {
		grace := l.cfg.NodeGracePeriod
		if grace == 0 {
			grace = defaultNodeGrace
		}
		limit += grace
	}
	deadline := time.Now().Add(limit)
	var said string
	for {
		evs := l.events()
		quiet, pending := unseen(silenced, evs), unsettled(evs)
		if len(quiet) == 0 && len(pending) == 0 {
			return evs
		}
		var what []string
		if len(quiet) > 0 {
			what = append(what, "mark "+strings.Join(quiet, ", ")+" NotReady")
		}
		if len(pending) > 0 {
			what = append(what, "replace "+strings.Join(pending, ", "))
		}
		if w := strings.Join(what, " and "); w != said {
			l.logf("waiting up to %s for Kubernetes to %s", time.Until(deadline).Round(time.Second), w)
			said = w
		}
		if time.Now().After(deadline) {
			l.logf("Kubernetes did not %s within %s (the failover breakdown stops there)", said, limit.Round(time.Second))
			return evs
		}
		select {
		case <-ctx.Done():
			return evs
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Edgenodes lists the edgenode pods running on a plan node's Kubernetes
// node: the cameras they serve are the ones a fault on the node
// interrupts.
func (l *Layer) Edgenodes(node string) []string {
	m, k := l.where(node)
	if m == nil || m.watch == nil {
		return nil
	}
	return m.watch.edgenodesOn(k)
}

// EdgenodeMetrics reads the /metrics of the edgenode pod on a plan node's
// Kubernetes node through the API server's pod proxy (`kubectl get --raw
// /api/v1/namespaces/edgesim/pods/POD:PORT/proxy/metrics`): the live
// metrics endpoint's view of the node. When a replacement shares a node
// with another edgenode pod, the first by name is read.
func (l *Layer) EdgenodeMetrics(ctx context.Context, node string) (io.ReadCloser, error) {
	m, _ := l.where(node)
	pods := l.Edgenodes(node)
	if m == nil || len(pods) == 0 {
		return nil, fmt.Errorf("no edgenode pod runs on %s", node)
	}
	b, err := m.Cluster.Kubectl(ctx, nil, "get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%d/proxy/metrics", l.Manifests.Ns(), pods[0], EdgenodePort))
	if err != nil {
		return nil, fmt.Errorf("edgenode %s /metrics: %w", pods[0], err)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Diagnose implements provider.Diagnoser: kubectl's view of the nodes, the
// workloads, their Service endpoints and recent events, and a description
// of every node that is not Ready.
func (l *Layer) Diagnose(ctx context.Context) []evidence.Diagnostic {
	var out []evidence.Diagnostic
	for _, m := range l.members {
		prefix := ""
		if len(l.members) > 1 {
			prefix = m.Name + ": "
		}
		run := func(title string, args ...string) {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			b, err := m.Cluster.Kubectl(cctx, nil, args...)
			text := string(b)
			if err != nil {
				text += "\n" + err.Error()
			}
			out = append(out, evidence.Diagnostic{Title: prefix + title, Command: "kubectl " + strings.Join(args, " "), Output: text})
		}
		run("Nodes", "get", "nodes", "-o", "wide", "--show-labels")
		run("Pods", "-n", l.Manifests.Ns(), "get", "pods", "-o", "wide")
		run("Service endpoints", "-n", l.Manifests.Ns(), "get", "services,endpointslices", "-o", "wide")
		run("Events", "-n", l.Manifests.Ns(), "get", "events", "--sort-by=.lastTimestamp")
		if nodes, err := notReady(ctx, m.Cluster); err == nil {
			for _, n := range nodes {
				run("Node "+n+" (not Ready)", "describe", "node", n)
			}
		}
	}
	return out
}

// notReady lists the cluster's nodes that are not Ready, by name.
func notReady(ctx context.Context, cl Cluster) ([]string, error) {
	out, err := cl.Kubectl(ctx, nil, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 && (len(f) < 2 || f[1] != "True") {
			names = append(names, f[0])
		}
	}
	slices.Sort(names)
	return names, nil
}

// Deploy applies the edgenode manifests and waits until every Deployment
// (cloud first) is available.
func (l *Layer) Deploy(ctx context.Context) error {
	objs, err := Manifests(l.plan, l.Manifests)
	if err != nil {
		return err
	}
	if err := l.stageModels(ctx); err != nil {
		return fmt.Errorf("stage the models of the rolled-out sites: %w", err)
	}
	for _, m := range l.members { // the cloud's first
		mine, err := l.apply(ctx, m, "edgenodes", objs)
		if err != nil {
			return err
		}
		for _, o := range mine {
			if d, ok := o.(*Deployment); ok {
				if _, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "rollout", "status", "deployment/"+d.Metadata.Name, "--timeout=180s"); err != nil {
					return fmt.Errorf("edgenodes %s not ready: %w (pods: %s)", d.Metadata.Name, err, l.podSummary(ctx, m))
				}
			}
		}
	}
	return nil
}

// apply applies the objects that belong in a cluster (by their site label;
// the namespace goes everywhere) and returns them.
func (l *Layer) apply(ctx context.Context, m *Member, what string, objs []Object) ([]Object, error) {
	var mine []Object
	for _, o := range objs {
		if site, ok := o.header().Metadata.Labels[labelSite]; !ok || m.Holds(site) {
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
	if len(l.members) > 1 {
		file = "manifests-" + m.Name + "-" + what + ".yaml"
	}
	if err := os.WriteFile(filepath.Join(l.cfg.Dir, file), b, 0o644); err != nil {
		return nil, err
	}
	_, err = m.Cluster.Kubectl(ctx, bytes.NewReader(b), "apply", "-f", "-")
	return mine, err
}

func (l *Layer) podSummary(ctx context.Context, m *Member) string {
	out, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "get", "pods", "-o", "wide", "--no-headers")
	if err != nil {
		return err.Error()
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// StartCameras starts one pod per camera host; their samples are copied
// below dir every second while they run.
func (l *Layer) StartCameras(ctx context.Context, dir string) error {
	objs, err := CameraManifests(l.plan, l.Manifests)
	if err != nil {
		return err
	}
	start := time.Now()
	for _, n := range l.plan.NodesOf(provider.RoleCamera) {
		if err := l.waitReachable(ctx, n.Name, time.Minute); err != nil {
			return err
		}
	}
	l.logf("every camera node reaches its edgenode Services (%s)", time.Since(start).Round(time.Millisecond))
	for _, m := range l.members {
		if _, err := l.apply(ctx, m, "cameras", objs); err != nil {
			return err
		}
	}
	for _, n := range l.plan.NodesOf(provider.RoleCamera) {
		m, _ := l.where(n.Name)
		if _, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "wait", "--for=condition=Ready", "pod/"+CamerasName(n.Name), "--timeout=120s"); err != nil {
			return fmt.Errorf("cameras %s not running: %w (pods: %s)", n.Name, err, l.podSummary(ctx, m))
		}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	l.mu.Lock()
	l.samples, l.stopSync, l.syncDone = dir, cancel, done
	l.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				_ = l.copySamples(sctx, dir)
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
func (l *Layer) waitReachable(ctx context.Context, host string, timeout time.Duration) error {
	m, k := l.where(host)
	services := map[string]bool{}
	for _, cam := range l.plan.CamerasOn(host) {
		for _, ep := range cam.Endpoints {
			n, _ := l.plan.Node(ep)
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
		if svc == EdgenodeName("") && l.Manifests.CloudURL != "" {
			url = l.Manifests.cloudURL("/readyz") // another cluster's, over the WAN
		} else {
			out, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "get", "service", svc, "-o", "jsonpath={.spec.clusterIP}")
			if err != nil {
				return err
			}
			url = fmt.Sprintf("http://%s:%d/readyz", strings.TrimSpace(string(out)), EdgenodePort)
		}
		var last error
		for {
			if last = l.machines.Probe(ctx, k, url); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kube: camera node %s cannot reach Service %s (%s) after %s: %v", k, svc, url, timeout, last)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// copySamples copies every camera host's samples from its node.
func (l *Layer) copySamples(ctx context.Context, dir string) error {
	var errs []error
	for _, n := range l.plan.NodesOf(provider.RoleCamera) {
		_, k := l.where(n.Name)
		dst := filepath.Join(dir, n.Name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := l.machines.CopyFrom(ctx, k, SamplesDir(n.Name), dst); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StopCameras deletes the camera pods (they flush their samples on
// SIGTERM) and copies the samples a last time.
func (l *Layer) StopCameras(ctx context.Context) error {
	l.mu.Lock()
	stop, done, dir := l.stopSync, l.syncDone, l.samples
	l.stopSync = nil
	l.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	<-done
	var deletes []error
	start := time.Now()
	for _, n := range l.plan.NodesOf(provider.RoleCamera) {
		m, _ := l.where(n.Name)
		if _, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "delete", "pod", CamerasName(n.Name), "--wait=true", "--timeout=60s"); err != nil {
			deletes = append(deletes, err)
		}
	}
	copyErr := l.copySamples(ctx, dir)
	if copyErr == nil {
		l.logf("cameras stopped and samples collected in %s", time.Since(start).Round(time.Millisecond))
	}
	return stopCamerasError(deletes, copyErr, l.cfg.Retain)
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

// Alerts reads the alerts the cloud edgenodes wrote on their nodes.
func (l *Layer) Alerts(ctx context.Context) ([]byte, error) {
	if len(l.members) == 0 {
		return nil, nil
	}
	var out []byte
	for _, n := range l.plan.NodesOf(provider.RoleCloud) {
		_, k := l.where(n.Name)
		b, err := l.machines.ReadFile(ctx, k, HostDataDir+"/alerts/alerts.jsonl")
		if err != nil {
			return out, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// Close stops the samples' copying, saves the workloads' logs as pods.log
// in the configured directory and stops watching the clusters; the
// provider deletes the clusters after it.
func (l *Layer) Close(ctx context.Context) {
	l.mu.Lock()
	stop, done, closed := l.stopSync, l.syncDone, l.closed
	l.stopSync, l.closed = nil, true
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if closed {
		return
	}
	var logs []byte
	for _, m := range l.members {
		// Logs of pods on a dead node cannot be had: do not wait for them.
		if out, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "logs", "--all-containers", "--prefix", "--tail=-1",
			"--ignore-errors", "--request-timeout=10s",
			"-l", labelPart+"=edgesim", "--max-log-requests=50"); err == nil {
			logs = append(logs, out...)
		}
	}
	if len(logs) > 0 {
		_ = os.WriteFile(filepath.Join(l.cfg.Dir, "pods.log"), logs, 0o644)
	}
	for _, m := range l.members {
		if m.stopWatch != nil {
			m.stopWatch()
			<-m.watchDone
			m.stopWatch = nil
		}
	}
}

// AttachLinks gives every plan node's machine a netem host in its network
// namespace (pid names a process in it), creates the plan's links between
// their groups and tunnels pod traffic through them with ip(8) in those
// namespaces (between every pair of nodes, also of different clusters,
// whose pod networks must then be distinct). The engine must have an MTU
// of at least EngineMTU. It returns the hosts by plan node and the links
// by plan name, as far as it got when it fails.
func (l *Layer) AttachLinks(ctx context.Context, eng netem.Engine, pid func(node string) int) (map[string]netem.EngineHost, provider.Links, error) {
	add := func(ctx context.Context, n provider.Node) (netem.EngineHost, error) {
		return eng.AddHost(ctx, netem.HostSpec{Name: n.EngineHost(), Group: n.Group, PID: pid(n.Name)})
	}
	return l.AttachLinksWith(ctx, eng, add, Tunnel[netem.EngineHost])
}

// AttachLinksWith is AttachLinks with the provider's own ways to put a
// plan node on the engine (add) and to make the pod tunnels between the
// hosts (tunnel; podCIDRs[i] is hosts[i]'s pod network).
func (l *Layer) AttachLinksWith(ctx context.Context, eng netem.Engine,
	add func(ctx context.Context, n provider.Node) (netem.EngineHost, error),
	tunnel func(ctx context.Context, hosts []netem.EngineHost, podCIDRs []*net.IPNet) error,
) (map[string]netem.EngineHost, provider.Links, error) {
	byNode, links := map[string]netem.EngineHost{}, provider.Links{}
	var hosts []netem.EngineHost
	var cidrList []*net.IPNet
	for _, m := range l.members {
		cidrs, err := podCIDRs(ctx, m.Cluster)
		if err != nil {
			return byNode, links, err
		}
		for _, b := range m.Nodes {
			n, _ := l.plan.Node(b.Plan)
			if cidrs[b.Kube] == nil {
				return byNode, links, fmt.Errorf("kube: node %s has no PodCIDR yet", b.Kube)
			}
			h, err := add(ctx, n)
			if err != nil {
				return byNode, links, fmt.Errorf("node %s: %w", n.Name, err)
			}
			hosts, cidrList = append(hosts, h), append(cidrList, cidrs[b.Kube])
			byNode[n.Name] = h
		}
	}
	for _, pl := range l.plan.Links {
		lk, err := eng.Link(ctx, pl.A, pl.B, pl.Up, pl.Down)
		if err != nil {
			return byNode, links, fmt.Errorf("link %s: %w", pl.Name, err)
		}
		links[pl.Name] = lk
	}
	l.mu.Lock()
	l.hosts = byNode
	l.mu.Unlock()
	return byNode, links, tunnel(ctx, hosts, cidrList)
}
