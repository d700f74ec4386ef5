package detector

import "image"

// Test hooks: internal functions exercised by the external test package.

// EncodeTargets exposes encodeTargets for one sample.
func EncodeTargets(m *Model, s Sample, flip bool) (y, wp, wn, r, mask []float32) {
	gw, gh := m.Manifest.GridSize()
	c := len(m.Manifest.Classes)
	cells := gw * gh
	y, wp, wn = make([]float32, c*cells), make([]float32, c*cells), make([]float32, c*cells)
	r, mask = make([]float32, 4*cells), make([]float32, 4*cells)
	encodeTargets(&m.Manifest, s, flip, y, wp, wn, r, mask)
	return
}

// Decode exposes decode.
var Decode = decode

// Preprocess exposes preprocess.
var Preprocess = preprocess

// Weights exposes the weights of a model (tests only).
func (m *Model) Weights() [][]float32 { return m.weights }

// ConvRef exposes the float reference convolution.
var ConvRef = convRef

// GemmInt8 exposes the plain int8 product.
var GemmInt8 = gemmInt8

// ConvInt8 runs one int8 convolution through the engine's kernels and
// returns the int32 accumulators (bias included), (out, oh, ow).
func ConvInt8(x []int8, in, h, w int, wt []int8, bias []int32, out, k, stride, dil int) []int32 {
	pad := dil * (k - 1) / 2
	oh := (h+2*pad-dil*(k-1)-1)/stride + 1
	ow := (w+2*pad-dil*(k-1)-1)/stride + 1
	kk := in * k * k
	acc := make([]int32, out*oh*ow)
	convInt8(x, in, h, w, k, stride, dil, pad, oh, ow, wt, out, bias, make([]int8, oh*ow*kk), make([]int64, (oh*ow+1)/2*kk), acc)
	return acc
}

// PackPairs and GemmInt8x2 expose the paired-pixel product.
var (
	PackPairs  = packPairs
	GemmInt8x2 = gemmInt8x2
)

// QuantizeMultiplier and Requantize expose the fixed-point requantisation.
var (
	QuantizeMultiplier = quantizeMultiplier
	Requantize         = requantize
)

// HeadOutputs runs r on img and returns copies of the raw head outputs
// (class logits, box regression).
func HeadOutputs(r *Runner, img image.Image) (heat, box []float32, err error) {
	if err := preprocess(img, r.man.InputWidth, r.man.InputHeight, r.eng.input()); err != nil {
		return nil, nil, err
	}
	h, b, err := r.eng.run()
	return append([]float32(nil), h...), append([]float32(nil), b...), err
}

// ReferenceOutputs runs the float32 reference forward pass of m on img.
func ReferenceOutputs(m *Model, img image.Image) (heat, box []float32, err error) {
	x := make([]float32, 3*m.Manifest.InputWidth*m.Manifest.InputHeight)
	if err := preprocess(img, m.Manifest.InputWidth, m.Manifest.InputHeight, x); err != nil {
		return nil, nil, err
	}
	_, heat, box = forwardRef(&m.Manifest, m.weights, x)
	return heat, box, nil
}

// InParallel exposes inParallel.
var InParallel = inParallel
