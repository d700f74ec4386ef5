package detector_test

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/detector"
)

// toyConfig is a tiny network that trains in seconds.
func toyConfig() detector.Config {
	return detector.Config{
		Name: "toy", Version: "t1", InputWidth: 64, InputHeight: 48,
		Classes: []string{"person", "vehicle"},
		Backbone: []detector.Layer{
			{Name: "c1", Out: 8, Kernel: 3, Stride: 2, Dilation: 1},
			{Name: "c2", Out: 16, Kernel: 3, Stride: 2, Dilation: 1},
			{Name: "c3", Out: 16, Kernel: 3, Stride: 1, Dilation: 2},
		},
		Threshold: 0.3, NMSIoU: 0.5,
	}
}

// toySource draws tall red "persons" and wide blue "vehicles" on grey,
// deterministic per index; tag "night" on odd indices (darker).
func toySource(seed uint64) detector.Source { return toySourceSized(seed, 128, 96) }

func toySourceSized(seed uint64, w, h int) detector.Source {
	return detector.SourceFunc(func(_ context.Context, i int) (detector.Sample, error) {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		bg := uint8(100)
		tag := "day"
		if i%2 == 1 {
			bg, tag = 40, "night"
		}
		draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{bg, bg, bg, 255}}, image.Point{}, draw.Src)
		var boxes []detector.Box
		for k := 0; k < 1+rng.IntN(2); k++ {
			var r image.Rectangle
			var c color.RGBA
			var label string
			if rng.IntN(2) == 0 {
				bh := h/4 + rng.IntN(h/6)
				bw := bh * 2 / 5
				x, y := rng.IntN(w-bw), rng.IntN(h-bh)
				r, c, label = image.Rect(x, y, x+bw, y+bh), color.RGBA{230, 50, 50, 255}, "person"
			} else {
				bw := w/4 + rng.IntN(w/6)
				bh := bw / 2
				x, y := rng.IntN(w-bw), rng.IntN(h-bh)
				r, c, label = image.Rect(x, y, x+bw, y+bh), color.RGBA{50, 50, 230, 255}, "vehicle"
			}
			overlap := false
			for _, b := range boxes {
				if b.Rect.Inset(-2).Overlaps(r) {
					overlap = true
				}
			}
			if overlap {
				continue
			}
			draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
			boxes = append(boxes, detector.Box{Label: label, Rect: r})
		}
		return detector.Sample{Image: img, Boxes: boxes, Tags: []string{tag}}, nil
	})
}

func rect(x0, y0, x1, y1 int) image.Rectangle { return image.Rect(x0, y0, x1, y1) }

var _ = Describe("IoU and NMS", func() {
	DescribeTable("IoU",
		func(a, b image.Rectangle, want float64) {
			Expect(detector.IoU(a, b)).To(BeNumerically("~", want, 1e-9))
		},
		Entry("identical", rect(0, 0, 10, 10), rect(0, 0, 10, 10), 1.0),
		Entry("disjoint", rect(0, 0, 10, 10), rect(20, 20, 30, 30), 0.0),
		Entry("touching edges", rect(0, 0, 10, 10), rect(10, 0, 20, 10), 0.0),
		Entry("half overlap", rect(0, 0, 10, 10), rect(5, 0, 15, 10), 50.0/150.0),
		Entry("contained", rect(0, 0, 10, 10), rect(0, 0, 5, 10), 0.5),
		Entry("empty", rect(0, 0, 0, 0), rect(0, 0, 5, 10), 0.0),
	)

	It("keeps the best of overlapping boxes per label and sorts by score", func() {
		in := []detector.Detection{
			{Label: "person", Score: 0.6, Box: rect(1, 0, 11, 10)},
			{Label: "person", Score: 0.9, Box: rect(0, 0, 10, 10)},
			{Label: "vehicle", Score: 0.7, Box: rect(0, 0, 10, 10)},  // other label: kept
			{Label: "person", Score: 0.5, Box: rect(50, 50, 60, 60)}, // far away: kept
		}
		out := detector.NMS(in, 0.5)
		Expect(out).To(HaveLen(3))
		Expect(out[0].Score).To(Equal(float32(0.9)))
		Expect(out[1].Label).To(Equal("vehicle"))
		Expect(out[2].Box).To(Equal(rect(50, 50, 60, 60)))
		Expect(in[0].Score).To(Equal(float32(0.6)), "input untouched")
	})
})

