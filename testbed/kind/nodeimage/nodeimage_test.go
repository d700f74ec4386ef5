package nodeimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"
)

var _ = Describe("versions", func() {
	It("resolves a supported release to every pinned version", func() {
		v, err := ResolveVersions("v1.34.4")
		Expect(err).NotTo(HaveOccurred())
		Expect(v.Kubernetes).To(Equal("v1.34.4"))
		Expect(v.Staging).To(Equal("v0.34.4"))
		Expect(v.Minor()).To(Equal(34))
		Expect(v.EtcdTag).To(Equal("3.6.5-0"))
		Expect(v.Pause).To(Equal("3.10"))
		Expect(v.String()).To(ContainSubstring("containerd=v2.1.4\n"))
	})

	DescribeTable("refuses malformed releases before any build, saying what to give",
		func(in, reason string) {
			_, err := ResolveVersions(in)
			Expect(errors.Is(err, ErrBadVersion)).To(BeTrue())
			var ve *VersionError
			Expect(errors.As(err, &ve)).To(BeTrue())
			Expect(err.Error()).To(ContainSubstring(reason))
		},
		Entry("no leading v", "1.34.4", `want a release like "`+DefaultKubernetesVersion+`"`),
		Entry("no patch", "v1.34", "want a release like"),
		Entry("pre-release", "v1.34.0-rc.1", "no pre-release suffix"),
		Entry("empty", "", "want a release like"),
		Entry("leading zero", "v1.034.1", "want a release like"),
		Entry("unsupported minor", "v1.29.3", "minor release 1.29 is not supported; supported: 1.34, 1.35"),
		Entry("a 1.35 patch K3s's graph does not hold", "v1.35.2", "1.35 is built from github.com/k3s-io/k3s@"+K3sModuleVersion+", whose Kubernetes is v1.35.1"),
		Entry("major 2", "v2.0.0", "want a release like"),
	)

	It("builds the default release in K3s's module graph", func() {
		v, err := ResolveVersions(DefaultKubernetesVersion)
		Expect(err).NotTo(HaveOccurred())
		Expect(v.Source).To(Equal(K3sModule + "@" + K3sModuleVersion))
		Expect(v.Staging).To(BeEmpty())
		Expect(v.String()).To(ContainSubstring("source=" + v.Source + "\n"))
	})

	It("keys an image by every version in it", func() {
		base, err := ResolveVersions("v1.34.4")
		Expect(err).NotTo(HaveOccurred())
		Expect(base.Key()).To(HaveLen(12))
		Expect(base.Key()).To(Equal(base.Key()))
		Expect(base.Tag()).To(Equal("localhost/edgesim/kind-node:v1.34.4-" + base.Key()))
		seen := map[string]string{base.Key(): "base"}
		rv := reflect.ValueOf(base)
		for i := 0; i < rv.NumField(); i++ {
			changed := base
			f := reflect.ValueOf(&changed).Elem().Field(i)
			f.SetString(f.String() + "x")
			field := rv.Type().Field(i).Name
			Expect(seen).NotTo(HaveKey(changed.Key()), "changing %s must change the key", field)
			seen[changed.Key()] = field
		}
	})
})

