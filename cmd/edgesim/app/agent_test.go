package app_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgesim/app"
)

// runIn runs the command line with stdin in.
func runIn(ctx SpecContext, in []byte, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	err := app.Run(ctx, app.Streams{In: bytes.NewReader(in), Out: &out, ErrOut: &errOut}, args)
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return app.ExitCode(err), out.String(), errOut.String()
}

var _ = Describe("edgesim agent", func() {
	It("says it is what edgesim's DaemonSet runs", func(ctx SpecContext) {
		code, out, _ := run(ctx, "agent", "--help")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("DaemonSet"))
		Expect(out).To(ContainSubstring("users do not call it by hand"))
	})

	It("does the file chores inside --root only", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		root := filepath.Join(dir, "root")
		Expect(os.MkdirAll(filepath.Join(root, "models", "m", "v1"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(root, "models", "m", "v1", "manifest.json"), []byte("{}"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "secret"), []byte("s"), 0o644)).To(Succeed())

		code, out, _ := run(ctx, "agent", "--root", root, "cat", root+"/models/m/v1/manifest.json")
		Expect(code).To(Equal(0))
		Expect(out).To(Equal("{}"))
		code, out, _ = run(ctx, "agent", "--root", root, "cat", "alerts/alerts.jsonl")
		Expect(code).To(Equal(0))
		Expect(out).To(BeEmpty())
		code, _, stderr := run(ctx, "agent", "--root", root, "cat", dir+"/secret")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("outside the root"))

		Expect(run(ctx, "agent", "--root", root, "exists", "models/m/v1/manifest.json")).To(Equal(0))
		code, _, _ = run(ctx, "agent", "--root", root, "exists", "models/m/v2/manifest.json")
		Expect(code).To(Equal(1))

		code, tarball, _ := run(ctx, "agent", "--root", root, "tar", "models/m/v1")
		Expect(code).To(Equal(0))
		code, _, stderr = runIn(ctx, []byte(tarball), "agent", "--root", root, "untar", "models/m/v2")
		Expect(code).To(Equal(0), stderr)
		Expect(filepath.Join(root, "models", "m", "v2", "manifest.json")).To(BeARegularFile())

		code, _, stderr = run(ctx, "agent", "--root", root, "symlink", "v2", "models/m/current")
		Expect(code).To(Equal(0), stderr)
		Expect(os.Readlink(filepath.Join(root, "models", "m", "current"))).To(Equal("v2"))
	})

	It("probes a URL", func(ctx SpecContext) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
			}
		}))
		DeferCleanup(srv.Close)
		code, _, _ := run(ctx, "agent", "probe", srv.URL+"/healthz")
		Expect(code).To(Equal(0))
		code, _, _ = run(ctx, "agent", "probe", srv.URL+"/nope")
		Expect(code).To(Equal(2))
	})
})
