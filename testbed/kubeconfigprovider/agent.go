package kubeconfigprovider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/edgesim/edgesim/testbed/agent"
	"github.com/edgesim/edgesim/testbed/kube"
)

// The agent is `edgesim agent run`, one privileged pod per mapped node in
// the host's network namespace (a DaemonSet): it relays the node's TUN
// device to the link engine on this machine over UDP, sets up the pod
// tunnels, and does the node chores of kube.Machines for the layer, each
// through `kubectl exec`.
const (
	// AgentName names the DaemonSet and its pods' container.
	AgentName = "edgesim-agent"
	// AgentNoLinksName names the DaemonSet of agents without privileges,
	// which a run falls back to where the cluster refuses privileged
	// pods: they serve the files and probe, but emulate no links.
	AgentNoLinksName = AgentName + "-nolinks"
	// RelayPort is the UDP port the agents relay their TUN devices on.
	RelayPort = 47800
	// AgentMetricsPort serves each agent's /metrics and /healthz.
	AgentMetricsPort = 47801
	// AgentCPURequest is the agents' CPU request (and no limit).
	AgentCPURequest = "200m"
	// agentSocket is the agent's control socket, inside its pod.
	agentSocket = "/run/edgesim-agent/agent.sock"
)

// AgentSecret is the Secret holding the agents' files token (key
// "token"), which AgentManifest's pods take as agent.FilesTokenEnv.
func AgentSecret(ns, token string) kube.Object {
	return &kube.Secret{
		Meta:       kube.Meta{APIVersion: "v1", Kind: "Secret", Metadata: kube.ObjectMeta{Name: AgentName, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "edgesim"}}},
		StringData: map[string]string{"token": token},
	}
}

