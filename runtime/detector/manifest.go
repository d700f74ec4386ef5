package detector

import (
	"fmt"
	"math"
	"strings"
)

// Architecture is the only network family this package builds: a plain
// convolutional backbone followed by two 1x1 heads evaluated on a grid of
// cells (anchor-free, CenterNet-like): a per-class centre heat map and a box
// head (sub-cell centre offset x, y; log width, log height in cells).
const Architecture = "edgesim-centernet/v1"

// WeightsFile is the default name of the weights file next to manifest.json.
const (
	WeightsFile  = "weights.bin"
	ManifestFile = "manifest.json"
)

// Layer is one backbone convolution: Out filters of Kernel x Kernel with the
// given Stride and Dilation ("same" padding), a bias, a ReLU, and, when Pool
// is 2, a 2x2 max pool with stride 2.
type Layer struct {
	Name     string `json:"name"`
	Out      int    `json:"out"`
	Kernel   int    `json:"kernel"`
	Stride   int    `json:"stride"`
	Dilation int    `json:"dilation"`
	Pool     int    `json:"pool,omitempty"`
}

// TensorInfo names one tensor of the weights file. The weights file is the
// concatenation, in manifest order, of every tensor as little-endian IEEE-754
// float32 values in row-major (C) order; there is no header.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Size is the number of float32 values of the tensor.
func (t TensorInfo) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// TrainingInfo records how the weights were produced so they can be reproduced.
type TrainingInfo struct {
	Command   string  `json:"command,omitempty"`
	Steps     int     `json:"steps"`
	BatchSize int     `json:"batch_size"`
	LearnRate float64 `json:"learn_rate"`
	Data      string  `json:"data,omitempty"`
	Duration  string  `json:"duration,omitempty"`
	FinalLoss float64 `json:"final_loss,omitempty"`
}

// Manifest describes a model directory: what the network is, what it was
// trained on, how well it did and which weights belong to it.
type Manifest struct {
	Name         string             `json:"name"`
	Version      string             `json:"version"`
	Architecture string             `json:"architecture"`
	InputWidth   int                `json:"input_width"`
	InputHeight  int                `json:"input_height"`
	Classes      []string           `json:"classes"`
	TrainingSeed int64              `json:"training_seed"`
	Threshold    float32            `json:"threshold"`
	NMSIoU       float64            `json:"nms_iou"`
	Evaluation   map[string]float64 `json:"evaluation,omitempty"`
	EvalData     string             `json:"evaluation_data,omitempty"`
	SHA256       string             `json:"sha256"`
	Weights      string             `json:"weights_file"`
	Backbone     []Layer            `json:"backbone"`
	Tensors      []TensorInfo       `json:"tensors"`
	Training     TrainingInfo       `json:"training"`
	// WeightsFormat is how weights_file stores the tensors: "" or
	// FormatFloat32 (all float32), or FormatInt8 (see Quantization).
	WeightsFormat string `json:"weights_format,omitempty"`
	// Quantization holds the integer inference parameters of an int8 model
	// (WeightsFormat FormatInt8); absent otherwise.
	Quantization *Quantization `json:"quantization,omitempty"`
	// Provenance says how a variant was made from its parent model; absent
	// for a model trained from scratch.
	Provenance *Provenance `json:"provenance,omitempty"`
}

// Weights formats.
const (
	FormatFloat32 = "float32"
	FormatInt8    = "int8"
)

// Variant methods recorded in Provenance.Method.
const (
	MethodInt8    = "int8"    // post-training quantisation (Quantize)
	MethodPrune   = "prune"   // structured channel pruning + fine-tuning (Prune)
	MethodDistill = "distill" // smaller student trained on the teacher (WithTeacher)
)

// Provenance records how a variant was derived from its FP32 parent.
type Provenance struct {
	ParentID     string `json:"parent_id"`
	ParentSHA256 string `json:"parent_sha256"`
	Method       string `json:"method"`
	// Parameters of the method (e.g. "keep": "0.6"), as given on the command line.
	Parameters map[string]string `json:"parameters,omitempty"`
	// CalibrationSeed seeds the frames the variant was calibrated (int8)
	// or trained (prune, distill) on; CalibrationFrames counts them.
	CalibrationSeed   int64  `json:"calibration_seed"`
	CalibrationFrames int    `json:"calibration_frames"`
	Command           string `json:"command"`
}

