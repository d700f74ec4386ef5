package cnn_test

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/cnn"
	"github.com/edgesim/edgesim/runtime/detector"
)

func TestCNN(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "CNN Suite")
}

var _ = Describe("Load", func() {
	It("loads the embedded model and runs it through the pipeline interface", func() {
		m, err := cnn.Load("")
		Expect(err).NotTo(HaveOccurred())
		info := m.Info()
		Expect(info.Name).NotTo(BeEmpty())
		Expect(info.SHA256).To(HaveLen(64))
		r, err := m.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		defer r.Close()
		img := image.NewYCbCr(image.Rect(0, 0, 320, 180), image.YCbCrSubsampleRatio420)
		dets, err := r.Detect(img)
		Expect(err).NotTo(HaveOccurred())
		for _, d := range dets {
			Expect(d.Box.In(img.Bounds()) || d.Box.Overlaps(img.Bounds())).To(BeTrue())
		}
	})

	It("refuses a missing model", func() {
		_, err := cnn.Load(filepath.Join(GinkgoT().TempDir(), "nope"))
		Expect(errors.Is(err, detector.ErrModelMissing)).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("refusing to start"))
	})

	It("refuses a tampered model", func() {
		def, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		man, err := def.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		w := filepath.Join(dir, man.Weights)
		b, err := os.ReadFile(w)
		Expect(err).NotTo(HaveOccurred())
		b[len(b)/2] ^= 0xff
		Expect(os.WriteFile(w, b, 0o600)).To(Succeed())
		_, err = cnn.Load(dir)
		Expect(errors.Is(err, detector.ErrModelTampered)).To(BeTrue())
	})
})