// AgentManifest is the agents' DaemonSet in namespace ns: the edgesim
// image in the host's network namespace, with the node's data directory
// mounted, on the nodes named (plan node -> node name). Its pods serve the
// data directory read-only on AgentMetricsPort to holders of
// AgentSecret's token. With links they run privileged with the node's TUN
// device, to relay the node's packets to the link engine; without, they
// are AgentNoLinksName and ask for no privilege.
func AgentManifest(ns, image, pullPolicy, runID string, nodes map[string]string, links bool) kube.Object {
	labels := map[string]string{"app.kubernetes.io/name": AgentName, "app.kubernetes.io/part-of": "edgesim", labelAgentLinks: strconv.FormatBool(links)}
	names := slices.Compact(sortedValues(nodes)) // a node holding two plan nodes runs one agent
	mounts := []kube.VolumeMount{
		{Name: "data", MountPath: kube.HostDataDir},
		{Name: "run", MountPath: filepath.Dir(agentSocket)},
	}
	volumes := []kube.Volume{
		{Name: "data", HostPath: &kube.HostPathVolume{Path: kube.HostDataDir, Type: "DirectoryOrCreate"}},
		{Name: "run", EmptyDir: &kube.EmptyDirVolume{}},
	}
	var security *kube.SecurityContext
	if links {
		security = &kube.SecurityContext{Privileged: new(true)}
		mounts = append(mounts, kube.VolumeMount{Name: "tun", MountPath: "/dev/net/tun"})
		volumes = append(volumes, kube.Volume{Name: "tun", HostPath: &kube.HostPathVolume{Path: "/dev/net/tun", Type: "CharDevice"}})
	}
	grace := int64(15)
	return &kube.DaemonSet{
		Meta: kube.Meta{APIVersion: "apps/v1", Kind: "DaemonSet", Metadata: kube.ObjectMeta{Name: agentDaemonSet(links), Namespace: ns, Labels: labels}},
		Spec: kube.DaemonSetSpec{
			Selector: kube.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": AgentName, labelAgentLinks: strconv.FormatBool(links)}},
			Template: kube.PodTemplateSpec{
				Metadata: kube.ObjectMeta{Labels: labels},
				Spec: kube.PodSpec{
					HostNetwork:                   true,
					DNSPolicy:                     "ClusterFirstWithHostNet",
					Affinity:                      kube.NodeNameAffinity(names),
					Tolerations:                   []kube.Toleration{{Operator: "Exists"}},
					TerminationGracePeriodSeconds: &grace,
					Containers: []kube.Container{{
						Name: AgentName, Image: image, ImagePullPolicy: pullPolicy,
						Command: []string{"/edgesim", "agent", "run", "--root", kube.HostDataDir,
							"--metrics-port", strconv.Itoa(AgentMetricsPort), "--socket", agentSocket, "--run-id", runID},
						Env: []kube.EnvVar{{Name: agent.FilesTokenEnv, ValueFrom: &kube.EnvVarSource{
							SecretKeyRef: &kube.SecretKeySelector{Name: AgentName, Key: "token"}}}},
						Ports: []kube.ContainerPort{{Name: "metrics", ContainerPort: AgentMetricsPort, Protocol: "TCP"}},
						// Every emulated packet of the node crosses the relay.
						// Without a request the pod is BestEffort, whose CPU
						// weight is the smallest there is: on a busy node each
						// packet would wait out the other pods' time slices.
						// No limit: CFS throttling would stall it the same way.
						Resources: kube.ResourceRequirements{Requests: map[string]string{"cpu": AgentCPURequest, "memory": "64Mi"}},
						ReadinessProbe: &kube.Probe{HTTPGet: kube.HTTPGetAction{Path: "/healthz", Port: "metrics"},
							PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 3},
						SecurityContext: security,
						VolumeMounts:    mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// labelAgentLinks tells the agents with links from those without.
const labelAgentLinks = "edgesim.dev/links"

// agentDaemonSet names the agents' DaemonSet with links or without.
func agentDaemonSet(links bool) string {
	if links {
		return AgentName
	}
	return AgentNoLinksName
}

// agents are the layer's machines on a cluster edgesim did not create:
// each node's agent pod, reached with `kubectl exec`. Reads (the samples
// every second, the alerts) go to the agent's TCP port first, when files
// names it: an exec costs a kubectl process, the API server, the kubelet
// and the runtime a burst of CPU each time, which a small cluster's
// workloads pay for in latency. The first failed read over TCP turns
// that off for the rest of the run, and exec answers instead.
type agents struct {
	cl   kube.Cluster
	ns   string
	pods map[string]string // node name -> agent pod

	files   map[string]*agent.FilesClient // node name -> its agent's files
	noFiles atomic.Bool
	logf    func(string, ...any)
}

// read asks node's agent over TCP, and says whether it answered.
func (a *agents) read(ctx context.Context, node string, fn func(*agent.FilesClient) ([]byte, error)) ([]byte, bool) {
	c := a.files[node]
	if c == nil || a.noFiles.Load() {
		return nil, false
	}
	b, err := fn(c)
	if err != nil {
		if ctx.Err() == nil && !a.noFiles.Swap(true) && a.logf != nil {
			a.logf("reading files from the agent on %s over TCP failed (%v): reading through kubectl exec from now on", node, err)
		}
		return nil, false
	}
	return b, true
}

var _ kube.Machines = (*agents)(nil)

func (a *agents) exec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error) {
	pod, ok := a.pods[node]
	if !ok {
		return nil, fmt.Errorf("no edgesim agent runs on node %s", node)
	}
	args := []string{"-n", a.ns, "exec"}
	if stdin != nil {
		args = append(args, "-i")
	}
	args = append(args, pod, "-c", AgentName, "--", "/edgesim", "agent")
	return a.cl.Kubectl(ctx, stdin, append(args, argv...)...)
}

// Probe implements kube.Machines.
func (a *agents) Probe(ctx context.Context, node, url string) error {
	_, err := a.exec(ctx, node, nil, "probe", url)
	return err
}

// ReadFile implements kube.Machines.
func (a *agents) ReadFile(ctx context.Context, node, path string) ([]byte, error) {
	if b, ok := a.read(ctx, node, func(c *agent.FilesClient) ([]byte, error) { return c.Cat(ctx, path) }); ok {
		return b, nil
	}
	return a.exec(ctx, node, nil, "cat", path)
}

// Exists implements kube.Machines: `agent exists` exits 1 for a missing
// path (kubectl exec says "exit code 1"), 2 for a failure.
func (a *agents) Exists(ctx context.Context, node, path string) (bool, error) {
	_, err := a.exec(ctx, node, nil, "exists", path)
	if err != nil && strings.Contains(err.Error(), "exit code 1") {
		return false, nil
	}
	return err == nil, err
}

// Symlink implements kube.Machines.
func (a *agents) Symlink(ctx context.Context, node, target, link string) error {
	_, err := a.exec(ctx, node, nil, "symlink", target, link)
	return err
}

// CopyFrom implements kube.Machines: the agent writes src as a tar stream,
// unpacked into dst here (with the agent's own confinement to dst).
func (a *agents) CopyFrom(ctx context.Context, node, src, dst string) error {
	out, ok := a.read(ctx, node, func(c *agent.FilesClient) ([]byte, error) { return c.Tar(ctx, src) })
	if !ok {
		var err error
		if out, err = a.exec(ctx, node, nil, "tar", src); err != nil {
			return err
		}
	}
	return inRoot(dst, func(r *agent.Root) error { return r.Untar(ctx, ".", bytes.NewReader(out)) })
}

// CopyTo implements kube.Machines: src goes to the agent as a tar stream.
func (a *agents) CopyTo(ctx context.Context, node, src, dst string) error {
	var buf bytes.Buffer
	if err := inRoot(src, func(r *agent.Root) error { return r.Tar(ctx, ".", &buf) }); err != nil {
		return err
	}
	_, err := a.exec(ctx, node, &buf, "untar", dst)
	return err
}

// inRoot runs fn on the local directory dir as an agent.Root.
func inRoot(dir string, fn func(*agent.Root) error) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	r, err := agent.OpenRoot(abs)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}
