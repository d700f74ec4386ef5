package detector

// The integer inference path of int8 models: int8 activations and weights,
// int32 accumulation, fixed-point requantisation to the next layer's int8
// scale. No Go library offers int8 convolutions, so the kernels are ours:
// im2col into an int8 matrix, then an int8 x int8 -> int32 matrix product.
// They are checked against the float reference (ref.go) by the test suite
// and by FuzzInt8Conv.

import (
	"fmt"
	"math"
)

// qlayer is one quantised convolution.
type qlayer struct {
	in, out, k, stride, dil, pad int
	inH, inW, outH, outW         int
	pool                         bool
	w                            []int8  // out x (in*k*k), row-major like the float tensor
	bias                         []int32 // at scale inScale*wScale[o]
	// backbone layers: requantisation to the output scale, after ReLU
	mult  []int32
	shift []uint
	// heads: dequantisation of the accumulator to float
	deq  []float32
	acc  []int32
	outQ []int8
	outF []float32
}

type int8Engine struct {
	inScale float32
	x       []float32 // preprocessed input
	xq      []int8
	cols    []int8
	pc      []int64
	layers  []*qlayer
	heat    *qlayer
	box     *qlayer
}

// quantizeMultiplier writes the real multiplier m (> 0) as mult x 2^-shift
// with mult in [2^30, 2^31), as gemmlowp and TFLite do.
func quantizeMultiplier(m float64) (int32, uint, error) {
	if !(m > 0) || math.IsInf(m, 0) {
		return 0, 0, fmt.Errorf("requantisation multiplier %v must be positive and finite", m)
	}
	frac, exp := math.Frexp(m) // m = frac * 2^exp, frac in [0.5, 1)
	mult := int64(math.Round(frac * (1 << 31)))
	if mult == 1<<31 {
		mult /= 2
		exp++
	}
	shift := 31 - exp
	if shift < 1 || shift > 62 {
		return 0, 0, fmt.Errorf("requantisation multiplier %v is out of range (shift %d)", m, shift)
	}
	return int32(mult), uint(shift), nil
}

// requantize maps a non-negative int32 accumulator to int8 [0, 127]:
// round(acc x mult x 2^-shift), saturated.
func requantize(acc int32, mult int32, shift uint) int8 {
	if acc <= 0 {
		return 0
	}
	v := (int64(acc)*int64(mult) + 1<<(shift-1)) >> shift
	if v > 127 {
		return 127
	}
	return int8(v)
}

// quantizeValue is round(v/scale) clamped to [-127, 127].
func quantizeValue(v, invScale float32) int8 {
	q := math.Round(float64(v * invScale))
	if q > 127 {
		return 127
	}
	if q < -127 {
		return -127
	}
	return int8(q)
}

// im2colInt8 writes, for every output pixel p, the in*k*k input values
// under the kernel (zero outside the image) into cols[p*in*k*k:].
func im2colInt8(x []int8, in, h, w, k, stride, dil, pad, oh, ow int, cols []int8) {
	kk := in * k * k
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			col := cols[(oy*ow+ox)*kk : (oy*ow+ox+1)*kk]
			j := 0
			for c := 0; c < in; c++ {
				plane := x[c*h*w : (c+1)*h*w]
				for ky := 0; ky < k; ky++ {
					iy := oy*stride - pad + ky*dil
					for kx := 0; kx < k; kx++ {
						ix := ox*stride - pad + kx*dil
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							col[j] = 0
						} else {
							col[j] = plane[iy*w+ix]
						}
						j++
					}
				}
			}
		}
	}
}

// gemmInt8 computes acc[o*np+p] = bias[o] + sum_j w[o*kk+j] * cols[p*kk+j]
// with int32 accumulation, four output channels per pass over a column.
func gemmInt8(w []int8, out, kk int, cols []int8, np int, bias []int32, acc []int32) {
	for p := 0; p < np; p++ {
		col := cols[p*kk : (p+1)*kk]
		o := 0
		for ; o+4 <= out; o += 4 {
			w0 := w[o*kk : (o+1)*kk]
			w1 := w[(o+1)*kk : (o+2)*kk]
			w2 := w[(o+2)*kk : (o+3)*kk]
			w3 := w[(o+3)*kk : (o+4)*kk]
			w0, w1, w2, w3 = w0[:len(col)], w1[:len(col)], w2[:len(col)], w3[:len(col)]
			var a0, a1, a2, a3 int32
			for j, c := range col {
				cv := int32(c)
				a0 += int32(w0[j]) * cv
				a1 += int32(w1[j]) * cv
				a2 += int32(w2[j]) * cv
				a3 += int32(w3[j]) * cv
			}
			acc[o*np+p] = a0 + bias[o]
			acc[(o+1)*np+p] = a1 + bias[o+1]
			acc[(o+2)*np+p] = a2 + bias[o+2]
			acc[(o+3)*np+p] = a3 + bias[o+3]
		}
		for ; o < out; o++ {
			wo := w[o*kk : (o+1)*kk]
			wo = wo[:len(col)]
			var a int32
			for j, c := range col {
				a += int32(wo[j]) * int32(c)
			}
			acc[o*np+p] = a + bias[o]
		}
	}
}