var _ = Describe("Evaluator", func() {
	classes := []string{"person", "vehicle"}
	gt := []detector.Box{{Label: "person", Rect: rect(0, 0, 10, 20)}, {Label: "person", Rect: rect(50, 0, 60, 20)}}

	It("gives AP 1 for perfect detections", func() {
		e := detector.NewEvaluator(classes, 0.5)
		e.Add([]detector.Detection{{Label: "person", Score: 0.9, Box: rect(0, 0, 10, 20)}, {Label: "person", Score: 0.8, Box: rect(50, 0, 60, 20)}}, gt)
		r := e.Result()
		Expect(r.Classes["person"].AP).To(BeNumerically("~", 1, 1e-9))
		Expect(r.MAP).To(BeNumerically("~", 1, 1e-9), "vehicle has no ground truth and is left out of the mean")
		Expect(r.Precision).To(Equal(1.0))
		Expect(r.Recall).To(Equal(1.0))
	})

	It("computes interpolated AP with a false positive ranked first", func() {
		e := detector.NewEvaluator(classes, 0.5)
		e.Add([]detector.Detection{
			{Label: "person", Score: 0.95, Box: rect(100, 100, 110, 120)}, // FP
			{Label: "person", Score: 0.9, Box: rect(0, 0, 10, 20)},        // TP
			{Label: "person", Score: 0.4, Box: rect(1, 0, 11, 20)},        // duplicate: FP
		}, gt)
		r := e.Result()
		// PR points: (0, 0) (0.5, 0.5) (0.5, 0.33): AP = 0.5 * 0.5
		Expect(r.Classes["person"].AP).To(BeNumerically("~", 0.25, 1e-9))
		Expect(r.Classes["person"].TP).To(Equal(1))
		Expect(r.Classes["person"].FP).To(Equal(1), "the 0.4 duplicate is below the operating threshold")
		Expect(r.Classes["person"].Recall).To(Equal(0.5))
	})

	It("neither rewards nor penalises detections of ignored objects, and checks labels", func() {
		e := detector.NewEvaluator(classes, 0.5)
		truth := append([]detector.Box{{Label: "person", Rect: rect(200, 0, 210, 20), Ignore: true}}, gt...)
		e.Add([]detector.Detection{
			{Label: "person", Score: 0.99, Box: rect(200, 0, 210, 20)}, // ignored
			{Label: "vehicle", Score: 0.98, Box: rect(0, 0, 10, 20)},   // wrong class: FP for vehicle
			{Label: "person", Score: 0.9, Box: rect(0, 0, 10, 20)},
			{Label: "person", Score: 0.8, Box: rect(50, 0, 60, 20)},
		}, truth)
		r := e.Result()
		Expect(r.Classes["person"].AP).To(BeNumerically("~", 1, 1e-9))
		Expect(r.Classes["person"].GT).To(Equal(2))
		Expect(r.Classes["vehicle"].FP).To(Equal(1))
		Expect(r.Precision).To(BeNumerically("~", 2.0/3, 1e-9))
	})
})

