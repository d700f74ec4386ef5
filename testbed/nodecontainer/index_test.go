package nodecontainer_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// crossHello compiles a C program for arm64 with the cross toolchain that
// hack/cross.sh installs; it links libc dynamically, like edgenode.
func crossHello(ctx SpecContext) string {
	cc, err := exec.LookPath("aarch64-linux-gnu-gcc")
	Expect(err).NotTo(HaveOccurred(), "the arm64 specs need the cross toolchain and qemu-user: sudo go tool task cross-deps (or leave them out: -ginkgo.label-filter='!arm64')")
	dir := GinkgoT().TempDir()
	src := filepath.Join(dir, "hello.c")
	Expect(os.WriteFile(src, []byte("#include <stdio.h>\nint main(void) { puts(\"hello from arm64\"); return 0; }\n"), 0o644)).To(Succeed())
	out, err := exec.CommandContext(ctx, cc, "-O1", "-o", filepath.Join(dir, "hello"), src).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	return filepath.Join(dir, "hello")
}

// indexOf reads the index named ref from the OCI layout at dir.
func indexOf(dir, ref string) v1.ImageIndex {
	top, err := layout.ImageIndexFromPath(dir)
	Expect(err).NotTo(HaveOccurred())
	m, err := top.IndexManifest()
	Expect(err).NotTo(HaveOccurred())
	var found []v1.Hash
	for _, d := range m.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == ref {
			found = append(found, d.Digest)
		}
	}
	Expect(found).To(HaveLen(1), "the layout names the index once")
	idx, err := top.ImageIndex(found[0])
	Expect(err).NotTo(HaveOccurred())
	return idx
}

var _ = Describe("BuildIndex", func() {
	It("writes an OCI index of an amd64 and an arm64 image, each holding binaries and libraries of its own architecture", Label("arm64"), func(ctx SpecContext) {
		amd, err := exec.LookPath("true")
		Expect(err).NotTo(HaveOccurred())
		arm := crossHello(ctx)
		dir := filepath.Join(GinkgoT().TempDir(), "oci")
		specs := []nodecontainer.ImageSpec{
			{Repo: "localhost/edgesim/test", Binaries: map[string]string{"hello": amd}, Entrypoint: []string{"/hello"}, Arch: "amd64"},
			{Repo: "localhost/edgesim/test", Binaries: map[string]string{"hello": arm}, Entrypoint: []string{"/hello"}, Arch: "arm64"},
		}
		got, err := nodecontainer.BuildIndex(ctx, specs, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Ref).To(MatchRegexp(`^localhost/edgesim/test:[0-9a-f]{12}$`))
		Expect(got.Platforms).To(Equal([]string{"linux/amd64", "linux/arm64"}))

		again, err := nodecontainer.BuildIndex(ctx, specs, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(got), "equal inputs, equal index")

		idx := indexOf(dir, got.Ref)
		digest, err := idx.Digest()
		Expect(err).NotTo(HaveOccurred())
		Expect(digest.String()).To(Equal(got.Digest))
		im, err := idx.IndexManifest()
		Expect(err).NotTo(HaveOccurred())
		Expect(im.Manifests).To(HaveLen(2))
		machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
		for _, d := range im.Manifests {
			Expect(d.Platform).NotTo(BeNil())
			Expect(d.Platform.OS).To(Equal("linux"))
			img, err := idx.Image(d.Digest)
			Expect(err).NotTo(HaveOccurred())
			cf, err := img.ConfigFile()
			Expect(err).NotTo(HaveOccurred())
			Expect(cf.Architecture).To(Equal(d.Platform.Architecture))

			root := filepath.Join(GinkgoT().TempDir(), "root")
			Expect(os.Mkdir(root, 0o755)).To(Succeed())
			unpackImage(img, root)
			for _, p := range []string{"hello", "lib/" + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[d.Platform.Architecture] + "-linux-gnu/libc.so.6"} {
				f, err := elf.Open(filepath.Join(root, p))
				Expect(err).NotTo(HaveOccurred(), p)
				Expect(f.Machine).To(Equal(machines[d.Platform.Architecture]), "%s in the %s image", p, d.Platform.Architecture)
				f.Close()
			}
			if d.Platform.Architecture == "arm64" {
				// the layer alone runs it: qemu-user takes the loader and libc from it
				out, err := exec.CommandContext(ctx, "qemu-aarch64", "-L", root, filepath.Join(root, "hello")).CombinedOutput()
				Expect(err).NotTo(HaveOccurred(), string(out))
				Expect(string(out)).To(Equal("hello from arm64\n"))
			}
		}
		Expect(im.Manifests).To(ContainElements(
			HaveField("Platform.Architecture", "amd64"), HaveField("Platform.Architecture", "arm64")))
	})

	It("refuses a binary of another architecture, naming the command that builds the right one", func(ctx SpecContext) {
		amd, err := exec.LookPath("true")
		Expect(err).NotTo(HaveOccurred())
		_, err = nodecontainer.BuildIndex(ctx, []nodecontainer.ImageSpec{
			{Repo: "localhost/edgesim/test", Binaries: map[string]string{"edgenode": amd}, Arch: "arm64"},
		}, GinkgoT().TempDir())
		Expect(err).To(MatchError(nodecontainer.ErrImage))
		Expect(err).To(MatchError(And(ContainSubstring(amd), ContainSubstring("EM_X86_64"), ContainSubstring("go tool task cross"))))
		_, err = nodecontainer.BuildIndex(ctx, []nodecontainer.ImageSpec{
			{Repo: "localhost/edgesim/test", Binaries: map[string]string{"true": amd}, Arch: "riscv64"},
		}, GinkgoT().TempDir())
		Expect(err).To(MatchError(ContainSubstring(`architecture "riscv64": use one of amd64, arm64`)))
	})
})
