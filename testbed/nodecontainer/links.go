package nodecontainer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/internal/naming"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

// ClusterNamePrefix starts the name of every cluster a run creates.
const ClusterNamePrefix = "es-"

// ClusterName turns a run's testbed name into a cluster name: a DNS label
// of at most max characters starting with ClusterNamePrefix (shortened
// with naming.Fit when longer).
func ClusterName(testbedName string, max int) string {
	b := []byte(strings.ToLower(testbedName))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return naming.Fit(ClusterNamePrefix+strings.Trim(string(b), "-"), max)
}

// EngineConfig configures the netem engine of a testbed's links.
type EngineConfig struct {
	// Cluster names the engine (shortened to netem.MaxName, see
	// EngineName).
	Cluster string
	// StateDir is netem's state record directory ("" = netem's default).
	StateDir string
	Registry prometheus.Registerer
	Seed     int64
}

// EngineName is the netem testbed name of a cluster's links: the cluster
// name, shortened with naming.Fit when longer than netem allows.
func EngineName(cluster string) string { return naming.Fit(cluster, netem.MaxName) }

// NewEngine makes the userspace engine of a testbed's links, with the MTU
// the Kubernetes layer's pod tunnels need.
func NewEngine(ctx context.Context, c EngineConfig) (netem.Engine, error) {
	opts := []netem.Option{netem.WithSeed(c.Seed), netem.WithName(EngineName(c.Cluster)), netem.WithMTU(kube.EngineMTU)}
	if c.Registry != nil {
		opts = append(opts, netem.WithRegisterer(c.Registry))
	}
	if c.StateDir != "" {
		opts = append(opts, netem.WithStateDir(c.StateDir))
	}
	return netem.NewEngine(ctx, opts...)
}

// Links are the emulated links between a testbed's node containers: a
// netem engine with a host in every plan node's container and the plan's
// links between their groups, which the Kubernetes layer tunnels pod
// traffic through.
type Links struct {
	eng   netem.Engine
	links provider.Links
	hosts map[string]netem.EngineHost
}

// AttachLinks makes the engine and has the layer attach the plan's links
// to the node containers (pid gives each plan node's container PID). On
// failure it returns what it made, for Close.
func AttachLinks(ctx context.Context, layer *kube.Layer, c EngineConfig, pid func(node string) int) (*Links, error) {
	eng, err := NewEngine(ctx, c)
	if err != nil {
		return nil, err
	}
	l := &Links{eng: eng}
	l.hosts, l.links, err = layer.AttachLinks(ctx, eng, pid)
	return l, err
}

// Host is a plan node's emulated host.
func (l *Links) Host(node string) (netem.EngineHost, bool) {
	if l == nil {
		return nil, false
	}
	h, ok := l.hosts[node]
	return h, ok
}

// Stats are the links' counters, by plan link name.
func (l *Links) Stats() []netem.LinkStats {
	if l == nil {
		return nil
	}
	return l.links.Stats(l.eng)
}

// Close removes the links and the engine's devices; it is safe to call on
// nil and twice.
func (l *Links) Close(ctx context.Context) error {
	if l == nil || l.eng == nil {
		return nil
	}
	err := l.eng.Close(context.WithoutCancel(ctx))
	l.eng = nil
	return err
}

// Workloads are a run's workload images: edgenode's, and the cameras'
// (edgesim's, which runs `edgesim fakecam`).
type Workloads struct{ Edgenode, Cameras Image }

// BuildWorkloads writes the two workload images as archives in dir,
// names them in the layer's manifests and logs it.
func BuildWorkloads(ctx context.Context, bins provider.Binaries, dir string, layer *kube.Layer, logf func(string, ...any)) (Workloads, error) {
	start := time.Now()
	specs := WorkloadSpecs(bins, "")
	edge, err := BuildImage(ctx, specs[0], dir)
	if err != nil {
		return Workloads{}, err
	}
	cams, err := BuildImage(ctx, specs[1], dir)
	if err != nil {
		return Workloads{}, err
	}
	layer.Manifests.EdgenodeImage, layer.Manifests.CamerasImage = edge.Ref, cams.Ref
	logf("workload images %s and %s built in %s", edge.Ref, cams.Ref, time.Since(start).Round(time.Millisecond))
	return Workloads{Edgenode: edge, Cameras: cams}, nil
}

// WorkloadSpecs are the edgenode and the camera (edgesim) image of arch
// (empty: this host's), in that order.
func WorkloadSpecs(bins provider.Binaries, arch string) [2]ImageSpec {
	return [2]ImageSpec{
		{Repo: "localhost/edgesim/edgenode", Binaries: map[string]string{"edgenode": bins.Edgenode}, Entrypoint: []string{"/edgenode"}, Arch: arch},
		{Repo: "localhost/edgesim/edgesim", Binaries: map[string]string{"edgesim": bins.Edgesim}, Entrypoint: []string{"/edgesim"}, Arch: arch},
	}
}

// BuildWorkloadIndexes writes the two workload images, each as an OCI image
// index with one image per architecture of bins (GOARCH to the binaries
// built for it), into the OCI image layout at dir. kind and K3s keep loading
// the host's archives from BuildWorkloads; the index is for registries and
// clusters of other architectures.
func BuildWorkloadIndexes(ctx context.Context, bins map[string]provider.Binaries, dir string) ([]Index, error) {
	var per [2][]ImageSpec
	for _, arch := range slices.Sorted(maps.Keys(bins)) {
		for i, s := range WorkloadSpecs(bins[arch], arch) {
			per[i] = append(per[i], s)
		}
	}
	var out []Index
	for _, specs := range per {
		idx, err := BuildIndex(ctx, specs, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, idx)
	}
	return out, nil
}

// For is the image a plan node of the role runs.
func (w Workloads) For(role provider.Role) Image {
	if role == provider.RoleCamera {
		return w.Cameras
	}
	return w.Edgenode
}

// LoadWorkload loads the image a plan node's role runs into its container
// and returns the container's PID (for AttachLinks).
func (n Nodes) LoadWorkload(ctx context.Context, w Workloads, role provider.Role, container string) (int, error) {
	if err := n.Load(ctx, container, w.For(role).Archive); err != nil {
		return 0, err
	}
	return n.PID(ctx, container)
}

// errNoLinks is Inject's error for a link fault before AttachLinks.
var errNoLinks = errors.New("the testbed has no links yet")
