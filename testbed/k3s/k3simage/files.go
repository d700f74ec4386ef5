package k3simage

import (
	"fmt"
	"sort"
	"strings"
)

// Paths inside a K3s node image that the cluster package writes to or
// starts.
const (
	// BinaryPath is the k3s multi-call binary.
	BinaryPath = "/usr/local/bin/k3s"
	// ConfigPath is K3s's configuration file: every command-line flag as a
	// YAML key. The cluster writes it before starting Unit.
	ConfigPath = "/etc/rancher/k3s/config.yaml"
	// RolePath holds K3S_ROLE=server or K3S_ROLE=agent for Unit.
	RolePath = "/etc/rancher/k3s/edgesim-role.env"
	// Unit runs K3s under the node's systemd, after its containerd. It is
	// not enabled: the cluster starts it once ConfigPath is written.
	Unit = "k3s.service"
	// ManifestsDir is where the K3s server applies every manifest it finds.
	ManifestsDir = "/var/lib/rancher/k3s/server/manifests"
	// CNIManifest is edgesim's pod network (the kind node image's kindcni
	// DaemonSet), applied by the server from ManifestsDir.
	CNIManifest = ManifestsDir + "/edgesim-cni.yaml"
	// kindCNIManifest is where the kind node image keeps it.
	kindCNIManifest = "/kind/manifests/default-cni.yaml"
)

// Image labels a finished K3s node image carries.
const (
	LabelKey     = "dev.edgesim.k3s.key"
	LabelVersion = "dev.edgesim.k3s.version"
	LabelPause   = "dev.edgesim.k3s.pause-image"
	LabelBase    = "dev.edgesim.k3s.base-image"
)

// imageFiles are the files the build context adds to the base image, by
// name in the context.
func imageFiles(s Spec) map[string]string {
	return map[string]string{
		"k3s.service": `[Unit]
Description=K3s, started by edgesim
Wants=network-online.target
Requires=containerd.service edgesim-k3s-images.service
After=network-online.target containerd.service edgesim-k3s-images.service
StartLimitIntervalSec=0

[Service]
Type=exec
EnvironmentFile=` + RolePath + `
ExecStart=` + BinaryPath + ` ${K3S_ROLE} --config ` + ConfigPath + `
Delegate=yes
KillMode=process
Restart=always
RestartSec=2
TasksMax=infinity
`,
		// K3s's CoreDNS manifest names its own mirror of CoreDNS; give the
		// preloaded CoreDNS that name too, so nothing is pulled.
		"edgesim-k3s-images.service": `[Unit]
Description=Name the preloaded images the way K3s asks for them
Requires=containerd.service
After=containerd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for i in $(seq 60); do /usr/local/bin/ctr --namespace k8s.io images tag --force ` + s.CoreDNS + ` ` + s.K3sCoreDNS + ` && exit 0; sleep 1; done; exit 1'
`,
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// containerfile assembles the K3s node image from base (an image id): the
// k3s binary and its units, the directories K3s expects (upstream's
// package extracts them; a plain binary finds them missing and fails), the
// pod network manifest where the server applies it, and kind's kubelet
// unit masked (K3s runs its own kubelet).
func containerfile(s Spec, base, key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", base)
	fmt.Fprintf(&b, "COPY k3s %s\n", BinaryPath)
	fmt.Fprintf(&b, "COPY k3s.service edgesim-k3s-images.service /etc/systemd/system/\n")
	fmt.Fprintf(&b, "RUN set -e; chmod 0755 %s; mkdir -p %s /etc/rancher/k3s /var/lib/rancher/k3s/agent/images; "+
		"cp %s %s; ln -sf /dev/null /etc/systemd/system/kubelet.service; %s --version >/dev/null\n",
		BinaryPath, ManifestsDir, kindCNIManifest, CNIManifest, BinaryPath)
	fmt.Fprintf(&b, "LABEL %s=%s %s=%s %s=%s %s=%s\n", LabelKey, key, LabelVersion, s.Version, LabelPause, s.Pause, LabelBase, s.BaseImage)
	return b.String()
}