var _ = Describe("Manifest, save and load", func() {
	var dir string
	var m *detector.Model
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		var err error
		m, err = detector.NewModel(toyConfig(), 3)
		Expect(err).NotTo(HaveOccurred())
	})

	It("round-trips weights and manifest and verifies the hash", func() {
		saved, err := m.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(saved.SHA256).To(HaveLen(64))
		l, err := detector.Load(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Manifest.ID()).To(Equal("toy@t1"))
		Expect(l.Manifest.SHA256).To(Equal(saved.SHA256))
		Expect(l.Weights()).To(Equal(m.Weights()))
		st, err := os.Stat(filepath.Join(dir, detector.WeightsFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Size()).To(Equal(int64(4 * m.ParamCount())))
	})

	It("reports a missing directory, manifest or weights file as ErrModelMissing", func() {
		_, err := detector.Load(filepath.Join(dir, "nope"))
		Expect(err).To(MatchError(detector.ErrModelMissing))
		_, err = detector.Load(dir)
		Expect(err).To(MatchError(detector.ErrModelMissing))
		Expect(err.Error()).To(ContainSubstring("edgenode train"))
		_, err = m.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Remove(filepath.Join(dir, detector.WeightsFile))).To(Succeed())
		_, err = detector.Load(dir)
		Expect(err).To(MatchError(detector.ErrModelMissing))
	})

	It("reports changed weights as ErrModelTampered", func() {
		_, err := m.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		p := filepath.Join(dir, detector.WeightsFile)
		b, err := os.ReadFile(p)
		Expect(err).NotTo(HaveOccurred())
		b[17] ^= 0x01
		Expect(os.WriteFile(p, b, 0o644)).To(Succeed())
		_, err = detector.Load(dir)
		Expect(err).To(MatchError(detector.ErrModelTampered))
		var me *detector.ModelError
		Expect(errors.As(err, &me)).To(BeTrue())
		Expect(me.Path).To(Equal(p))
	})

	It("rejects a manifest that does not match the architecture, listing every problem", func() {
		_, err := m.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		p := filepath.Join(dir, detector.ManifestFile)
		var raw map[string]any
		b, _ := os.ReadFile(p)
		Expect(json.Unmarshal(b, &raw)).To(Succeed())
		raw["input_width"] = 2
		raw["threshold"] = 1.5
		b, _ = json.Marshal(raw)
		Expect(os.WriteFile(p, b, 0o644)).To(Succeed())
		_, err = detector.Load(dir)
		Expect(err).To(MatchError(detector.ErrBadManifest))
		Expect(err.Error()).To(And(ContainSubstring("input size 2x48"), ContainSubstring("threshold 1.5")))

		Expect(os.WriteFile(p, []byte(`{"name":"x","surprise":1}`), 0o644)).To(Succeed())
		_, err = detector.Load(dir)
		Expect(err).To(MatchError(detector.ErrBadManifest))
		Expect(err.Error()).To(ContainSubstring("surprise"))
	})

	It("refuses a weights file of the wrong length even when its hash is recorded", func() {
		man := m.Manifest
		man.Backbone = append([]detector.Layer(nil), man.Backbone...)
		man.Backbone[2].Out = 12 // tensors no longer match
		_, err := m.WithManifest(man)
		Expect(err).To(MatchError(detector.ErrBadManifest))
	})
})

var _ = Describe("Targets and decoding", func() {
	It("decodes the encoded targets back into the ground-truth boxes", func() {
		m, err := detector.NewModel(toyConfig(), 1)
		Expect(err).NotTo(HaveOccurred())
		s, err := toySource(5).Sample(context.Background(), 4)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Boxes).NotTo(BeEmpty())
		y, wp, wn, r, mask := detector.EncodeTargets(m, s, false)
		npos := 0
		for k := range y {
			if y[k] == 1 {
				npos++
				Expect(wp[k]).To(Equal(float32(1)))
				Expect(wn[k]).To(BeZero())
			}
		}
		Expect(npos).To(Equal(len(s.Boxes)))
		Expect(mask).To(ContainElement(float32(1)))
		heat := make([]float32, len(y))
		for k := range y {
			heat[k] = -6
			if y[k] == 1 {
				heat[k] = 4
			}
		}
		dets := detector.Decode(&m.Manifest, heat, r, s.Image.Bounds(), 0.5, 100)
		Expect(dets).To(HaveLen(len(s.Boxes)))
		for _, b := range s.Boxes {
			best := 0.0
			for _, d := range dets {
				if d.Label == b.Label {
					best = max(best, detector.IoU(d.Box, b.Rect))
				}
			}
			Expect(best).To(BeNumerically(">", 0.9), "box %v %s", b.Rect, b.Label)
		}
	})

	It("mirrors targets when the sample is flipped and leaves ignored objects unweighted", func() {
		m, err := detector.NewModel(toyConfig(), 1)
		Expect(err).NotTo(HaveOccurred())
		img := image.NewRGBA(image.Rect(0, 0, 128, 96))
		s := detector.Sample{Image: img, Boxes: []detector.Box{
			{Label: "vehicle", Rect: rect(0, 40, 40, 60)},
			{Label: "person", Rect: rect(100, 10, 110, 40), Ignore: true},
		}}
		gw, gh := m.Manifest.GridSize()
		Expect([]int{gw, gh}).To(Equal([]int{16, 12}))
		y, _, _, _, _ := detector.EncodeTargets(m, s, false)
		cells := gw * gh
		// vehicle centre (20,50) px -> input (10,25) -> cell (2,6)
		Expect(y[cells+6*gw+2]).To(Equal(float32(1)))
		yf, _, wnf, _, _ := detector.EncodeTargets(m, s, true)
		Expect(yf[cells+6*gw+(gw-1-2)]).To(Equal(float32(1)))
		// ignored person: cells under it carry no weight at all
		// box x 100..110 -> cells 12..13 (unflipped); flipped -> 2..3
		_, wp, wn, _, _ := detector.EncodeTargets(m, s, false)
		Expect(wn[0*cells+2*gw+12]).To(BeZero())
		Expect(wp[0*cells+2*gw+12]).To(BeZero())
		Expect(wnf[0*cells+2*gw+2]).To(BeZero())
		Expect(wn[0*cells+10*gw+1]).To(Equal(float32(1)), "far from everything: a full-weight negative")
	})
})

