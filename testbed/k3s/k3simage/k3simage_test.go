package k3simage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

const k3sGoMod = `module github.com/k3s-io/k3s

go 1.25.0

replace (
	github.com/containerd/containerd/v2 => github.com/k3s-io/containerd/v2 v2.1.5-k3s1
	k8s.io/kubernetes => github.com/k3s-io/kubernetes v1.35.1-k3s1
)
`

func testSpec() Spec {
	return Spec{ModuleVersion: DefaultModuleVersion, Version: "v1.35.1+k3s-c5b15879", Commit: "c5b158798933",
		GoVersion: "go1.26.8", BaseImage: "localhost/edgesim/kind-node:v1.35.1-a09a8490828d", BaseImageID: "e6267d512bf9aaaa",
		Pause: "registry.k8s.io/pause:3.10", CoreDNS: "registry.k8s.io/coredns/coredns:v1.13.1",
		K3sCoreDNS: "docker.io/rancher/mirrored-coredns-coredns:1.14.1"}
}

// flagValue returns the value of "-X name=value" in ldflags.
func flagValue(flags []string, name string) (string, bool) {
	for i := 0; i+1 < len(flags); i++ {
		if flags[i] == "-X" && strings.HasPrefix(flags[i+1], name+"=") {
			return strings.TrimPrefix(flags[i+1], name+"="), true
		}
	}
	return "", false
}

var _ = Describe("VersionFromModule", func() {
	It("names an untagged build as scripts/version.sh does: <kubernetes>+k3s-<commit[:8]>", func() {
		v, c, err := VersionFromModule(DefaultModuleVersion, []byte(k3sGoMod))
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal("v1.35.1+k3s-c5b15879"))
		Expect(c).To(Equal("c5b158798933"))
	})
	It("refuses a version that is not a pseudo-version, saying which form to use", func() {
		_, _, err := VersionFromModule("v1.35.1", []byte(k3sGoMod))
		Expect(err).To(MatchError(ContainSubstring("pseudo-version")))
		Expect(err.Error()).To(ContainSubstring(DefaultModuleVersion))
	})
	It("refuses a go.mod without the k8s.io/kubernetes replacement", func() {
		_, _, err := VersionFromModule(DefaultModuleVersion, []byte("module github.com/k3s-io/k3s\n"))
		Expect(err).To(MatchError(ContainSubstring("k8s.io/kubernetes")))
	})
})

var _ = Describe("LDFlags", func() {
	It("stamps the Go version K3s checks at start, K3s's version and the Kubernetes version", func() {
		s := testSpec()
		flags := LDFlags(s)
		for name, want := range map[string]string{
			Module + "/pkg/version.UpstreamGolang":       "go1.26.8",
			Module + "/pkg/version.Version":              s.Version,
			Module + "/pkg/version.GitCommit":            "c5b15879",
			"k8s.io/component-base/version.gitVersion":   s.Version,
			"k8s.io/client-go/pkg/version.gitVersion":    s.Version,
			"k8s.io/component-base/version.gitTreeState": "clean",
		} {
			got, ok := flagValue(flags, name)
			Expect(ok).To(BeTrue(), name)
			Expect(got).To(Equal(want), name)
		}
	})
	It("builds the upstream package with CGO, upstream's tags and the staged manifests", func() {
		c := goBuild(testSpec())
		Expect(c.Packages).To(Equal([]string{"./cmd/server"}))
		Expect(c.CGO).To(BeTrue())
		Expect(c.Wrapper).To(BeFalse(), "k3s's replace directives only apply as the main module")
		Expect(c.Tags).To(ConsistOf("ctrd", "netcgo", "osusergo", "providerless", "urfave_cli_no_docs", "sqlite_omit_load_extension"))
		Expect(c.Env).To(ContainElement("CGO_CFLAGS=" + CgoCFlags))
		Expect(c.Prepare).NotTo(BeNil())
	})
	It("is built in the module graph, with the tags and C flags, that the default kind node image builds its Kubernetes in", func() {
		base, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
		Expect(err).NotTo(HaveOccurred())
		c := goBuild(testSpec())
		Expect(c.Module+"@"+c.Version).To(Equal(base.Source), "otherwise the Go build cache shares nothing between the two builds")
		Expect(c.Tags).To(Equal(nodeimage.K3sTags))
		Expect(c.Env).To(Equal([]string{"CGO_CFLAGS=" + nodeimage.K3sCgoCFlags}))
	})
})

