package nodecontainer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

type testRecord struct {
	netem.Record
	Owner string `json:"owner"`
	Last  bool   `json:"last"`
}

func (r testRecord) Stamp() *netem.Record { return &r.Record }

var errNotMine = errors.New("not mine")

var _ = Describe("cluster records", func() {
	records := nodecontainer.Records{Subdir: "test", What: "test cluster"}

	// dead is a record of a run whose process is gone.
	dead := func(name, owner string, last bool) testRecord {
		return testRecord{Record: netem.Record{Name: name, PID: -1}, Owner: owner, Last: last}
	}

	It("writes records below the state directory, not among netem's", func() {
		dir := GinkgoT().TempDir()
		path, err := records.Write(dir, "es-a", testRecord{Record: netem.OwnRecord("es-a")})
		Expect(err).NotTo(HaveOccurred())
		Expect(path).To(Equal(filepath.Join(dir, "test", "es-a.json")))
		Expect(path + ".tmp").NotTo(BeAnExistingFile())
	})

	It("deletes the clusters of dead runs in order, keeps the running and the unproven, and refuses foreign records", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		for _, r := range []testRecord{dead("es-first-last", "run-1", true), dead("es-second", "run-2", false), dead("es-other", "someone", false)} {
			_, err := records.Write(dir, r.Name, r)
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := records.Write(dir, "es-running", testRecord{Record: netem.OwnRecord("es-running")})
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "test", "prod.json"), []byte(`{"name":"prod","pid":-1}`), 0o644)).To(Succeed())

		var deleted []string
		rep, err := nodecontainer.Clean(ctx, records, dir, nodecontainer.CleanOptions[testRecord]{
			Delete: func(_ context.Context, r testRecord) error {
				if !strings.HasPrefix(r.Owner, "run-") {
					return fmt.Errorf("%s: %w", r.Name, errNotMine)
				}
				deleted = append(deleted, r.Name)
				return nil
			},
			NotOwned: errNotMine,
			Order: func(a, b testRecord) int {
				switch {
				case a.Last == b.Last:
					return 0
				case a.Last:
					return 1
				}
				return -1
			},
		})
		Expect(err).To(MatchError(ContainSubstring("prod.json is not a cluster record of edgesim's")))
		Expect(deleted).To(Equal([]string{"es-second", "es-first-last"}))
		Expect(rep.Removed).To(ConsistOf("test cluster es-second", "test cluster es-first-last"))
		Expect(rep.Skipped).To(ConsistOf(ContainSubstring("es-running (pid"), ContainSubstring("es-other: not mine (record")))
		Expect(filepath.Join(dir, "test", "es-second.json")).NotTo(BeAnExistingFile())
		Expect(filepath.Join(dir, "test", "es-other.json")).To(BeAnExistingFile())
		Expect(filepath.Join(dir, "test", "es-running.json")).To(BeAnExistingFile())
		Expect(filepath.Join(dir, "test", "prod.json")).To(BeAnExistingFile())
	})

	It("makes owner tokens that differ and are label values", func() {
		a, b := nodecontainer.OwnerToken(), nodecontainer.OwnerToken()
		Expect(a).NotTo(Equal(b))
		Expect(a).To(MatchRegexp(`^run-[0-9a-f]{16}$`))
	})
})
