package cluster

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/edgesim/edgesim/testbed/k3s/k3simage"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
)

// containerdSocket is the kind node image's containerd, which K3s uses
// instead of its embedded one: it has the preloaded images.
const containerdSocket = "unix:///run/containerd/containerd.sock"

// kubeletDropIn is a kubelet configuration drop-in that K3s's kubelet reads
// after K3s's own defaults.
const kubeletDropIn = "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-edgesim.conf"

// nodeConfig is what every K3s node gets, server or agent: the node
// image's containerd and pause image, kind's cgroup driver (the image's
// containerd uses systemd cgroups), the labels, and on cgroup v1 hosts the
// kubelet switch without which Kubernetes 1.35 refuses to start there.
func nodeConfig(name, pause string, labels map[string]string, cgroupV1 bool) map[string]any {
	kubelet := []string{"cgroup-driver=systemd"}
	if cgroupV1 {
		kubelet = append(kubelet, "fail-cgroupv1=false")
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nodeLabels := make([]string, 0, len(keys))
	for _, k := range keys {
		nodeLabels = append(nodeLabels, k+"="+labels[k])
	}
	cfg := map[string]any{
		"node-name":                  name,
		"container-runtime-endpoint": containerdSocket,
		"pause-image":                pause,
		"kubelet-arg":                kubelet,
	}
	if len(nodeLabels) > 0 {
		cfg["node-label"] = nodeLabels
	}
	return cfg
}

// ServerConfig is the K3s server's config.yaml (JSON, which YAML reads):
// the components the testbed does not use disabled, no flannel and no
// network policy controller (edgesim's pod network runs instead), no cloud
// controller (it would leave nodes tainted uninitialized), and with grace
// set, the controller manager's fast node failure detection.
func ServerConfig(s Spec, token, pause string, cgroupV1 bool) ([]byte, error) {
	cfg := nodeConfig(ServerName(s.Name), pause, s.ServerLabels, cgroupV1)
	cfg["token"] = token
	cfg["flannel-backend"] = "none"
	cfg["disable-network-policy"] = true
	cfg["disable-cloud-controller"] = true
	cfg["disable-helm-controller"] = true
	cfg["disable"] = k3simage.Disabled
	cfg["write-kubeconfig-mode"] = "0600"
	cfg["tls-san"] = []string{"127.0.0.1", "localhost"}
	if s.NodeGracePeriod > 0 {
		cfg["kube-controller-manager-arg"] = []string{
			"node-monitor-period=1s",
			fmt.Sprintf("node-monitor-grace-period=%ds", int64(s.NodeGracePeriod/time.Second)),
		}
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// AgentConfig is a K3s agent's config.yaml: it joins server with token.
func AgentConfig(s Spec, i int, serverURL, token, pause string, cgroupV1 bool) ([]byte, error) {
	if i < 0 || i >= len(s.Agents) {
		return nil, fmt.Errorf("agent %d of %d", i, len(s.Agents))
	}
	a := s.Agents[i]
	cfg := nodeConfig(AgentName(s.Name, i), pause, map[string]string{kindcluster.LabelTier: a.Tier, kindcluster.LabelSite: a.Site}, cgroupV1)
	cfg["server"] = serverURL
	cfg["token"] = token
	return json.MarshalIndent(cfg, "", "  ")
}

// KubeletConfig is the kubelet drop-in behind NodeGracePeriod: kubelets
// renew their lease five times per grace period (the lease lasts four
// renewals, as by default) and post their status as often, so a busy node
// is not mistaken for a dead one. Nil when grace is 0.
func KubeletConfig(grace time.Duration) []byte {
	if grace <= 0 {
		return nil
	}
	renew := max(1, int64(grace/time.Second)/5)
	return fmt.Appendf(nil, "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nnodeLeaseDurationSeconds: %d\nnodeStatusUpdateFrequency: \"%ds\"\n", 4*renew, renew)
}
