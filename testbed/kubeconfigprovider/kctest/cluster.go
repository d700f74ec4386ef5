package kctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	kindc "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/kubeconfigprovider"
)

// NamePrefix starts the name of every cluster CreateCluster makes, so
// leftovers are recognisable (`kind get clusters`, `podman ps -a`).
const NamePrefix = "esx-"

// ErrExists is returned by CreateCluster when a kind cluster of the name
// exists already; it is left alone.
var ErrExists = errors.New("a kind cluster of this name exists already")

// Worker is one worker node.
type Worker struct {
	// Labels are put on the worker's Kubernetes node.
	Labels map[string]string
}

// Cluster is a kind cluster CreateCluster made.
type Cluster struct {
	// Name is the kind cluster's name (with NamePrefix).
	Name string
	// Kubeconfig is the path of the cluster's kubeconfig; its server is
	// the control plane's port published on 127.0.0.1.
	Kubeconfig string
	// CreateDuration is how long kind's create took, ReadyDuration how
	// long after that every node took to be Ready.
	CreateDuration, ReadyDuration time.Duration

	dir      string
	provider *kindcluster.Provider
}

// Option configures CreateCluster.
type Option func(*options)

type options struct {
	log          io.Writer
	image        string
	workers      []Worker
	kubectl      string
	readyTimeout time.Duration
}

// WithLog sends kind's progress messages to w.
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// WithNodeImage sets the node image (default: the image testbed/kind/nodeimage
// builds for its default Kubernetes release, `edgesim image node`).
func WithNodeImage(ref string) Option { return func(o *options) { o.image = ref } }

// WithWorkers gives the first len(ws) workers their labels.
func WithWorkers(ws ...Worker) Option { return func(o *options) { o.workers = ws } }

// WithKubectl sets the kubectl used to wait for the nodes (default:
// kubeconfigprovider.FindKubectl).
func WithKubectl(path string) Option { return func(o *options) { o.kubectl = path } }

// WithReadyTimeout bounds the wait for every node to be Ready (default 4m).
func WithReadyTimeout(d time.Duration) Option { return func(o *options) { o.readyTimeout = d } }

// DefaultNodeImage is the node image testbed/kind/nodeimage builds for its
// default Kubernetes release.
func DefaultNodeImage() (string, error) {
	v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
	if err != nil {
		return "", err
	}
	return v.Tag(), nil
}

