package dataset_test

import (
	"context"
	"io/fs"
	"path"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgenode/internal/dataset"
	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/runtime/models"
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

var _ = Describe("The committed variants on the held-out sets", func() {
	// Each committed variant (edgenode optimize) against its float32
	// parent's figures on the same 600 + 600 frames of seed 1 (the parent's
	// manifest holds them): mAP retention on all, night and OOD frames.
	// About 30 s per variant on 2 cores.
	It("keeps the mAP retention target of its method (edgenode eval --models)", Label("slow"), func() {
		manifests, err := fs.Glob(models.FS, "*/*/"+detector.ManifestFile)
		Expect(err).NotTo(HaveOccurred())
		methods := map[string]int{}
		for _, mf := range manifests {
			m, err := detector.LoadFS(models.FS, path.Dir(mf))
			Expect(err).NotTo(HaveOccurred())
			p := m.Manifest.Provenance
			if p == nil {
				continue
			}
			methods[p.Method]++
			parent, err := detector.Default()
			Expect(err).NotTo(HaveOccurred())
			Expect(p.ParentSHA256).To(Equal(parent.Manifest.SHA256), "%s: variants are made from the embedded model", mf)
			floor := retentionFloor[p.Method]
			Expect(floor).NotTo(BeZero(), "%s: no retention floor for method %q", mf, p.Method)
			evs, err := dataset.Evaluate(context.Background(), m, 1, 600, 600, 2)
			Expect(err).NotTo(HaveOccurred())
			for _, split := range []string{"all", "night", dataset.OODPrefix} {
				ret := evs[split].MAP / parent.Manifest.Evaluation[split+".map50"]
				GinkgoWriter.Printf("%s %s: mAP50 %.3f, retention %.3f\n", m.Manifest.ID(), split, evs[split].MAP, ret)
				Expect(ret).To(BeNumerically(">=", floor), "%s %s mAP@0.5 retention", m.Manifest.ID(), split)
			}
		}
		Expect(methods).To(HaveKey(detector.MethodInt8), "the committed int8 variant (v2-int8)")
		Expect(methods).To(HaveKey(detector.MethodPrune), "the committed pruned variant (v2-pruned)")
		Expect(methods).To(HaveKey(detector.MethodDistill), "the committed distilled variant (v2-distilled)")
	})
})

// retentionFloor is each method's mAP retention target (issue 16): MLPerf's
// 99% for int8, 97% for the smaller networks.
var retentionFloor = map[string]float64{detector.MethodInt8: 0.99, detector.MethodPrune: 0.97, detector.MethodDistill: 0.97}

// Accuracy floors of the committed model on the full held-out sets; see
// docs/performance/model.md for the figures they guard.
const (
	floorMAP   = 0.85
	floorNight = 0.75
	floorOOD   = 0.55
)