var _ = Describe("Preprocessing", func() {
	It("gives the same tensor for the same picture in RGBA, YCbCr and generic form", func() {
		src := image.NewRGBA(image.Rect(0, 0, 64, 48))
		draw.Draw(src, src.Bounds(), &image.Uniform{color.RGBA{200, 30, 60, 255}}, image.Point{}, draw.Src)
		a := make([]float32, 3*32*24)
		Expect(detector.Preprocess(src, 32, 24, a)).To(Succeed())
		Expect(a[0]).To(BeNumerically("~", 200.0/255-0.5, 1e-6))
		Expect(a[32*24]).To(BeNumerically("~", 30.0/255-0.5, 1e-6))
		ycc := image.NewYCbCr(src.Bounds(), image.YCbCrSubsampleRatio420)
		yy, cb, cr := color.RGBToYCbCr(200, 30, 60)
		for i := range ycc.Y {
			ycc.Y[i] = yy
		}
		for i := range ycc.Cb {
			ycc.Cb[i], ycc.Cr[i] = cb, cr
		}
		b := make([]float32, len(a))
		Expect(detector.Preprocess(ycc, 32, 24, b)).To(Succeed())
		Expect(b[0]).To(BeNumerically("~", a[0], 0.02))
		nrgba := image.NewNRGBA(src.Bounds())
		draw.Draw(nrgba, nrgba.Bounds(), src, image.Point{}, draw.Src)
		c := make([]float32, len(a))
		Expect(detector.Preprocess(nrgba, 32, 24, c)).To(Succeed())
		Expect(c).To(Equal(a))
		Expect(detector.Preprocess(image.NewRGBA(image.Rect(0, 0, 0, 0)), 32, 24, c)).To(MatchError(detector.ErrBadInput))
	})
})