// DefaultKubectl is the kubectl on PATH, or the one `edgesim image node`
// built and cached.
func DefaultKubectl() (string, error) {
	return kubeconfigprovider.FindKubectl(exec.LookPath, nodeimage.DefaultCacheDir)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// CreateCluster makes a kind cluster of a control plane and workers with
// kind's Go API on Podman, from a v1alpha4 configuration written here, as
// a user would (not through edgesim's kind provider). Its nodes' containerd
// pulls images named reg.Addr()/... over plain HTTP: the CRI registry
// plugin reads /etc/containerd/certs.d, where each node gets a hosts.toml
// for the registry (mounted read-only from a directory of the Cluster).
// name gets NamePrefix unless it has it. It returns once every node is
// Ready and untainted (see waitNodesReady); on failure nothing of the
// cluster is left. A cluster of the name that exists already is an
// ErrExists and is not touched.
//
// Podman runs the nodes with edgesim's Podman settings (runc, nofile and
// nproc limits: kindc.UsePodmanConf), set in this process's environment
// for the duration of the call.
func CreateCluster(ctx context.Context, name string, workers int, reg *Registry, opts ...Option) (*Cluster, error) {
	o := options{readyTimeout: 4 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if !strings.HasPrefix(name, NamePrefix) {
		name = NamePrefix + name
	}
	if !dnsLabel.MatchString(name) || len(name) > kindc.MaxName {
		return nil, fmt.Errorf("cluster name %q: want lower-case letters, digits and '-', at most %d characters", name, kindc.MaxName)
	}
	if workers < 0 || len(o.workers) > workers {
		return nil, fmt.Errorf("cluster %s: %d workers with %d labelled ones", name, workers, len(o.workers))
	}
	if reg == nil {
		return nil, errors.New("cluster " + name + ": a registry is required")
	}
	var err error
	if o.image == "" {
		if o.image, err = DefaultNodeImage(); err != nil {
			return nil, err
		}
	}
	if o.kubectl == "" {
		if o.kubectl, err = DefaultKubectl(); err != nil {
			return nil, err
		}
	}

	provider := kindcluster.NewProvider(kindcluster.ProviderWithPodman(), kindcluster.ProviderWithLogger(kindc.Logger(o.log)))
	existing, err := provider.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	if slices.Contains(existing, name) {
		return nil, fmt.Errorf("%w: %s", ErrExists, name)
	}

	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: name, Kubeconfig: filepath.Join(dir, "kubeconfig"), dir: dir, provider: provider}
	certsD := filepath.Join(dir, "certs.d")
	if err := writeHostsTOML(certsD, reg.Addr()); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg := kindConfig(name, o.image, workers, o.workers, certsD)

	restore, err := kindc.UsePodmanConf(dir, "")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	start := time.Now()
	err = provider.Create(name,
		kindcluster.CreateWithV1Alpha4Config(cfg),
		kindcluster.CreateWithNodeImage(o.image),
		kindcluster.CreateWithWaitForReady(0),
		kindcluster.CreateWithKubeconfigPath(c.Kubeconfig),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	)
	c.CreateDuration = time.Since(start)
	err = errors.Join(err, restore())
	if err != nil && strings.Contains(err.Error(), "already exist") {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %s (made meanwhile by someone else): %v", ErrExists, name, err)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		// The name was free before: whatever kind left of it is ours.
		return nil, errors.Join(fmt.Errorf("create kind cluster %s: %w", name, err), c.Delete(context.WithoutCancel(ctx)))
	}
	start = time.Now()
	if err := waitNodesReady(ctx, o.kubectl, c.Kubeconfig, 1+workers, o.readyTimeout); err != nil {
		return nil, errors.Join(fmt.Errorf("kind cluster %s: %w", name, err), c.Delete(context.WithoutCancel(ctx)))
	}
	// A cluster a user hands over has settled: every pod of its own
	// (CoreDNS) is ready, or their endpoints would change under a dump
	// taken now (a Deployment is Available with one replica of two).
	k := &kubeconfigprovider.Kubectl{Path: o.kubectl, Target: kubeconfigprovider.Target{Kubeconfig: c.Kubeconfig}}
	if _, err := k.Kubectl(ctx, nil, "-n", "kube-system", "wait", "--for=condition=Ready", "pod", "--all",
		fmt.Sprintf("--timeout=%ds", int(o.readyTimeout.Seconds()))); err != nil {
		return nil, errors.Join(fmt.Errorf("kind cluster %s: kube-system not available: %w", name, err), c.Delete(context.WithoutCancel(ctx)))
	}
	c.ReadyDuration = time.Since(start)
	return c, nil
}

// containerdPatch points the CRI plugin's registry configuration at
// certs.d. The node image's containerd (2.1) reads its version 2 config
// and migrates this key to the CRI images plugin, as kind's documentation
// for local registries relies on.
const containerdPatch = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`

// kindConfig is the v1alpha4 configuration of the cluster.
func kindConfig(name, image string, workers int, labelled []Worker, certsD string) *v1alpha4.Cluster {
	mount := []v1alpha4.Mount{{HostPath: certsD, ContainerPath: "/etc/containerd/certs.d", Readonly: true}}
	cfg := &v1alpha4.Cluster{
		TypeMeta:                v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:                    name,
		Nodes:                   []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole, Image: image, ExtraMounts: mount}},
		ContainerdConfigPatches: []string{containerdPatch},
		KubeadmConfigPatches:    []string{kindc.KubeletCgroupV1Patch},
	}
	for i := range workers {
		n := v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: image, ExtraMounts: mount}
		if i < len(labelled) {
			n.Labels = labelled[i].Labels
		}
		cfg.Nodes = append(cfg.Nodes, n)
	}
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg
}

// HostsTOML is containerd's host configuration for a plain-HTTP registry
// at addr (host:port).
func HostsTOML(addr string) string {
	return fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n  skip_verify = true\n",
		"http://"+addr, "http://"+addr)
}

func writeHostsTOML(certsD, addr string) error {
	d := filepath.Join(certsD, addr)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(HostsTOML(addr)), 0o644)
}

// waitNodesReady polls until want nodes are registered, all Ready and
// without the taints the node lifecycle controller removes a few seconds
// after a node turns Ready (node.kubernetes.io/not-ready): before that the
// cluster is still changing by itself (an object dump taken at Ready saw
// a worker's spec.taints change).
func waitNodesReady(ctx context.Context, kubectl, kubeconfig string, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	k := &kubeconfigprovider.Kubectl{Path: kubectl, Target: kubeconfigprovider.Target{Kubeconfig: kubeconfig}}
	var last error
	for {
		out, err := k.Kubectl(ctx, nil, "get", "nodes", "-o", "json")
		if err == nil {
			last = nodesReady(out, want)
			if last == nil {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not Ready after %s: %w", timeout, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// settlingTaints are put on a node until it is Ready and initialised.
var settlingTaints = []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "node.cloudprovider.kubernetes.io/uninitialized"}

func nodesReady(list []byte, want int) error {
	var l struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Taints []struct{ Key string } `json:"taints"`
			} `json:"spec"`
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(list, &l); err != nil {
		return err
	}
	var notReady []string
	for _, n := range l.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		for _, t := range n.Spec.Taints {
			ready = ready && !slices.Contains(settlingTaints, t.Key)
		}
		if !ready {
			notReady = append(notReady, n.Metadata.Name)
		}
	}
	if len(l.Items) != want || len(notReady) > 0 {
		return fmt.Errorf("%d of %d nodes registered, not Ready or still tainted %v: %v", len(l.Items), want, settlingTaints, notReady)
	}
	return nil
}

// Delete deletes the cluster's nodes (only this cluster's: kind selects
// them by its cluster label), its kubeconfig and the directory holding
// the registry configuration. It is safe to call twice.
func (c *Cluster) Delete(ctx context.Context) error {
	err := c.provider.Delete(c.Name, c.Kubeconfig)
	if err != nil {
		// Podman's rm sometimes fails on a container still stopping.
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			err = c.provider.Delete(c.Name, c.Kubeconfig)
		}
	}
	if err != nil {
		err = fmt.Errorf("delete kind cluster %s: %w", c.Name, err)
	}
	if left, lerr := c.provider.ListNodes(c.Name); lerr == nil && len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("kind cluster %s left %d node containers", c.Name, len(left)))
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}
