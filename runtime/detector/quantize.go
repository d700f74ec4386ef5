package detector

import (
	"context"
	"fmt"
	"math"
	"sync"
)

// convRef is the float32 reference convolution (direct loops, "same"
// padding) with bias and optional ReLU; x is (in, h, w), wt (out, in, k, k).
// It serves calibration and the int8 kernels' tests, not inference.
func convRef(x []float32, in, h, w int, wt, bias []float32, out, k, stride, dil int, relu bool) ([]float32, int, int) {
	pad := dil * (k - 1) / 2
	oh := (h+2*pad-dil*(k-1)-1)/stride + 1
	ow := (w+2*pad-dil*(k-1)-1)/stride + 1
	y := make([]float32, out*oh*ow)
	for o := 0; o < out; o++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				s := bias[o]
				for c := 0; c < in; c++ {
					for ky := 0; ky < k; ky++ {
						iy := oy*stride - pad + ky*dil
						if iy < 0 || iy >= h {
							continue
						}
						for kx := 0; kx < k; kx++ {
							ix := ox*stride - pad + kx*dil
							if ix < 0 || ix >= w {
								continue
							}
							s += x[c*h*w+iy*w+ix] * wt[((o*in+c)*k+ky)*k+kx]
						}
					}
				}
				if relu && s < 0 {
					s = 0
				}
				y[o*oh*ow+oy*ow+ox] = s
			}
		}
	}
	return y, oh, ow
}

// maxPool2 is a 2x2 max pool with stride 2 on (c, h, w), for the float
// reference and the int8 path.
func maxPool2[T int8 | float32](x []T, c, h, w int) []T {
	oh, ow := h/2, w/2
	out := make([]T, c*oh*ow)
	for ch := 0; ch < c; ch++ {
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				b := ch*h*w + 2*y*w + 2*xx
				out[ch*oh*ow+y*ow+xx] = max(x[b], x[b+1], x[b+w], x[b+w+1])
			}
		}
	}
	return out
}

// forwardRef runs the network in float32 with convRef and returns every
// backbone layer's output (after ReLU, before pooling) and the two heads.
func forwardRef(man *Manifest, ws [][]float32, x []float32) (acts [][]float32, heat, box []float32) {
	in, h, w := 3, man.InputHeight, man.InputWidth
	for i, l := range man.Backbone {
		y, oh, ow := convRef(x, in, h, w, ws[2*i], ws[2*i+1], l.Out, l.Kernel, l.Stride, l.Dilation, true)
		acts = append(acts, y)
		x, in, h, w = y, l.Out, oh, ow
		if l.Pool == 2 {
			x = maxPool2(x, in, h, w)
			h, w = h/2, w/2
		}
	}
	k := 2 * len(man.Backbone)
	heat, _, _ = convRef(x, in, h, w, ws[k], ws[k+1], len(man.Classes), 1, 1, 1, false)
	box, _, _ = convRef(x, in, h, w, ws[k+2], ws[k+3], 4, 1, 1, 1, false)
	return acts, heat, box
}

// Calibration rules of Quantize.
const (
	// MinCalibrationFrames is the smallest calibration set Quantize accepts.
	MinCalibrationFrames = 32
	// CalibrationCoverage: the first half of the calibration frames must
	// already reach this fraction of every layer's activation range, or the
	// set is too small to bound the activations (the range is still
	// growing with more frames).
	CalibrationCoverage = 0.8
	// InputRange bounds preprocess's output: [-0.5, 0.5].
	InputRange = 0.5
)

// ErrCalibration means the calibration set cannot bound the activations.
var ErrCalibration = fmt.Errorf("detector: calibration set too small")

