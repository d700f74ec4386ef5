package detector_test

import (
	"context"
	"encoding/json"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/detector"
)

// naiveConvInt8 is the integer convolution written the obvious way.
func naiveConvInt8(x []int8, in, h, w int, wt []int8, bias []int32, out, k, stride, dil int) ([]int32, int, int) {
	pad := dil * (k - 1) / 2
	oh := (h+2*pad-dil*(k-1)-1)/stride + 1
	ow := (w+2*pad-dil*(k-1)-1)/stride + 1
	y := make([]int32, out*oh*ow)
	for o := 0; o < out; o++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				s := bias[o]
				for c := 0; c < in; c++ {
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							iy, ix := oy*stride-pad+ky*dil, ox*stride-pad+kx*dil
							if iy >= 0 && iy < h && ix >= 0 && ix < w {
								s += int32(x[c*h*w+iy*w+ix]) * int32(wt[((o*in+c)*k+ky)*k+kx])
							}
						}
					}
				}
				y[o*oh*ow+oy*ow+ox] = s
			}
		}
	}
	return y, oh, ow
}

// checkInt8Conv runs the int8 kernels on one convolution and compares them
// with the naive integer convolution (exactly) and with the float32
// reference convolution of the dequantised operands (within float32
// rounding). It returns a description of the first mismatch or "".
func checkInt8Conv(x []int8, in, h, w int, wt []int8, bias []int32, out, k, stride, dil int, xs float32, ws []float32) string {
	want, oh, ow := naiveConvInt8(x, in, h, w, wt, bias, out, k, stride, dil)
	kk := in * k * k
	got := detector.ConvInt8(x, in, h, w, wt, bias, out, k, stride, dil)
	for i := range want {
		if got[i] != want[i] {
			return "int32 accumulator differs from the naive convolution"
		}
	}
	xf := make([]float32, len(x))
	for i, v := range x {
		xf[i] = float32(v) * xs
	}
	wf := make([]float32, len(wt))
	for i, v := range wt {
		wf[i] = float32(v) * ws[i/kk]
	}
	bf := make([]float32, out)
	for o := range bf {
		bf[o] = float32(bias[o]) * xs * ws[o]
	}
	ref, _, _ := detector.ConvRef(xf, in, h, w, wf, bf, out, k, stride, dil, false)
	for i, r := range ref {
		o := i / (oh * ow)
		deq := float64(got[i]) * float64(xs) * float64(ws[o])
		// float32 rounding of a sum of kk+1 terms, each at most 127*127*xs*ws
		tol := 1e-5 * float64(kk+1) * 127 * 127 * float64(xs) * float64(ws[o])
		if math.Abs(deq-float64(r)) > tol {
			return "dequantised accumulator differs from the float32 reference"
		}
	}
	return ""
}

