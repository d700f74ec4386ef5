package kindprovider_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
)

var _ = Describe("kind cluster records and Clean", func() {
	It("keeps the cluster of a run that is still running", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		path, err := kindprovider.WriteRecord(dir, "es-quickstart-0a1b2c", cluster.Podman, false, cluster.Proof{Owner: "run-1"})
		Expect(err).NotTo(HaveOccurred())
		Expect(path).To(Equal(filepath.Join(dir, "kind", "es-quickstart-0a1b2c.json")), "below the netem records, not among them")
		rep, err := kindprovider.Clean(ctx, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(BeEmpty())
		Expect(rep.Skipped).To(ConsistOf(ContainSubstring("es-quickstart-0a1b2c")))
		Expect(path).To(BeAnExistingFile())
	})

	It("refuses records it did not write and leaves them", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(dir, "kind"), 0o755)).To(Succeed())
		for name, body := range map[string]string{"junk.json": "{", "other.json": `{"name":"prod-cluster","pid":1}`} {
			Expect(os.WriteFile(filepath.Join(dir, "kind", name), []byte(body), 0o644)).To(Succeed())
		}
		rep, err := kindprovider.Clean(ctx, dir)
		Expect(err).To(MatchError(ContainSubstring("not a cluster record of edgesim's")))
		Expect(rep.Removed).To(BeEmpty())
		Expect(filepath.Join(dir, "kind", "other.json")).To(BeAnExistingFile())
	})

	It("hands the record's proof to the delete and keeps a cluster it cannot prove is its own", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(dir, "kind"), 0o755)).To(Succeed())
		// A run killed during kind's create: pending record, pid gone.
		rec := filepath.Join(dir, "kind", "es-quickstart-0a1b2c.json")
		Expect(os.WriteFile(rec, []byte(`{"name":"es-quickstart-0a1b2c","pid":-1,"runtime":"podman","proof":{"owner":"run-1"}}`), 0o644)).To(Succeed())
		var got cluster.Proof
		*kindprovider.DeleteOwned = func(_ context.Context, _ cluster.Runtime, name string, p cluster.Proof, _ bool) error {
			got = p
			return fmt.Errorf("kind cluster %q: %w", name, cluster.ErrNotOwned)
		}
		DeferCleanup(func() { *kindprovider.DeleteOwned = cluster.DeleteOwned })
		rep, err := kindprovider.Clean(ctx, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(cluster.Proof{Owner: "run-1"}))
		Expect(rep.Removed).To(BeEmpty())
		Expect(rep.Skipped).To(ConsistOf(ContainSubstring("not made by edgesim")))
		Expect(rec).To(BeAnExistingFile())
	})

	It("has nothing to do without records", func(ctx SpecContext) {
		rep, err := kindprovider.Clean(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(BeEmpty())
		Expect(rep.Skipped).To(BeEmpty())
	})
})