// QuantScheme is the only integer scheme: symmetric int8 (zero point 0),
// one scale per output channel of every weight tensor, one scale per
// activation tensor, int32 accumulators, fixed-point requantisation.
const QuantScheme = "int8-symmetric-per-channel"

// Quantization holds the activation scales of an int8 model: a real value
// v is stored as round(v/scale) clamped to [-127, 127].
type Quantization struct {
	Scheme     string  `json:"scheme"`
	InputScale float32 `json:"input_scale"`
	// ActivationScales has one scale per backbone layer output (after ReLU).
	ActivationScales []float32 `json:"activation_scales"`
	// ActivationMax is the calibrated range per backbone layer output
	// (ActivationScales = ActivationMax/127).
	ActivationMax []float32 `json:"activation_max"`
}

// ID is "name@version", the model label used in metrics and detections.
func (m *Manifest) ID() string { return m.Name + "@" + m.Version }

// Stride is the number of input pixels per grid cell.
func (m *Manifest) Stride() int {
	s := 1
	for _, l := range m.Backbone {
		s *= l.Stride
		if l.Pool == 2 {
			s *= 2
		}
	}
	return s
}

// GridSize is the width and height of the output grid.
func (m *Manifest) GridSize() (w, h int) {
	w, h = m.InputWidth, m.InputHeight
	for _, l := range m.Backbone {
		w = (w-1)/l.Stride + 1
		h = (h-1)/l.Stride + 1
		if l.Pool == 2 {
			w /= 2
			h /= 2
		}
	}
	return w, h
}

// expectedTensors lists the tensors the architecture needs, in file order.
func (m *Manifest) expectedTensors() []TensorInfo {
	var ts []TensorInfo
	in := 3
	for _, l := range m.Backbone {
		ts = append(ts,
			TensorInfo{Name: l.Name + ".w", Shape: []int{l.Out, in, l.Kernel, l.Kernel}},
			TensorInfo{Name: l.Name + ".b", Shape: []int{1, l.Out, 1, 1}})
		in = l.Out
	}
	c := len(m.Classes)
	ts = append(ts,
		TensorInfo{Name: "heat.w", Shape: []int{c, in, 1, 1}},
		TensorInfo{Name: "heat.b", Shape: []int{1, c, 1, 1}},
		TensorInfo{Name: "box.w", Shape: []int{4, in, 1, 1}},
		TensorInfo{Name: "box.b", Shape: []int{1, 4, 1, 1}})
	return ts
}

