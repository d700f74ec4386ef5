// Package cluster creates and deletes kind clusters for edgesim on Docker or
// Podman through the sigs.k8s.io/kind library: a control plane and workers
// labelled with their tier and site, on a node image built by
// testbed/kind/nodeimage (no registry needed) or an upstream kindest/node
// image where a registry is reachable.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/edgesim/edgesim/internal/naming"
)

// Label keys edgesim puts on worker nodes.
const (
	LabelTier = "edgesim.dev/tier"
	LabelSite = "edgesim.dev/site"
)

// Worker is one worker node.
type Worker struct {
	Tier string // e.g. "cloud" or "edge"
	Site string // e.g. "site-a"
}

// Spec describes a cluster.
type Spec struct {
	// Name of the kind cluster (and prefix of its node containers).
	Name string
	// Image is the node image, e.g. nodeimage's Versions.Tag() or
	// "kindest/node:v1.34.0".
	Image string
	// Workers, in order; the control plane is always added.
	Workers []Worker
	// NodeGracePeriod is how long the control plane waits for a silent
	// node before marking it NotReady (the controller manager's
	// --node-monitor-grace-period; Kubernetes' default is 50 s). When set,
	// kubelets also renew their lease every NodeGracePeriod/5, so a live
	// but busy node is not mistaken for a dead one. 0 keeps the defaults.
	NodeGracePeriod time.Duration
	// PodSubnet is the cluster's pod network (kind's default, 10.244.0.0/16,
	// when empty). Clusters whose pods reach each other need distinct ones.
	PodSubnet string
}

// DefaultWorkers is the smallest fleet: a cloud node and two edge sites.
func DefaultWorkers() []Worker {
	return []Worker{{Tier: "cloud", Site: "cloud"}, {Tier: "edge", Site: "site-a"}, {Tier: "edge", Site: "site-b"}}
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// MaxName is the longest cluster name: its nodes are named after it
// ("<name>-control-plane", "<name>-worker<i>") and must stay DNS labels.
const MaxName = 40

// Validate checks a Spec and returns every problem at once.
func (s Spec) Validate() error {
	var errs []string
	if !dns1123.MatchString(s.Name) || len(s.Name) > MaxName {
		errs = append(errs, fmt.Sprintf("name %q: want lower-case letters, digits and '-', at most %d characters", s.Name, MaxName))
	}
	if s.Image == "" {
		errs = append(errs, "image: required (build one with `edgesim image node`)")
	}
	if s.PodSubnet != "" {
		if _, n, err := net.ParseCIDR(s.PodSubnet); err != nil || n.IP.To4() == nil {
			errs = append(errs, fmt.Sprintf("podSubnet %q: want an IPv4 network such as 10.243.0.0/16", s.PodSubnet))
		}
	}
	if g := s.NodeGracePeriod; g != 0 && (g < 5*time.Second || g%time.Second != 0) {
		errs = append(errs, fmt.Sprintf("nodeGracePeriod %s: want 0 (Kubernetes' default) or whole seconds of at least 5s", g))
	}
	for i, w := range s.Workers {
		for k, v := range map[string]string{"tier": w.Tier, "site": w.Site} {
			if !dns1123.MatchString(v) || len(v) > naming.MaxDNSLabel {
				errs = append(errs, fmt.Sprintf("workers[%d].%s %q: want a DNS label such as \"edge\" or \"site-a\"", i, k, v))
			}
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrBadSpec, strings.Join(errs, "; "))
	}
	return nil
}

// KindConfig renders the kind v1alpha4 configuration of a Spec.
func (s Spec) KindConfig() *v1alpha4.Cluster {
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     s.Name,
		Nodes:    []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole, Image: s.Image}},
	}
	for _, w := range s.Workers {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{
			Role:   v1alpha4.WorkerRole,
			Image:  s.Image,
			Labels: map[string]string{LabelTier: w.Tier, LabelSite: w.Site},
		})
	}
	cfg.KubeadmConfigPatches = append([]string{KubeletCgroupV1Patch}, s.nodeGracePatches()...)
	cfg.Networking.PodSubnet = s.PodSubnet
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg
}

// KubeletCgroupV1Patch lets the kubelet run on a cgroup v1 host: from
// Kubernetes 1.35 it refuses to unless failCgroupV1 is false (the field
// exists since 1.31, where false is its default; it changes nothing on
// cgroup v2 hosts).
const KubeletCgroupV1Patch = "kind: KubeletConfiguration\nfailCgroupV1: false\n"