var _ = Describe("Training and inference", Ordered, func() {
	var trained *detector.Model
	ctx := context.Background()

	It("lowers the loss on a toy task, reproducibly for a seed", func() {
		m, err := detector.NewModel(toyConfig(), 11)
		Expect(err).NotTo(HaveOccurred())
		var losses []float64
		trained, _, err = detector.Train(ctx, m, toySource(1), detector.WithSteps(400), detector.WithBatchSize(8),
			detector.WithLearnRate(3e-3), detector.WithProgress(func(p detector.Progress) { losses = append(losses, p.Loss) }))
		Expect(err).NotTo(HaveOccurred())
		Expect(losses).To(HaveLen(400))
		first, last := mean(losses[:20]), mean(losses[380:])
		Expect(last).To(BeNumerically("<", 0.4*first), "loss %.3f -> %.3f", first, last)
		Expect(trained.Manifest.Training.Steps).To(Equal(400))
		Expect(m.Weights()[0]).NotTo(Equal(trained.Weights()[0]), "Train works on a copy")

		again, _, err := detector.Train(ctx, m, toySource(1), detector.WithSteps(5), detector.WithBatchSize(4))
		Expect(err).NotTo(HaveOccurred())
		again2, _, err := detector.Train(ctx, m, toySource(1), detector.WithSteps(5), detector.WithBatchSize(4))
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Weights()).To(Equal(again2.Weights()))
	})

	It("detects the toy objects on held-out samples", func() {
		evs, err := detector.EvaluateModel(ctx, trained, toySource(99), 0, 60, 2)
		Expect(err).NotTo(HaveOccurred())
		Expect(evs).To(HaveKey("night"))
		Expect(evs["all"].Images).To(Equal(60))
		Expect(evs["all"].MAP).To(BeNumerically(">", 0.7), "%+v", evs["all"])
		Expect(evs["night"].Images + evs["day"].Images).To(Equal(60))
	})

	It("maps boxes back to the coordinates of the input image", func() {
		r, err := trained.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		s, _ := toySource(7).Sample(ctx, 2)
		big := image.NewRGBA(image.Rect(1000, 500, 1128, 596)) // same picture, offset bounds
		draw.Draw(big, big.Bounds(), s.Image, image.Point{}, draw.Src)
		d1, err := r.Detect(s.Image)
		Expect(err).NotTo(HaveOccurred())
		d2, err := r.Detect(big)
		Expect(err).NotTo(HaveOccurred())
		Expect(d2).To(HaveLen(len(d1)))
		for i := range d1 {
			Expect(d2[i].Box).To(Equal(d1[i].Box.Add(image.Pt(1000, 500))))
		}
	})

	It("fails cleanly on bad input and after Close", func() {
		r, err := trained.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		_, err = r.Detect(nil)
		Expect(err).To(MatchError(detector.ErrBadInput))
		Expect(r.Close()).To(Succeed())
		_, err = r.Detect(image.NewRGBA(image.Rect(0, 0, 8, 8)))
		Expect(err).To(MatchError(detector.ErrClosed))
		_, err = trained.NewRunner(detector.WithThreshold(1.5))
		Expect(err).To(MatchError(detector.ErrBadInput))
	})

	It("lets a new model be loaded and used while runners of the old one keep working", func() {
		dir := GinkgoT().TempDir()
		_, err := trained.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		s, _ := toySource(7).Sample(ctx, 3)
		ref, err := trained.NewRunner()
		Expect(err).NotTo(HaveOccurred())
		want, err := ref.Detect(s.Image)
		Expect(err).NotTo(HaveOccurred())
		Expect(ref.Close()).To(Succeed())

		stop := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				r, err := trained.NewRunner()
				if err != nil {
					errs <- err
					return
				}
				defer r.Close()
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := r.Detect(s.Image)
					if err != nil {
						errs <- err
						return
					}
					Expect(got).To(Equal(want))
				}
			}()
		}
		for i := 0; i < 5; i++ {
			l, err := detector.Load(dir)
			Expect(err).NotTo(HaveOccurred())
			r, err := l.NewRunner()
			Expect(err).NotTo(HaveOccurred())
			got, err := r.Detect(s.Image)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
			Expect(r.Close()).To(Succeed())
		}
		close(stop)
		wg.Wait()
		Expect(errs).To(BeEmpty())
	})

	It("stops training when the context is cancelled", func() {
		m, err := detector.NewModel(toyConfig(), 1)
		Expect(err).NotTo(HaveOccurred())
		cctx, cancel := context.WithCancel(ctx)
		_, _, err = detector.Train(cctx, m, toySource(1), detector.WithSteps(100000), detector.WithBatchSize(2),
			detector.WithProgress(func(p detector.Progress) {
				if p.Step == 3 {
					cancel()
				}
			}))
		Expect(err).To(MatchError(context.Canceled))
	})

	It("reports elapsed time from the injected clock", func() {
		m, _ := detector.NewModel(toyConfig(), 1)
		t0 := time.Unix(1000, 0)
		var n int
		clock := func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
		_, res, err := detector.Train(ctx, m, toySource(1), detector.WithSteps(2), detector.WithBatchSize(1), detector.WithTrainClock(clock))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Duration).To(Equal(time.Second), "one reading at the start, one at the end")
	})
})

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// committedFloor is the mAP@0.5 the committed model must keep on the 12
// held-out frames in testdata/frames (written by
// `edgenode eval --frames 12 --seed 2 --dump runtime/detector/testdata/frames`).
const committedFloor = 0.75

