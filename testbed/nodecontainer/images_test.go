package nodecontainer_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// unpack extracts the image's single layer into dir.
func unpack(archive, ref, dir string) {
	tag, err := name.NewTag(ref, name.WeakValidation)
	Expect(err).NotTo(HaveOccurred())
	img, err := tarball.ImageFromPath(archive, &tag)
	Expect(err).NotTo(HaveOccurred())
	unpackImage(img, dir)
}

// unpackImage extracts the image's single layer into dir.
func unpackImage(img v1.Image, dir string) {
	layers, err := img.Layers()
	Expect(err).NotTo(HaveOccurred())
	Expect(layers).To(HaveLen(1))
	rc, err := layers[0].Uncompressed()
	Expect(err).NotTo(HaveOccurred())
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		Expect(err).NotTo(HaveOccurred())
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			Expect(os.MkdirAll(p, os.FileMode(h.Mode).Perm())).To(Succeed())
		case tar.TypeSymlink:
			Expect(os.Symlink(h.Linkname, p)).To(Succeed())
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode).Perm())
			Expect(err).NotTo(HaveOccurred())
			_, err = io.Copy(f, tr)
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Close()).To(Succeed())
		}
	}
}

var _ = Describe("BuildImage", func() {
	var host string
	BeforeEach(func() {
		var err error
		host, err = exec.LookPath("true")
		Expect(err).NotTo(HaveOccurred())
	})

	It("holds the binary, its loader and its libraries, and runs from them alone", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		img, err := nodecontainer.BuildImage(ctx, nodecontainer.ImageSpec{
			Repo: "localhost/edgesim/test", Binaries: map[string]string{"true": host}, Entrypoint: []string{"/true"},
		}, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Ref).To(MatchRegexp(`^localhost/edgesim/test:[0-9a-f]{12}$`))
		Expect(img.Files).To(ContainElement("/true"))
		Expect(img.Files).To(ContainElement(HaveSuffix("/libc.so.6")))
		Expect(img.Files).To(ContainElement(ContainSubstring("ld-linux")))

		if os.Geteuid() != 0 {
			Skip("running the image's files needs root (chroot)")
		}
		root := filepath.Join(dir, "root")
		Expect(os.Mkdir(root, 0o755)).To(Succeed())
		unpack(img.Archive, img.Ref, root)
		out, err := exec.CommandContext(ctx, "chroot", root, "/true").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
	})

	It("gives equal inputs the same reference", func(ctx SpecContext) {
		spec := nodecontainer.ImageSpec{Repo: "localhost/edgesim/test", Binaries: map[string]string{"true": host}}
		a, err := nodecontainer.BuildImage(ctx, spec, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		b, err := nodecontainer.BuildImage(ctx, spec, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Ref).To(Equal(b.Ref))
	})

	It("says what is missing", func() {
		_, err := nodecontainer.BuildImage(context.Background(), nodecontainer.ImageSpec{Repo: "x"}, GinkgoT().TempDir())
		Expect(err).To(MatchError(nodecontainer.ErrImage))
		_, err = nodecontainer.BuildImage(context.Background(), nodecontainer.ImageSpec{Repo: "x", Binaries: map[string]string{"a": "/nonexistent/edgenode"}}, GinkgoT().TempDir())
		Expect(err).To(MatchError(ContainSubstring("/nonexistent/edgenode")))
	})
})