// swarMaxK is the largest dot-product length gemmInt8x2 handles: the sum
// of kk products of two int8 values (|v| <= 127) must stay inside an int32
// lane.
const swarMaxK = (1<<31 - 1) / (127 * 127)

// packPairs packs the columns of pixels 2q and 2q+1 into one int64 each:
// pc[q*kk+j] = cols[2q][j] * 2^32 + cols[2q+1][j]. An odd last pixel is
// paired with zeros.
func packPairs(cols []int8, kk, np int, pc []int64) {
	for q := 0; q < (np+1)/2; q++ {
		a := cols[2*q*kk : (2*q+1)*kk]
		dst := pc[q*kk : (q+1)*kk]
		if 2*q+1 < np {
			b := cols[(2*q+1)*kk : (2*q+2)*kk]
			b = b[:len(a)]
			dst = dst[:len(a)]
			for j, v := range a {
				dst[j] = int64(v)<<32 + int64(b[j])
			}
		} else {
			dst = dst[:len(a)]
			for j, v := range a {
				dst[j] = int64(v) << 32
			}
		}
	}
}

// gemmInt8x2 is gemmInt8 computing two pixels per 64-bit multiply (SIMD
// within a register): sum_j w[j] * (c1[j]*2^32 + c2[j]) = S1*2^32 + S2,
// and since |S2| < 2^31 (kk <= swarMaxK) its low 32 bits are S2 exactly
// and the rest is S1. Pure Go has no vector instructions; this halves the
// multiplies and loads of the inner loop.
func gemmInt8x2(w []int8, out, kk int, pc []int64, np int, bias []int32, acc []int32) {
	split := func(a int64) (int32, int32) {
		lo := int32(a)
		return int32((a - int64(lo)) >> 32), lo
	}
	for q := 0; q < (np+1)/2; q++ {
		col := pc[q*kk : (q+1)*kk]
		p := 2 * q
		two := p+1 < np
		o := 0
		for ; o+4 <= out; o += 4 {
			w0 := w[o*kk : (o+1)*kk]
			w1 := w[(o+1)*kk : (o+2)*kk]
			w2 := w[(o+2)*kk : (o+3)*kk]
			w3 := w[(o+3)*kk : (o+4)*kk]
			w0, w1, w2, w3 = w0[:len(col)], w1[:len(col)], w2[:len(col)], w3[:len(col)]
			var a0, a1, a2, a3 int64
			for j, c := range col {
				a0 += int64(w0[j]) * c
				a1 += int64(w1[j]) * c
				a2 += int64(w2[j]) * c
				a3 += int64(w3[j]) * c
			}
			for i, a := range [4]int64{a0, a1, a2, a3} {
				hi, lo := split(a)
				acc[(o+i)*np+p] = hi + bias[o+i]
				if two {
					acc[(o+i)*np+p+1] = lo + bias[o+i]
				}
			}
		}
		for ; o < out; o++ {
			wo := w[o*kk : (o+1)*kk]
			wo = wo[:len(col)]
			var a int64
			for j, c := range col {
				a += int64(wo[j]) * c
			}
			hi, lo := split(a)
			acc[o*np+p] = hi + bias[o]
			if two {
				acc[o*np+p+1] = lo + bias[o]
			}
		}
	}
}

// convInt8 is one int8 convolution as the engine runs it: im2col, then the
// paired-pixel product (or the plain one for very long dot products).
// cols and pc are scratch buffers of at least oh*ow*in*k*k and
// (oh*ow+1)/2*in*k*k values.
func convInt8(x []int8, in, h, w, k, stride, dil, pad, oh, ow int, wt []int8, out int, bias []int32, cols []int8, pc []int64, acc []int32) {
	kk, np := in*k*k, oh*ow
	im2colInt8(x, in, h, w, k, stride, dil, pad, oh, ow, cols)
	if kk > swarMaxK {
		gemmInt8(wt, out, kk, cols, np, bias, acc)
		return
	}
	packPairs(cols, kk, np, pc)
	gemmInt8x2(wt, out, kk, pc, np, bias, acc)
}

func newQLayer(m *Model, ti int, in, inH, inW, k, stride, dil int, inScale float32) *qlayer {
	t := m.Manifest.Tensors[ti]
	out := t.Shape[0]
	pad := dil * (k - 1) / 2
	l := &qlayer{in: in, out: out, k: k, stride: stride, dil: dil, pad: pad, inH: inH, inW: inW,
		outH: (inH+2*pad-dil*(k-1)-1)/stride + 1, outW: (inW+2*pad-dil*(k-1)-1)/stride + 1,
		w: m.qweights[ti], bias: make([]int32, out)}
	fb := m.weights[ti+1]
	for o := 0; o < out; o++ {
		s := float64(inScale) * float64(m.wscales[ti][o])
		l.bias[o] = int32(max(min(math.Round(float64(fb[o])/s), math.MaxInt32/2), math.MinInt32/2))
	}
	l.acc = make([]int32, out*l.outH*l.outW)
	return l
}

