package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/hwlimit"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/calibrate"
	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/units"
)

type planCalibrateFlags struct {
	out             string
	class           string
	cpu             string
	memory          string
	workers         int
	models          []string
	resolution      string
	bitrates        []string
	fps             []float64
	duration        time.Duration
	decodeDuration  time.Duration
	inferenceFrames int
	idleGap         time.Duration
	background      string
	people          int
	vehicles        int
	night           bool
	seed            int64
	failoverFrom    []string
	inSituFrom      []string
	unconfined      bool
	child           bool
}

func newPlanCalibrateCmd(streams Streams) *cobra.Command {
	f := planCalibrateFlags{resolution: "640x360", duration: time.Minute, decodeDuration: 20 * time.Second,
		inferenceFrames: 200, idleGap: 200 * time.Millisecond, background: "indoor", people: 2, seed: 42}
	c := &cobra.Command{
		Use:   "calibrate --out FILE [--class NAME --cpu C --memory M --model NAME] [--bitrate B,... --fps F,...] [--failover-from DIR...] [--in-situ-from DIR... --class NAME --model NAME]",
		Short: "Measure the real detector, decoder, encoder and failovers into a calibration file for the simulator",
		Long: `calibrate measures the real parts of edgesim on this machine and writes
what the fleet simulator draws from into a calibration file (--out; an
existing file is updated: what this run measures replaces the same
entries, everything else is kept). Each run adds its provenance: host,
CPU, cgroup mode, commit, date, load average and the exact command.

Four measurements, each chosen by its flags:

  Hardware class (--class with --model and/or --bitrate): a child process
  confined by cgroups to the class's --cpu and --memory (as the local
  provider confines edgenode) encodes fakecam's scene, decodes every frame
  with libvpx (decode time per frame, per --resolution and --bitrate), then
  runs the real detector as edgenode loads it with --workers workers all
  busy on those decoded frames (service time per frame, per --model).
  Needs root for cgroups; --unconfined measures without limits and says so
  in the file.

  Encoded sizes (--bitrate with --fps): fakecam's scene rendered and
  encoded by its VP8 encoder for --duration of video: keyframe interval,
  keyframe and inter-frame size quantiles, and the packet payload and
  per-packet overhead of fakecam's RTP/SRTP/UDP/IPv4 stack.

  Failover (--failover-from): the samples.json of earlier runs with a kill
  fault: per camera that the killed node served, detect = fault injection
  to the camera noticing the lost connection, reconnect = noticing to
  being connected to another node, per provider.

  In situ (--in-situ-from, with --class and one --model): the
  samples.json of earlier runs whose edge nodes were of the class
  (edgesim run, or the emulated points of edgesim plan --validate). From every answered frame of an edge-placed camera in the
  run phase: the inference time inside the running edgenode, and the
  stack's delay, i.e. the latency less the node's decode, wait and
  inference and less the access link's configured delay both ways, per
  camera bit rate and frame rate as the runs recorded them (--bitrate
  stands for cameras of an older run that recorded none). The
  simulator then draws these instead of the isolated inference time and
  the encode time. They hold what the isolated measurements leave out
  (the node's media stack and, on a testbed, the host's other work on the
  same cores); the class must already be in --out.

Tables are quantiles at 0, 0.05, ..., 0.95, 0.99 and 1 of the samples.`,
		Example: `  # this machine as a 2-core class, the default model, decode at two bitrates
  sudo edgesim plan calibrate --out calibration.yaml --class vm-2core --cpu 2 --memory 1Gi \
      --model default --resolution 640x360 --bitrate 600Kbit,1Mbit

  # encoded frame sizes of the quickstart's cameras (60 s of video)
  edgesim plan calibrate --out calibration.yaml --bitrate 600Kbit --fps 10 \
      --background indoor --people 2 --vehicles 0

  # failover timings from a quickstart run (it kills an edge node)
  sudo edgesim run --results runs scenarios/examples/quickstart.yaml
  # (more runs, more samples: separate their directories with commas)
  edgesim plan calibrate --out calibration.yaml \
      --failover-from runs/quickstart-20250101-120000,runs/quickstart-20250101-121500

  # inference and the stack's delay as the quickstart's edge nodes saw them
  edgesim plan calibrate --out calibration.yaml --in-situ-from runs/quickstart-20250101-120000 \
      --class small-box --model default

  # a quick look without root: no cgroup limits, said so in the file
  edgesim plan calibrate --out /tmp/c.yaml --class laptop --cpu 1 --memory 1Gi \
      --model default --inference-frames 50 --unconfined`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.child {
				return calibrate.RunChild(cmd.Context(), streams.In, streams.Out)
			}
			return runPlanCalibrate(cmd, streams, &f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.out, "out", "", "calibration file to write or update (YAML)")
	fl.StringVar(&f.class, "class", "", "hardware class to measure (a name, e.g. small-box; default with --cpu and --memory: cpu-C-memory-M)")
	fl.StringVar(&f.cpu, "cpu", "", `the class's CPU, as in a scenario's resources (e.g. "1", "500m"; "0" with --memory 0B = nodes without resources); default: the class's in --out`)
	fl.StringVar(&f.memory, "memory", "", "the class's memory (e.g. 1Gi); default: the class's in --out")
	fl.IntVar(&f.workers, "workers", 0, "inference workers (0 = edgenode's default on the class: its CPU rounded up, at most this machine's cores)")
	fl.StringSliceVar(&f.models, "model", nil, `model to measure, NAME or NAME=DIR: NAME as scenarios name it ("default" = the model embedded in edgenode, or an embedded variant's version such as v2-int8), DIR its directory`)
	fl.StringVar(&f.resolution, "resolution", f.resolution, "frame size WIDTHxHEIGHT of decoding and encoding")
	fl.StringSliceVar(&f.bitrates, "bitrate", nil, "camera bitrates (decode cost with --class, encoded sizes with --fps), e.g. 600Kbit,1Mbit")
	fl.Float64SliceVar(&f.fps, "fps", nil, "camera frame rates for encoded sizes (the first also paces decoding; default 10)")
	fl.DurationVar(&f.duration, "duration", f.duration, "video length encoded per bitrate and fps for encoded sizes")
	fl.DurationVar(&f.decodeDuration, "decode-duration", f.decodeDuration, "video length decoded per bitrate for decode cost")
	fl.IntVar(&f.inferenceFrames, "inference-frames", f.inferenceFrames, "service times recorded per model")
	fl.DurationVar(&f.idleGap, "idle-gap", f.idleGap, "also measure the idle service time: each worker waits this long before each of a third as many inferences, as on a node that is not saturated (0: busy only)")
	fl.StringVar(&f.background, "background", f.background, "scene background: indoor, street or parking")
	fl.IntVar(&f.people, "people", f.people, "mean people in the scene")
	fl.IntVar(&f.vehicles, "vehicles", f.vehicles, "mean vehicles in the scene")
	fl.BoolVar(&f.night, "night", false, "night scene (dark, noisy)")
	fl.Int64Var(&f.seed, "seed", f.seed, "scene seed")
	fl.StringSliceVar(&f.failoverFrom, "failover-from", nil, "results directories (or samples.json files) of runs with a kill fault")
	fl.StringSliceVar(&f.inSituFrom, "in-situ-from", nil, "results directories (or samples.json files) of runs whose edge nodes were of --class, running --model")
	fl.BoolVar(&f.unconfined, "unconfined", false, "measure a class without cgroup limits (when not root); the file says so")
	fl.BoolVar(&f.child, "child", false, "internal: the confined measuring process")
	_ = fl.MarkHidden("child")
	return c
}

func runPlanCalibrate(cmd *cobra.Command, streams Streams, f *planCalibrateFlags) error {
	ctx := cmd.Context()
	if f.out == "" {
		return errors.New("give --out FILE: the calibration file to write or update")
	}
	base, err := plan.LoadCalibration(f.out)
	if errors.Is(err, fs.ErrNotExist) {
		base, err = &plan.Calibration{APIVersion: plan.CalibrationAPIVersion, Kind: plan.CalibrationKind}, nil
	}
	if err != nil {
		return fmt.Errorf("%w (fix or move it; calibrate updates it in place)", err)
	}
	width, height, err := parseResolution(f.resolution)
	if err != nil {
		return err
	}
	var bitrates []units.BitRate
	for _, s := range f.bitrates {
		b, err := units.ParseBitRate(s)
		if err != nil {
			return fmt.Errorf("--bitrate %s: %w", s, err)
		}
		bitrates = append(bitrates, b)
	}
	sc := scene.Config{Background: f.background, Night: f.night, People: f.people, Vehicles: f.vehicles, Seed: f.seed}
	video := func(b units.BitRate, fps float64, d time.Duration) calibrate.Video {
		return calibrate.Video{Width: width, Height: height, FPS: fps, Bitrate: b, Scene: sc, Duration: d}
	}
	if f.class == "" && (f.cpu != "" || f.memory != "") {
		// the command a missing class's error names gives only its hardware
		f.class = strings.ToLower("cpu-" + f.cpu + "-memory-" + f.memory)
	}
	inSitu := len(f.inSituFrom) > 0
	doClass := f.class != "" && !inSitu
	doEncoding := len(f.fps) > 0 && !inSitu
	if !doClass && !doEncoding && len(f.failoverFrom) == 0 && !inSitu {
		return errors.New("nothing to measure: give --class (with --model and/or --bitrate), --bitrate with --fps, " +
			"--failover-from or --in-situ-from (see --help)")
	}
	if doEncoding && len(bitrates) == 0 {
		return errors.New("--fps measures encoded sizes per bitrate: give --bitrate too")
	}

	sys := calibrate.LocalSystem()
	if e := sys.Emulation(runtime.GOARCH); e != "" && (doClass || doEncoding) {
		return fmt.Errorf("this is %s: timings under emulation say nothing about the CPU, and a calibration must not hold them; "+
			"run calibrate natively on the machine to plan for (docs/hardware.md)", e)
	}
	disp := newDisplay(streams.ErrOut, false)
	defer disp.close()
	progress := calibrateProgress(disp)
	frag := &plan.Calibration{APIVersion: plan.CalibrationAPIVersion, Kind: plan.CalibrationKind}
	loadBefore := sys.LoadAverage()
	var summary []string
	confinement := ""

	if doClass {
		cl, how, lines, err := measureClass(ctx, cmd, f, base, bitrates, video, progress)
		if err != nil {
			return err
		}
		frag.Classes, confinement = []plan.Class{*cl}, how
		summary = append(summary, lines...)
	}
	if doEncoding {
		for _, b := range bitrates {
			for _, fps := range f.fps {
				e, st, err := calibrate.MeasureEncoding(ctx, video(b, fps, f.duration), progress)
				if err != nil {
					return err
				}
				frag.Encoding = append(frag.Encoding, e)
				summary = append(summary, fmt.Sprintf("encoding %s@%gfps: %d frames (%d keyframes, interval %d, %d dropped), "+
					"realised %s; inter p50 %.0f B, keyframe p50 %.0f B; packets %d + %d B; render and encode p50 %.1f ms",
					b, fps, st.Frames, st.Keyframes, e.KeyframeInterval, st.Dropped, units.FormatMeasured(st.MeanBitrate),
					e.InterBytes.At(0.5), e.KeyframeBytes.At(0.5), e.PayloadBytes, e.OverheadBytes, e.EncodeSeconds.At(0.5)*1000))
			}
		}
	}
	if len(f.failoverFrom) > 0 {
		var samples []calibrate.FailoverSample
		for _, dir := range f.failoverFrom {
			run, name, err := calibrate.ReadRun(dir)
			if err != nil {
				return err
			}
			s, notes := calibrate.FailoverSamples(run, name)
			samples = append(samples, s...)
			for _, n := range notes {
				disp.logf("note: %s", n)
			}
		}
		if frag.Failover, err = calibrate.Failover(samples); err != nil {
			return err
		}
		for _, fo := range frag.Failover {
			n := 0
			for _, s := range samples {
				if s.Provider == fo.Provider {
					n++
				}
			}
			summary = append(summary, fmt.Sprintf("failover on %s: %d camera failovers; detect p50 %.2f s (max %.2f s), reconnect p50 %.2f s (max %.2f s)",
				fo.Provider, n, fo.DetectSeconds.At(0.5), fo.DetectSeconds.At(1), fo.ReconnectSeconds.At(0.5), fo.ReconnectSeconds.At(1)))
		}
	}

	if inSitu {
		cl, lines, err := inSituClass(f, base, bitrates, disp)
		if err != nil {
			return err
		}
		frag.Classes = []plan.Class{*cl}
		summary = append(summary, lines...)
	}

	frag.Provenance = sys.Provenance(ctx, commandLine(cmd), confinement, loadBefore, frag.Keys())
	merged := plan.Merge(base, frag)
	b, err := merged.Marshal(calibrationHeader(merged)...)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(f.out, b); err != nil {
		return err
	}
	disp.close()
	for _, s := range summary {
		fmt.Fprintln(streams.Out, s)
	}
	fmt.Fprintf(streams.Out, "wrote %s (load average %s before, %s after)\n", f.out, loadBefore, frag.Provenance.Runs[0].LoadAverage.After)
	return nil
}

// inSituClass reads the in-situ tables of a class from the runs of
// --in-situ-from.
func inSituClass(f *planCalibrateFlags, base *plan.Calibration, bitrates []units.BitRate, disp *display) (*plan.Class, []string, error) {
	if f.class == "" || len(f.models) != 1 || len(bitrates) > 1 || len(f.fps) > 0 || f.cpu != "" || f.memory != "" {
		return nil, nil, errors.New("--in-situ-from needs --class (the runs' edge nodes' class) and one --model (the calibration's " +
			"name of the model they ran), and takes no --fps, --cpu or --memory (the cameras' streams are the runs', the class's " +
			"hardware the one in --out); one --bitrate stands for cameras whose run recorded none")
	}
	var bitrate units.BitRate
	if len(bitrates) == 1 {
		bitrate = bitrates[0]
	}
	old, err := base.Class(f.class)
	if err != nil {
		return nil, nil, fmt.Errorf("class %s is not in %s: measure it first (%s --out %s --class %s --cpu C --memory M --model %s)",
			f.class, f.out, plan.CalibrateCommand, f.out, f.class, f.models[0])
	}
	model, _, _ := strings.Cut(f.models[0], "=")
	var samples calibrate.InSituSamples
	for _, dir := range f.inSituFrom {
		run, name, err := calibrate.ReadRun(dir)
		if err != nil {
			return nil, nil, err
		}
		notes, err := samples.AddRun(run, name, bitrate)
		for _, n := range notes {
			disp.logf("note: %s", n)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	in, err := calibrate.InSitu(&samples, model)
	if err != nil {
		return nil, nil, err
	}
	cl := plan.Class{Name: old.Name, CPU: old.CPU, Memory: old.Memory, Workers: old.Workers, InSitu: in}
	m := in.Models[0]
	lines := []string{fmt.Sprintf("in situ on %s: %d frames (models as the nodes named them: %s); inference %s p50 %.1f ms, p95 %.1f ms",
		cl.Name, samples.Frames, strings.Join(samples.Models, ", "), model, 1000*m.ServiceSeconds.At(0.5), 1000*m.ServiceSeconds.At(0.95))}
	for _, st := range in.Stack {
		lines = append(lines, fmt.Sprintf("in situ on %s: stack at %s@%gfps: %d frames, p50 %.1f ms, p95 %.1f ms",
			cl.Name, st.Bitrate, st.FPS, st.Frames, 1000*st.Seconds.At(0.5), 1000*st.Seconds.At(0.95)))
	}
	return &cl, lines, nil
}

// measureClass measures decode and inference of a class in a confined
// child process.
func measureClass(ctx context.Context, cmd *cobra.Command, f *planCalibrateFlags, base *plan.Calibration,
	bitrates []units.BitRate, video func(units.BitRate, float64, time.Duration) calibrate.Video,
	progress calibrate.ProgressFunc) (*plan.Class, string, []string, error) {
	cl := plan.Class{Name: f.class}
	known := false
	if old, err := base.Class(f.class); err == nil {
		cl.CPU, cl.Memory, known = old.CPU, old.Memory, true
	}
	var err error
	if f.cpu != "" {
		if cl.CPU, err = units.ParseMilliCPU(f.cpu); err != nil {
			return nil, "", nil, fmt.Errorf("--cpu %s: %w", f.cpu, err)
		}
	}
	if f.memory != "" {
		if cl.Memory, err = units.ParseByteSize(f.memory); err != nil {
			return nil, "", nil, fmt.Errorf("--memory %s: %w", f.memory, err)
		}
	}
	if !known && (f.cpu == "" || f.memory == "") {
		return nil, "", nil, fmt.Errorf("class %s is not in %s yet: give its --cpu and --memory", f.class, f.out)
	}
	unlimited := cl.CPU == 0 && cl.Memory == 0 // nodes without resources: the whole machine
	if len(f.models) == 0 && len(bitrates) == 0 {
		return nil, "", nil, fmt.Errorf("nothing to measure on class %s: give --model (inference) and/or --bitrate (decoding)", f.class)
	}
	gomaxprocs := runtime.NumCPU()
	if cl.CPU > 0 {
		gomaxprocs = min(gomaxprocs, max(1, int(math.Ceil(cl.CPU.Cores()))))
	}
	cl.Workers = f.workers
	if cl.Workers == 0 {
		cl.Workers = gomaxprocs
	}
	fps := 10.0
	if len(f.fps) > 0 {
		fps = f.fps[0]
	}
	spec := calibrate.ClassSpec{Workers: cl.Workers, GOMAXPROCS: gomaxprocs, InferenceFrames: f.inferenceFrames,
		IdleGap: f.idleGap, IdleFrames: max(1, f.inferenceFrames/3),
		InferenceVideo: video(units.MustParseBitRate("600Kbit"), fps, f.decodeDuration)}
	for _, m := range f.models {
		name, dir, _ := strings.Cut(m, "=")
		if dir != "" && !strings.HasPrefix(dir, detector.EmbeddedPrefix) {
			if dir, err = filepath.Abs(dir); err != nil {
				return nil, "", nil, err
			}
		}
		spec.Models = append(spec.Models, calibrate.Model{Name: name, Dir: dir})
	}
	for _, b := range bitrates {
		spec.Decode = append(spec.Decode, video(b, fps, f.decodeDuration))
	}

	exe, err := os.Executable()
	if err != nil {
		return nil, "", nil, err
	}
	args := append(strings.Fields(cmd.CommandPath())[1:], "--child")
	child := exec.CommandContext(ctx, exe, args...)
	var confine func(int) error
	how := "unconfined"
	switch {
	case unlimited:
		how = "none: the class has no limits (a node without resources gets the whole machine)"
	case !f.unconfined:
		g, err := newConfinement(f.class, cl.CPU.Cores(), cl.Memory.Bytes())
		if err != nil {
			return nil, "", nil, fmt.Errorf("cannot confine the measurement to class %s: %w; run as root, or pass "+
				"--unconfined to measure without limits (the file then says unconfined)", f.class, err)
		}
		defer g.delete()
		confine, how = g.add, fmt.Sprintf("cgroup %s: cpu %s, memory %s", g.mode, cl.CPU, cl.Memory)
	}
	res, err := calibrate.MeasureConfined(ctx, child, confine, spec, progress)
	if err != nil {
		return nil, "", nil, fmt.Errorf("class %s: %w", f.class, err)
	}
	cl.Models, cl.Decode = res.Models, res.Decode
	var lines []string
	for _, m := range cl.Models {
		q := m.ServiceSeconds
		lines = append(lines, fmt.Sprintf("inference %s on %s (%d workers, %s): %d frames, p50 %.1f ms, p95 %.1f ms, max %.1f ms",
			m.Model, cl.Name, cl.Workers, how, res.Samples["inference "+m.Model], 1000*q.At(0.5), 1000*q.At(0.95), 1000*q.At(1)))
		if q := m.IdleServiceSeconds; len(q) > 0 {
			lines = append(lines, fmt.Sprintf("inference %s on %s after %gs idle: p50 %.1f ms, p95 %.1f ms, max %.1f ms",
				m.Model, cl.Name, m.IdleGapSeconds, 1000*q.At(0.5), 1000*q.At(0.95), 1000*q.At(1)))
		}
	}
	for _, d := range cl.Decode {
		q := d.FrameSeconds
		lines = append(lines, fmt.Sprintf("decode %dx%d@%s on %s: %d frames, p50 %.2f ms, p95 %.2f ms",
			d.Width, d.Height, d.Bitrate, cl.Name, res.Samples[fmt.Sprintf("decode %dx%d@%s", d.Width, d.Height, d.Bitrate)],
			1000*q.At(0.5), 1000*q.At(0.95)))
	}
	return &cl, how, lines, nil
}

// confinement is a cgroup holding the measuring process.
type confinement struct {
	mode   string
	add    func(pid int) error
	delete func()
}

// newConfinement creates the cgroup of a class (hwlimit, as the local
// provider confines edgenode).
func newConfinement(class string, cpu float64, memory int64) (*confinement, error) {
	if err := hwlimit.Available(); err != nil {
		return nil, err
	}
	g, err := hwlimit.New(fmt.Sprintf("calibrate-%d", os.Getpid()), hwlimit.Limits{CPU: cpu, Memory: memory})
	if err != nil {
		return nil, err
	}
	mode := "v1" // hwlimit uses v1 unless the hierarchy is unified (v2)
	if calibrate.LocalSystem().Host().CgroupMode == "v2" {
		mode = "v2"
	}
	return &confinement{mode: mode, add: g.Add, delete: func() { _ = g.Delete() }}, nil
}

func parseResolution(s string) (int, int, error) {
	w, h, ok := strings.Cut(s, "x")
	width, err1 := strconv.Atoi(w)
	height, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || width <= 0 || height <= 0 {
		return 0, 0, fmt.Errorf("--resolution %q: write WIDTHxHEIGHT, e.g. 640x360", s)
	}
	return width, height, nil
}

// commandLine is the command with the flags it was given (in name order),
// quoted for a shell where needed: it reproduces the run.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			items := sv.GetSlice()
			for i, it := range items {
				if x, err := strconv.ParseFloat(it, 64); err == nil && f.Value.Type() == "float64Slice" {
					items[i] = strconv.FormatFloat(x, 'g', -1, 64) // pflag writes 10.000000
				}
			}
			v = strings.Join(items, ",")
		}
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			if v != "true" {
				parts[len(parts)-1] += "=" + v
			}
			return
		}
		parts = append(parts, "--"+f.Name, shellescape.Quote(v))
	})
	return strings.Join(parts, " ")
}

// calibrationHeader is the comment at the top of a written calibration.
func calibrationHeader(c *plan.Calibration) []string {
	h := []string{"Calibration of edgesim's fleet simulator, measured by `edgesim plan calibrate`.",
		"Each run below: the machine, the command and the load average before/after it."}
	for _, r := range c.Provenance.Runs {
		h = append(h, fmt.Sprintf("- %s on %s (%s), load %s -> %s:", r.Date.Format(time.RFC3339),
			calibrate.MachineName(r.Host), orDash(r.Confinement), r.LoadAverage.Before, r.LoadAverage.After), "    "+r.Command)
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "no class measured"
	}
	return s
}

// writeFileAtomic replaces path with b.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// calibrateProgress draws a status line for each progress report.
func calibrateProgress(d *display) calibrate.ProgressFunc {
	return func(p calibrate.Progress) {
		status := fmt.Sprintf("[%s] %d", p.Stage, p.Done)
		if p.Total > 0 {
			status += fmt.Sprintf("/%d", p.Total)
		}
		d.status(status, p.Done == p.Total)
	}
}
