package nodeimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// recipeRevision changes whenever the way an image is assembled changes, so
// that a cached image built by an older recipe is not reused.
const recipeRevision = "9"

// Versions are every version that goes into a node image. Two builds with
// equal Versions produce interchangeable images; Key names them.
type Versions struct {
	// Kubernetes is the release, e.g. "v1.35.1".
	Kubernetes string
	// Source, when set, is the module (path@version) whose module graph
	// Kubernetes, containerd and crictl are built in: K3s's, which holds
	// its fork of each (see k3sgraph.go). When empty they are built from
	// k8s.io/kubernetes and the upstream modules at the versions below.
	Source string
	// Staging is the version of the k8s.io/<staging> modules, e.g. "v0.34.4"
	// (upstream builds only).
	Staging string
	// Kind is the sigs.k8s.io/kind module whose base files the image carries.
	Kind string
	// Debian is the suite debootstrap installs, e.g. "bookworm".
	Debian string
	// Etcd is the etcd module version and EtcdTag the image tag kubeadm uses.
	Etcd, EtcdTag string
	// CoreDNS is the coredns module version (also its image tag).
	CoreDNS string
	// Pause is the sandbox image tag in kind's containerd config.
	Pause string
	// Containerd, Runc, CNIPlugins and Crictl are module versions. With a
	// Source, Containerd and Crictl are the versions its graph selects
	// (the build checks them).
	Containerd, Runc, CNIPlugins, Crictl string
	// Netlink is the github.com/vishvananda/netlink version the edgesim CNI
	// is built against.
	Netlink string
	// Tools is a digest of the source of edgesim's own CNI and pause
	// programs, so that changing them changes the image key.
	Tools string
}

// pin is the versions of one Kubernetes minor release.
type pin struct {
	Versions
	// Release, when set, is the only patch release of the minor that can be
	// built: the one Source's module graph holds.
	Release string
}

// pins holds, per supported Kubernetes minor release, the versions of the
// parts kubeadm and kind expect next to it. The etcd and CoreDNS tags are the
// ones kubeadm of that minor asks for and Pause the tag of kind's sandbox
// image; the builder takes the image names from the built kubeadm and
// kind's containerd config and fails if their tags drift from these pins.
// 1.35 is built in K3s's module graph (K3s's Kubernetes fork, v1.35.1-k3s1),
// so that the K3s build reuses its compiled packages; 1.34 from upstream.
var pins = map[int]pin{
	35: {Release: "v1.35.1", Versions: Versions{
		Source:     K3sModule + "@" + K3sModuleVersion,
		Kind:       "v0.30.0",
		Debian:     "bookworm",
		Etcd:       "v3.6.6",
		EtcdTag:    "3.6.6-0",
		CoreDNS:    "v1.13.1",
		Pause:      "3.10",
		Containerd: "v2.1.5-k3s1",
		Runc:       "v1.3.0",
		CNIPlugins: "v1.7.1",
		Crictl:     "v1.35.0-k3s2",
		Netlink:    "v1.3.1",
	}},
	34: {Versions: Versions{
		Kind:       "v0.30.0",
		Debian:     "bookworm",
		Etcd:       "v3.6.5",
		EtcdTag:    "3.6.5-0",
		CoreDNS:    "v1.12.1",
		Pause:      "3.10",
		Containerd: "v2.1.4",
		Runc:       "v1.3.0",
		CNIPlugins: "v1.7.1",
		Crictl:     "v1.37.0",
		Netlink:    "v1.3.1",
	}},
}

// DefaultKubernetesVersion is the release built when none is given.
const DefaultKubernetesVersion = "v1.35.1"

var kubeVersionRE = regexp.MustCompile(`^v1\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// SupportedMinors lists the Kubernetes minor releases the builder knows how
// to assemble, e.g. ["1.34", "1.35"].
func SupportedMinors() []string {
	minors := make([]int, 0, len(pins))
	for m := range pins {
		minors = append(minors, m)
	}
	sort.Ints(minors)
	out := make([]string, len(minors))
	for i, m := range minors {
		out[i] = "1." + strconv.Itoa(m)
	}
	return out
}

// ResolveVersions validates a Kubernetes release such as "v1.35.1" and
// returns every version that goes into its node image. It does not touch the
// network: whether the release exists is checked by Builder.Check.
func ResolveVersions(kubernetes string) (Versions, error) {
	m := kubeVersionRE.FindStringSubmatch(kubernetes)
	if m == nil {
		return Versions{}, &VersionError{Version: kubernetes, Reason: `want a release like "` + DefaultKubernetesVersion + `" (leading v, no pre-release suffix)`}
	}
	minor, _ := strconv.Atoi(m[1])
	p, ok := pins[minor]
	if !ok {
		return Versions{}, &VersionError{Version: kubernetes, Reason: "minor release 1." + m[1] + " is not supported; supported: " + strings.Join(SupportedMinors(), ", ")}
	}
	if p.Release != "" && kubernetes != p.Release {
		return Versions{}, &VersionError{Version: kubernetes, Reason: "1." + m[1] + " is built from " + p.Source + ", whose Kubernetes is " + p.Release}
	}
	v := p.Versions
	v.Kubernetes = kubernetes
	if v.Source == "" {
		v.Staging = "v0." + m[1] + "." + m[2]
	}
	v.Tools = toolsDigest()
	return v, nil
}

// Minor returns the Kubernetes minor number, e.g. 34.
func (v Versions) Minor() int {
	m := kubeVersionRE.FindStringSubmatch(v.Kubernetes)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Key is a short, stable digest of every version that goes into the image
// and of the assembly recipe. Equal keys mean a cached image can be reused.
func (v Versions) Key() string {
	h := sha256.New()
	fmt.Fprintf(h, "recipe=%s\n", recipeRevision)
	for _, kv := range v.fields() {
		fmt.Fprintf(h, "%s=%s\n", kv[0], kv[1])
	}
	if v.Source != "" {
		// edgesim's main packages built in the source's graph.
		fmt.Fprintf(h, "mains=%s\n", shortHash(mainsDigest()))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Tag is the image reference a finished build is stored under, e.g.
// "localhost/edgesim/kind-node:v1.35.1-0123456789ab".
func (v Versions) Tag() string {
	return ImageRepository + ":" + v.Kubernetes + "-" + v.Key()
}

// ImageRepository is where finished node images are tagged.
const ImageRepository = "localhost/edgesim/kind-node"

func (v Versions) fields() [][2]string {
	return [][2]string{
		{"kubernetes", v.Kubernetes}, {"source", v.Source}, {"staging", v.Staging}, {"kind", v.Kind},
		{"debian", v.Debian}, {"etcd", v.Etcd}, {"etcdTag", v.EtcdTag},
		{"coredns", v.CoreDNS}, {"pause", v.Pause}, {"containerd", v.Containerd},
		{"runc", v.Runc}, {"cniPlugins", v.CNIPlugins}, {"crictl", v.Crictl},
		{"netlink", v.Netlink}, {"tools", v.Tools},
	}
}

// String lists the versions one per line, as written to the image's
// /kind/edgesim-versions file.
func (v Versions) String() string {
	var b strings.Builder
	for _, kv := range v.fields() {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	b.WriteString("recipe=" + recipeRevision + "\n")
	return b.String()
}
