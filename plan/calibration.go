package plan

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/units"
)

// Calibration file identity. A file of another apiVersion or kind is
// refused; a newer format gets a new version.
const (
	CalibrationAPIVersion = "edgesim.dev/v1alpha1"
	CalibrationKind       = "Calibration"
)

// CalibrateCommand is the command that measures a calibration; errors about
// missing calibrations name it with the arguments that would fill the gap.
const CalibrateCommand = "edgesim plan calibrate"

// Calibration holds what the simulator knows about the real parts, measured
// on one machine: per hardware class and model the inference service time,
// per class the decode cost, the encoded frame sizes of the cameras and the
// failover step timings. The simulator only draws from these tables; an
// entry that is not here is an error, never an extrapolation.
type Calibration struct {
	APIVersion string     `json:"apiVersion" yaml:"apiVersion"`
	Kind       string     `json:"kind" yaml:"kind"`
	Provenance Provenance `json:"provenance" yaml:"provenance"`
	// TestFixture marks a hand-written file for the simulator's own specs;
	// its numbers were not measured and it must not size anything.
	TestFixture bool           `json:"testFixture,omitempty" yaml:"testFixture,omitempty"`
	Classes     []Class        `json:"classes" yaml:"classes"`
	Encoding    []Encoding     `json:"encoding" yaml:"encoding"`
	Failover    []FailoverCost `json:"failover,omitempty" yaml:"failover,omitempty"`
}

// Provenance says where and how a calibration was measured.
type Provenance struct {
	Machine  string    `json:"machine" yaml:"machine"`   // host name and CPU model
	Commit   string    `json:"commit" yaml:"commit"`     // edgesim commit measured
	Date     time.Time `json:"date" yaml:"date"`         // when
	Commands []string  `json:"commands" yaml:"commands"` // the commands run, in order
	// Runs describe each measuring command whose results the file still
	// holds (edgesim plan calibrate writes them; a hand-written file may
	// have none).
	Runs []CalibrationRun `json:"runs,omitempty" yaml:"runs,omitempty"`
}

// CalibrationRun is one measuring command: where, when and under which
// conditions it ran, and which entries of the file it measured.
type CalibrationRun struct {
	Command string    `json:"command" yaml:"command"`
	Date    time.Time `json:"date" yaml:"date"`
	Commit  string    `json:"commit" yaml:"commit"`
	Host    Host      `json:"host" yaml:"host"`
	// Confinement says how the class's CPU and memory were enforced while
	// measuring inference and decoding ("cgroup v1: cpu 2, memory 1Gi"),
	// "unconfined", or "" when the run measured no class.
	Confinement string `json:"confinement,omitempty" yaml:"confinement,omitempty"`
	// LoadAverage is the host's /proc/loadavg (1, 5 and 15 minutes) before
	// and after the measurement: a shared machine slows what it measures.
	LoadAverage LoadAverage `json:"loadAverage" yaml:"loadAverage"`
	// Measured are the keys of the entries this run wrote (CalibrationKey);
	// entries a later run measured again are removed from the list, and a
	// run with none left is dropped.
	Measured []string `json:"measured" yaml:"measured"`
}

// Host is the machine a calibration run measured on.
type Host struct {
	Hostname   string `json:"hostname" yaml:"hostname"`
	CPUModel   string `json:"cpuModel" yaml:"cpuModel"`
	Cores      int    `json:"cores" yaml:"cores"`           // online logical CPUs
	CgroupMode string `json:"cgroupMode" yaml:"cgroupMode"` // "v1", "v2", "hybrid" or "none"
}

// LoadAverage is /proc/loadavg's first three fields before and after a run.
type LoadAverage struct {
	Before string `json:"before" yaml:"before"`
	After  string `json:"after" yaml:"after"`
}

// Class is one hardware class: a node's CPU and memory.
type Class struct {
	Name   string         `json:"name" yaml:"name"`
	CPU    units.MilliCPU `json:"cpu" yaml:"cpu"`
	Memory units.ByteSize `json:"memory" yaml:"memory"`
	// Workers is the number of inference workers edgenode ran on this class
	// while measuring (GOMAXPROCS under the class's CPU limit).
	Workers int          `json:"workers" yaml:"workers"`
	Models  []ModelCost  `json:"models" yaml:"models"`
	Decode  []DecodeCost `json:"decode" yaml:"decode"`
	// InSitu are measured inside running edgenodes of the class, from the
	// answered frames of emulated runs (edgesim plan calibrate
	// --in-situ-from); where present the simulator draws from them instead
	// of the isolated tables above.
	InSitu *InSitu `json:"inSitu,omitempty" yaml:"inSitu,omitempty"`
}