// Validate checks that the manifest describes a network this package can
// build. It collects every problem into one error.
func (m *Manifest) Validate() error {
	var probs []string
	add := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	if m.Name == "" || strings.ContainsAny(m.Name, "@/ ") {
		add("name %q must be non-empty without '@', '/' or spaces", m.Name)
	}
	if m.Version == "" || strings.ContainsAny(m.Version, "@/ ") {
		add("version %q must be non-empty without '@', '/' or spaces", m.Version)
	}
	if m.Architecture != Architecture {
		add("architecture %q is not supported (want %q)", m.Architecture, Architecture)
	}
	if m.InputWidth < 8 || m.InputHeight < 8 || m.InputWidth > 4096 || m.InputHeight > 4096 {
		add("input size %dx%d must be between 8 and 4096 pixels", m.InputWidth, m.InputHeight)
	}
	if len(m.Classes) == 0 {
		add("classes must list at least one label")
	}
	seen := map[string]bool{}
	for _, c := range m.Classes {
		if c == "" || seen[c] {
			add("class %q is empty or repeated", c)
		}
		seen[c] = true
	}
	if !(m.Threshold > 0 && m.Threshold < 1) {
		add("threshold %v must be in (0,1)", m.Threshold)
	}
	if !(m.NMSIoU > 0 && m.NMSIoU <= 1) {
		add("nms_iou %v must be in (0,1]", m.NMSIoU)
	}
	if len(m.Backbone) == 0 {
		add("backbone must have at least one layer")
	}
	for i, l := range m.Backbone {
		if l.Name == "" || l.Out < 1 || l.Out > 1024 || l.Kernel < 1 || l.Kernel > 15 || l.Kernel%2 == 0 || l.Stride < 1 || l.Stride > 4 || l.Dilation < 1 || l.Dilation > 8 || (l.Pool != 0 && l.Pool != 2) {
			add("backbone[%d] %+v: want a name, 1<=out<=1024, odd kernel 1..15, stride 1..4, dilation 1..8, pool 0 or 2", i, l)
		}
	}
	if gw, gh := m.GridSize(); gw < 1 || gh < 1 {
		add("input %dx%d is too small for the backbone's stride %d", m.InputWidth, m.InputHeight, m.Stride())
	}
	switch m.WeightsFormat {
	case "", FormatFloat32:
		if m.Quantization != nil {
			add("quantization is given but weights_format is %q; an int8 model says weights_format %q", m.WeightsFormat, FormatInt8)
		}
	case FormatInt8:
		q := m.Quantization
		switch {
		case q == nil:
			add("weights_format %q needs a quantization block (scheme, input_scale, activation_scales); re-run 'edgenode optimize --method int8'", FormatInt8)
		case q.Scheme != QuantScheme:
			add("quantization scheme %q is not supported (want %q)", q.Scheme, QuantScheme)
		case !positive(q.InputScale):
			add("quantization input_scale %v must be a positive finite number", q.InputScale)
		case len(q.ActivationScales) != len(m.Backbone) || len(q.ActivationMax) != len(m.Backbone):
			add("quantization has %d activation scales and %d maxima, the backbone has %d layers", len(q.ActivationScales), len(q.ActivationMax), len(m.Backbone))
		default:
			for i, sc := range q.ActivationScales {
				if !positive(sc) || !positive(q.ActivationMax[i]) {
					add("quantization activation_scales[%d] %v / activation_max %v must be positive finite numbers", i, sc, q.ActivationMax[i])
				}
			}
		}
	default:
		add("weights_format %q is not supported (want %q or %q)", m.WeightsFormat, FormatFloat32, FormatInt8)
	}
	if p := m.Provenance; p != nil {
		if len(p.ParentSHA256) != 64 || strings.Trim(p.ParentSHA256, "0123456789abcdef") != "" {
			add("provenance parent_sha256 %q must be 64 lower-case hex digits", p.ParentSHA256)
		}
		switch p.Method {
		case MethodInt8:
			if m.WeightsFormat != FormatInt8 {
				add("provenance method %q but weights_format %q: an int8 variant stores int8 weights", p.Method, m.WeightsFormat)
			}
		case MethodPrune, MethodDistill:
			if m.WeightsFormat == FormatInt8 {
				add("provenance method %q but weights_format %q", p.Method, m.WeightsFormat)
			}
		default:
			add("provenance method %q is not one of %q, %q, %q", p.Method, MethodInt8, MethodPrune, MethodDistill)
		}
		if p.Command == "" {
			add("provenance command is empty; it must say how the variant was made")
		}
	} else if m.WeightsFormat == FormatInt8 {
		add("an int8 model needs a provenance block naming its FP32 parent")
	}
	if len(probs) == 0 {
		want := m.expectedTensors()
		if len(want) != len(m.Tensors) {
			add("tensors: %d listed, architecture needs %d", len(m.Tensors), len(want))
		} else {
			for i := range want {
				if want[i].Name != m.Tensors[i].Name || !sameShape(want[i].Shape, m.Tensors[i].Shape) {
					add("tensors[%d]: got %s%v, architecture needs %s%v", i, m.Tensors[i].Name, m.Tensors[i].Shape, want[i].Name, want[i].Shape)
				}
			}
		}
	}
	if len(probs) > 0 {
		return &ModelError{Err: ErrBadManifest, Path: ManifestFile, Detail: strings.Join(probs, "; ")}
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func positive(v float32) bool {
	return v > 0 && !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v))
}

func sigmoid(z float32) float32 { return float32(1 / (1 + math.Exp(-float64(z)))) }

func logit(p float32) float32 { return float32(math.Log(float64(p) / (1 - float64(p)))) }