var _ = Describe("stageManifests", func() {
	It("copies the packaged manifests into pkg/deploy/embed, as scripts/build does", func() {
		src := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(src, "manifests", "metrics-server"), 0o755)).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(src, "pkg", "deploy", "embed"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(src, "manifests", "coredns.yaml"), []byte("a"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(src, "manifests", "metrics-server", "x.yaml"), []byte("b"), 0o644)).To(Succeed())
		Expect(stageManifests(context.Background(), src)).To(Succeed())
		Expect(os.ReadFile(filepath.Join(src, "pkg", "deploy", "embed", "coredns.yaml"))).To(Equal([]byte("a")))
		Expect(os.ReadFile(filepath.Join(src, "pkg", "deploy", "embed", "metrics-server", "x.yaml"))).To(Equal([]byte("b")))
	})
})

var _ = Describe("cache keys", func() {
	It("gives the binary a new key when the Go version, module or stamps change, and not for the base image", func() {
		s := testSpec()
		base := s.BinaryKey()
		for _, change := range []func(*Spec){
			func(s *Spec) { s.GoVersion = "go1.26.9" },
			func(s *Spec) { s.ModuleVersion = "v1.35.2-0.20260301000000-aaaaaaaaaaaa" },
			func(s *Spec) { s.Version = "v1.35.1+k3s-other" },
		} {
			t := testSpec()
			change(&t)
			Expect(t.BinaryKey()).NotTo(Equal(base))
		}
		t := testSpec()
		t.BaseImageID = "another"
		Expect(t.BinaryKey()).To(Equal(base))
	})
	It("gives the image a new key when the base image or the binary changes", func() {
		s := testSpec()
		t := testSpec()
		t.BaseImageID = "rebuilt-node-image"
		Expect(t.Key()).NotTo(Equal(s.Key()))
		u := testSpec()
		u.GoVersion = "go1.27.0"
		Expect(u.Key()).NotTo(Equal(s.Key()))
		Expect(testSpec().Key()).To(Equal(s.Key()), "the key is stable")
	})
	It("tags the image with the K3s version and the key", func() {
		s := testSpec()
		Expect(s.Tag()).To(Equal(ImageRepository + ":v1.35.1-k3s-c5b15879-" + s.Key()))
	})
})