// nodeGracePatches are the kubeadm patches behind NodeGracePeriod: the
// controller manager checks nodes every second and gives up on one after
// the grace period; kubelets renew their lease five times per grace period
// (the lease lasts four renewals, as by default) and post their status as
// often.
func (s Spec) nodeGracePatches() []string {
	if s.NodeGracePeriod == 0 {
		return nil
	}
	grace := int64(s.NodeGracePeriod / time.Second)
	renew := max(1, grace/5)
	return []string{
		fmt.Sprintf("kind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n    node-monitor-period: \"1s\"\n    node-monitor-grace-period: \"%ds\"\n", grace),
		fmt.Sprintf("kind: KubeletConfiguration\nnodeLeaseDurationSeconds: %d\nnodeStatusUpdateFrequency: \"%ds\"\n", 4*renew, renew),
	}
}

// Cluster is a created kind cluster.
type Cluster struct {
	Spec    Spec
	Runtime Runtime
	// Kubeconfig is the cluster's kubeconfig for use from the host.
	Kubeconfig string
	// CreateDuration is how long kind took to create the cluster, and
	// ReadyDuration how long after that all nodes took to become Ready.
	CreateDuration, ReadyDuration time.Duration

	// ContainerIDs are the node containers Create made: the proof, kept in
	// edgesim's state record, that they are edgesim's to delete.
	ContainerIDs []string

	provider       kindAPI
	createdNetwork bool
	log            io.Writer
}

// Option configures Create.
type Option func(*options)

type options struct {
	log          io.Writer
	readyTimeout time.Duration
	now          func() time.Time
}

// WithLog sends kind's progress messages to w.
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// WithReadyTimeout bounds the wait for every node to be Ready (default 3m).
func WithReadyTimeout(d time.Duration) Option { return func(o *options) { o.readyTimeout = d } }

// WithClock replaces time.Now for the durations in Cluster.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// kindNetwork is the container network kind puts every cluster on.
const kindNetwork = "kind"

// ErrClusterExists is returned by Create when a cluster of the name exists
// already: edgesim did not make it, so it leaves it alone.
var ErrClusterExists = errors.New("a kind cluster of this name exists already")

// ErrNotOwned is returned by DeleteOwned when a container of the cluster
// carries no proof that edgesim made it; nothing is deleted then.
var ErrNotOwned = errors.New("not made by edgesim")

// Create creates the cluster on rt and waits until every node is Ready. A
// cluster of the same name that exists already (someone else's) is an
// ErrClusterExists and is never touched. On any other failure, including
// nodes that never become Ready (the error then carries each node's kubelet
// log), the cluster this call made is deleted again. kind's library takes
// no context: when ctx ends during kind's create, Create waits for kind to
// return and then deletes the cluster.
func Create(ctx context.Context, rt Runtime, spec Spec, opts ...Option) (*Cluster, error) {
	o := options{readyTimeout: 3 * time.Minute, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	kp, err := newKind(rt, o.log)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Spec: spec, Runtime: rt, log: o.log, provider: kp}
	if ids, err := nodeIDs(ctx, rt, spec.Name); err != nil {
		return nil, err
	} else if len(ids) > 0 {
		return nil, existsErr(spec.Name)
	}
	c.createdNetwork = !NetworkExists(ctx, rt)

	start := o.now()
	done := make(chan error, 1)
	go func() {
		done <- c.provider.Create(spec.Name,
			kindcluster.CreateWithV1Alpha4Config(spec.KindConfig()),
			kindcluster.CreateWithNodeImage(spec.Image),
			kindcluster.CreateWithWaitForReady(0),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
			kindcluster.CreateWithKubeconfigPath(kubeconfigPath(spec.Name)),
		)
	}()
	err = <-done
	c.CreateDuration = o.now().Sub(start)
	if err != nil && strings.Contains(err.Error(), "already exist") {
		// Made by someone else between the check and kind's create.
		return nil, errors.Join(existsErr(spec.Name), err)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		// No node of the name existed before: what is there now is ours.
		derr := c.Delete(context.WithoutCancel(ctx))
		return nil, errors.Join(fmt.Errorf("create kind cluster %q: %w", spec.Name, err), derr)
	}
	c.ContainerIDs, err = nodeIDs(ctx, rt, spec.Name)
	if err != nil {
		derr := c.Delete(context.WithoutCancel(ctx))
		return nil, errors.Join(err, derr)
	}
	c.Kubeconfig = kubeconfigPath(spec.Name)
	readyStart := o.now()
	if err := c.WaitReady(ctx, o.readyTimeout); err != nil {
		derr := c.Delete(context.WithoutCancel(ctx))
		return nil, errors.Join(err, derr)
	}
	c.ReadyDuration = o.now().Sub(readyStart)
	return c, nil
}

