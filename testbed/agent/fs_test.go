package agent_test

import (
	"archive/tar"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/agent"
)

func tarOf(entries ...*tar.Header) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		Expect(tw.WriteHeader(h)).To(Succeed())
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(h.Name))
			Expect(err).NotTo(HaveOccurred())
		}
	}
	Expect(tw.Close()).To(Succeed())
	return &b
}

var _ = Describe("Root", func() {
	var (
		base, dir string
		root      *agent.Root
	)
	BeforeEach(func() {
		base = GinkgoT().TempDir()
		dir = filepath.Join(base, "data")
		Expect(os.Mkdir(dir, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(base, "secret"), []byte("no"), 0o600)).To(Succeed())
		var err error
		root, err = agent.OpenRoot(dir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(root.Close)
	})

	It("reads files by absolute or relative path; a missing file is empty", func() {
		Expect(os.MkdirAll(filepath.Join(dir, "alerts"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "alerts", "a.jsonl"), []byte("{}\n"), 0o644)).To(Succeed())
		Expect(root.Cat(filepath.Join(dir, "alerts", "a.jsonl"))).To(Equal([]byte("{}\n")))
		Expect(root.Cat("alerts/a.jsonl")).To(Equal([]byte("{}\n")))
		b, err := root.Cat("alerts/none.jsonl")
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(BeEmpty())
		Expect(root.Exists("alerts/a.jsonl")).To(BeTrue())
		Expect(root.Exists(dir)).To(BeTrue())
		Expect(root.Exists("alerts/none")).To(BeFalse())
	})

	It("refuses paths outside the root, by name or through a symbolic link", func() {
		for _, p := range []string{filepath.Join(base, "secret"), "../secret", "alerts/../../secret", dir + "/../secret", "/etc/passwd", ""} {
			_, err := root.Cat(p)
			Expect(err).To(MatchError(agent.ErrOutside), p)
			_, err = root.Exists(p)
			Expect(err).To(MatchError(agent.ErrOutside), p)
		}
		Expect(os.Symlink(filepath.Join(base, "secret"), filepath.Join(dir, "abs"))).To(Succeed())
		Expect(os.Symlink("../secret", filepath.Join(dir, "rel"))).To(Succeed())
		Expect(os.Symlink(base, filepath.Join(dir, "up"))).To(Succeed())
		for _, p := range []string{"abs", "rel", "up/secret"} {
			b, err := root.Cat(p)
			Expect(err).To(HaveOccurred(), p)
			Expect(b).To(BeEmpty())
		}
		Expect(root.Untar(ctx(), "up", tarOf(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644}))).NotTo(Succeed())
		Expect(filepath.Join(base, "x")).NotTo(BeAnExistingFile())
	})

	It("round-trips a directory through tar", func() {
		src := filepath.Join(dir, "models", "v1")
		Expect(os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(src, "manifest.json"), []byte(`{"v":1}`), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(src, "sub", "w.bin"), bytes.Repeat([]byte{7}, 100000), 0o600)).To(Succeed())
		var b bytes.Buffer
		Expect(root.Tar(ctx(), src, &b)).To(Succeed())
		Expect(root.Untar(ctx(), "models/v2", &b)).To(Succeed())
		Expect(os.ReadFile(filepath.Join(dir, "models", "v2", "manifest.json"))).To(Equal([]byte(`{"v":1}`)))
		Expect(os.ReadFile(filepath.Join(dir, "models", "v2", "sub", "w.bin"))).To(Equal(bytes.Repeat([]byte{7}, 100000)))
		Expect(filepath.Join(dir, "models", "v2", "sub", "deeper")).To(BeADirectory())
	})

	It("leaves symbolic links out of a tar", func() {
		Expect(os.MkdirAll(filepath.Join(dir, "s"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "s", "f"), []byte("f"), 0o644)).To(Succeed())
		Expect(os.Symlink(filepath.Join(base, "secret"), filepath.Join(dir, "s", "l"))).To(Succeed())
		var b bytes.Buffer
		Expect(root.Tar(ctx(), "s", &b)).To(Succeed())
		tr := tar.NewReader(&b)
		var names []string
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			names = append(names, h.Name)
		}
		Expect(names).To(Equal([]string{"f"}))
	})

	DescribeTable("refuses hostile tar entries",
		func(h *tar.Header) {
			err := root.Untar(ctx(), "in", tarOf(h))
			Expect(err).To(HaveOccurred())
			Expect(filepath.Join(base, "evil")).NotTo(BeAnExistingFile())
			Expect(filepath.Join("/tmp", "evil-agent-spec")).NotTo(BeAnExistingFile())
		},
		Entry("a parent reference", &tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}),
		Entry("a nested parent reference", &tar.Header{Name: "a/../../../evil", Typeflag: tar.TypeReg, Mode: 0o644}),
		Entry("an absolute name", &tar.Header{Name: "/tmp/evil-agent-spec", Typeflag: tar.TypeReg, Mode: 0o644}),
		Entry("a symbolic link", &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}),
		Entry("a hard link", &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../evil"}),
		Entry("a device", &tar.Header{Name: "d", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}),
	)

	It("replaces a symbolic link atomically, as ln -sfn and mv -T do", func() {
		for _, v := range []string{"v1", "v2"} {
			Expect(os.MkdirAll(filepath.Join(dir, "models", "cam", v), 0o755)).To(Succeed())
		}
		Expect(root.Symlink("v1", "models/cam/current")).To(Succeed())
		Expect(os.Readlink(filepath.Join(dir, "models", "cam", "current"))).To(Equal("v1"))
		Expect(root.Symlink("v2", filepath.Join(dir, "models", "cam", "current"))).To(Succeed())
		Expect(os.Readlink(filepath.Join(dir, "models", "cam", "current"))).To(Equal("v2"))
		Expect(filepath.Join(dir, "models", "cam", "current.new")).NotTo(BeAnExistingFile())
		Expect(filepath.Join(dir, "models", "cam", "v2", "current")).NotTo(BeAnExistingFile(), "not made inside the old target")

		Expect(root.Symlink("../../../secret", "models/cam/current")).To(MatchError(agent.ErrOutside))
		Expect(root.Symlink("/etc", "models/cam/current")).To(MatchError(agent.ErrOutside))
		Expect(root.Symlink("v1", "../current")).To(MatchError(agent.ErrOutside))
		Expect(os.Readlink(filepath.Join(dir, "models", "cam", "current"))).To(Equal("v2"))
	})
})

var _ = Describe("Probe", func() {
	It("succeeds on 2xx and fails otherwise", func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/ok" {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		DeferCleanup(srv.Close)
		Expect(agent.Probe(ctx(), srv.URL+"/ok")).To(Succeed())
		Expect(agent.Probe(ctx(), srv.URL+"/down")).To(MatchError(ContainSubstring("503")))
		srv.Close()
		Expect(agent.Probe(ctx(), srv.URL+"/ok")).NotTo(Succeed())
	})
})