var _ = Describe("Go builds", func() {
	It("finds the staging modules k8s.io/kubernetes replaces with its own tree", func() {
		gomod := []byte("module k8s.io/kubernetes\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n\tgithub.com/x/y => github.com/x/y v1.0.0\n)\nreplace k8s.io/kubectl => ./staging/src/k8s.io/kubectl\n")
		Expect(stagingModules(gomod, "v0.34.4")).To(Equal(map[string]string{
			"k8s.io/api": "v0.34.4", "k8s.io/client-go": "v0.34.4", "k8s.io/kubectl": "v0.34.4",
		}))
	})

	It("writes a wrapper module that pins the staging modules", func() {
		v, _ := ResolveVersions("v1.34.4")
		comps, err := components(v, map[string]string{"k8s.io/api": "v0.34.4"})
		Expect(err).NotTo(HaveOccurred())
		Expect(comps[0].Name).To(Equal("kubernetes"))
		Expect(string(wrapperGoMod(comps[0]))).To(Equal("module edgesim.local/build/kubernetes\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v1.34.4\n\nreplace k8s.io/api => k8s.io/api v0.34.4\n"))
		Expect(strings.Join(comps[0].LDFlags, " ")).To(ContainSubstring("-X k8s.io/component-base/version.gitVersion=v1.34.4 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean"))
		Expect(strings.Join(comps[0].LDFlags, " ")).To(ContainSubstring("-X k8s.io/client-go/pkg/version.gitVersion=v1.34.4"))
		names := []string{}
		for _, c := range comps {
			names = append(names, c.Name)
		}
		Expect(names).To(Equal([]string{"kubernetes", "containerd", "crictl", "etcd", "coredns", "runc", "cni-plugins", "edgesim-tools"}))
		tools := comps[len(comps)-1]
		Expect(tools.Files).To(HaveKey("kindcni/main.go"))
		Expect(tools.Files).To(HaveKey("pause/main.go"))
	})

	It("builds Kubernetes, containerd and crictl as the K3s build compiles them when the release has a source", func() {
		v, err := ResolveVersions("v1.35.1")
		Expect(err).NotTo(HaveOccurred())
		comps, err := components(v, nil)
		Expect(err).NotTo(HaveOccurred())
		names := []string{}
		for _, c := range comps {
			names = append(names, c.Name)
		}
		Expect(names).To(Equal([]string{"kubernetes", "etcd", "coredns", "runc", "cni-plugins", "edgesim-tools"}))
		k := comps[0]
		Expect(k.Module + "@" + k.Version).To(Equal(v.Source))
		Expect(k.Wrapper).To(BeFalse(), "the source module is the main module, its replace directives in force")
		Expect(k.CGO).To(BeTrue())
		Expect(k.Tags).To(Equal(K3sTags))
		Expect(k.Env).To(ContainElement("CGO_CFLAGS=" + K3sCgoCFlags))
		Expect(k.Packages).To(ContainElements("k8s.io/kubernetes/cmd/kubeadm", "k8s.io/kubernetes/cmd/kubelet", "./edgesim/kube-apiserver",
			"./edgesim/crictl", "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"))
		Expect(k.Packages).NotTo(ContainElement("k8s.io/kubernetes/cmd/kube-apiserver"), "the fork's main panics on its second signal handler")
		src := GinkgoT().TempDir()
		Expect(writeSourceMains(src)).To(Succeed())
		Expect(os.ReadFile(filepath.Join(src, "edgesim", "crictl", "main.go"))).To(ContainSubstring("crictl.Main()"),
			"K3s's cri-tools fork makes cmd/crictl a library; a main package of ours runs it")
		Expect(os.ReadFile(filepath.Join(src, "edgesim", "kube-apiserver", "main.go"))).To(ContainSubstring("app.NewAPIServerCommand(nil)"))
		ld := strings.Join(k.LDFlags, " ")
		Expect(ld).To(ContainSubstring("-X k8s.io/component-base/version.gitVersion=v1.35.1 "))
		Expect(ld).To(ContainSubstring("-X github.com/containerd/containerd/v2/version.Version=v2.1.5-k3s1"))
		Expect(ld).To(HaveSuffix("-linkmode external -extldflags -static"), "the control-plane images hold only their binary")
		Expect(k.cacheName()).To(HavePrefix("kubernetes@" + K3sModuleVersion + "-v1.35.1-"))
	})

	It("refuses a source graph whose versions drift from the pins", func() {
		v, _ := ResolveVersions("v1.35.1")
		Expect(graphDrift(v, []byte("k8s.io/kubernetes v1.35.1-k3s1\ngithub.com/containerd/containerd/v2 v2.1.5-k3s1\nsigs.k8s.io/cri-tools v1.35.0-k3s2\n"))).To(Succeed())
		err := graphDrift(v, []byte("k8s.io/kubernetes v1.35.2-k3s1\ngithub.com/containerd/containerd/v2 v2.1.5-k3s1\nsigs.k8s.io/cri-tools v1.36.0\n"))
		Expect(err).To(MatchError(ContainSubstring("k8s.io/kubernetes v1.35.2-k3s1 (pinned v1.35.1), sigs.k8s.io/cri-tools v1.36.0 (pinned v1.35.0-k3s2)")))
		Expect(err).To(MatchError(ContainSubstring("update the version pins")))
	})

	It("drops replace directives that point at sibling directories", func() {
		p := filepath.Join(GinkgoT().TempDir(), "go.mod")
		Expect(os.WriteFile(p, []byte("module go.etcd.io/etcd/server/v3\n\nreplace (\n\tgo.etcd.io/etcd/api/v3 => ../api\n\tgo.etcd.io/etcd/pkg/v3 v3.6.5 => ../pkg\n)\n\nreplace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY\nreplace example.com/a => example.com/b v1.2.3\n"), 0o644)).To(Succeed())
		Expect(dropRelativeReplaces(p)).To(Succeed())
		b, _ := os.ReadFile(p)
		Expect(string(b)).To(ContainSubstring("// dropped by edgesim: \tgo.etcd.io/etcd/api/v3 => ../api"))
		Expect(string(b)).To(ContainSubstring("// dropped by edgesim: \tgo.etcd.io/etcd/pkg/v3 v3.6.5 => ../pkg"))
		Expect(string(b)).To(ContainSubstring("// dropped by edgesim: replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY"))
		Expect(string(b)).To(ContainSubstring("\nreplace example.com/a => example.com/b v1.2.3\n"))
	})

	It("builds CoreDNS without the cloud-DNS and tracing plugins it has, and fails on a list that holds none of them", func(ctx SpecContext) {
		src := GinkgoT().TempDir()
		list := filepath.Join(src, coreDNSPluginList)
		Expect(os.MkdirAll(filepath.Dir(list), 0o755)).To(Succeed())
		var b strings.Builder
		b.WriteString("package plugin\n\nimport (\n")
		for _, name := range []string{"azure", "cache", "clouddns", "forward", "kubernetes", "route53", "trace", "transfer"} { // no nomad, as in v1.12.1
			b.WriteString("\t_ \"github.com/coredns/coredns/plugin/" + name + "\"\n")
		}
		b.WriteString(")\n")
		Expect(os.WriteFile(list, []byte(b.String()), 0o644)).To(Succeed())
		Expect(leaveOutCoreDNSPlugins(ctx, src)).To(Succeed())
		out, _ := os.ReadFile(list)
		Expect(string(out)).To(Equal("package plugin\n\nimport (\n" +
			"\t_ \"github.com/coredns/coredns/plugin/cache\"\n\t_ \"github.com/coredns/coredns/plugin/forward\"\n" +
			"\t_ \"github.com/coredns/coredns/plugin/kubernetes\"\n\t_ \"github.com/coredns/coredns/plugin/transfer\"\n)\n"))
		err := leaveOutCoreDNSPlugins(ctx, src)
		Expect(err).To(MatchError(ContainSubstring("imports none of the plugins edgesim leaves out")), "none is left to remove: the list no longer matches")
	})

	It("copies a module without its vendor directory", func() {
		src, dst := GinkgoT().TempDir(), filepath.Join(GinkgoT().TempDir(), "copy")
		Expect(os.MkdirAll(filepath.Join(src, "vendor", "x"), 0o555)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(src, "vendor", "modules.txt"), nil, 0o444)).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(src, "cmd", "c"), 0o555)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(src, "cmd", "c", "main.go"), []byte("package main"), 0o444)).To(Succeed())
		Expect(copyModule(src, dst)).To(Succeed())
		Expect(filepath.Join(dst, "vendor")).NotTo(BeAnExistingFile())
		b, err := os.ReadFile(filepath.Join(dst, "cmd", "c", "main.go"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal("package main"))
		st, _ := os.Stat(filepath.Join(dst, "cmd", "c", "main.go"))
		Expect(st.Mode().Perm()&0o200).NotTo(BeZero(), "the copy is writable")
	})

	It("reuses a completed component build and never a partial one", func(ctx SpecContext) {
		cache := GinkgoT().TempDir()
		b := New(Versions{}, WithCacheDir(cache))
		done := filepath.Join(cache, "bin", "etcd@v3.6.5")
		Expect(os.MkdirAll(done, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(done, ".complete"), nil, 0o644)).To(Succeed())
		dir, err := b.buildComponent(ctx, component{Name: "etcd", Module: "go.etcd.io/etcd/server/v3", Version: "v3.6.5"})
		Expect(err).NotTo(HaveOccurred())
		Expect(dir).To(Equal(done))

		// A directory without the marker (an interrupted build) is rebuilt;
		// with a cancelled context the rebuild fails instead of reusing it.
		partial := filepath.Join(cache, "bin", "coredns@v1.12.1")
		Expect(os.MkdirAll(partial, 0o755)).To(Succeed())
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = b.buildComponent(cctx, component{Name: "coredns", Module: "github.com/coredns/coredns", Version: "v1.12.1", Wrapper: true, Packages: []string{"."}})
		Expect(err).To(HaveOccurred())
		Expect(filepath.Join(partial, ".complete")).NotTo(BeAnExistingFile())
	})
})

