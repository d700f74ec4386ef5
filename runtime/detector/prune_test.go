package detector_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/detector"
)

var _ = Describe("Structured pruning and distillation", func() {
	var parent *detector.Model
	BeforeEach(func() {
		var err error
		parent, err = detector.NewModel(toyConfig(), 8) // c1 8, c2 16, c3 16 channels
		Expect(err).NotTo(HaveOccurred())
	})

	It("keeps the network's function when it keeps every channel", func() {
		p, err := detector.Prune(parent, []int{8, 16, 16})
		Expect(err).NotTo(HaveOccurred())
		img := mustSample(toySource(1), 0)
		h1, b1, _ := detector.ReferenceOutputs(parent, img)
		h2, b2, _ := detector.ReferenceOutputs(p, img)
		Expect(h2).To(Equal(h1))
		Expect(b2).To(Equal(b1))
	})

	It("removes the channels with the smallest L1 norm, so the network does less and computes the same without them", func() {
		ws := parent.Weights()
		// c2 (tensors 2, 3): make channels 1, 5, 9, 13 dead: tiny filters
		// (the smallest L1 norms) and a negative bias, so ReLU zeroes them
		per := 8 * 3 * 3
		for _, o := range []int{1, 5, 9, 13} {
			for j := range per {
				ws[2][o*per+j] *= 1e-4
			}
			ws[3][o] = -10
		}
		p, err := detector.Prune(parent, []int{8, 12, 16})
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Manifest.Backbone[1].Out).To(Equal(12))
		Expect(p.Manifest.Tensors[4].Shape).To(Equal([]int{16, 12, 3, 3}), "c3's inputs are cut to match")
		Expect(p.FLOPs()).To(BeNumerically("<", parent.FLOPs()))
		Expect(p.ParamCount()).To(BeNumerically("<", parent.ParamCount()))
		src := toySource(2)
		for i := 0; i < 3; i++ {
			img := mustSample(src, i)
			h1, b1, _ := detector.ReferenceOutputs(parent, img)
			h2, b2, _ := detector.ReferenceOutputs(p, img)
			for k := range h1 {
				Expect(h2[k]).To(BeNumerically("~", h1[k], 1e-4))
			}
			for k := range b1 {
				Expect(b2[k]).To(BeNumerically("~", b1[k], 1e-4))
			}
		}
		// the gorgonia runner builds the pruned network too
		r, err := p.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Close()).To(Succeed())
	})

	It("refuses impossible channel counts and int8 parents", func() {
		_, err := detector.Prune(parent, []int{8, 17, 16})
		Expect(err).To(MatchError(detector.ErrBadInput))
		Expect(err.Error()).To(ContainSubstring("keep 17 of 16"))
		_, err = detector.Prune(parent, []int{8})
		Expect(err).To(MatchError(detector.ErrBadInput))
	})

	It("trains a student on the teacher's outputs plus the ground truth", func() {
		student, err := detector.Prune(parent, []int{4, 8, 8})
		Expect(err).NotTo(HaveOccurred())
		ctx := context.Background()
		opts := []detector.TrainOption{detector.WithSteps(3), detector.WithBatchSize(2), detector.WithWorkers(1)}
		var plain, kd []float64
		_, _, err = detector.Train(ctx, student, toySource(1), append(opts, detector.WithProgress(func(p detector.Progress) { plain = append(plain, p.Loss) }))...)
		Expect(err).NotTo(HaveOccurred())
		_, _, err = detector.Train(ctx, student, toySource(1), append(opts, detector.WithTeacher(parent, 1), detector.WithProgress(func(p detector.Progress) { kd = append(kd, p.Loss) }))...)
		Expect(err).NotTo(HaveOccurred())
		Expect(kd[0]).To(BeNumerically(">", plain[0]), "the teacher term adds to the loss")

		other := toyConfig()
		other.InputWidth = 32
		wrong, err := detector.NewModel(other, 1)
		Expect(err).NotTo(HaveOccurred())
		_, _, err = detector.Train(ctx, student, toySource(1), append(opts, detector.WithTeacher(wrong, 1))...)
		Expect(err).To(MatchError(ContainSubstring("teacher")))
	})
})