// InSitu is what a class's running edgenodes showed in emulated runs.
type InSitu struct {
	// Models are inference times inside the node: there a model shares
	// the class's CPU with the node's media stack (pion, SRTP, decoding)
	// and, on a testbed, the host's cores with the cameras' encoders and
	// the link engine.
	Models []InSituModel `json:"models,omitempty" yaml:"models,omitempty"`
	// Stack is everything of a frame's latency outside the node's decode,
	// wait and inference, less the links' one-way delays both ways:
	// render and encode, RTP and SRTP at both ends, the answer's way back
	// over the data channel and the scheduling of a shared host, per
	// camera bitrate and frame rate.
	Stack []InSituStack `json:"stack,omitempty" yaml:"stack,omitempty"`
}

// InSituModel is one model's inference time inside the class's nodes, in
// seconds, over Frames answered frames.
type InSituModel struct {
	Model          string    `json:"model" yaml:"model"`
	Frames         int       `json:"frames" yaml:"frames"`
	ServiceSeconds Quantiles `json:"serviceSeconds" yaml:"serviceSeconds"`
}

// InSituStack is the stack's delay (InSitu.Stack) of cameras at one
// bitrate and frame rate served by the class's nodes, in seconds, over
// Frames answered frames. The simulator draws it instead of the
// encoding's EncodeSeconds, which it holds.
type InSituStack struct {
	Bitrate units.BitRate `json:"bitrate" yaml:"bitrate"`
	FPS     float64       `json:"fps" yaml:"fps"`
	Frames  int           `json:"frames" yaml:"frames"`
	Seconds Quantiles     `json:"seconds" yaml:"seconds"`
}

// ModelCost is the inference service time of one model on a class, in
// seconds: ServiceSeconds measured with every worker busy back to back,
// IdleServiceSeconds (when measured) with each worker idle for
// IdleGapSeconds before every inference, as a node that is not saturated
// runs it (caches and CPU have cooled down meanwhile).
type ModelCost struct {
	Model              string    `json:"model" yaml:"model"`
	ServiceSeconds     Quantiles `json:"serviceSeconds" yaml:"serviceSeconds"`
	IdleServiceSeconds Quantiles `json:"idleServiceSeconds,omitempty" yaml:"idleServiceSeconds,omitempty"`
	IdleGapSeconds     float64   `json:"idleGapSeconds,omitempty" yaml:"idleGapSeconds,omitempty"`
}

// ServiceTime is a model's inference time on a class as the simulator
// draws it (see ModelCost).
type ServiceTime struct {
	Busy, Idle Quantiles
	IdleGap    int64 // ns
}

// Draw returns the service time, in seconds, of an inference that starts
// after its worker was idle for gap ns: one quantile u of both tables,
// from the busy table's value at no idle time to the idle table's value
// at IdleGap or more, linearly in between.
func (s ServiceTime) Draw(r *rand.Rand, gap int64) float64 {
	u := r.Float64()
	v := s.Busy.At(u)
	if len(s.Idle) == 0 || s.IdleGap <= 0 || gap <= 0 {
		return v
	}
	f := min(1, float64(gap)/float64(s.IdleGap))
	return v + f*(s.Idle.At(u)-v)
}

// DecodeCost is the time to decode one frame of a resolution and bitrate,
// in seconds.
type DecodeCost struct {
	Width        int           `json:"width" yaml:"width"`
	Height       int           `json:"height" yaml:"height"`
	Bitrate      units.BitRate `json:"bitrate" yaml:"bitrate"`
	FrameSeconds Quantiles     `json:"frameSeconds" yaml:"frameSeconds"`
}

