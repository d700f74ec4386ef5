package detector

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
)

// Model is a loaded, verified detector: manifest plus weights. It is
// immutable and safe to share between goroutines; every Runner gets its own
// copy of the weights, so a server may swap its *Model at any time while
// Runners of the old one are still working.
type Model struct {
	Manifest Manifest
	// weights has one entry per Manifest.Tensors entry. For an int8 model
	// it holds the float biases and the dequantised weights (q x scale),
	// which the float reference uses; inference uses qweights.
	weights [][]float32
	// int8 models only: the int8 values and per-output-channel scales of
	// every ".w" tensor (nil for biases).
	qweights [][]int8
	wscales  [][]float32
	fileSize int // bytes of the weights file as loaded or saved
}

// WeightsSize is the size in bytes of the model's weights file.
func (m *Model) WeightsSize() int {
	if m.fileSize == 0 {
		return len(m.encode())
	}
	return m.fileSize
}

// IsInt8 reports whether the model runs on the integer path.
func (m *Model) IsInt8() bool { return m.Manifest.WeightsFormat == FormatInt8 }

// Load reads dir/manifest.json and the weights file it names, verifies the
// weights' sha256 against the manifest and the tensor shapes against the
// architecture. Missing files give ErrModelMissing, a hash mismatch
// ErrModelTampered, anything else malformed ErrBadManifest.
func Load(dir string) (*Model, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, &ModelError{Err: ErrModelMissing, Path: dir, Detail: "no such model directory; pass the directory that holds manifest.json (e.g. runtime/models/<name>/<version>)"}
	}
	m, err := LoadFS(os.DirFS(dir), ".")
	var me *ModelError
	if errors.As(err, &me) {
		me.Path = filepath.Join(dir, me.Path)
	}
	return m, err
}

// LoadFS is Load on a file system (for instance an embed.FS).
func LoadFS(fsys fs.FS, dir string) (*Model, error) {
	mpath := path.Join(dir, ManifestFile)
	raw, err := fs.ReadFile(fsys, mpath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &ModelError{Err: ErrModelMissing, Path: mpath, Detail: "manifest.json not found; train a model with 'edgenode train --out DIR' or pass the right --model directory"}
		}
		return nil, &ModelError{Err: ErrModelMissing, Path: mpath, Detail: err.Error()}
	}
	var man Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&man); err != nil {
		return nil, &ModelError{Err: ErrBadManifest, Path: mpath, Detail: "cannot decode JSON: " + err.Error()}
	}
	if err := man.Validate(); err != nil {
		var me *ModelError
		if errors.As(err, &me) {
			me.Path = mpath
		}
		return nil, err
	}
	if man.Weights == "" || path.Base(man.Weights) != man.Weights {
		return nil, &ModelError{Err: ErrBadManifest, Path: mpath, Detail: fmt.Sprintf("weights_file %q must be a plain file name in the model directory", man.Weights)}
	}
	wpath := path.Join(dir, man.Weights)
	blob, err := fs.ReadFile(fsys, wpath)
	if err != nil {
		return nil, &ModelError{Err: ErrModelMissing, Path: wpath, Detail: "weights file not found next to manifest.json: " + err.Error()}
	}
	sum := sha256.Sum256(blob)
	if got := hex.EncodeToString(sum[:]); got != man.SHA256 {
		return nil, &ModelError{Err: ErrModelTampered, Path: wpath, Detail: fmt.Sprintf("sha256 is %s but the manifest says %s; restore the original files or retrain", got, man.SHA256)}
	}
	m := &Model{Manifest: man, fileSize: len(blob)}
	if err := m.decode(blob); err != nil {
		return nil, &ModelError{Err: ErrBadManifest, Path: wpath, Detail: err.Error() + "; the weights do not belong to this manifest: restore the pair or re-run the command in its provenance/training block"}
	}
	return m, nil
}

// isQuantTensor reports whether tensor t is stored as int8 in an int8 model.
func isQuantTensor(t TensorInfo) bool { return path.Ext(t.Name) == ".w" }

