package plan_test

import (
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan"
)

var _ = Describe("Calibration files", func() {
	var text string
	BeforeEach(func() {
		b, err := os.ReadFile(fixture)
		Expect(err).NotTo(HaveOccurred())
		text = string(b)
	})

	It("loads the test fixture with its provenance", func() {
		cal := loadFixture()
		Expect(cal.Provenance.Commands).NotTo(BeEmpty())
		q, err := cal.Inference("small-box", "jittery")
		Expect(err).NotTo(HaveOccurred())
		Expect(q.At(0.5)).To(Equal(0.040))
		Expect(q.At(0.975)).To(BeNumerically("~", 0.100, 1e-9))
	})

	DescribeTable("refuses bad files with the field at fault",
		func(from, to, want string) {
			Expect(text).To(ContainSubstring(from))
			_, err := plan.ParseCalibration([]byte(strings.Replace(text, from, to, 1)))
			Expect(err).To(MatchError(plan.ErrInvalidCalibration))
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("another version", "apiVersion: edgesim.dev/v1alpha1", "apiVersion: edgesim.dev/v9", "apiVersion"),
		Entry("an unknown field", "testFixture: true", "testFixture: true\nspeedup: 2", "speedup"),
		Entry("no provenance", "commit: none", "commit: \"\"", "provenance"),
		Entry("a table not reaching q 1", "{q: 1, v: 0.120}", "{q: 0.99, v: 0.120}", "classes[0].models[1].serviceSeconds"),
		Entry("a decreasing table", "{q: 0.95, v: 0.080}", "{q: 0.95, v: 0.030}", "v must not decrease"),
		Entry("no workers", "workers: 1", "workers: 0", "classes[0].workers"),
	)
})
