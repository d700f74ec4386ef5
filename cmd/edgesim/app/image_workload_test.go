package app_test

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
)

var _ = Describe("image workload", func() {
	It("asks for --out", func(ctx SpecContext) {
		code, _, stderr := run(ctx, "image", "workload")
		Expect(code).NotTo(BeZero())
		Expect(stderr).To(ContainSubstring("--out"))
	})

	It("with --multiarch and no arm64 binaries, names the command that builds them", func(ctx SpecContext) {
		edgenode, err := exec.LookPath("true")
		Expect(err).NotTo(HaveOccurred())
		missing := filepath.Join(GinkgoT().TempDir(), "linux-arm64")
		code, _, stderr := run(ctx, "image", "workload", "--multiarch", "--out", GinkgoT().TempDir(),
			"--edgenode", edgenode, "--arm64-dir", missing)
		Expect(code).NotTo(BeZero())
		Expect(stderr).To(And(ContainSubstring(filepath.Join(missing, "edgenode")), ContainSubstring("go tool task cross")))
	})
})

var _ = Describe("image workload --push", func() {
	It("sends each image to the registry and prints where, by digest", func(ctx SpecContext) {
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		DeferCleanup(srv.Close)
		reg := strings.TrimPrefix(srv.URL, "http://")
		bin, err := exec.LookPath("true")
		Expect(err).NotTo(HaveOccurred())
		code, stdout, stderr := run(ctx, "image", "workload", "--out", GinkgoT().TempDir(), "--edgenode", bin, "--push", reg)
		Expect(code).To(BeZero(), stderr)
		var pushed []string
		for _, line := range strings.Split(stdout, "\n") {
			if at, ok := strings.CutPrefix(line, "pushed "); ok {
				pushed = append(pushed, at)
			}
		}
		Expect(pushed).To(HaveLen(2))
		Expect(pushed[0]).To(HavePrefix(reg + "/edgesim/edgenode@sha256:"))
		Expect(pushed[1]).To(HavePrefix(reg + "/edgesim/edgesim@sha256:"))
		for _, at := range pushed {
			ref, err := name.ParseReference(at)
			Expect(err).NotTo(HaveOccurred())
			_, err = remote.Image(ref)
			Expect(err).NotTo(HaveOccurred(), "the registry serves %s", at)
		}
	})

	It("refuses a registry given as a URL before building anything", func(ctx SpecContext) {
		code, _, stderr := run(ctx, "image", "workload", "--out", GinkgoT().TempDir(), "--push", "https://registry.lab")
		Expect(code).NotTo(BeZero())
		Expect(stderr).To(ContainSubstring("--push: "))
		Expect(stderr).To(ContainSubstring("no scheme"))
	})
})
