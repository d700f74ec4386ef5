package dataset_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgenode/internal/dataset"
	"github.com/edgesim/edgesim/runtime/detector"
)

func TestDataset(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "detector data sets")
}

var _ = Describe("The committed model on the held-out sets", func() {
	// The accuracy gate: `edgenode eval` on the full held-out sets (600
	// in-distribution and 600 out-of-distribution frames, seed 1), the same
	// call and the same figures. About 30 s on 2 cores.
	It("meets the accuracy floors on the full held-out sets (edgenode eval)", Label("slow"), func() {
		m, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		evs, err := dataset.Evaluate(context.Background(), m, 1, 600, 600, 2)
		Expect(err).NotTo(HaveOccurred())
		for _, split := range []string{"all", "night", dataset.OODPrefix, dataset.OODPrefix + "-night"} {
			GinkgoWriter.Printf("%s: %d frames, mAP50 %.3f\n", split, evs[split].Images, evs[split].MAP)
		}
		Expect(evs["all"].Images).To(Equal(600))
		Expect(evs["night"].Images).To(Equal(300))
		Expect(evs[dataset.OODPrefix].Images).To(Equal(600))
		Expect(evs["all"].MAP).To(BeNumerically(">=", floorMAP), "in-distribution mAP@0.5")
		Expect(evs["night"].MAP).To(BeNumerically(">=", floorNight), "night mAP@0.5")
		Expect(evs[dataset.OODPrefix].MAP).To(BeNumerically(">=", floorOOD), "out-of-distribution mAP@0.5")
	})
})

// Accuracy floors of the committed model on the full held-out sets; see
// docs/performance/model.md for the figures they guard.
const (
	floorMAP   = 0.85
	floorNight = 0.75
	floorOOD   = 0.55
)
