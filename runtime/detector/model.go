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
	weights  [][]float32 // one per Manifest.Tensors entry
}

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
	weights, err := decodeWeights(blob, man.Tensors)
	if err != nil {
		return nil, &ModelError{Err: ErrBadManifest, Path: wpath, Detail: err.Error()}
	}
	return &Model{Manifest: man, weights: weights}, nil
}

func decodeWeights(blob []byte, ts []TensorInfo) ([][]float32, error) {
	total := 0
	for _, t := range ts {
		total += t.Size()
	}
	if len(blob) != 4*total {
		return nil, fmt.Errorf("weights file has %d bytes, the manifest's tensors need %d", len(blob), 4*total)
	}
	out := make([][]float32, len(ts))
	off := 0
	for i, t := range ts {
		v := make([]float32, t.Size())
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(blob[off:]))
			off += 4
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("tensor %s holds NaN or Inf", t.Name)
			}
		}
		out[i] = v
	}
	return out, nil
}

func encodeWeights(ws [][]float32) []byte {
	n := 0
	for _, w := range ws {
		n += len(w)
	}
	blob := make([]byte, 0, 4*n)
	for _, w := range ws {
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
	blob := encodeWeights(m.weights)
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
	return &Model{Manifest: man, weights: m.weights}, nil
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