type truthFile struct {
	Frames []struct {
		File  string   `json:"file"`
		Tags  []string `json:"tags"`
		Boxes []struct {
			Label  string `json:"label"`
			Box    [4]int `json:"box"`
			Ignore bool   `json:"ignore"`
		} `json:"boxes"`
	} `json:"frames"`
}

func loadTestFrames() []detector.Sample {
	raw, err := os.ReadFile(filepath.Join("testdata", "frames", "truth.json"))
	Expect(err).NotTo(HaveOccurred())
	var tf truthFile
	Expect(json.Unmarshal(raw, &tf)).To(Succeed())
	var out []detector.Sample
	for _, f := range tf.Frames {
		fh, err := os.Open(filepath.Join("testdata", "frames", f.File))
		Expect(err).NotTo(HaveOccurred())
		img, err := jpeg.Decode(fh)
		fh.Close()
		Expect(err).NotTo(HaveOccurred())
		s := detector.Sample{Image: img, Tags: f.Tags}
		for _, b := range f.Boxes {
			s.Boxes = append(s.Boxes, detector.Box{Label: b.Label, Rect: image.Rect(b.Box[0], b.Box[1], b.Box[2], b.Box[3]), Ignore: b.Ignore})
		}
		out = append(out, s)
	}
	return out
}

var _ = Describe("The committed model", func() {
	It("loads once, verified, and is shared", func() {
		m, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		Expect(m.Manifest.Classes).To(Equal([]string{"person", "vehicle"}))
		Expect(m.Manifest.SHA256).To(HaveLen(64))
		m2, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		Expect(m2).To(BeIdenticalTo(m))
	})

	It("loads every embedded model by reference, the same as its directory on disk", func() {
		embedded := detector.Embedded()
		Expect(embedded).To(ContainElements("edgesim-det/v2", "edgesim-det/v2-int8"))
		for _, dir := range embedded {
			m, err := detector.LoadOrDefault(detector.EmbeddedPrefix + dir)
			Expect(err).NotTo(HaveOccurred(), dir)
			onDisk, err := detector.LoadOrDefault(filepath.Join("..", "models", dir))
			Expect(err).NotTo(HaveOccurred(), dir)
			Expect(m.Manifest.SHA256).To(Equal(onDisk.Manifest.SHA256), dir)
			Expect(m.Manifest.Name+"/"+m.Manifest.Version).To(Equal(dir), "the directory is the model's name and version")
		}
		def, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		m, err := detector.LoadOrDefault(detector.EmbeddedPrefix + "edgesim-det/v2")
		Expect(err).NotTo(HaveOccurred())
		Expect(m).To(BeIdenticalTo(def))
		_, err = detector.LoadOrDefault(detector.EmbeddedPrefix + "edgesim-det/v9")
		Expect(err).To(MatchError(detector.ErrModelMissing))
		Expect(err).To(MatchError(ContainSubstring("the binary embeds edgesim-det/v2, edgesim-det/v2-")))
	})

	It("keeps its accuracy on held-out synthetic frames", func() {
		m, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		frames := loadTestFrames()
		Expect(frames).To(HaveLen(12))
		src := detector.SourceFunc(func(_ context.Context, i int) (detector.Sample, error) { return frames[i], nil })
		evs, err := detector.EvaluateModel(context.Background(), m, src, 0, len(frames), 2)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("committed model on testdata: %+v\n", evs["all"])
		Expect(evs["all"].MAP).To(BeNumerically(">=", committedFloor))
		Expect(evs["night"].Images).To(Equal(6))
	})
})