// Quantize makes an int8 model of the float32 model m: per-output-channel
// symmetric weight scales (max |w| / 127), and per-layer activation scales
// from the largest activation seen on samples 0..n-1 of calib (run through
// the float32 reference). The input scale is fixed by preprocessing's
// range. prov is copied into the result's provenance with the parent,
// method and frame count filled in.
func Quantize(ctx context.Context, m *Model, calib Source, n int, prov Provenance) (*Model, error) {
	if m.IsInt8() {
		return nil, fmt.Errorf("%w: %s is already int8; quantise its float32 parent", ErrBadInput, m.Manifest.ID())
	}
	if n < MinCalibrationFrames {
		return nil, fmt.Errorf("%w: %d frames given, at least %d are needed to bound the activations; raise the calibration frame count", ErrCalibration, n, MinCalibrationFrames)
	}
	man := m.Manifest
	layers := len(man.Backbone)
	half := make([]float32, layers) // max over the first half
	full := make([]float32, layers)
	var mu sync.Mutex
	const workers = 2
	bufs := make([][]float32, workers) // each worker's input tensor
	err := inParallel(ctx, n, workers, func(ctx context.Context, w, i int) error {
		if bufs[w] == nil {
			bufs[w] = make([]float32, 3*man.InputWidth*man.InputHeight)
		}
		s, err := calib.Sample(ctx, i)
		if err == nil {
			err = preprocess(s.Image, man.InputWidth, man.InputHeight, bufs[w])
		}
		if err != nil {
			return fmt.Errorf("detector: calibration sample %d: %w", i, err)
		}
		acts, _, _ := forwardRef(&man, m.weights, bufs[w])
		mu.Lock()
		defer mu.Unlock()
		for l, a := range acts {
			mx := float32(0)
			for _, v := range a {
				mx = max(mx, v)
			}
			full[l] = max(full[l], mx)
			if i < n/2 {
				half[l] = max(half[l], mx)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q := &Quantization{Scheme: QuantScheme, InputScale: InputRange / 127}
	for l, mx := range full {
		name := man.Backbone[l].Name
		if !(mx > 0) {
			return nil, fmt.Errorf("%w: layer %s never activated on %d frames; calibrate on frames with objects and scenes like the deployment's", ErrCalibration, name, n)
		}
		if half[l] < CalibrationCoverage*mx {
			return nil, fmt.Errorf("%w: layer %s: the first %d frames reach %.3g, all %d reach %.3g (less than %.0f%%), so the range is still growing; use more calibration frames", ErrCalibration, name, n/2, half[l], n, mx, 100*CalibrationCoverage)
		}
		q.ActivationMax = append(q.ActivationMax, mx)
		q.ActivationScales = append(q.ActivationScales, mx/127)
	}
	out := &Model{weights: make([][]float32, len(m.weights)), qweights: make([][]int8, len(m.weights)), wscales: make([][]float32, len(m.weights))}
	for i, t := range man.Tensors {
		if !isQuantTensor(t) {
			out.weights[i] = append([]float32(nil), m.weights[i]...)
			continue
		}
		out.qweights[i], out.wscales[i] = quantizeChannels(m.weights[i], t.Shape[0])
		out.weights[i] = dequantize(out.qweights[i], out.wscales[i])
	}
	prov.ParentID, prov.ParentSHA256, prov.Method = man.ID(), man.SHA256, MethodInt8
	prov.CalibrationFrames = n
	man.WeightsFormat, man.Quantization, man.Provenance = FormatInt8, q, &prov
	man.Evaluation, man.EvalData = nil, ""
	if err := man.Validate(); err != nil {
		return nil, err
	}
	out.Manifest = man
	return out, nil
}

// quantizeChannels quantises w (out rows) with one symmetric scale per row.
func quantizeChannels(w []float32, out int) ([]int8, []float32) {
	per := len(w) / out
	q := make([]int8, len(w))
	scales := make([]float32, out)
	for o := 0; o < out; o++ {
		row := w[o*per : (o+1)*per]
		mx := float32(0)
		for _, v := range row {
			mx = max(mx, float32(math.Abs(float64(v))))
		}
		s := mx / 127
		if !(s > 0) {
			s = 1 // an all-zero filter: any scale represents it exactly
		}
		scales[o] = s
		for j, v := range row {
			q[o*per+j] = quantizeValue(v, 1/s)
		}
	}
	return q, scales
}