func existsErr(name string) error {
	return fmt.Errorf("%w: %q; edgesim leaves it alone: choose another testbed name, or delete it yourself with `kind delete cluster --name %s` if it is not needed", ErrClusterExists, name, name)
}

// kindAPI is the part of kind's library edgesim uses (a seam for tests).
type kindAPI interface {
	Create(name string, options ...kindcluster.CreateOption) error
	Delete(name, explicitKubeconfigPath string) error
}

// Seams for tests: kind's library and the container runtime's CLI.
var (
	newKind       = func(rt Runtime, log io.Writer) (kindAPI, error) { return kindProvider(rt, log) }
	runtimeOutput = func(ctx context.Context, rt Runtime, args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, string(rt), args...).Output()
	}
)

// nodeIDs lists the full IDs of the containers kind labelled as the named
// cluster's nodes.
func nodeIDs(ctx context.Context, rt Runtime, name string) ([]string, error) {
	out, err := runtimeOutput(ctx, rt, "ps", "-a", "-q", "--no-trunc", "--filter", "label="+kindClusterLabel+"="+name)
	if err != nil {
		return nil, fmt.Errorf("list the containers of kind cluster %q: %w", name, err)
	}
	return strings.Fields(string(out)), nil
}

// kindClusterLabel is the label kind puts on every node container.
const kindClusterLabel = "io.x-k8s.kind.cluster"

// OwnerAnnotation is the annotation edgesim's per-run Podman configuration
// (PodmanConf) puts on every container the run makes.
const OwnerAnnotation = "dev.edgesim.owner"

// Proof is what shows a cluster's containers are edgesim's: the IDs
// recorded after Create, or the owner token the run put on its Podman
// containers (which also covers a run killed during kind's create).
type Proof struct {
	Owner string   `json:"owner,omitempty"`
	IDs   []string `json:"container_ids,omitempty"`
}

// owned reports the containers of the cluster that the proof does not cover.
func (p Proof) unproven(ctx context.Context, rt Runtime, ids []string) ([]string, error) {
	var bad []string
	for _, id := range ids {
		if slices.Contains(p.IDs, id) {
			continue
		}
		if p.Owner != "" && rt == Podman {
			out, err := runtimeOutput(ctx, rt, "inspect", "--format", `{{index .Config.Annotations "`+OwnerAnnotation+`"}}`, id)
			if err != nil {
				return nil, fmt.Errorf("inspect container %s: %w", id, err)
			}
			if strings.TrimSpace(string(out)) == p.Owner {
				continue
			}
		}
		bad = append(bad, id)
	}
	return bad, nil
}

func kubeconfigPath(name string) string { return "/tmp/edgesim-kind-" + name + ".kubeconfig" }

func (c *Cluster) runtimeOK(ctx context.Context, args ...string) bool {
	_, err := runtimeOutput(ctx, c.Runtime, args...)
	return err == nil
}

// ControlPlane is the name of the control-plane node container.
func (c *Cluster) ControlPlane() string { return c.Spec.Name + "-control-plane" }