// weightsBytes is the size of the weights file the manifest describes. In
// the int8 format a ".w" tensor is its int8 values followed by one float32
// scale per output channel; biases stay float32.
func weightsBytes(man *Manifest) int {
	n := 0
	for _, t := range man.Tensors {
		if man.WeightsFormat == FormatInt8 && isQuantTensor(t) {
			n += t.Size() + 4*t.Shape[0]
		} else {
			n += 4 * t.Size()
		}
	}
	return n
}

func (m *Model) decode(blob []byte) error {
	man := &m.Manifest
	if want := weightsBytes(man); len(blob) != want {
		return fmt.Errorf("weights file has %d bytes, the manifest's tensors need %d (format %q)", len(blob), want, man.WeightsFormat)
	}
	int8Format := man.WeightsFormat == FormatInt8
	m.weights = make([][]float32, len(man.Tensors))
	if int8Format {
		m.qweights = make([][]int8, len(man.Tensors))
		m.wscales = make([][]float32, len(man.Tensors))
	}
	off := 0
	readF32 := func(n int, name string) ([]float32, error) {
		v := make([]float32, n)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(blob[off:]))
			off += 4
			if math.IsNaN(float64(v[j])) || math.IsInf(float64(v[j]), 0) {
				return nil, fmt.Errorf("tensor %s holds NaN or Inf", name)
			}
		}
		return v, nil
	}
	for i, t := range man.Tensors {
		if !int8Format || !isQuantTensor(t) {
			v, err := readF32(t.Size(), t.Name)
			if err != nil {
				return err
			}
			m.weights[i] = v
			continue
		}
		q := make([]int8, t.Size())
		for j := range q {
			q[j] = int8(blob[off])
			off++
			if q[j] == -128 {
				return fmt.Errorf("tensor %s holds -128; symmetric int8 weights lie in [-127, 127]", t.Name)
			}
		}
		sc, err := readF32(t.Shape[0], t.Name+" scales")
		if err != nil {
			return err
		}
		for o, v := range sc {
			if !positive(v) {
				return fmt.Errorf("tensor %s: scale of output channel %d is %v, must be positive", t.Name, o, v)
			}
		}
		m.qweights[i], m.wscales[i] = q, sc
		m.weights[i] = dequantize(q, sc)
	}
	return nil
}

// dequantize returns q x scale, one scale per leading-dimension row.
func dequantize(q []int8, scales []float32) []float32 {
	per := len(q) / len(scales)
	out := make([]float32, len(q))
	for i, v := range q {
		out[i] = float32(v) * scales[i/per]
	}
	return out
}

func (m *Model) encode() []byte {
	blob := make([]byte, 0, weightsBytes(&m.Manifest))
	for i, w := range m.weights {
		if m.qweights != nil && m.qweights[i] != nil {
			for _, v := range m.qweights[i] {
				blob = append(blob, byte(v))
			}
			w = m.wscales[i]
		}
		for _, x := range w {
			blob = binary.LittleEndian.AppendUint32(blob, math.Float32bits(x))
		}
	}
	return blob
}

// Save writes manifest.json and the weights file into dir (created if
// needed), filling in Manifest.SHA256 and Manifest.Weights. It returns the
// manifest as written.
func (m *Model) Save(dir string) (Manifest, error) {
	man := m.Manifest
	if man.Weights == "" {
		man.Weights = WeightsFile
	}
	blob := m.encode()
	sum := sha256.Sum256(blob)
	man.SHA256 = hex.EncodeToString(sum[:])
	if err := man.Validate(); err != nil {
		return man, err
	}
	js, err := json.MarshalIndent(&man, "", "  ")
	if err != nil {
		return man, fmt.Errorf("detector: encode manifest: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return man, fmt.Errorf("detector: save model: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, man.Weights), blob); err != nil {
		return man, err
	}
	if err := writeAtomic(filepath.Join(dir, ManifestFile), append(js, '\n')); err != nil {
		return man, err
	}
	m.fileSize = len(blob)
	return man, nil
}

func writeAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("detector: save model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("detector: save model: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("detector: save model: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("detector: save model: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("detector: save model: %w", err)
	}
	return nil
}

