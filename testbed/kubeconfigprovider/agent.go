package kubeconfigprovider

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	// RelayPort is the UDP port the agents relay their TUN devices on.
	RelayPort = 47800
	// AgentMetricsPort serves each agent's /metrics and /healthz.
	AgentMetricsPort = 47801
	// agentSocket is the agent's control socket, inside its pod.
	agentSocket = "/run/edgesim-agent/agent.sock"
)

// AgentManifest is the agents' DaemonSet in namespace ns: the edgesim
// image, privileged, in the host's network namespace, with the node's
// data directory mounted, on the nodes named (plan node -> node name).
func AgentManifest(ns, image, pullPolicy, runID string, nodes map[string]string) kube.Object {
	labels := map[string]string{"app.kubernetes.io/name": AgentName, "app.kubernetes.io/part-of": "edgesim"}
	var names []string
	seen := map[string]bool{}
	for _, k := range sortedValues(nodes) {
		if !seen[k] {
			seen[k] = true
			names = append(names, k)
		}
	}
	grace := int64(15)
	return &kube.DaemonSet{
		Meta: kube.Meta{APIVersion: "apps/v1", Kind: "DaemonSet", Metadata: kube.ObjectMeta{Name: AgentName, Namespace: ns, Labels: labels}},
		Spec: kube.DaemonSetSpec{
			Selector: kube.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": AgentName}},
			Template: kube.PodTemplateSpec{
				Metadata: kube.ObjectMeta{Labels: labels},
				Spec: kube.PodSpec{
					HostNetwork: true,
					DNSPolicy:   "ClusterFirstWithHostNet",
					Affinity: &kube.Affinity{NodeAffinity: &kube.NodeAffinity{Required: &kube.NodeSelector{Terms: []kube.NodeSelectorTerm{{
						MatchFields: []kube.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: names}},
					}}}}},
					Tolerations:                   []kube.Toleration{{Operator: "Exists"}},
					TerminationGracePeriodSeconds: &grace,
					Containers: []kube.Container{{
						Name: AgentName, Image: image, ImagePullPolicy: pullPolicy,
						Command: []string{"/edgesim", "agent", "run", "--root", kube.HostDataDir,
							"--metrics-port", strconv.Itoa(AgentMetricsPort), "--socket", agentSocket, "--run-id", runID},
						Ports: []kube.ContainerPort{{Name: "metrics", ContainerPort: AgentMetricsPort, Protocol: "TCP"}},
						ReadinessProbe: &kube.Probe{HTTPGet: kube.HTTPGetAction{Path: "/healthz", Port: "metrics"},
							PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 3},
						SecurityContext: &kube.SecurityContext{Privileged: new(true)},
						VolumeMounts: []kube.VolumeMount{
							{Name: "data", MountPath: kube.HostDataDir},
							{Name: "run", MountPath: filepath.Dir(agentSocket)},
							{Name: "tun", MountPath: "/dev/net/tun"},
						},
					}},
					Volumes: []kube.Volume{
						{Name: "data", HostPath: &kube.HostPathVolume{Path: kube.HostDataDir, Type: "DirectoryOrCreate"}},
						{Name: "run", EmptyDir: &kube.EmptyDirVolume{}},
						{Name: "tun", HostPath: &kube.HostPathVolume{Path: "/dev/net/tun", Type: "CharDevice"}},
					},
				},
			},
		},
	}
}

// agents are the layer's machines on a cluster edgesim did not create:
// each node's agent pod, reached with `kubectl exec`.
type agents struct {
	cl   kube.Cluster
	ns   string
	pods map[string]string // node name -> agent pod
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
	return a.exec(ctx, node, nil, "cat", path)
}

// Exists implements kube.Machines.
func (a *agents) Exists(ctx context.Context, node, path string) (bool, error) {
	out, err := a.exec(ctx, node, nil, "exists", path)
	if err != nil && strings.Contains(err.Error(), "exit code 1") {
		return false, nil
	}
	return err == nil && !strings.Contains(string(out), "no"), err
}

// Symlink implements kube.Machines.
func (a *agents) Symlink(ctx context.Context, node, target, link string) error {
	_, err := a.exec(ctx, node, nil, "symlink", target, link)
	return err
}

// CopyFrom implements kube.Machines: the agent writes src as a tar stream,
// unpacked into dst here.
func (a *agents) CopyFrom(ctx context.Context, node, src, dst string) error {
	out, err := a.exec(ctx, node, nil, "tar", src)
	if err != nil {
		return err
	}
	return untar(bytes.NewReader(out), dst)
}

// CopyTo implements kube.Machines: src goes to the agent as a tar stream.
func (a *agents) CopyTo(ctx context.Context, node, src, dst string) error {
	var buf bytes.Buffer
	if err := tarDir(src, &buf); err != nil {
		return err
	}
	_, err := a.exec(ctx, node, &buf, "untar", dst)
	return err
}

// tarDir writes the regular files and directories below dir as a tar
// stream.
func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	return errors.Join(err, tw.Close())
}

// untar unpacks a tar stream of regular files and directories into dst,
// refusing entries that would land outside it.
func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("tar entry %q leaves the directory", hdr.Name)
		}
		path := filepath.Join(dst, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