func newInt8Engine(m *Model) (*int8Engine, error) {
	man := &m.Manifest
	q := man.Quantization
	if q == nil || m.qweights == nil {
		return nil, &ModelError{Err: ErrBadManifest, Path: ManifestFile, Detail: "int8 model without quantisation parameters"}
	}
	e := &int8Engine{inScale: q.InputScale, x: make([]float32, 3*man.InputWidth*man.InputHeight), xq: make([]int8, 3*man.InputWidth*man.InputHeight)}
	in, h, w := 3, man.InputHeight, man.InputWidth
	scale := q.InputScale
	maxCols, maxPC := 0, 0
	for i, ly := range man.Backbone {
		l := newQLayer(m, 2*i, in, h, w, ly.Kernel, ly.Stride, ly.Dilation, scale)
		outScale := q.ActivationScales[i]
		l.mult, l.shift = make([]int32, l.out), make([]uint, l.out)
		for o := 0; o < l.out; o++ {
			mult, shift, err := quantizeMultiplier(float64(scale) * float64(m.wscales[2*i][o]) / float64(outScale))
			if err != nil {
				return nil, &ModelError{Err: ErrBadManifest, Path: ManifestFile, Detail: fmt.Sprintf("layer %s channel %d: %v", ly.Name, o, err)}
			}
			l.mult[o], l.shift[o] = mult, shift
		}
		l.outQ = make([]int8, l.out*l.outH*l.outW)
		l.pool = ly.Pool == 2
		maxCols = max(maxCols, l.outH*l.outW*in*ly.Kernel*ly.Kernel)
		maxPC = max(maxPC, (l.outH*l.outW+1)/2*in*ly.Kernel*ly.Kernel)
		e.layers = append(e.layers, l)
		in, h, w, scale = l.out, l.outH, l.outW, outScale
		if l.pool {
			h, w = h/2, w/2
		}
	}
	k := 2 * len(man.Backbone)
	for hi, ti := range []int{k, k + 2} {
		l := newQLayer(m, ti, in, h, w, 1, 1, 1, scale)
		l.deq = make([]float32, l.out)
		for o := range l.deq {
			l.deq[o] = scale * m.wscales[ti][o]
		}
		l.outF = make([]float32, l.out*l.outH*l.outW)
		if hi == 0 {
			e.heat = l
		} else {
			e.box = l
		}
	}
	maxCols = max(maxCols, h*w*in)
	maxPC = max(maxPC, (h*w+1)/2*in)
	e.cols = make([]int8, maxCols)
	e.pc = make([]int64, maxPC)
	return e, nil
}

func (e *int8Engine) input() []float32 { return e.x }

func (e *int8Engine) close() error { return nil }

// forward runs the backbone from the quantised input and returns its int8 output.
func (e *int8Engine) forward() []int8 {
	inv := 1 / e.inScale
	for i, v := range e.x {
		e.xq[i] = quantizeValue(v, inv)
	}
	x := e.xq
	for _, l := range e.layers {
		np := l.outH * l.outW
		convInt8(x, l.in, l.inH, l.inW, l.k, l.stride, l.dil, l.pad, l.outH, l.outW, l.w, l.out, l.bias, e.cols, e.pc, l.acc)
		for o := 0; o < l.out; o++ {
			mult, shift := l.mult[o], l.shift[o]
			a, q := l.acc[o*np:(o+1)*np], l.outQ[o*np:(o+1)*np]
			for p, v := range a {
				q[p] = requantize(v, mult, shift) // ReLU: negative accumulators give 0
			}
		}
		x = l.outQ
		if l.pool {
			x = maxPool2(x, l.out, l.outH, l.outW)
		}
	}
	return x
}

func (e *int8Engine) head(l *qlayer, x []int8) []float32 {
	np := l.outH * l.outW
	convInt8(x, l.in, l.inH, l.inW, 1, 1, 1, 0, l.outH, l.outW, l.w, l.out, l.bias, e.cols, e.pc, l.acc)
	for o := 0; o < l.out; o++ {
		d := l.deq[o]
		for p := 0; p < np; p++ {
			l.outF[o*np+p] = float32(l.acc[o*np+p]) * d
		}
	}
	return l.outF
}

func (e *int8Engine) run() ([]float32, []float32, error) {
	x := e.forward()
	// the backbone output is shared by both heads; im2col of a 1x1 conv
	// only transposes it
	return e.head(e.heat, x), e.head(e.box, x), nil
}
