package plan_test

import (
	"math/rand/v2"
	"os"
	"strings"
	"time"

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
		Expect(q.Busy.At(0.5)).To(Equal(0.040))
		Expect(q.Busy.At(0.975)).To(BeNumerically("~", 0.100, 1e-9))
		Expect(q.Idle).To(BeEmpty(), "the fixture has no idle service time: every draw is the busy table's")
	})

	It("draws the idle service time in proportion to the worker's idle time, up to the measured gap", func() {
		st := plan.ServiceTime{Busy: plan.Quantiles{{Q: 0, V: 0.010}, {Q: 1, V: 0.020}},
			Idle: plan.Quantiles{{Q: 0, V: 0.030}, {Q: 1, V: 0.040}}, IdleGap: int64(100 * time.Millisecond)}
		draw := func(gap time.Duration) float64 {
			return st.Draw(rand.New(rand.NewPCG(1, 2)), int64(gap))
		}
		u := rand.New(rand.NewPCG(1, 2)).Float64()
		Expect(draw(0)).To(BeNumerically("~", 0.010+0.010*u, 1e-12))
		Expect(draw(50 * time.Millisecond)).To(BeNumerically("~", 0.020+0.010*u, 1e-12))
		Expect(draw(100 * time.Millisecond)).To(BeNumerically("~", 0.030+0.010*u, 1e-12))
		Expect(draw(time.Hour)).To(BeNumerically("~", 0.030+0.010*u, 1e-12))
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
		Entry("an idle service time without its gap", "serviceSeconds: [{q: 0, v: 0.100}, {q: 1, v: 0.100}]",
			"serviceSeconds: [{q: 0, v: 0.100}, {q: 1, v: 0.100}]\n        idleServiceSeconds: [{q: 0, v: 0.2}, {q: 1, v: 0.2}]", "idleGapSeconds"),
		Entry("a decreasing table", "{q: 0.95, v: 0.080}", "{q: 0.95, v: 0.030}", "v must not decrease"),
		Entry("no workers", "workers: 1", "workers: 0", "classes[0].workers"),
	)
})
