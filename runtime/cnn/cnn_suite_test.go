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

var _ = Describe("Committed variants as hot-swap targets", func() {
	// The server's loader (POST /admin/model, SIGHUP) is cnn.Load: every
	// committed variant must load and run through it, and a broken variant
	// must be refused before anything is swapped.
	It("loads and runs every variant in runtime/models, and refuses a variant whose weights are not its manifest's", func() {
		manifests, err := filepath.Glob(filepath.Join("..", "models", "*", "*", detector.ManifestFile))
		Expect(err).NotTo(HaveOccurred())
		methods := map[string]bool{}
		img := image.NewYCbCr(image.Rect(0, 0, 320, 180), image.YCbCrSubsampleRatio420)
		for _, mf := range manifests {
			dir := filepath.Dir(mf)
			m, err := cnn.Load(dir)
			Expect(err).NotTo(HaveOccurred(), dir)
			r, err := m.NewRunner()
			Expect(err).NotTo(HaveOccurred(), dir)
			_, err = r.Detect(img)
			Expect(err).NotTo(HaveOccurred(), dir)
			Expect(r.Close()).To(Succeed())
			dm, err := detector.Load(dir)
			Expect(err).NotTo(HaveOccurred())
			if dm.Manifest.Provenance == nil {
				continue
			}
			methods[dm.Manifest.Provenance.Method] = true
			// the variant's manifest with its weights file cut short: refused
			broken := GinkgoT().TempDir()
			b, err := os.ReadFile(mf)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(filepath.Join(broken, detector.ManifestFile), b, 0o600)).To(Succeed())
			wb, err := os.ReadFile(filepath.Join(dir, dm.Manifest.Weights))
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(filepath.Join(broken, dm.Manifest.Weights), wb[:len(wb)-4], 0o600)).To(Succeed())
			_, err = cnn.Load(broken)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("refusing to start without a valid model"))
		}
		Expect(methods).To(Equal(map[string]bool{detector.MethodInt8: true, detector.MethodPrune: true, detector.MethodDistill: true}),
			"v2-int8, v2-pruned and v2-distilled are committed")
	})
})
