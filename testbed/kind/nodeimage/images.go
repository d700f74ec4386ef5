package nodeimage

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageSpec is a single-layer image preloaded into the node's containerd.
type imageSpec struct {
	Ref        string
	Layer      *Layer
	Entrypoint []string
	Env        []string
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// writeArchive writes img as a docker-format image archive (what
// "ctr images import" and "podman load" read) at file.
func writeArchive(img imageSpec, file string) error {
	ref, err := name.NewTag(img.Ref, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("image %q: %w", img.Ref, err)
	}
	layerFile := file + ".layer.tar"
	f, err := os.Create(layerFile)
	if err != nil {
		return err
	}
	defer os.Remove(layerFile)
	if err := img.Layer.WriteTar(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(layerFile) },
		tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return err
	}
	image, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := image.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = img.Entrypoint
	cf.Config.Env = append([]string{defaultPath}, img.Env...)
	image, err = mutate.ConfigFile(image, cf)
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, image); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", img.Ref, err)
	}
	return os.Rename(tmp, file)
}

// archiveName turns an image reference into a file name.
func archiveName(ref string) string {
	r := strings.NewReplacer("/", "_", ":", "_", "@", "_")
	return r.Replace(ref) + ".tar"
}

// imageRefs are the references the preloaded images are stored under.
type imageRefs struct {
	APIServer, ControllerManager, Scheduler, Proxy string
	Etcd, CoreDNS, Pause                           string
	CNI, Busybox                                   string
}

// cniImage is the reference of edgesim's CNI image.
func cniImage(v Versions) string { return "localhost/edgesim/kind-cni:" + v.Key() }

var sandboxRE = regexp.MustCompile(`(?m)^[ \t]*sandbox_image[ \t]*=[ \t]*"([^"]+)"`)

// sandboxImage reads the pause image name from kind's containerd config.
func sandboxImage(containerdConfig []byte) (string, error) {
	m := sandboxRE.FindSubmatch(containerdConfig)
	if m == nil {
		return "", fmt.Errorf("kind's containerd config names no sandbox_image")
	}
	return string(m[1]), nil
}

// refsFrom takes the image names from the built kubeadm ("kubeadm config
// images list") and the sandbox image from kind's containerd config, so
// the preloaded images carry exactly the names they will be asked for, and
// checks their tags against the version pins. kubeadm's own pause entry is
// left out: kind's containerd config names the sandbox image.
func refsFrom(v Versions, kubeadmList []byte, sandbox string) (imageRefs, error) {
	r := imageRefs{CNI: cniImage(v), Busybox: BusyboxImage(v)}
	want := map[string]struct {
		tag string
		dst *string
	}{
		"kube-apiserver":          {v.Kubernetes, &r.APIServer},
		"kube-controller-manager": {v.Kubernetes, &r.ControllerManager},
		"kube-scheduler":          {v.Kubernetes, &r.Scheduler},
		"kube-proxy":              {v.Kubernetes, &r.Proxy},
		"etcd":                    {v.EtcdTag, &r.Etcd},
		"coredns":                 {v.CoreDNS, &r.CoreDNS},
	}
	var problems []string
	for _, ref := range strings.Fields(string(kubeadmList)) {
		i := strings.LastIndex(ref, ":")
		if i < 0 || strings.Contains(ref[i:], "/") {
			problems = append(problems, ref+" (no tag)")
			continue
		}
		repo, tag := ref[:i], ref[i+1:]
		base := path.Base(repo)
		if base == "pause" {
			continue
		}
		w, ok := want[base]
		switch {
		case !ok:
			problems = append(problems, ref+" (not built)")
		case tag != w.tag:
			problems = append(problems, fmt.Sprintf("%s (pinned %s)", ref, w.tag))
		default:
			*w.dst = ref
		}
	}
	for base, w := range want {
		if *w.dst == "" && !containsPrefix(problems, base) {
			problems = append(problems, base+" (not listed by kubeadm)")
		}
	}
	if i := strings.LastIndex(sandbox, ":"); i < 0 || sandbox[i+1:] != v.Pause {
		problems = append(problems, fmt.Sprintf("sandbox image %q (pinned pause %s)", sandbox, v.Pause))
	}
	r.Pause = sandbox
	if len(problems) > 0 {
		sort.Strings(problems)
		return imageRefs{}, fmt.Errorf("kubeadm and kind ask for images the builder does not make: %s; update the version pins in testbed/kind/nodeimage/versions.go", strings.Join(problems, ", "))
	}
	return r, nil
}

func containsPrefix(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, "/"+s+":") {
			return true
		}
	}
	return false
}

// BusyboxImage is the utility image preloaded into every node (a static
// busybox from Debian): a shell, wget and httpd for tests and helper pods
// on clusters without a registry.
func BusyboxImage(v Versions) string {
	return "localhost/edgesim/busybox:" + v.Debian
}