var _ = Describe("int8 kernels", func() {
	It("compute the same convolution as the integer and float32 references", func() {
		rng := rand.New(rand.NewPCG(4, 2))
		for _, c := range []struct{ in, h, w, out, k, stride, dil int }{
			{3, 9, 11, 5, 3, 2, 1}, {4, 8, 8, 8, 3, 1, 2}, {6, 7, 5, 3, 1, 1, 1}, {2, 12, 10, 9, 3, 1, 4},
		} {
			x := make([]int8, c.in*c.h*c.w)
			for i := range x {
				x[i] = int8(rng.IntN(255) - 127)
			}
			wt := make([]int8, c.out*c.in*c.k*c.k)
			for i := range wt {
				wt[i] = int8(rng.IntN(255) - 127)
			}
			bias := make([]int32, c.out)
			ws := make([]float32, c.out)
			for o := range bias {
				bias[o] = int32(rng.IntN(20001) - 10000)
				ws[o] = 0.001 + rng.Float32()*0.01
			}
			Expect(checkInt8Conv(x, c.in, c.h, c.w, wt, bias, c.out, c.k, c.stride, c.dil, 0.004, ws)).To(BeEmpty(), "%+v", c)
		}
	})

	It("compute two pixels per 64-bit multiply exactly, up to the longest dot product an int32 lane holds", func() {
		rng := rand.New(rand.NewPCG(7, 7))
		for _, c := range []struct{ out, kk, np int }{{5, 27, 7}, {8, 288, 10}, {1, 133143, 3}} {
			w := make([]int8, c.out*c.kk)
			cols := make([]int8, c.np*c.kk)
			for i := range w {
				w[i] = int8(rng.IntN(255) - 127)
			}
			for i := range cols {
				cols[i] = int8(rng.IntN(255) - 127)
			}
			if c.kk > 1000 { // worst case: every product -127*127 in one lane, +127*127 in the other
				for i := range w {
					w[i] = 127
				}
				for p := 0; p < c.np; p++ {
					for j := 0; j < c.kk; j++ {
						cols[p*c.kk+j] = int8(127 * (1 - 2*(p%2)))
					}
				}
			}
			bias := make([]int32, c.out)
			want := make([]int32, c.out*c.np)
			detector.GemmInt8(w, c.out, c.kk, cols, c.np, bias, want)
			pc := make([]int64, (c.np+1)/2*c.kk)
			detector.PackPairs(cols, c.kk, c.np, pc)
			got := make([]int32, c.out*c.np)
			detector.GemmInt8x2(w, c.out, c.kk, pc, c.np, bias, got)
			Expect(got).To(Equal(want), "%+v", c)
		}
	})

	It("requantise with a fixed-point multiplier, rounding to nearest and saturating", func() {
		for _, m := range []float64{0.9, 0.5, 0.0123, 3e-5, 1.7} {
			mult, shift, err := detector.QuantizeMultiplier(m)
			Expect(err).NotTo(HaveOccurred())
			Expect(mult).To(BeNumerically(">=", 1<<30))
			Expect(math.Abs(float64(mult)*math.Pow(2, -float64(shift))-m) / m).To(BeNumerically("<", 1e-9))
			for _, acc := range []int32{0, 1, 77, 1000, 123456, 1 << 24} {
				want := math.Min(127, math.Round(float64(acc)*m))
				Expect(float64(detector.Requantize(acc, mult, shift))).To(Equal(want), "acc %d m %v", acc, m)
			}
			Expect(detector.Requantize(-500, mult, shift)).To(BeZero(), "ReLU")
		}
		_, _, err := detector.QuantizeMultiplier(0)
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("int8 post-training quantisation", func() {
	var parent *detector.Model
	prov := detector.Provenance{CalibrationSeed: 9, Command: "test"}
	BeforeEach(func() {
		var err error
		parent, err = detector.NewModel(toyConfig(), 5)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		man, err := parent.Save(dir) // fills in the sha256 a variant records
		Expect(err).NotTo(HaveOccurred())
		parent, err = parent.WithManifest(man)
		Expect(err).NotTo(HaveOccurred())
	})

	It("runs on integer kernels whose outputs follow the float32 model, and records its provenance", func() {
		q, err := detector.Quantize(context.Background(), parent, toySource(11), 64, prov)
		Expect(err).NotTo(HaveOccurred())
		Expect(q.IsInt8()).To(BeTrue())
		p := q.Manifest.Provenance
		Expect(p.Method).To(Equal(detector.MethodInt8))
		Expect(p.ParentSHA256).To(Equal(parent.Manifest.SHA256))
		Expect(p.CalibrationSeed).To(Equal(int64(9)))
		Expect(p.CalibrationFrames).To(Equal(64))
		Expect(q.Manifest.Quantization.ActivationScales).To(HaveLen(len(parent.Manifest.Backbone)))

		r, err := q.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		defer r.Close()
		src := toySource(99) // not the calibration frames
		for i := 0; i < 6; i++ {
			s, err := src.Sample(context.Background(), i)
			Expect(err).NotTo(HaveOccurred())
			heat, box, err := detector.HeadOutputs(r, s.Image)
			Expect(err).NotTo(HaveOccurred())
			rh, rb, err := detector.ReferenceOutputs(parent, s.Image)
			Expect(err).NotTo(HaveOccurred())
			for _, pair := range [][2][]float32{{heat, rh}, {box, rb}} {
				span, worst := 0.0, 0.0
				for j, v := range pair[1] {
					span = max(span, math.Abs(float64(v)))
					worst = max(worst, math.Abs(float64(pair[0][j]-v)))
				}
				// an untrained network: the heads' outputs are small sums of
				// many rounded terms; 5% of their range is a 4-5 bit error
				Expect(worst).To(BeNumerically("<", 0.05*span+1e-4), "frame %d", i)
			}
		}
	})

	It("follows the float32 model through a max-pooled layer too", func() {
		cfg := toyConfig()
		cfg.Backbone[0].Pool = 2
		pooled, err := detector.NewModel(cfg, 6)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		man, err := pooled.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		pooled, err = pooled.WithManifest(man)
		Expect(err).NotTo(HaveOccurred())
		q, err := detector.Quantize(context.Background(), pooled, toySource(11), 32, prov)
		Expect(err).NotTo(HaveOccurred())
		r, err := q.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		defer r.Close()
		img := mustSample(toySource(5), 1)
		heat, _, err := detector.HeadOutputs(r, img)
		Expect(err).NotTo(HaveOccurred())
		ref, _, err := detector.ReferenceOutputs(pooled, img)
		Expect(err).NotTo(HaveOccurred())
		Expect(heat).To(HaveLen(len(ref)))
		span, worst := 0.0, 0.0
		for j, v := range ref {
			span = max(span, math.Abs(float64(v)))
			worst = max(worst, math.Abs(float64(heat[j]-v)))
		}
		Expect(worst).To(BeNumerically("<", 0.05*span+1e-4))
	})

	It("saves int8 weights (a quarter of the float32 file) and loads them back verified", func() {
		q, err := detector.Quantize(context.Background(), parent, toySource(11), 32, prov)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		_, err = q.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		l, err := detector.Load(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(l.IsInt8()).To(BeTrue())
		Expect(l.WeightsSize()).To(BeNumerically("<", parent.WeightsSize()/3))
		img := mustSample(toySource(3), 0)
		r1, _ := q.NewRunner()
		r2, _ := l.NewRunner()
		defer r1.Close()
		defer r2.Close()
		h1, _, _ := detector.HeadOutputs(r1, img)
		h2, _, _ := detector.HeadOutputs(r2, img)
		Expect(h2).To(Equal(h1))
		_, _, err = detector.Train(context.Background(), l, toySource(1), detector.WithSteps(1))
		Expect(err).To(MatchError(detector.ErrBadInput))
	})

	It("refuses a calibration set too small to bound the activations", func() {
		_, err := detector.Quantize(context.Background(), parent, toySource(11), 8, prov)
		Expect(err).To(MatchError(detector.ErrCalibration))
		Expect(err.Error()).To(ContainSubstring("at least 32"))
		// the first half of the frames is flat grey, the second half has
		// objects: the range is still growing, so more frames are needed
		grey := detector.SourceFunc(func(ctx context.Context, i int) (detector.Sample, error) {
			if i < 20 {
				img := image.NewRGBA(image.Rect(0, 0, 128, 96))
				for j := range img.Pix {
					img.Pix[j] = 128
				}
				return detector.Sample{Image: img}, nil
			}
			return toySource(11).Sample(ctx, i)
		})
		_, err = detector.Quantize(context.Background(), parent, grey, 40, prov)
		Expect(err).To(MatchError(detector.ErrCalibration))
		Expect(err.Error()).To(ContainSubstring("more calibration frames"))
	})

	It("refuses at load a variant whose manifest does not match its weights, saying why", func() {
		q, err := detector.Quantize(context.Background(), parent, toySource(11), 32, prov)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		_, err = q.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		mp := filepath.Join(dir, detector.ManifestFile)
		orig, _ := os.ReadFile(mp)
		edit := func(f func(map[string]any)) error {
			var raw map[string]any
			Expect(json.Unmarshal(orig, &raw)).To(Succeed())
			f(raw)
			b, _ := json.Marshal(raw)
			Expect(os.WriteFile(mp, b, 0o644)).To(Succeed())
			_, err := detector.Load(dir)
			return err
		}
		// the float32 parent's weights under the int8 manifest (hash patched)
		fp := GinkgoT().TempDir()
		_, err = parent.Save(fp)
		Expect(err).NotTo(HaveOccurred())
		pw, _ := os.ReadFile(filepath.Join(fp, detector.WeightsFile))
		pm, _ := os.ReadFile(filepath.Join(fp, detector.ManifestFile))
		var pman map[string]any
		Expect(json.Unmarshal(pm, &pman)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, detector.WeightsFile), pw, 0o644)).To(Succeed())
		err = edit(func(m map[string]any) { m["sha256"] = pman["sha256"] })
		Expect(err).To(MatchError(detector.ErrBadManifest))
		Expect(err.Error()).To(And(ContainSubstring("bytes"), ContainSubstring("do not belong to this manifest")))

		// and the int8 manifest relabelled float32, or its provenance wrong
		_, err = q.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		orig, _ = os.ReadFile(mp)
		err = edit(func(m map[string]any) { delete(m, "weights_format") })
		Expect(err).To(MatchError(detector.ErrBadManifest))
		Expect(err.Error()).To(ContainSubstring("quantization is given"))
		err = edit(func(m map[string]any) { m["provenance"].(map[string]any)["method"] = "prune" })
		Expect(err).To(MatchError(detector.ErrBadManifest))
		Expect(err.Error()).To(ContainSubstring(`method "prune" but weights_format "int8"`))
		err = edit(func(m map[string]any) { m["quantization"].(map[string]any)["activation_scales"] = []float64{0.1} })
		Expect(err).To(MatchError(detector.ErrBadManifest))
		Expect(err.Error()).To(ContainSubstring("activation scales"))
		Expect(edit(func(map[string]any) {})).To(Succeed())
	})
})

func mustSample(src detector.Source, i int) image.Image {
	s, err := src.Sample(context.Background(), i)
	Expect(err).NotTo(HaveOccurred())
	return s.Image
}

// FuzzInt8Conv checks the int8 kernels against the integer and float32
// reference convolutions on arbitrary shapes and values.
func FuzzInt8Conv(f *testing.F) {
	f.Add(uint8(3), uint8(9), uint8(11), uint8(5), uint8(1), uint8(2), uint8(1), []byte{1, 2, 3, 200, 7})
	f.Add(uint8(1), uint8(1), uint8(1), uint8(1), uint8(0), uint8(1), uint8(1), []byte{127})
	f.Add(uint8(8), uint8(5), uint8(4), uint8(9), uint8(1), uint8(1), uint8(4), []byte{129, 255, 0, 1})
	f.Fuzz(func(t *testing.T, in, h, w, out, kh, stride, dil uint8, data []byte) {
		ci, hi, wi, oi := int(in%8)+1, int(h%16)+1, int(w%16)+1, int(out%9)+1
		k := 2*int(kh%2) + 1 // 1 or 3
		st, dl := int(stride%2)+1, int(dil%4)+1
		if len(data) == 0 {
			data = []byte{0}
		}
		at := 0
		next := func() int8 {
			v := data[at%len(data)]
			at++
			return int8(int(v)%255 - 127) // [-127, 127]
		}
		x := make([]int8, ci*hi*wi)
		for i := range x {
			x[i] = next()
		}
		wt := make([]int8, oi*ci*k*k)
		for i := range wt {
			wt[i] = next()
		}
		bias := make([]int32, oi)
		ws := make([]float32, oi)
		for o := range bias {
			bias[o] = int32(next()) * 97
			ws[o] = float32(int(next())+128+1) / 4096
		}
		if msg := checkInt8Conv(x, ci, hi, wi, wt, bias, oi, k, st, dl, 1.0/254, ws); msg != "" {
			t.Fatalf("in %d h %d w %d out %d k %d stride %d dil %d: %s", ci, hi, wi, oi, k, st, dl, msg)
		}
	})
}
