package nodecontainer_test

import (
	"io"
	"log"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

var _ = Describe("Push", func() {
	var (
		reg  nodecontainer.Registry
		spec nodecontainer.ImageSpec
	)
	BeforeEach(func() {
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		DeferCleanup(srv.Close)
		reg = nodecontainer.Registry{Name: strings.TrimPrefix(srv.URL, "http://") + "/lab"}
		bin, err := exec.LookPath("true")
		Expect(err).NotTo(HaveOccurred())
		spec = nodecontainer.ImageSpec{Repo: "localhost/edgesim/test", Binaries: map[string]string{"true": bin}, Entrypoint: []string{"/true"}}
	})

	It("sends an index from the OCI layout to the registry, under the registry's path, with the same digest", func(ctx SpecContext) {
		dir := filepath.Join(GinkgoT().TempDir(), "oci")
		idx, err := nodecontainer.BuildIndex(ctx, []nodecontainer.ImageSpec{spec}, dir)
		Expect(err).NotTo(HaveOccurred())
		at, err := nodecontainer.PushIndex(ctx, dir, idx.Ref, reg)
		Expect(err).NotTo(HaveOccurred())
		tag := strings.TrimPrefix(idx.Ref, "localhost/edgesim/test:")
		Expect(at).To(Equal(reg.Name + "/edgesim/test@" + idx.Digest))

		ref, err := name.ParseReference(reg.Name + "/edgesim/test:" + tag)
		Expect(err).NotTo(HaveOccurred())
		pulled, err := remote.Index(ref)
		Expect(err).NotTo(HaveOccurred())
		d, err := pulled.Digest()
		Expect(err).NotTo(HaveOccurred())
		Expect(d.String()).To(Equal(idx.Digest))
		m, err := pulled.IndexManifest()
		Expect(err).NotTo(HaveOccurred())
		Expect(m.Manifests).To(HaveLen(1))
		Expect(m.Manifests[0].Platform.String()).To(Equal(idx.Platforms[0]))
		img, err := pulled.Image(m.Manifests[0].Digest)
		Expect(err).NotTo(HaveOccurred())
		layers, err := img.Layers()
		Expect(err).NotTo(HaveOccurred())
		Expect(layers).To(HaveLen(1), "the image's layer went with it")

		_, err = nodecontainer.PushIndex(ctx, dir, "localhost/edgesim/test:000000000000", reg)
		Expect(err).To(MatchError(ContainSubstring("has no index localhost/edgesim/test:000000000000")))
	})

	It("sends an image archive to the registry with the same digest", func(ctx SpecContext) {
		img, err := nodecontainer.BuildImage(ctx, spec, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		at, err := nodecontainer.PushImage(ctx, img, reg)
		Expect(err).NotTo(HaveOccurred())
		ref, err := name.ParseReference(at)
		Expect(err).NotTo(HaveOccurred())
		pulled, err := remote.Image(ref)
		Expect(err).NotTo(HaveOccurred())
		d, err := pulled.Digest()
		Expect(err).NotTo(HaveOccurred())
		Expect(at).To(HaveSuffix("@" + d.String()))
		Expect(at).To(HavePrefix(reg.Name + "/edgesim/test@sha256:"))
		Expect(img.Ref).To(HaveSuffix(":" + d.Hex[:12]))
	})

	It("says which push failed and where when the registry does not answer", func(ctx SpecContext) {
		img, err := nodecontainer.BuildImage(ctx, spec, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		_, err = nodecontainer.PushImage(ctx, img, nodecontainer.Registry{Name: "127.0.0.1:1"})
		Expect(err).To(MatchError(nodecontainer.ErrImage))
		Expect(err).To(MatchError(ContainSubstring("push " + img.Ref + " to 127.0.0.1:1/edgesim/test:")))
	})

	DescribeTable("places an image below the registry's path",
		func(registryName, ref, want string) {
			got, err := nodecontainer.Registry{Name: registryName}.Ref(ref)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.String()).To(Equal(want))
		},
		Entry("a host", "registry.lab:5000", "localhost/edgesim/edgenode:abc", "registry.lab:5000/edgesim/edgenode:abc"),
		Entry("a host and a path", "registry.lab/team/", "localhost/edgesim/edgesim:abc", "registry.lab/team/edgesim/edgesim:abc"),
		Entry("a ref with no host", "127.0.0.1:5000", "edgesim/edgenode:abc", "127.0.0.1:5000/edgesim/edgenode:abc"),
	)

	It("refuses a registry given as a URL or not at all", func() {
		for _, bad := range []string{"", "https://registry.lab", "Registry.Lab:x/"} {
			_, err := nodecontainer.Registry{Name: bad}.Ref("localhost/edgesim/edgenode:abc")
			Expect(err).To(MatchError(ContainSubstring("registry %q", bad)), bad)
		}
	})
})