// iptablesWrapper picks legacy or nft iptables the first time kube-proxy
// calls iptables, by which of them already holds the node's rules, and then
// points the iptables commands straight at it.
const iptablesWrapper = `#!/bin/sh
legacy=$( (xtables-legacy-multi iptables-save; xtables-legacy-multi ip6tables-save) 2>/dev/null | grep -c '^-')
nft=$( (xtables-nft-multi iptables-save; xtables-nft-multi ip6tables-save) 2>/dev/null | grep -c '^-')
mode=legacy
if [ "${nft:-0}" -gt "${legacy:-0}" ]; then mode=nft; fi
for c in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf "xtables-$mode-multi" "/usr/sbin/$c"
done
exec "$0" "$@"
`

var iptablesCommands = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// busyboxLayer adds a static busybox from root with links for its applets.
func busyboxLayer(l *Layer, root string, applets []string) error {
	real, err := l.copyFromRoot(root, "/bin/busybox")
	if err != nil {
		return err
	}
	for _, a := range applets {
		if a == "" || a == "busybox" {
			continue
		}
		l.symlink("/bin/"+a, real)
	}
	return nil
}

// preloadImages describes every image the node image preloads. bins maps
// component name to its build directory; root is the node's rootfs (used
// for iptables and busybox); applets lists busybox's applets.
func preloadImages(r imageRefs, bins map[string]string, root string, applets []string) ([]imageSpec, error) {
	kube := bins["kubernetes"]
	single := func(ref, hostBin, inImage string) imageSpec {
		l := NewLayer()
		l.file(inImage, hostBin, 0o755)
		l.dir("/tmp")
		return imageSpec{Ref: ref, Layer: l}
	}
	apiserver := single(r.APIServer, filepath.Join(kube, "kube-apiserver"), "/usr/local/bin/kube-apiserver")
	// K3s's fork writes its loopback serving certificate into the default
	// --cert-dir, and fails when the directory is missing.
	apiserver.Layer.dir("/var/run/kubernetes")
	imgs := []imageSpec{
		apiserver,
		single(r.ControllerManager, filepath.Join(kube, "kube-controller-manager"), "/usr/local/bin/kube-controller-manager"),
		single(r.Scheduler, filepath.Join(kube, "kube-scheduler"), "/usr/local/bin/kube-scheduler"),
		single(r.Etcd, filepath.Join(bins["etcd"], "etcd"), "/usr/local/bin/etcd"),
	}
	dns := single(r.CoreDNS, filepath.Join(bins["coredns"], "coredns"), "/coredns")
	dns.Entrypoint = []string{"/coredns"}
	pause := single(r.Pause, filepath.Join(bins["edgesim-tools"], "pause"), "/pause")
	pause.Entrypoint = []string{"/pause"}
	cni := single(r.CNI, filepath.Join(bins["edgesim-tools"], "kindcni"), "/bin/kindcni")
	cni.Entrypoint = []string{"/bin/kindcni"}
	imgs = append(imgs, dns, pause, cni)

	proxy := NewLayer()
	proxy.file("/usr/local/bin/kube-proxy", filepath.Join(kube, "kube-proxy"), 0o755)
	if err := proxy.copyWithLibs(root, "/usr/sbin/xtables-legacy-multi", "/usr/sbin/xtables-nft-multi"); err != nil {
		return nil, fmt.Errorf("kube-proxy image: %w", err)
	}
	for _, ext := range []string{"/usr/lib/x86_64-linux-gnu/xtables"} {
		entries, err := os.ReadDir(filepath.Join(root, ext))
		if err != nil {
			return nil, fmt.Errorf("kube-proxy image: %w", err)
		}
		for _, e := range entries {
			if err := proxy.copyWithLibs(root, ext+"/"+e.Name()); err != nil {
				return nil, fmt.Errorf("kube-proxy image: %w", err)
			}
		}
	}
	proxy.bytes("/usr/sbin/iptables-wrapper", []byte(iptablesWrapper), 0o755)
	for _, c := range iptablesCommands {
		proxy.symlink("/usr/sbin/"+c, "iptables-wrapper")
	}
	if err := busyboxLayer(proxy, root, []string{"sh", "grep", "ln"}); err != nil {
		return nil, err
	}
	proxy.dir("/run")
	proxy.dir("/tmp")
	imgs = append(imgs, imageSpec{Ref: r.Proxy, Layer: proxy})

	bb := NewLayer()
	if err := busyboxLayer(bb, root, applets); err != nil {
		return nil, err
	}
	bb.dir("/tmp")
	bb.dir("/var/www")
	imgs = append(imgs, imageSpec{Ref: r.Busybox, Layer: bb, Entrypoint: []string{"/bin/sh"}})
	return imgs, nil
}
