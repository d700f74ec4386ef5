package detector

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
