package calibrate_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/scenarios"
)

var _ = Describe("this machine's committed calibration", func() {
	It("is a measured file that covers the example scenarios it was measured for", func() {
		c, err := plan.LoadCalibration("../../scenarios/examples/calibration/this-machine.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(c.TestFixture).To(BeFalse())
		Expect(c.Provenance.Runs).NotTo(BeEmpty())
		for _, r := range c.Provenance.Runs {
			Expect(r.Confinement).NotTo(Equal("unconfined"), r.Command)
			Expect(r.Commit).NotTo(HaveSuffix("-dirty"), r.Command)
		}
		for _, name := range []string{"quickstart", "night-watch-4g", "factory-5g"} {
			sc, err := scenarios.Example(name)
			Expect(err).NotTo(HaveOccurred())
			fleet, err := plan.FromScenario(sc, c)
			Expect(err).NotTo(HaveOccurred(), name)
			res, err := plan.Run(context.Background(), fleet, c)
			Expect(err).NotTo(HaveOccurred(), name)
			Expect(res).NotTo(BeNil())
		}
	})
})