// Encoding is the encoded-frame-size process of the cameras at one bitrate
// and frame rate: a keyframe every KeyframeInterval frames, frame sizes in
// bytes drawn from the two tables, and how frames are cut into packets.
type Encoding struct {
	Bitrate          units.BitRate `json:"bitrate" yaml:"bitrate"`
	FPS              float64       `json:"fps" yaml:"fps"`
	KeyframeInterval int           `json:"keyframeInterval" yaml:"keyframeInterval"`
	KeyframeBytes    Quantiles     `json:"keyframeBytes" yaml:"keyframeBytes"`
	InterBytes       Quantiles     `json:"interBytes" yaml:"interBytes"`
	// EncodeSeconds is how long the camera takes from capturing a frame
	// to having it encoded (fakecam renders and encodes in software on
	// the testbed host): the simulator adds it to each frame's latency.
	// Absent in older files: no encode delay.
	EncodeSeconds Quantiles `json:"encodeSeconds,omitempty" yaml:"encodeSeconds,omitempty"`
	// PayloadBytes is the largest media payload of one packet;
	// OverheadBytes what each packet adds on the link (IP, UDP, SRTP, RTP
	// and payload headers).
	PayloadBytes  int `json:"payloadBytes" yaml:"payloadBytes"`
	OverheadBytes int `json:"overheadBytes" yaml:"overheadBytes"`
}

// FailoverCost is how long a camera takes, on a provider, to notice that
// its edge node is gone (Detect) and to stream to another one (Reconnect),
// in seconds.
type FailoverCost struct {
	Provider         string    `json:"provider" yaml:"provider"`
	DetectSeconds    Quantiles `json:"detectSeconds" yaml:"detectSeconds"`
	ReconnectSeconds Quantiles `json:"reconnectSeconds" yaml:"reconnectSeconds"`
}

// ErrInvalidCalibration is wrapped by every calibration validation error.
var ErrInvalidCalibration = errors.New("plan: invalid calibration")

// MissingCalibrationError says which measurement a simulation needs and
// how to make it.
type MissingCalibrationError struct {
	What    string // e.g. `inference of model "m" on class "c"`
	Command string // the command that measures it
}

func (e *MissingCalibrationError) Error() string {
	return fmt.Sprintf("plan: no calibration for %s: measure it on that hardware with %q and pass the file it writes",
		e.What, e.Command)
}

