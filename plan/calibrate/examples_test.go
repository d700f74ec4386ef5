package calibrate_test

import (
	"context"
	"errors"

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
		// The simulator refuses some examples for what it does not model
		// (e.g. night-watch-4g's alert time window); none for a missing
		// calibration.
		simulated := 0
		for _, name := range []string{"quickstart", "night-watch-4g", "factory-5g"} {
			sc, err := scenarios.Example(name)
			Expect(err).NotTo(HaveOccurred())
			fleet, err := plan.FromScenario(sc, c)
			var missing *plan.MissingCalibrationError
			Expect(errors.As(err, &missing)).To(BeFalse(), "%s: %v", name, err)
			if err != nil {
				continue
			}
			_, err = plan.Run(context.Background(), fleet, c)
			Expect(err).NotTo(HaveOccurred(), name)
			simulated++
		}
		Expect(simulated).To(BeNumerically(">=", 1))
	})
})
