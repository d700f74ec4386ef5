package detector

import (
	"image"
	"math"

	G "gorgonia.org/gorgonia"
)

// Runner runs the model on one image at a time. For a float32 model it owns
// one gorgonia graph and tape machine with its own copy of the weights; for
// an int8 model the integer kernels (int8.go) and their buffers. It is not
// safe for concurrent use: create one per worker goroutine.
type Runner struct {
	man       *Manifest
	eng       engine
	threshold float32
	maxDets   int
	closed    bool
}

// RunnerOption configures a Runner.
type RunnerOption func(*Runner)

// WithThreshold overrides the manifest's operating score threshold (for
// instance a low one to compute precision-recall curves).
func WithThreshold(t float32) RunnerOption { return func(r *Runner) { r.threshold = t } }

// WithMaxDetections caps the detections returned per image (default 100).
func WithMaxDetections(n int) RunnerOption { return func(r *Runner) { r.maxDets = n } }

// engine is one forward pass implementation: input is the (3,H,W) tensor
// to fill, run returns the head outputs, valid until the next run.
type engine interface {
	input() []float32
	run() (heat, box []float32, err error)
	close() error
}

// gorgoniaEngine is the float32 path: a gorgonia graph and tape machine.
type gorgoniaEngine struct {
	net *net
	vm  G.VM
	// copies of the outputs, since Reset releases the machine's buffers
	heat, box []float32
}

func (e *gorgoniaEngine) input() []float32 { return e.net.input() }

func (e *gorgoniaEngine) run() ([]float32, []float32, error) {
	defer e.vm.Reset()
	if err := e.vm.RunAll(); err != nil {
		return nil, nil, err
	}
	e.heat = append(e.heat[:0], e.net.heat.Value().Data().([]float32)...)
	e.box = append(e.box[:0], e.net.box.Value().Data().([]float32)...)
	return e.heat, e.box, nil
}

func (e *gorgoniaEngine) close() error { return e.vm.Close() }

// NewRunner builds a graph and tape machine (float32 models) or the
// integer kernels (int8 models) for single-image inference.
func (m *Model) NewRunner(opts ...RunnerOption) (*Runner, error) {
	man := m.Manifest
	r := &Runner{man: &man, threshold: man.Threshold, maxDets: 100}
	for _, o := range opts {
		o(r)
	}
	if !(r.threshold > 0 && r.threshold < 1) {
		return nil, &ModelError{Err: ErrBadInput, Path: "runner", Detail: "threshold must be in (0,1)"}
	}
	if m.IsInt8() {
		e, err := newInt8Engine(m)
		if err != nil {
			return nil, err
		}
		r.eng = e
		return r, nil
	}
	n, err := buildNet(&man, 1, m.weights, true)
	if err != nil {
		return nil, err
	}
	r.eng = &gorgoniaEngine{net: n, vm: G.NewTapeMachine(n.g)}
	return r, nil
}

// Detect runs the network on img and returns the detections above the
// threshold after non-maximum suppression, with boxes in img's coordinates.
func (r *Runner) Detect(img image.Image) ([]Detection, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if img == nil {
		return nil, &ModelError{Err: ErrBadInput, Path: "image", Detail: "image is nil"}
	}
	if err := preprocess(img, r.man.InputWidth, r.man.InputHeight, r.eng.input()); err != nil {
		return nil, err
	}
	heat, box, err := r.eng.run()
	if err != nil {
		return nil, err
	}
	return decode(r.man, heat, box, img.Bounds(), r.threshold, r.maxDets), nil
}

// forwardInput runs the network on an already preprocessed (3,H,W) input
// and returns the head outputs (valid until the next run).
func (r *Runner) forwardInput(x []float32) (heat, box []float32, err error) {
	if r.closed {
		return nil, nil, ErrClosed
	}
	copy(r.eng.input(), x)
	return r.eng.run()
}

// Close releases the tape machine. Detect fails with ErrClosed afterwards.
func (r *Runner) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.eng.close()
}

// decode turns the head outputs of one image into detections: cells whose
// class score is a 3x3 local maximum above threshold become boxes.
func decode(man *Manifest, heat, box []float32, bounds image.Rectangle, threshold float32, maxDets int) []Detection {
	gw, gh := man.GridSize()
	cells := gw * gh
	zt := logit(threshold)
	strideX := float64(man.InputWidth) / float64(gw) * float64(bounds.Dx()) / float64(man.InputWidth)
	strideY := float64(man.InputHeight) / float64(gh) * float64(bounds.Dy()) / float64(man.InputHeight)
	var dets []Detection
	for c, label := range man.Classes {
		h := heat[c*cells : (c+1)*cells]
		for gy := 0; gy < gh; gy++ {
			for gx := 0; gx < gw; gx++ {
				z := h[gy*gw+gx]
				if z < zt || !localMax(h, gw, gh, gx, gy, z) {
					continue
				}
				k := gy*gw + gx
				cx := (float64(gx) + float64(box[k])) * strideX
				cy := (float64(gy) + float64(box[cells+k])) * strideY
				w := math.Exp(math.Min(float64(box[2*cells+k]), 6)) * strideX
				hh := math.Exp(math.Min(float64(box[3*cells+k]), 6)) * strideY
				rect := image.Rect(
					bounds.Min.X+int(math.Round(cx-w/2)), bounds.Min.Y+int(math.Round(cy-hh/2)),
					bounds.Min.X+int(math.Round(cx+w/2)), bounds.Min.Y+int(math.Round(cy+hh/2))).Intersect(bounds)
				if rect.Empty() {
					continue
				}
				dets = append(dets, Detection{Label: label, Score: sigmoid(z), Box: rect})
			}
		}
	}
	dets = NMS(dets, man.NMSIoU)
	if len(dets) > maxDets {
		dets = dets[:maxDets]
	}
	return dets
}

func localMax(h []float32, gw, gh, x, y int, z float32) bool {
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			if dx == 0 && dy == 0 {
				continue
			}
			xx, yy := x+dx, y+dy
			if xx < 0 || yy < 0 || xx >= gw || yy >= gh {
				continue
			}
			v := h[yy*gw+xx]
			// ties go to the first cell in scan order
			if v > z || (v == z && (dy < 0 || (dy == 0 && dx < 0))) {
				return false
			}
		}
	}
	return true
}