// LoadCalibration reads and validates a calibration file (YAML or JSON).
func LoadCalibration(path string) (*Calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: read calibration: %w", err)
	}
	c, err := ParseCalibration(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCalibration decodes a calibration strictly (unknown fields are
// errors) and validates it.
func ParseCalibration(b []byte) (*Calibration, error) {
	var c Calibration
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file", ErrInvalidCalibration)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidCalibration, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate collects every problem with its field path.
func (c *Calibration) Validate() error {
	var errs []string
	add := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	addf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.APIVersion != CalibrationAPIVersion {
		addf("apiVersion: %q is not supported (want %s)", c.APIVersion, CalibrationAPIVersion)
	}
	if c.Kind != CalibrationKind {
		addf("kind: %q (want %s)", c.Kind, CalibrationKind)
	}
	p := c.Provenance
	if p.Machine == "" || p.Commit == "" || p.Date.IsZero() || len(p.Commands) == 0 {
		addf("provenance: machine, commit, date and commands are all required")
	}
	classes := map[string]bool{}
	for i, cl := range c.Classes {
		f := fmt.Sprintf("classes[%d]", i)
		if cl.Name == "" {
			addf("%s.name: required", f)
		} else if classes[cl.Name] {
			addf("%s.name: duplicate class %q", f, cl.Name)
		}
		classes[cl.Name] = true
		if cl.Workers < 1 {
			addf("%s.workers: must be at least 1", f)
		}
		models := map[string]bool{}
		for j, m := range cl.Models {
			mf := fmt.Sprintf("%s.models[%d]", f, j)
			if m.Model == "" {
				addf("%s.model: required", mf)
			} else if models[m.Model] {
				addf("%s.model: duplicate model %q", mf, m.Model)
			}
			models[m.Model] = true
			add(m.ServiceSeconds.validate(mf + ".serviceSeconds"))
			if len(m.IdleServiceSeconds) > 0 {
				add(m.IdleServiceSeconds.validate(mf + ".idleServiceSeconds"))
				if !(m.IdleGapSeconds > 0) || math.IsInf(m.IdleGapSeconds, 0) {
					addf("%s.idleGapSeconds: must be positive with idleServiceSeconds", mf)
				}
			}
		}
		for j, d := range cl.Decode {
			df := fmt.Sprintf("%s.decode[%d]", f, j)
			if d.Width <= 0 || d.Height <= 0 || d.Bitrate <= 0 {
				addf("%s: width, height and bitrate must be positive", df)
			}
			add(d.FrameSeconds.validate(df + ".frameSeconds"))
		}
		if cl.InSitu != nil {
			validateInSitu(cl.InSitu, f+".inSitu", add, addf)
		}
	}
	for i, e := range c.Encoding {
		f := fmt.Sprintf("encoding[%d]", i)
		if e.Bitrate <= 0 || e.FPS <= 0 || e.KeyframeInterval < 1 {
			addf("%s: bitrate and fps must be positive and keyframeInterval at least 1", f)
		}
		if e.PayloadBytes < 1 || e.OverheadBytes < 0 || e.PayloadBytes+e.OverheadBytes > maxPacket {
			addf("%s: payloadBytes must be positive, overheadBytes not negative, and their sum at most %d", f, maxPacket)
		}
		add(e.KeyframeBytes.validate(f + ".keyframeBytes"))
		add(e.InterBytes.validate(f + ".interBytes"))
		if len(e.EncodeSeconds) > 0 {
			add(e.EncodeSeconds.validate(f + ".encodeSeconds"))
		}
		if len(e.InterBytes) > 0 && e.InterBytes[len(e.InterBytes)-1].V > float64(maxFrameBytes) ||
			len(e.KeyframeBytes) > 0 && e.KeyframeBytes[len(e.KeyframeBytes)-1].V > float64(maxFrameBytes) {
			addf("%s: frames larger than %d bytes are not supported", f, maxFrameBytes)
		}
	}
	for i, fo := range c.Failover {
		f := fmt.Sprintf("failover[%d]", i)
		if fo.Provider == "" {
			addf("%s.provider: required", f)
		}
		add(fo.DetectSeconds.validate(f + ".detectSeconds"))
		add(fo.ReconnectSeconds.validate(f + ".reconnectSeconds"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalidCalibration, strings.Join(errs, "\n  "))
	}
	return nil
}

func validateInSitu(in *InSitu, f string, add func(error), addf func(string, ...any)) {
	models := map[string]bool{}
	for j, m := range in.Models {
		mf := fmt.Sprintf("%s.models[%d]", f, j)
		if m.Model == "" {
			addf("%s.model: required", mf)
		} else if models[m.Model] {
			addf("%s.model: duplicate model %q", mf, m.Model)
		}
		models[m.Model] = true
		if m.Frames < 1 {
			addf("%s.frames: must be at least 1", mf)
		}
		add(m.ServiceSeconds.validate(mf + ".serviceSeconds"))
	}
	streams := map[string]bool{}
	for j, st := range in.Stack {
		sf := fmt.Sprintf("%s.stack[%d]", f, j)
		if st.Bitrate <= 0 || !(st.FPS > 0) || math.IsInf(st.FPS, 0) || st.Frames < 1 {
			addf("%s: bitrate and fps must be positive and frames at least 1", sf)
		}
		if k := stackKey("", st); streams[k] {
			addf("%s: duplicate bitrate and fps", sf)
		} else {
			streams[k] = true
		}
		add(st.Seconds.validate(sf + ".seconds"))
	}
}

// Class returns the named hardware class.
func (c *Calibration) Class(name string) (*Class, error) {
	for i := range c.Classes {
		if c.Classes[i].Name == name {
			return &c.Classes[i], nil
		}
	}
	return nil, &MissingCalibrationError{
		What:    fmt.Sprintf("hardware class %q", name),
		Command: fmt.Sprintf("%s --class %s", CalibrateCommand, name),
	}
}

// Inference returns the service time of model on class: the one measured
// in situ when the class has it, else the isolated one.
func (c *Calibration) Inference(class, model string) (ServiceTime, error) {
	cl, err := c.Class(class)
	if err == nil && cl.InSitu != nil {
		for _, m := range cl.InSitu.Models {
			if m.Model == model {
				return ServiceTime{Busy: m.ServiceSeconds}, nil
			}
		}
	}
	if err == nil {
		for _, m := range cl.Models {
			if m.Model == model {
				return ServiceTime{Busy: m.ServiceSeconds, Idle: m.IdleServiceSeconds,
					IdleGap: int64(m.IdleGapSeconds * float64(time.Second))}, nil
			}
		}
	}
	return ServiceTime{}, &MissingCalibrationError{
		What:    fmt.Sprintf("inference of model %q on hardware class %q", model, class),
		Command: fmt.Sprintf("%s --class %s --model %s", CalibrateCommand, class, model),
	}
}

// Decode returns the decode cost of a resolution and bitrate on class.
func (c *Calibration) Decode(class string, width, height int, bitrate units.BitRate) (Quantiles, error) {
	cl, err := c.Class(class)
	if err == nil {
		for _, d := range cl.Decode {
			if d.Width == width && d.Height == height && d.Bitrate == bitrate {
				return d.FrameSeconds, nil
			}
		}
	}
	return nil, &MissingCalibrationError{
		What: fmt.Sprintf("decoding %dx%d at %s on hardware class %q", width, height, bitrate, class),
		Command: fmt.Sprintf("%s --class %s --resolution %dx%d --bitrate %s",
			CalibrateCommand, class, width, height, bitrate),
	}
}

// CameraDelay is what the simulator adds to the latency of each frame of a
// camera at bitrate and fps before the links: the stack's delay measured
// in situ on the class that decodes the camera, else the encoding's
// EncodeSeconds (nil: none).
func (c *Calibration) CameraDelay(class string, enc *Encoding) Quantiles {
	if cl, err := c.Class(class); err == nil && cl.InSitu != nil {
		for _, st := range cl.InSitu.Stack {
			if st.Bitrate == enc.Bitrate && st.FPS == enc.FPS {
				return st.Seconds
			}
		}
	}
	return enc.EncodeSeconds
}

// Encoding returns the frame-size process of a bitrate and frame rate.
func (c *Calibration) EncodingFor(bitrate units.BitRate, fps float64) (*Encoding, error) {
	for i := range c.Encoding {
		if e := &c.Encoding[i]; e.Bitrate == bitrate && e.FPS == fps {
			return e, nil
		}
	}
	return nil, &MissingCalibrationError{
		What:    fmt.Sprintf("encoded frame sizes at %s and %g fps", bitrate, fps),
		Command: fmt.Sprintf("%s --bitrate %s --fps %g", CalibrateCommand, bitrate, fps),
	}
}

// FailoverFor returns the failover step timings of a provider.
func (c *Calibration) FailoverFor(provider string) (*FailoverCost, error) {
	for i := range c.Failover {
		if c.Failover[i].Provider == provider {
			return &c.Failover[i], nil
		}
	}
	return nil, &MissingCalibrationError{
		What: fmt.Sprintf("failover timings on the %s provider", provider),
		// RESULTS_DIR: the results of a run with a kill fault on that provider
		Command: CalibrateCommand + " --failover-from RESULTS_DIR",
	}
}

// Keys of calibration entries (CalibrationRun.Measured).
func inferenceKey(class, model string) string { return fmt.Sprintf("class %s model %s", class, model) }
func decodeKey(class string, d DecodeCost) string {
	return fmt.Sprintf("class %s decode %dx%d@%s", class, d.Width, d.Height, d.Bitrate)
}
func encodingKey(e Encoding) string { return fmt.Sprintf("encoding %s@%gfps", e.Bitrate, e.FPS) }
func inSituModelKey(class string, m InSituModel) string {
	return fmt.Sprintf("class %s in situ model %s", class, m.Model)
}
func stackKey(class string, s InSituStack) string {
	return fmt.Sprintf("class %s in situ stack %s@%gfps", class, s.Bitrate, s.FPS)
}
func failoverKey(f FailoverCost) string { return "failover " + f.Provider }

// Keys lists the keys of every entry c holds, in file order.
func (c *Calibration) Keys() []string {
	var keys []string
	for _, cl := range c.Classes {
		for _, m := range cl.Models {
			keys = append(keys, inferenceKey(cl.Name, m.Model))
		}
		for _, d := range cl.Decode {
			keys = append(keys, decodeKey(cl.Name, d))
		}
		keys = append(keys, inSituKeys(cl)...)
	}
	for _, e := range c.Encoding {
		keys = append(keys, encodingKey(e))
	}
	for _, f := range c.Failover {
		keys = append(keys, failoverKey(f))
	}
	return keys
}

// InSituKeys lists the keys of the entries c measured in situ.
func (c *Calibration) InSituKeys() []string {
	var keys []string
	for _, cl := range c.Classes {
		keys = append(keys, inSituKeys(cl)...)
	}
	return keys
}

// inSituKeys lists the keys of a class's in-situ entries.
func inSituKeys(cl Class) []string {
	if cl.InSitu == nil {
		return nil
	}
	var keys []string
	for _, m := range cl.InSitu.Models {
		keys = append(keys, inSituModelKey(cl.Name, m))
	}
	for _, st := range cl.InSitu.Stack {
		keys = append(keys, stackKey(cl.Name, st))
	}
	return keys
}

// Merge returns base updated with next's measurements: an entry of next
// replaces base's entry with the same key (a class's model, a class's
// resolution and bitrate, a bitrate and fps, a provider), other entries
// of base are kept. A class of next whose cpu, memory or workers differ
// from base's class of the same name replaces that class whole. The
// provenance is next's, with base's runs that still measured a kept
// entry before next's runs; Commands lists the runs' commands.
func Merge(base, next *Calibration) *Calibration {
	out := *base
	out.Classes = append([]Class(nil), base.Classes...)
	out.Encoding = append([]Encoding(nil), base.Encoding...)
	out.Failover = append([]FailoverCost(nil), base.Failover...)
	replaced := map[string]bool{}
	for _, k := range next.Keys() {
		replaced[k] = true
	}
	for _, nc := range next.Classes {
		i := slices.IndexFunc(out.Classes, func(c Class) bool { return c.Name == nc.Name })
		if i < 0 {
			out.Classes = append(out.Classes, nc)
			continue
		}
		old := out.Classes[i]
		if old.CPU != nc.CPU || old.Memory != nc.Memory || old.Workers != nc.Workers {
			for _, k := range (&Calibration{Classes: []Class{old}}).Keys() {
				replaced[k] = true
			}
			out.Classes[i] = nc
			continue
		}
		merged := old
		merged.Models = mergeBy(old.Models, nc.Models, func(m ModelCost) string { return m.Model })
		merged.Decode = mergeBy(old.Decode, nc.Decode, func(d DecodeCost) string { return decodeKey("", d) })
		merged.InSitu = mergeInSitu(old.InSitu, nc.InSitu)
		out.Classes[i] = merged
	}
	out.Encoding = mergeBy(out.Encoding, next.Encoding, encodingKey)
	out.Failover = mergeBy(out.Failover, next.Failover, failoverKey)

	out.Provenance = next.Provenance
	out.Provenance.Runs = nil
	var commands []string
	if len(base.Provenance.Runs) == 0 {
		commands = append(commands, base.Provenance.Commands...)
	}
	for _, r := range base.Provenance.Runs {
		r.Measured = slices.DeleteFunc(slices.Clone(r.Measured), func(k string) bool { return replaced[k] })
		if len(r.Measured) > 0 {
			out.Provenance.Runs = append(out.Provenance.Runs, r)
			commands = append(commands, r.Command)
		}
	}
	out.Provenance.Runs = append(out.Provenance.Runs, next.Provenance.Runs...)
	out.Provenance.Commands = append(commands, next.Provenance.Commands...)
	return &out
}

// mergeInSitu merges two classes' in-situ tables as Merge does the rest.
func mergeInSitu(base, next *InSitu) *InSitu {
	if base == nil || next == nil {
		return cmp.Or(next, base)
	}
	return &InSitu{
		Models: mergeBy(base.Models, next.Models, func(m InSituModel) string { return inSituModelKey("", m) }),
		Stack:  mergeBy(base.Stack, next.Stack, func(s InSituStack) string { return stackKey("", s) }),
	}
}

// mergeBy replaces the entries of base whose key an entry of next has and
// appends next's other entries.
func mergeBy[T any](base, next []T, key func(T) string) []T {
	out := slices.Clone(base)
	for _, n := range next {
		if i := slices.IndexFunc(out, func(b T) bool { return key(b) == key(n) }); i >= 0 {
			out[i] = n
		} else {
			out = append(out, n)
		}
	}
	return out
}

// Marshal validates c and encodes it as YAML, preceded by header (comment
// lines, each written with a leading "# ").
func (c *Calibration) Marshal(header ...string) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, h := range header {
		for _, line := range strings.Split(h, "\n") {
			buf.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("plan: encode calibration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("plan: encode calibration: %w", err)
	}
	return buf.Bytes(), nil
}

// MarshalYAML writes a quantile table on one line ([{q: 0, v: 0.1}, ...]).
func (q Quantiles) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, p := range q {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "q"}, {Kind: yaml.ScalarNode, Value: strconv.FormatFloat(p.Q, 'g', -1, 64)},
			{Kind: yaml.ScalarNode, Value: "v"}, {Kind: yaml.ScalarNode, Value: strconv.FormatFloat(p.V, 'g', 6, 64)},
		}})
	}
	return n, nil
}