var _ = Describe("node files", func() {
	kindConfig := `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "images.example/pause:3.10"
  # restrict_oom_score_adj needs to be true when running inside UserNS (rootless)
  restrict_oom_score_adj = false
`

	It("restricts oom_score_adj in kind's containerd config", func() {
		out, err := patchContainerdConfig([]byte(kindConfig), false)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("\n  restrict_oom_score_adj = true\n"))
		Expect(string(out)).NotTo(ContainSubstring("= false"))
		again, err := patchContainerdConfig(out, false)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(out))
	})

	It("drops kind's fuse-overlayfs proxy plugin only for a containerd that has it built in", func() {
		withProxy := "version = 2\n\n[proxy_plugins]\n# fuse-overlayfs is used for rootless\n[proxy_plugins.\"fuse-overlayfs\"]\n  type = \"snapshot\"\n  address = \"/run/containerd-fuse-overlayfs.sock\"\n\n" + kindConfig[len("version = 2\n"):]
		kept, err := patchContainerdConfig([]byte(withProxy), false)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(kept)).To(ContainSubstring("[proxy_plugins.\"fuse-overlayfs\"]\n  type = \"snapshot\""))
		out, err := patchContainerdConfig([]byte(withProxy), true)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).NotTo(ContainSubstring("containerd-fuse-overlayfs.sock"))
		Expect(string(out)).To(ContainSubstring("# [proxy_plugins.\"fuse-overlayfs\"] dropped by edgesim"))
		Expect(string(out)).To(ContainSubstring("\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image"), "the next table stays")
		again, err := patchContainerdConfig(out, true)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(out))
	})

	It("adds the setting when the config does not mention it", func() {
		out, err := patchContainerdConfig([]byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"p\"\n"), false)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n  sandbox_image = \"p\"\n"))
	})

	It("fails on a config without the CRI section", func() {
		_, err := patchContainerdConfig([]byte("version = 2\n"), false)
		Expect(err).To(MatchError(ContainSubstring("restrict_oom_score_adj")))
	})

	It("derives kind's cri-base.json from ctr's default spec", func() {
		out, err := criBaseSpec([]byte(`{"ociVersion":"1.1.0","process":{"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"cwd":"/"},"hooks":{"createContainer":[{"path":"/bin/a"}]}}`))
		Expect(err).NotTo(HaveOccurred())
		var spec map[string]any
		Expect(json.Unmarshal(out, &spec)).To(Succeed())
		Expect(spec["process"]).To(Equal(map[string]any{"cwd": "/"}))
		Expect(spec["hooks"]).To(Equal(map[string]any{"createContainer": []any{
			map[string]any{"path": "/bin/a"}, map[string]any{"path": "/kind/bin/mount-product-files.sh"},
		}}))
	})

	It("names the preloaded images after kubeadm's list and kind's sandbox image", func() {
		v, _ := ResolveVersions("v1.34.4")
		list := "images.example/kube-apiserver:v1.34.4\nimages.example/kube-controller-manager:v1.34.4\n" +
			"images.example/kube-scheduler:v1.34.4\nimages.example/kube-proxy:v1.34.4\nimages.example/coredns/coredns:v1.12.1\n" +
			"images.example/pause:3.10.1\nimages.example/etcd:3.6.5-0\n"
		sandbox, err := sandboxImage([]byte(kindConfig))
		Expect(err).NotTo(HaveOccurred())
		Expect(sandbox).To(Equal("images.example/pause:3.10"))
		r, err := refsFrom(v, []byte(list), sandbox)
		Expect(err).NotTo(HaveOccurred())
		Expect(r).To(Equal(imageRefs{
			APIServer: "images.example/kube-apiserver:v1.34.4", ControllerManager: "images.example/kube-controller-manager:v1.34.4",
			Scheduler: "images.example/kube-scheduler:v1.34.4", Proxy: "images.example/kube-proxy:v1.34.4",
			Etcd: "images.example/etcd:3.6.5-0", CoreDNS: "images.example/coredns/coredns:v1.12.1", Pause: "images.example/pause:3.10",
			CNI: "localhost/edgesim/kind-cni:" + v.Key(), Busybox: "localhost/edgesim/busybox:bookworm",
		}))
	})

	DescribeTable("fails when kubeadm or kind drift from the version pins",
		func(from, to, sandbox, want string) {
			v, _ := ResolveVersions("v1.34.4")
			list := "r.example/kube-apiserver:v1.34.4 r.example/kube-controller-manager:v1.34.4 r.example/kube-scheduler:v1.34.4 " +
				"r.example/kube-proxy:v1.34.4 r.example/coredns/coredns:v1.12.1 r.example/etcd:3.6.5-0"
			_, err := refsFrom(v, []byte(strings.Replace(list, from, to, 1)), sandbox)
			Expect(err).To(MatchError(ContainSubstring(want)))
			Expect(err).To(MatchError(ContainSubstring("versions.go")))
		},
		Entry("etcd tag", "etcd:3.6.5-0", "etcd:3.6.9-0", "r.example/pause:3.10", "r.example/etcd:3.6.9-0 (pinned 3.6.5-0)"),
		Entry("an image it does not build", "r.example/etcd:3.6.5-0", "r.example/etcd:3.6.5-0 r.example/new-thing:v1", "r.example/pause:3.10", "r.example/new-thing:v1 (not built)"),
		Entry("a missing image", "r.example/kube-proxy:v1.34.4", "", "r.example/pause:3.10", "kube-proxy (not listed by kubeadm)"),
		Entry("sandbox tag", "", "", "r.example/pause:3.9", `sandbox image "r.example/pause:3.9" (pinned pause 3.10)`),
	)

	It("fails on a containerd config without a sandbox image", func() {
		_, err := sandboxImage([]byte("version = 2\n"))
		Expect(err).To(HaveOccurred())
	})

	It("renders a CNI manifest kind can patch with the control-plane endpoint", func() {
		out, err := CNIManifest("localhost/edgesim/kind-cni:abc")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("would you kindly patch this file"))
		dec := yaml.NewDecoder(bytes.NewReader(out))
		kinds := []string{}
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else {
				Expect(err).NotTo(HaveOccurred())
			}
			kinds = append(kinds, doc["kind"].(string))
			if doc["kind"] == "DaemonSet" {
				c := doc["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				Expect(c["image"]).To(Equal("localhost/edgesim/kind-cni:abc"))
				Expect(c["env"]).NotTo(BeEmpty(), "kind's JSON patch appends to containers[0].env")
			}
		}
		Expect(kinds).To(Equal([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"}))
		_, err = CNIManifest("bad ref")
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("image layers and archives", func() {
	readTar := func(b []byte) map[string]*tar.Header {
		out := map[string]*tar.Header{}
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return out
			}
			Expect(err).NotTo(HaveOccurred())
			out[h.Name] = h
		}
	}

	It("writes parent directories and the same bytes every time", func() {
		l := NewLayer()
		l.bytes("/usr/local/bin/tool", []byte("x"), 0o755)
		l.symlink("/bin/sh", "busybox")
		var a, b bytes.Buffer
		Expect(l.WriteTar(&a)).To(Succeed())
		Expect(l.WriteTar(&b)).To(Succeed())
		Expect(a.Bytes()).To(Equal(b.Bytes()))
		h := readTar(a.Bytes())
		Expect(h).To(HaveKey("usr/"))
		Expect(h).To(HaveKey("usr/local/bin/"))
		Expect(h["usr/local/bin/tool"].Mode).To(Equal(int64(0o755)))
		Expect(h["bin/sh"].Linkname).To(Equal("busybox"))
	})

	It("follows symlinks inside the root, not the host", func() {
		root := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(root, "usr/lib/x86_64-linux-gnu"), 0o755)).To(Succeed())
		Expect(os.Symlink("usr/lib", filepath.Join(root, "lib"))).To(Succeed())
		Expect(os.WriteFile(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libz.so.1.2"), []byte("z"), 0o644)).To(Succeed())
		Expect(os.Symlink("libz.so.1.2", filepath.Join(root, "usr/lib/x86_64-linux-gnu/libz.so.1"))).To(Succeed())
		l := NewLayer()
		real, err := l.copyFromRoot(root, "/lib/x86_64-linux-gnu/libz.so.1")
		Expect(err).NotTo(HaveOccurred())
		Expect(real).To(Equal("/usr/lib/x86_64-linux-gnu/libz.so.1.2"))
		Expect(l.entries["/lib"].Link).To(Equal("usr/lib"))
		Expect(l.entries["/usr/lib/x86_64-linux-gnu/libz.so.1"].Link).To(Equal("libz.so.1.2"))
		Expect(l.entries["/usr/lib/x86_64-linux-gnu/libz.so.1.2"].HostPath).To(Equal(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libz.so.1.2")))
		_, err = l.copyFromRoot(root, "/lib/missing.so")
		Expect(err).To(HaveOccurred())
	})

	It("copies an executable with its loader and shared libraries", func() {
		// A Debian root made of this host's own files.
		for _, p := range []string{"/usr/bin/true", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
			if _, err := os.Stat(p); err != nil {
				Skip("needs a Debian amd64 host: " + err.Error())
			}
		}
		root := GinkgoT().TempDir()
		for _, p := range []string{"/usr/bin/true", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
			Expect(copyFile(p, filepath.Join(root, p), 0o755)).To(Succeed())
		}
		Expect(os.MkdirAll(filepath.Join(root, "usr/lib64"), 0o755)).To(Succeed())
		Expect(os.Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(root, "usr/lib64/ld-linux-x86-64.so.2"))).To(Succeed())
		Expect(os.Symlink("usr/lib64", filepath.Join(root, "lib64"))).To(Succeed())
		Expect(os.Symlink("usr/lib", filepath.Join(root, "lib"))).To(Succeed())
		l := NewLayer()
		Expect(l.copyWithLibs(root, "/usr/bin/true")).To(Succeed())
		Expect(l.entries).To(HaveKey("/usr/bin/true"))
		Expect(l.entries).To(HaveKey("/usr/lib/x86_64-linux-gnu/libc.so.6"))
		Expect(l.entries).To(HaveKey("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))
		Expect(l.entries["/lib64"].Link).To(Equal("usr/lib64"))
		Expect(os.Remove(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libc.so.6"))).To(Succeed())
		Expect(NewLayer().copyWithLibs(root, "/usr/bin/true")).To(MatchError(ContainSubstring("needs libc.so.6")))
	})

	It("writes an archive that loads back with its tag, entrypoint and files", func() {
		dir := GinkgoT().TempDir()
		l := NewLayer()
		l.bytes("/pause", []byte("#!/bin/sh\n"), 0o755)
		file := filepath.Join(dir, archiveName("images.example/pause:3.10"))
		Expect(filepath.Base(file)).To(Equal("images.example_pause_3.10.tar"))
		Expect(writeArchive(imageSpec{Ref: "images.example/pause:3.10", Layer: l, Entrypoint: []string{"/pause"}}, file)).To(Succeed())
		tag, err := name.NewTag("images.example/pause:3.10")
		Expect(err).NotTo(HaveOccurred())
		img, err := tarball.ImageFromPath(file, &tag)
		Expect(err).NotTo(HaveOccurred())
		cf, err := img.ConfigFile()
		Expect(err).NotTo(HaveOccurred())
		Expect(cf.Config.Entrypoint).To(Equal([]string{"/pause"}))
		Expect(cf.OS).To(Equal("linux"))
		Expect(cf.Config.Env).To(ContainElement(HavePrefix("PATH=")))
		layers, err := img.Layers()
		Expect(err).NotTo(HaveOccurred())
		Expect(layers).To(HaveLen(1))
		rc, err := layers[0].Uncompressed()
		Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		Expect(readTar(b)).To(HaveKey("pause"))
		Expect(filepath.Join(dir, archiveName("images.example/pause:3.10")+".tmp")).NotTo(BeAnExistingFile())
	})

	It("refuses an invalid image reference", func() {
		err := writeArchive(imageSpec{Ref: "UPPER/case:tag", Layer: NewLayer()}, filepath.Join(GinkgoT().TempDir(), "x.tar"))
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("edgesim's own programs", func() {
	It("are part of the image key and of their build's cache name", func() {
		v, _ := ResolveVersions("v1.34.4")
		Expect(v.Tools).To(HaveLen(12))
		Expect(v.Tools).To(Equal(toolsDigest()))
		comps, err := components(v, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(comps[len(comps)-1].cacheName()).To(Equal("edgesim-tools@v1.3.1-" + v.Tools))
		Expect(comps[3].Name).To(Equal("etcd"))
		Expect(comps[3].cacheName()).To(Equal("etcd@v3.6.5"))
	})
})

var _ = Describe("the cache lock", func() {
	It("lets one build at a time use a cache directory", func(ctx SpecContext) {
		cache := GinkgoT().TempDir()
		b := New(Versions{}, WithCacheDir(cache))
		unlock, err := b.lock(ctx)
		Expect(err).NotTo(HaveOccurred())
		wctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = New(Versions{}, WithCacheDir(cache)).lock(wctx)
		Expect(err).To(MatchError(context.Canceled))
		unlock()
		unlock2, err := New(Versions{}, WithCacheDir(cache)).lock(ctx)
		Expect(err).NotTo(HaveOccurred())
		unlock2()
	})
})

var _ = Describe("committing the node image", func() {
	// A stand-in for the podman CLI that records its calls. FAIL_ON names
	// the subcommand that fails; "ctr ... images list" prints nothing, so
	// an import that did not take is noticed.
	fakeRuntime := func(failOn string) (bin, log string) {
		dir := GinkgoT().TempDir()
		log = filepath.Join(dir, "calls")
		bin = filepath.Join(dir, "podman")
		script := "#!/bin/sh\necho \"$*\" >> " + log + "\n" +
			"case \"$1\" in " + failOn + ") exit 125;; import) cat >/dev/null;; esac\nexit 0\n"
		Expect(os.WriteFile(bin, []byte(script), 0o755)).To(Succeed())
		return bin, log
	}
	calls := func(log string) []string {
		b, err := os.ReadFile(log)
		Expect(err).NotTo(HaveOccurred())
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	setup := func() (rootfs, archives string) {
		rootfs, archives = GinkgoT().TempDir(), GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(rootfs, "f"), []byte("x"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(archives, "a.tar"), []byte("x"), 0o644)).To(Succeed())
		return rootfs, archives
	}

	for _, failOn := range []string{"run", "commit"} {
		It("tags nothing and removes its container and base image when "+failOn+" fails", func(ctx SpecContext) {
			v, _ := ResolveVersions("v1.34.4")
			bin, log := fakeRuntime(failOn)
			rootfs, archives := setup()
			b := New(v, WithRuntime(bin))
			var err error
			if failOn == "commit" {
				// The import check fails before commit: the fake lists no images.
				err = b.commit(ctx, rootfs, archives, []string{"images.example/pause:3.10"})
				Expect(err).To(MatchError(ContainSubstring("did not list the imported images images.example/pause:3.10")))
			} else {
				err = b.commit(ctx, rootfs, archives, nil)
				Expect(err).To(HaveOccurred())
			}
			got := calls(log)
			for _, c := range got {
				Expect(c).NotTo(HavePrefix("tag "), "no image is tagged: %v", got)
				Expect(c).NotTo(ContainSubstring(v.Tag()))
			}
			Expect(got).To(ContainElement(HavePrefix("rm -f -v edgesim-kind-build-" + v.Key())))
			Expect(got).To(ContainElement(HavePrefix("rmi -f localhost/edgesim/kind-node-build:base-" + v.Key())))
		})
	}

	It("tags the final name only as its last step", func(ctx SpecContext) {
		v, _ := ResolveVersions("v1.34.4")
		dir := GinkgoT().TempDir()
		log := filepath.Join(dir, "calls")
		bin := filepath.Join(dir, "podman")
		// This stand-in lists the one preloaded image, so the build succeeds.
		script := "#!/bin/sh\necho \"$*\" >> " + log + "\n" +
			"case \"$*\" in import*) cat >/dev/null;; *'images list -q'*) echo images.example/pause:3.10;; esac\nexit 0\n"
		Expect(os.WriteFile(bin, []byte(script), 0o755)).To(Succeed())
		rootfs, archives := setup()
		Expect(New(v, WithRuntime(bin)).commit(ctx, rootfs, archives, []string{"images.example/pause:3.10"})).To(Succeed())
		got := calls(log)
		tagAt := -1
		for i, c := range got {
			if strings.HasPrefix(c, "tag ") {
				tagAt = i
				Expect(c).To(HaveSuffix(" " + v.Tag()))
			}
			if strings.HasPrefix(c, "commit ") {
				Expect(tagAt).To(Equal(-1), "commit comes before the tag")
			}
		}
		Expect(tagAt).To(BeNumerically(">", 0))
		for _, c := range got[tagAt+1:] {
			Expect(c).To(Or(HavePrefix("rm "), HavePrefix("rmi ")), "only clean-up follows the tag")
		}
	})
})
