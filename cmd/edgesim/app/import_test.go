package app_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
)

var _ = Describe("edgesim import", func() {
	fixture := func(name string) string {
		return filepath.Join("..", "..", "..", "scenarios", "importers", "testdata", name)
	}
	maps := []string{"--map", "app=edgenode:site:store-1", "--map", "app=cloud-api:cloud"}

	It("prints a scenario that loads to standard output", func(ctx SpecContext) {
		code, stdout, stderr := run(ctx, append(append([]string{"import", "chaosmesh"}, maps...), fixture("chaosmesh-bandwidth.yaml"))...)
		Expect(code).To(Equal(0), stderr)
		_, err := scenarios.Load("out.yaml", []byte(stdout), GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		Expect(stdout).To(ContainSubstring("BYTES per second"))
	})

	It("writes -o FILE, and never overwrites it without --force", func(ctx SpecContext) {
		out := filepath.Join(GinkgoT().TempDir(), "imported.yaml")
		args := append(append([]string{"import", "chaosmesh", "-o", out}, maps...), fixture("chaosmesh-bandwidth.yaml"))
		code, stdout, stderr := run(ctx, args...)
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(BeEmpty())
		Expect(scenarios.LoadFile(out)).NotTo(BeNil())

		Expect(os.WriteFile(out, []byte("mine\n"), 0o644)).To(Succeed())
		code, _, stderr = run(ctx, args...)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("exists; pass --force"))
		Expect(os.ReadFile(out)).To(Equal([]byte("mine\n")))

		code, _, stderr = run(ctx, append(args, "--force")...)
		Expect(code).To(Equal(0), stderr)
		Expect(scenarios.LoadFile(out)).NotTo(BeNil())
	})

	It("exits 0 with comments for an approximate mapping, and --strict refuses it, writing nothing", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		out := filepath.Join(dir, "cut.yaml")
		args := append(append([]string{"import", "chaosmesh", "--to", "cloud", "-o", out}, maps...), fixture("chaosmesh-partition.yaml"))
		code, _, stderr := run(ctx, args...)
		Expect(code).To(Equal(0), stderr)
		Expect(stderr).To(ContainSubstring("3 value(s) approximated"))
		Expect(os.Remove(out)).To(Succeed())

		code, _, stderr = run(ctx, append(args, "--strict")...)
		Expect(code).To(Equal(1))
		Expect(stderr).To(ContainSubstring("spec.mode: APPROXIMATE"))
		Expect(os.ReadDir(dir)).To(BeEmpty())
	})

	It("refuses an unmappable file, naming field and line, and writes nothing", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		out := filepath.Join(dir, "x.yaml")
		code, stdout, stderr := run(ctx, append(append([]string{"import", "chaosmesh", "-o", out}, maps...), fixture("chaosmesh-unknown-action.yaml"))...)
		Expect(code).To(Equal(1))
		Expect(stdout).To(BeEmpty())
		Expect(stderr).To(ContainSubstring(`chaosmesh-unknown-action.yaml:6: spec.action: unknown action "stress"`))
		Expect(os.ReadDir(dir)).To(BeEmpty())
	})

	It("explains --map in its help", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "import", "--help")
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("--map app=edgenode:site:store-1"))
		Expect(stdout).To(ContainSubstring("KEY=VALUE:ENDPOINT"))
	})
})