// Kubectl runs kubectl inside the control-plane node with the cluster's
// admin credentials, so the host needs no kubectl, and returns its stdout.
func (c *Cluster) Kubectl(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := c.KubectlCommand(ctx, args...)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// KubectlCommand is the command Kubectl runs, for callers that stream its
// output (e.g. `get --watch`). It is killed with edgesim: a watch must not
// outlive the process that reads it.
func (c *Cluster) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"exec", "-i", c.ControlPlane(), "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"}, args...)
	cmd := exec.CommandContext(ctx, string(c.Runtime), full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// NodeStatus is a node's name, labels and whether it is Ready.
type NodeStatus struct {
	Name   string
	Ready  bool
	Labels map[string]string
}

// ParseNodes decodes `kubectl get nodes -o json`.
func ParseNodes(b []byte) ([]NodeStatus, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("decode node list: %w", err)
	}
	out := make([]NodeStatus, 0, len(list.Items))
	for _, it := range list.Items {
		n := NodeStatus{Name: it.Metadata.Name, Labels: it.Metadata.Labels}
		for _, cond := range it.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				n.Ready = true
			}
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Nodes lists the cluster's nodes.
func (c *Cluster) Nodes(ctx context.Context) ([]NodeStatus, error) {
	out, err := c.Kubectl(ctx, nil, "get", "nodes", "-o", "json")
	if err != nil {
		return nil, err
	}
	return ParseNodes(out)
}

// NotReadyError lists the nodes that never became Ready, with the tail of
// each one's kubelet journal.
type NotReadyError struct {
	Cluster  string
	NotReady []string
	// KubeletLogs maps node name to its kubelet log tail.
	KubeletLogs map[string]string
	Last        error
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind cluster %q: nodes never became Ready: %s", e.Cluster, strings.Join(e.NotReady, ", "))
	if e.Last != nil {
		fmt.Fprintf(&b, " (last error: %v)", e.Last)
	}
	for _, n := range e.NotReady {
		fmt.Fprintf(&b, "\n--- kubelet log of %s ---\n%s", n, e.KubeletLogs[n])
	}
	return b.String()
}

func (e *NotReadyError) Unwrap() error { return ErrNodesNotReady }

// WaitReady waits until all 1+len(Workers) nodes are Ready. When timeout
// passes first it returns a *NotReadyError with the kubelet logs.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	want := 1 + len(c.Spec.Workers)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	var notReady []string
	for {
		nodes, err := c.Nodes(wctx)
		last = err
		if err == nil {
			notReady = notReady[:0]
			for _, n := range nodes {
				if !n.Ready {
					notReady = append(notReady, n.Name)
				}
			}
			if len(nodes) == want && len(notReady) == 0 {
				return nil
			}
			if len(nodes) < want {
				last = fmt.Errorf("%d of %d nodes registered", len(nodes), want)
			}
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if len(notReady) == 0 {
				notReady = c.nodeContainers()
			}
			logs := map[string]string{}
			for _, n := range notReady {
				logs[n] = c.KubeletLog(context.WithoutCancel(ctx), n)
			}
			return &NotReadyError{Cluster: c.Spec.Name, NotReady: append([]string(nil), notReady...), KubeletLogs: logs, Last: last}
		case <-time.After(2 * time.Second):
		}
	}
}

func (c *Cluster) nodeContainers() []string {
	names := []string{c.ControlPlane()}
	for i := range c.Spec.Workers {
		names = append(names, WorkerName(c.Spec.Name, i))
	}
	return names
}

// WorkerName is kind's name of a cluster's i-th worker (from 0): its
// container and its Kubernetes node.
func WorkerName(cluster string, i int) string {
	if i == 0 {
		return cluster + "-worker"
	}
	return fmt.Sprintf("%s-worker%d", cluster, i+1)
}

// KubeletLog returns the last 200 lines of a node's kubelet journal.
func (c *Cluster) KubeletLog(ctx context.Context, node string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, string(c.Runtime), "exec", node,
		"journalctl", "-u", "kubelet", "--no-pager", "-n", "200").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(could not read the kubelet journal: %v)\n%s", err, out)
	}
	return string(out)
}

// Delete deletes the cluster's nodes and volumes, and the kind network when
// Create made it and no other container uses it. It is safe to call twice.
func (c *Cluster) Delete(ctx context.Context) error {
	c.kill(ctx)
	err := c.provider.Delete(c.Spec.Name, kubeconfigPath(c.Spec.Name))
	if err != nil && len(c.Leftovers(ctx)) > 0 {
		// On a saturated host Podman's rm sometimes fails (exit 125) on a
		// container still stopping; the cluster's own nodes get one more try.
		select {
		case <-ctx.Done():
		case <-time.After(deleteRetry):
			err = c.provider.Delete(c.Spec.Name, kubeconfigPath(c.Spec.Name))
		}
	}
	if err != nil {
		err = fmt.Errorf("delete kind cluster %q: %w", c.Spec.Name, err)
	}
	// kind only removes the cluster's entries; the file is edgesim's own.
	if rerr := os.Remove(kubeconfigPath(c.Spec.Name)); rerr != nil && !os.IsNotExist(rerr) {
		err = errors.Join(err, rerr)
	}
	if left := c.Leftovers(ctx); len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("kind cluster %q left containers behind: %s", c.Spec.Name, strings.Join(left, ", ")))
	}
	if c.createdNetwork {
		out, lerr := runtimeOutput(ctx, c.Runtime, "ps", "-a", "-q", "--filter", "network="+kindNetwork)
		if lerr == nil && strings.TrimSpace(string(out)) == "" && c.runtimeOK(ctx, "network", "inspect", kindNetwork) {
			if _, nerr := runtimeOutput(ctx, c.Runtime, "network", "rm", kindNetwork); nerr != nil {
				err = errors.Join(err, fmt.Errorf("remove network %q: %w", kindNetwork, nerr))
			}
		}
	}
	return err
}

