package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgenode/app"
	"github.com/edgesim/edgesim/runtime/detector"
)

func edgenode(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := app.Run(context.Background(), app.Streams{Out: &out, ErrOut: &errOut}, args)
	return out.String(), err
}

var _ = Describe("optimize and eval --models", Ordered, func() {
	var variant string
	BeforeAll(func() {
		variant = filepath.Join(GinkgoT().TempDir(), "int8")
		out, err := edgenode("optimize", "--method", "int8", "--calib-frames", "32", "--seed", "3", "--out", variant)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("edgesim-det@v2-int8"))
	})

	It("records the variant's provenance in its manifest", func() {
		m, err := detector.Load(variant)
		Expect(err).NotTo(HaveOccurred())
		def, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		p := m.Manifest.Provenance
		Expect(p).NotTo(BeNil())
		Expect(p.ParentSHA256).To(Equal(def.Manifest.SHA256))
		Expect(p.Method).To(Equal("int8"))
		Expect(p.CalibrationSeed).To(Equal(int64(3)))
		Expect(p.CalibrationFrames).To(Equal(32))
		Expect(p.Parameters).To(HaveKeyWithValue("calib-frames", "32"))
		Expect(p.Command).To(HavePrefix("edgenode "))
	})

	It("compares the variant with its float32 parent, one row each", func() {
		out, err := edgenode("eval", "--models", variant, "--frames", "6", "--ood-frames", "6", "--queries", "3", "--json")
		Expect(err).NotTo(HaveOccurred())
		var res struct {
			Models []struct {
				Model, Method     string
				MAP               map[string]float64 `json:"map50"`
				Retention         map[string]float64
				Parameters        int
				FileBytes         int     `json:"weights_file_bytes"`
				MFLOP             float64 `json:"mflop_per_frame"`
				SingleStreamP90Ms float64 `json:"singlestream_p90_ms"`
				OfflineFPS        float64 `json:"offline_frames_per_s"`
				Speedup           float64 `json:"speedup_vs_parent"`
				Targets           []string
			}
		}
		Expect(json.Unmarshal([]byte(out), &res)).To(Succeed(), out)
		Expect(res.Models).To(HaveLen(2)) // the embedded parent is added
		parent, q := res.Models[0], res.Models[1]
		Expect(parent.Method).To(Equal("fp32"))
		Expect(q.Method).To(Equal("int8"))
		Expect(q.Parameters).To(Equal(parent.Parameters))
		Expect(q.MFLOP).To(Equal(parent.MFLOP))
		Expect(q.FileBytes).To(BeNumerically("<", parent.FileBytes/3))
		for _, k := range []string{"all", "night", "ood"} {
			Expect(parent.MAP).To(HaveKey(k))
			Expect(q.Retention[k]).To(BeNumerically("~", q.MAP[k]/parent.MAP[k], 1e-9))
		}
		Expect(q.SingleStreamP90Ms).To(BeNumerically(">", 0))
		Expect(q.OfflineFPS).To(BeNumerically(">", 0))
		Expect(q.Speedup).To(BeNumerically("~", parent.SingleStreamP90Ms/q.SingleStreamP90Ms, 1e-9))
		Expect(q.Targets).To(ContainElement(ContainSubstring("mAP retention")))

		text, err := edgenode("eval", "--models", variant, "--frames", "3", "--ood-frames", "0", "--queries", "2")
		Expect(err).NotTo(HaveOccurred())
		Expect(text).To(And(ContainSubstring("edgesim-det@v2-int8"), ContainSubstring("SS p90 ms"), ContainSubstring("1 core")))
	})

	It("refuses a variant whose manifest does not match its weights, naming it", func() {
		bad := filepath.Join(GinkgoT().TempDir(), "bad")
		Expect(os.MkdirAll(bad, 0o755)).To(Succeed())
		for _, f := range []string{detector.ManifestFile, detector.WeightsFile} {
			b, err := os.ReadFile(filepath.Join(variant, f))
			Expect(err).NotTo(HaveOccurred())
			if f == detector.WeightsFile {
				b[100] ^= 1
			}
			Expect(os.WriteFile(filepath.Join(bad, f), b, 0o644)).To(Succeed())
		}
		_, err := edgenode("eval", "--models", variant+","+bad, "--frames", "2", "--ood-frames", "0", "--queries", "1")
		Expect(err).To(MatchError(detector.ErrModelTampered))
		Expect(err.Error()).To(ContainSubstring("refusing model " + bad))
	})

	It("refuses a calibration set too small to bound the activations", func() {
		_, err := edgenode("optimize", "--method", "int8", "--calib-frames", "8", "--out", filepath.Join(GinkgoT().TempDir(), "x"))
		Expect(err).To(MatchError(detector.ErrCalibration))
		_, err = edgenode("optimize", "--method", "int8", "--model", variant, "--out", filepath.Join(GinkgoT().TempDir(), "y"))
		Expect(err).To(MatchError(ContainSubstring("already int8")))
	})
})
