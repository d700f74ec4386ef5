package app_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgesim/app"
)

// run runs the command line and returns its exit code, stdout and stderr.
func run(ctx SpecContext, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	err := app.Run(ctx, app.Streams{In: bytes.NewReader(nil), Out: &out, ErrOut: &errOut}, args)
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return app.ExitCode(err), out.String(), errOut.String()
}

var _ = Describe("edgesim run and up", func() {
	It("refuses an unknown provider before starting anything", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, _, stderr := run(ctx, "run", "--provider", "k8s", "--results", dir)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`--provider "k8s": want local, kind, k3s or kubeconfig`))
		Expect(os.ReadDir(dir)).To(BeEmpty(), "no results directory for a run that never started")
	})

	It("refuses an unknown kind layout, naming both", func(ctx SpecContext) {
		code, _, stderr := run(ctx, "up", "--provider", "kind", "--kind-layout", "mesh", "--foreground")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`want "single" or "federated"`))
	})

	It("reports every problem of an invalid scenario with its position and starts nothing", func(ctx SpecContext) {
		f := filepath.Join(GinkgoT().TempDir(), "bad.yaml")
		Expect(os.WriteFile(f, []byte("apiVersion: edgesim.dev/v1alpha1\nkind: Scenario\nmetadata: {name: bad}\nspec:\n  duration: 10mbps\n"), 0o644)).To(Succeed())
		code, _, stderr := run(ctx, "run", f)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(f + ":5:"))
		Expect(stderr).To(ContainSubstring("nothing was started"))
	})

	It("lists every provider it offers in run's help, --provider and the error for an unknown one", func(ctx SpecContext) {
		names := app.ProviderNames()
		Expect(names).To(ContainElements("local", "kind"))
		_, stdout, _ := run(ctx, "run", "--help")
		_, _, stderr := run(ctx, "run", "--provider", "nope")
		for _, n := range names {
			Expect(stdout).To(MatchRegexp(`(?m)^  %s +\S`, n), "the providers' table")
			Expect(stdout).To(ContainSubstring(`%q`, n), "--provider's help")
			Expect(stderr).To(ContainSubstring(n))
		}
	})

	It("teaches the kind provider in its help", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "run", "--help")
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("--provider kind"))
		Expect(stdout).To(ContainSubstring("--kind-layout"))
		Expect(stdout).To(ContainSubstring("--retain"))
	})
})

var _ = Describe("edgesim run --provider k3s", func() {
	It("teaches the K3s provider and the image it needs in its help", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "run", "--help")
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("--provider k3s"))
		Expect(stdout).To(ContainSubstring("--k3s-image"))
		Expect(stdout).To(ContainSubstring("edgesim image k3s"))
	})

	It("refuses to start without the K3s node image, naming the command that builds it", func(ctx SpecContext) {
		want := "edgesim image k3s"
		if os.Geteuid() != 0 {
			want = "run edgesim as root"
		} else if _, err := exec.LookPath("podman"); err != nil {
			want = "install it with hack/kind/install-deps.sh"
		}
		edgenode, err := exec.LookPath("true") // any file: the image check comes first
		Expect(err).NotTo(HaveOccurred())
		code, _, stderr := run(ctx, "run", "--provider", "k3s", "--k3s-image", "localhost/edgesim/k3s-node:absent", "--edgenode", edgenode, "--results", GinkgoT().TempDir())
		Expect(code).NotTo(Equal(0))
		Expect(stderr).To(ContainSubstring("the k3s provider cannot run here"))
		Expect(stderr).To(ContainSubstring(want))
	})
})

var _ = Describe("edgesim clean", func() {
	It("says when there is nothing to clean", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, stdout, _ := run(ctx, "clean", "--state-dir", dir)
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("nothing to clean in " + dir))
	})

	It("keeps the kind cluster of a run that still runs", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(dir, "kind"), 0o755)).To(Succeed())
		rec := `{"name":"es-quickstart-0a1b2c","pid":` + fmt.Sprint(os.Getpid()) + `,"runtime":"podman"}`
		Expect(os.WriteFile(filepath.Join(dir, "kind", "es-quickstart-0a1b2c.json"), []byte(rec), 0o644)).To(Succeed())
		code, stdout, _ := run(ctx, "clean", "--state-dir", dir)
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("kept kind cluster es-quickstart-0a1b2c"))
	})

	It("keeps the K3s cluster of a run that still runs", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(dir, "k3s"), 0o755)).To(Succeed())
		rec := `{"name":"es-quickstart-0a1b2c","pid":` + fmt.Sprint(os.Getpid()) + `,"proof":{"owner":"run-1"}}`
		Expect(os.WriteFile(filepath.Join(dir, "k3s", "es-quickstart-0a1b2c.json"), []byte(rec), 0o644)).To(Succeed())
		code, stdout, _ := run(ctx, "clean", "--state-dir", dir)
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("kept k3s cluster es-quickstart-0a1b2c"))
		_, help, _ := run(ctx, "clean", "--help")
		Expect(help).To(ContainSubstring("STATE-DIR/k3s"))
	})
})