// kill sends SIGKILL to the cluster's node containers before kind removes
// them. kind's `rm -f` stops each node with its stop signal first, and
// systemd shutting down the kubelet, containerd and the pods takes up to
// the runtime's 10-s stop timeout; nothing on a node being deleted needs
// an orderly shutdown. Errors are left to the delete that follows (a
// stopped node cannot be killed but is removed all the same).
func (c *Cluster) kill(ctx context.Context) {
	if ids, err := nodeIDs(ctx, c.Runtime, c.Spec.Name); err == nil && len(ids) > 0 {
		_, _ = runtimeOutput(ctx, c.Runtime, append([]string{"kill", "--signal", "KILL"}, ids...)...)
	}
}

// deleteRetry is how long Delete waits before deleting again what a
// failed delete left.
const deleteRetry = 2 * time.Second

// DeleteOwned deletes a cluster this process did not create (e.g. one a
// killed run left behind), with its containers and kubeconfig file, but
// only when proof covers every one of its node containers: otherwise it
// returns ErrNotOwned and deletes nothing. A cluster that does not exist is
// not an error. With ownNetwork, kind's container network is removed too
// once no container uses it (pass NetworkExists from before the cluster
// was created, negated).
func DeleteOwned(ctx context.Context, rt Runtime, name string, proof Proof, ownNetwork bool) error {
	kp, err := newKind(rt, nil)
	if err != nil {
		return err
	}
	ids, err := nodeIDs(ctx, rt, name)
	if err != nil {
		return err
	}
	bad, err := proof.unproven(ctx, rt, ids)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("kind cluster %q: %w: %d of its %d containers carry no mark of the run that recorded it (a cluster of the same name made by someone else?); delete it yourself with `kind delete cluster --name %s` if it is not needed", name, ErrNotOwned, len(bad), len(ids), name)
	}
	return (&Cluster{Spec: Spec{Name: name}, Runtime: rt, provider: kp, createdNetwork: ownNetwork}).Delete(ctx)
}

// NetworkExists reports whether kind's container network exists on rt.
func NetworkExists(ctx context.Context, rt Runtime) bool {
	_, err := runtimeOutput(ctx, rt, "network", "inspect", kindNetwork)
	return err == nil
}

// kindProvider is kind's library on a runtime.
func kindProvider(rt Runtime, log io.Writer) (*kindcluster.Provider, error) {
	var popt kindcluster.ProviderOption
	switch rt {
	case Podman:
		popt = kindcluster.ProviderWithPodman()
	case Docker:
		popt = kindcluster.ProviderWithDocker()
	default:
		return nil, fmt.Errorf("%w: unknown runtime %q", ErrNoRuntime, rt)
	}
	return kindcluster.NewProvider(popt, kindcluster.ProviderWithLogger(logger{w: log})), nil
}

// Leftovers lists containers that still carry the cluster's kind label.
func (c *Cluster) Leftovers(ctx context.Context) []string {
	out, err := runtimeOutput(ctx, c.Runtime, "ps", "-a", "--format", "{{.Names}}",
		"--filter", "label="+kindClusterLabel+"="+c.Spec.Name)
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// Logger is kind's logger writing "kind: ..." lines to w (nil discards).
func Logger(w io.Writer) kindlog.Logger { return logger{w: w} }

// logger adapts kind's logger to an io.Writer (nil discards).
type logger struct{ w io.Writer }

func (l logger) print(prefix, msg string) {
	if l.w != nil {
		fmt.Fprintln(l.w, prefix+strings.TrimRight(msg, "\n"))
	}
}
func (l logger) Warn(m string)                        { l.print("kind: warning: ", m) }
func (l logger) Warnf(f string, a ...any)             { l.Warn(fmt.Sprintf(f, a...)) }
func (l logger) Error(m string)                       { l.print("kind: error: ", m) }
func (l logger) Errorf(f string, a ...any)            { l.Error(fmt.Sprintf(f, a...)) }
func (l logger) V(v kindlog.Level) kindlog.InfoLogger { return infoLogger{l: l, on: v <= 0} }

type infoLogger struct {
	l  logger
	on bool
}

func (i infoLogger) Info(m string) {
	if i.on {
		i.l.print("kind: ", m)
	}
}
func (i infoLogger) Infof(f string, a ...any) { i.Info(fmt.Sprintf(f, a...)) }
func (i infoLogger) Enabled() bool            { return i.on }
