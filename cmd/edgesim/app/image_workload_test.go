package app_test

import (
	"os/exec"
	"path/filepath"

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