var _ = Describe("the image recipe", func() {
	It("builds FROM the base image's id, labels the image and names the preloaded CoreDNS as K3s asks", func() {
		s := testSpec()
		cf := containerfile(s, s.BaseImageID, s.Key())
		Expect(cf).To(HavePrefix("FROM " + s.BaseImageID + "\n"))
		Expect(cf).To(ContainSubstring(LabelKey + "=" + s.Key()))
		Expect(cf).To(ContainSubstring(LabelPause + "=" + s.Pause))
		Expect(cf).To(ContainSubstring("ln -sf /dev/null /etc/systemd/system/kubelet.service"))
		Expect(cf).To(ContainSubstring("cp /kind/manifests/default-cni.yaml " + CNIManifest))
		Expect(imageFiles(s)["edgesim-k3s-images.service"]).To(ContainSubstring("images tag --force " + s.CoreDNS + " " + s.K3sCoreDNS))
	})
	It("finds the CoreDNS image in K3s's manifest", func() {
		ref, err := K3sCoreDNSImage([]byte("      containers:\n        - name: coredns\n          image: \"%{SYSTEM_DEFAULT_REGISTRY}%rancher/mirrored-coredns-coredns:1.14.1\"\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(ref).To(Equal("docker.io/rancher/mirrored-coredns-coredns:1.14.1"))
		_, err = K3sCoreDNSImage([]byte("kind: ConfigMap\n"))
		Expect(err).To(HaveOccurred())
	})
	It("refuses a spec with a missing field or one with white space", func() {
		s := testSpec()
		s.GoVersion = ""
		Expect(s.Validate()).To(MatchError(ContainSubstring("Go version")))
		s = testSpec()
		s.Pause = "a b"
		Expect(s.Validate()).To(HaveOccurred())
		Expect(testSpec().Validate()).To(Succeed())
	})
})

var _ = Describe("Check", func() {
	var (
		b      *Builder
		euid   int
		absent map[string]bool
		images map[string]string
	)
	BeforeEach(func() {
		var err error
		b, err = New(WithCacheDir(GinkgoT().TempDir()))
		Expect(err).NotTo(HaveOccurred())
		euid, absent = 0, map[string]bool{}
		images = map[string]string{b.BaseImage(): "e6267d512bf9"}
		b.host = host{
			euid: func() int { return euid },
			lookPath: func(name string) (string, error) {
				if absent[name] {
					return "", exec.ErrNotFound
				}
				return "/usr/bin/" + name, nil
			},
			imageID: func(_ context.Context, _, ref string) (string, error) {
				if id, ok := images[ref]; ok {
					return id, nil
				}
				return "", errors.New("no such image")
			},
		}
	})
	It("passes on a prepared machine", func() {
		Expect(b.Check(context.Background())).To(Succeed())
	})
	It("asks for root", func() {
		euid = 1000
		err := b.Check(context.Background())
		Expect(err).To(MatchError(ErrNotRoot))
		Expect(err.Error()).To(ContainSubstring("sudo edgesim image k3s"))
	})
	It("names every missing tool and the script that installs them", func() {
		absent["podman"], absent["gcc"] = true, true
		err := b.Check(context.Background())
		Expect(err).To(MatchError(ErrMissingTool))
		Expect(err.Error()).To(ContainSubstring("podman, gcc"))
		Expect(err.Error()).To(ContainSubstring("hack/kind/install-deps.sh"))
	})
	It("names the missing kind node image and the command that builds it", func() {
		delete(images, b.BaseImage())
		err := b.Check(context.Background())
		Expect(err).To(MatchError(ErrNoBaseImage))
		Expect(err.Error()).To(ContainSubstring(b.BaseImage()))
		Expect(err.Error()).To(ContainSubstring("edgesim image node"))
	})
})

var _ = Describe("the binary cache", func() {
	// A small real Go build through the same cache mechanism the k3s build
	// uses; it needs github.com/pkg/errors@v0.9.1 from the module proxy.
	build := func(cacheDir, mainGo string) (string, error) {
		return nodeimage.BuildGo(context.Background(), cacheDir, GinkgoWriter, nodeimage.GoBuild{
			Name: "probe", Module: "github.com/pkg/errors", Version: "v0.9.1", Wrapper: true, CacheTag: "t",
			Packages: []string{"."}, Files: map[string][]byte{"main.go": []byte(mainGo)},
		})
	}
	const good = "package main\n\nimport _ \"github.com/pkg/errors\"\n\nfunc main() {}\n"
	It("leaves nothing a later build would trust when a build fails, and builds afresh next time", func() {
		cache := GinkgoT().TempDir()
		c := nodeimage.GoBuild{Name: "probe", Version: "v0.9.1", CacheTag: "t"}
		_, err := build(cache, "package main\n\nfunc main() { broken }\n")
		Expect(err).To(HaveOccurred())
		_, statErr := os.Stat(c.CacheDir(cache))
		Expect(os.IsNotExist(statErr)).To(BeTrue(), "no cache entry after a failed build")

		// An interrupted earlier build: a directory with a binary but no
		// .complete marker.
		Expect(os.MkdirAll(c.CacheDir(cache), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(c.CacheDir(cache), "probe"), []byte("half"), 0o755)).To(Succeed())
		dir, err := build(cache, good)
		Expect(err).NotTo(HaveOccurred())
		Expect(dir).To(Equal(c.CacheDir(cache)))
		Expect(filepath.Join(dir, ".complete")).To(BeAnExistingFile())
		bin, err := os.ReadFile(filepath.Join(dir, "probe"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(bin)).NotTo(Equal("half"), "the half-written entry was rebuilt, not trusted")
	})
})