// WithManifest returns a copy of m whose manifest is replaced by man (for
// instance with evaluation figures or a new threshold filled in). The
// tensors must stay the same.
func (m *Model) WithManifest(man Manifest) (*Model, error) {
	man.Tensors = m.Manifest.Tensors
	if err := man.Validate(); err != nil {
		return nil, err
	}
	if (man.WeightsFormat == FormatInt8) != m.IsInt8() {
		return nil, &ModelError{Err: ErrBadManifest, Path: ManifestFile, Detail: "weights_format cannot change: quantise with 'edgenode optimize --method int8'"}
	}
	return &Model{Manifest: man, weights: m.weights, qweights: m.qweights, wscales: m.wscales, fileSize: m.fileSize}, nil
}

// Config describes a fresh, untrained network.
type Config struct {
	Name, Version string
	InputWidth    int
	InputHeight   int
	Classes       []string
	Backbone      []Layer
	Threshold     float32
	NMSIoU        float64
}

// DefaultConfig is the network the committed model uses: 160x96 input,
// stride-4 grid of 40x24 cells, classes person and vehicle.
func DefaultConfig() Config {
	return Config{
		Name: "edgesim-det", Version: "v1",
		InputWidth: 160, InputHeight: 96,
		Classes: []string{"person", "vehicle"},
		Backbone: []Layer{
			{Name: "c1", Out: 16, Kernel: 3, Stride: 2, Dilation: 1},
			{Name: "c2", Out: 32, Kernel: 3, Stride: 2, Dilation: 1},
			{Name: "c3", Out: 24, Kernel: 3, Stride: 1, Dilation: 1},
			{Name: "c4", Out: 24, Kernel: 3, Stride: 1, Dilation: 2},
			{Name: "c5", Out: 24, Kernel: 3, Stride: 1, Dilation: 4},
		},
		Threshold: 0.4,
		NMSIoU:    0.5,
	}
}

// NewModel builds an untrained model with He-initialised weights drawn from
// a generator seeded with seed.
func NewModel(cfg Config, seed int64) (*Model, error) {
	man := Manifest{
		Name: cfg.Name, Version: cfg.Version, Architecture: Architecture,
		InputWidth: cfg.InputWidth, InputHeight: cfg.InputHeight,
		Classes: append([]string(nil), cfg.Classes...), TrainingSeed: seed,
		Threshold: cfg.Threshold, NMSIoU: cfg.NMSIoU, Weights: WeightsFile,
		Backbone: append([]Layer(nil), cfg.Backbone...),
	}
	man.Tensors = man.expectedTensors()
	if err := man.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6564676573696d))
	ws := make([][]float32, len(man.Tensors))
	for i, t := range man.Tensors {
		w := make([]float32, t.Size())
		switch {
		case t.Name == "heat.b":
			for j := range w {
				w[j] = logit(0.01) // rare-positive prior
			}
		case path.Ext(t.Name) == ".b":
			// zero
		default:
			fanIn := t.Shape[1] * t.Shape[2] * t.Shape[3]
			std := math.Sqrt(2 / float64(fanIn))
			if t.Name == "heat.w" || t.Name == "box.w" {
				std = 0.01
			}
			for j := range w {
				w[j] = float32(rng.NormFloat64() * std)
			}
		}
		ws[i] = w
	}
	return &Model{Manifest: man, weights: ws}, nil
}

// ParamCount is the number of trainable values.
func (m *Model) ParamCount() int {
	n := 0
	for _, w := range m.weights {
		n += len(w)
	}
	return n
}

// FLOPs is the number of floating point operations (multiply and add
// counted separately) of one forward pass, convolutions and heads only.
func (m *Model) FLOPs() int64 {
	man := &m.Manifest
	w, h := man.InputWidth, man.InputHeight
	in := 3
	var f int64
	for _, l := range man.Backbone {
		w = (w-1)/l.Stride + 1
		h = (h-1)/l.Stride + 1
		f += 2 * int64(w*h) * int64(l.Out) * int64(in*l.Kernel*l.Kernel)
		if l.Pool == 2 {
			w /= 2
			h /= 2
		}
		in = l.Out
	}
	f += 2 * int64(w*h) * int64(len(man.Classes)+4) * int64(in)
	return f
}
