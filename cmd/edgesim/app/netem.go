package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/netem/calibrate"
	"github.com/edgesim/edgesim/units"
)

func newNetemCmd(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "netem",
		Short: "Link emulation: calibrate the emulator against its configuration",
		Long: `netem is edgesim's link emulator. It needs no sch_netem kernel module: each
emulated host is a network namespace with a TUN device, and a userspace
fabric delays, drops, duplicates, corrupts, reorders and paces the packets
between them (see docs/netem.md).`,
	}
	cmd.AddCommand(newNetemCalibrateCmd(streams), newNetemTraceCmd(streams))
	return cmd
}

type calibrateFlags struct {
	profile, direction, traceFile   string
	scenario, link                  string
	json, traceOnce, skipTCP        bool
	preciseRelease                  bool
	probes                          int
	probeRate                       float64
	duration, traceDuration         time.Duration
	seed                            int64
	stateDir                        string
	delay, jitter                   time.Duration
	distribution                    string
	delayCorr, loss, lossCorr       float64
	lossModel                       string
	geP, geR, geLossBad, geLossGood float64
	duplicate, corrupt, reorder     float64
	rate                            units.BitRate
	burst                           units.ByteSize
	queueBytes                      units.ByteSize
	queuePackets                    int
	queue                           string
}

func newNetemCalibrateCmd(streams Streams) *cobra.Command {
	var f calibrateFlags
	cmd := &cobra.Command{
		Use:   "calibrate",
		Short: "Measure an emulated link against its configuration and print the error of every figure",
		Long: `calibrate builds two hosts (network namespaces) joined by one emulated link,
sends probe traffic through it and prints configured vs measured figures:
one-way delay (mean, p50, p99), jitter, loss, loss burst length, UDP
throughput and TCP goodput, or for a Mahimahi trace the throughput of every
second vs the trace's capacity. Each figure has a tolerance; the exit status
is 1 when any figure is outside it, 2 when the run itself failed.

Take the link from a profile (--profile 4g, wifi, lan, 5g, satellite; one
direction, --direction up by default), or from a scenario's link as
"edgesim run" emulates it (--scenario FILE --link NAME; up is toward the
cloud), and/or give it with flags; flags override the profile or link. Rates are bit rates with explicit units (10Mbit,
1.5Gbit); they count IP bytes. Needs root (namespaces, TUN devices).`,
		Example: `  # the 4g profile's uplink
  edgesim netem calibrate --profile 4g

  # a link given by flags, machine-readable
  edgesim netem calibrate --delay 50ms --jitter 5ms --loss 1 --rate 20Mbit --json

  # the uplink of an imported Chaos Mesh experiment, as edgesim run emulates it
  edgesim import chaosmesh --map app=edgenode:site:store-1 --map app=cloud-api:cloud -o fleet.yaml chaos.yaml
  edgesim netem calibrate --scenario fleet.yaml --link store-1-uplink

  # a Mahimahi trace, first 30 s
  edgesim netem calibrate --trace Verizon-LTE-short.up --trace-duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd.Flags())
			if err != nil {
				return err
			}
			return runCalibrate(cmd, streams, f, cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.profile, "profile", "", "link profile to start from (lan, wifi, 4g, 5g, satellite)")
	fl.StringVar(&f.scenario, "scenario", "", "scenario file whose --link to calibrate")
	fl.StringVar(&f.link, "link", "", "the --scenario's link to calibrate, by name (as its report names it)")
	fl.StringVar(&f.direction, "direction", netem.Up, "profile or link direction to calibrate: up or down")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON")
	fl.IntVar(&f.probes, "probes", 100000, "probe packets for delay and loss")
	fl.Float64Var(&f.probeRate, "probe-rate", 5000, "probe packets per second (at most a quarter of the link's rate is used)")
	fl.DurationVar(&f.duration, "duration", 5*time.Second, "length of the UDP and the TCP throughput phases")
	fl.BoolVar(&f.skipTCP, "skip-tcp", false, "leave out the TCP goodput phase")
	fl.StringVar(&f.traceFile, "trace", "", "Mahimahi mm-link trace file for the link's capacity")
	fl.BoolVar(&f.traceOnce, "trace-once", false, "do not wrap around at the end of the trace")
	fl.DurationVar(&f.traceDuration, "trace-duration", 0, "how much of the trace to replay (default one period)")
	fl.BoolVar(&f.preciseRelease, "precise-release", true, "let link schedulers spin for the last microseconds before a packet is due (false: timer only, to compare)")
	fl.Int64Var(&f.seed, "seed", 1, "seed of every random draw")
	fl.StringVar(&f.stateDir, "state-dir", "", "where to record created namespaces (default "+netem.DefaultStateDir()+")")
	fl.DurationVar(&f.delay, "delay", 0, "mean one-way delay, e.g. 30ms")
	fl.DurationVar(&f.jitter, "jitter", 0, "standard deviation of the delay")
	fl.StringVar(&f.distribution, "distribution", "normal", "delay distribution: normal, uniform, pareto, paretonormal")
	fl.Float64Var(&f.delayCorr, "delay-correlation", 0, "correlation of successive delays, percent")
	fl.StringVar(&f.lossModel, "loss-model", "bernoulli", "bernoulli, gilbert-elliott or 4-state")
	fl.Float64Var(&f.loss, "loss", 0, "loss percent (bernoulli)")
	fl.Float64Var(&f.lossCorr, "loss-correlation", 0, "correlation of successive losses, percent (bernoulli)")
	fl.Float64Var(&f.geP, "ge-p", 0, "Gilbert-Elliott good->bad transition percent")
	fl.Float64Var(&f.geR, "ge-r", 0, "Gilbert-Elliott bad->good transition percent")
	fl.Float64Var(&f.geLossBad, "ge-loss-bad", 100, "Gilbert-Elliott loss percent in the bad state (100-h)")
	fl.Float64Var(&f.geLossGood, "ge-loss-good", 0, "Gilbert-Elliott loss percent in the good state (100-k)")
	fl.Float64Var(&f.duplicate, "duplicate", 0, "duplicate percent")
	fl.Float64Var(&f.corrupt, "corrupt", 0, "corrupt percent (one bit flipped)")
	fl.Float64Var(&f.reorder, "reorder", 0, "percent of packets sent without delay")
	fl.Var(&f.rate, "rate", "capacity, e.g. 10Mbit (IP bytes)")
	fl.Var(&f.burst, "burst", "token bucket depth, e.g. 3KB (default max(2 MTU, 1 ms of rate))")
	fl.Var(&f.queueBytes, "queue-bytes", "bottleneck queue limit in bytes")
	fl.IntVar(&f.queuePackets, "queue-packets", 0, "bottleneck queue limit in packets")
	fl.StringVar(&f.queue, "queue", "droptail", "queue discipline: droptail or drophead")
	return cmd
}

// config builds the link config: the profile (if any), then every flag the
// user set.
func (f *calibrateFlags) config(fl *pflag.FlagSet) (netem.LinkConfig, error) {
	var c netem.LinkConfig
	switch {
	case f.profile != "" && f.scenario != "":
		return c, errors.New("give --profile or --scenario, not both")
	case (f.scenario == "") != (f.link == ""):
		return c, errors.New("--scenario FILE and --link NAME go together: the link of the scenario to calibrate")
	case f.profile != "":
		var err error
		if c, err = profileConfig(f.profile, f.direction); err != nil {
			return c, err
		}
	case f.scenario != "":
		var err error
		if c, err = scenarioLinkConfig(f.scenario, f.link, f.direction); err != nil {
			return c, err
		}
	}
	set := func(name string) bool { return fl.Changed(name) }
	if set("delay") {
		c.Delay = f.delay
	}
	if set("jitter") {
		c.Jitter = f.jitter
	}
	if set("distribution") || c.Distribution == "" {
		c.Distribution = netem.Distribution(f.distribution)
	}
	if set("delay-correlation") {
		c.DelayCorrelation = f.delayCorr
	}
	if set("loss-model") || set("loss") || set("loss-correlation") || set("ge-p") || set("ge-r") {
		c.Loss = netem.Loss{Model: netem.LossModel(f.lossModel), Percent: f.loss, Correlation: f.lossCorr,
			P: f.geP, R: f.geR, LossBad: f.geLossBad, LossGood: f.geLossGood}
		if c.Loss.Model == netem.LossBernoulli {
			c.Loss.LossBad = 0
		}
	}
	if set("duplicate") {
		c.Duplicate = f.duplicate
	}
	if set("corrupt") {
		c.Corrupt = f.corrupt
	}
	if set("reorder") {
		c.Reorder.Percent = f.reorder
	}
	if set("rate") {
		if err := netem.ValidateRate(int64(f.rate)); err != nil {
			return c, fmt.Errorf("--rate %s: %w", f.rate, err)
		}
		c.RateBits = int64(f.rate)
	}
	if set("burst") {
		c.BurstBytes = int(f.burst)
	}
	if set("queue-bytes") {
		c.QueueBytes, c.QueuePackets = int(f.queueBytes), 0
	}
	if set("queue-packets") {
		c.QueuePackets, c.QueueBytes = f.queuePackets, 0
	}
	if set("queue") {
		c.Queue = netem.QueueDiscipline(f.queue)
	}
	if f.traceFile != "" {
		t, err := netem.LoadTrace(f.traceFile)
		if err != nil {
			return c, err
		}
		c.Trace, c.RateBits = t, 0
	}
	if set("trace-once") {
		c.TraceOnce = f.traceOnce
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if f.profile == "" && f.scenario == "" && f.traceFile == "" && !fl.Changed("delay") && !fl.Changed("rate") && !fl.Changed("loss") {
		return c, errors.New("nothing to calibrate: give --profile NAME, --scenario FILE --link NAME, --trace FILE or link flags such as --delay, --loss, --rate")
	}
	return c, nil
}

func runCalibrate(cmd *cobra.Command, streams Streams, f calibrateFlags, cfg netem.LinkConfig) error {
	// The forwarding, sender and receiver threads each need a Go P the
	// moment they wake; with as many Ps as CPUs, a P held by a thread the
	// kernel descheduled delays them on a busy machine.
	if n := runtime.GOMAXPROCS(0); n < 8 {
		runtime.GOMAXPROCS(8)
		defer runtime.GOMAXPROCS(n)
	}
	// A garbage collection stalls the forwarding threads for up to
	// milliseconds on a busy machine (docs/performance/netem.md); a
	// calibration allocates a few megabytes in all, so collect only if the
	// heap passes 512 MiB.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(512 << 20))
	opt := calibrate.Options{
		Config: cfg, Probes: f.probes, ProbeRate: f.probeRate, ThroughputDuration: f.duration, TraceDuration: f.traceDuration,
		SkipTCP: f.skipTCP, Seed: f.seed, StateDir: f.stateDir,
		EngineOptions: []netem.Option{netem.WithPreciseRelease(f.preciseRelease)},
	}
	if !f.json {
		opt.Progress = func(phase string) { fmt.Fprintf(streams.ErrOut, "calibrate: %s...\n", phase) }
	}
	res, err := calibrate.Run(cmd.Context(), opt)
	if err != nil {
		return err
	}
	if f.json {
		out := struct {
			Link string `json:"link"`
			*calibrate.Result
		}{cfg.String(), res}
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printCalibration(streams.Out, cfg, res)
	}
	if !res.OK {
		var names []string
		for _, fig := range res.Failed() {
			names = append(names, fig.Name)
		}
		return ExitError{Code: 1, Err: fmt.Errorf("%w: %s", calibrate.ErrFailed, strings.Join(names, ", "))}
	}
	return nil
}

func printCalibration(w io.Writer, cfg netem.LinkConfig, res *calibrate.Result) {
	fmt.Fprintf(w, "link: %s\n\n", cfg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tCONFIGURED\tMEASURED\tERROR\tTOLERANCE\tRESULT")
	for _, f := range res.Figures {
		verdict := "ok"
		switch {
		case !f.Checked:
			verdict = "info"
		case !f.OK:
			verdict = "FAIL"
		}
		errs := "-"
		if f.Configured != 0 {
			errs = fmt.Sprintf("%+.2f%%", 100*f.Error)
		}
		fmt.Fprintf(tw, "%s\t%.4g %s\t%.4g %s\t%s\t%s\t%s\n", f.Name, f.Configured, f.Unit, f.Measured, f.Unit, errs, f.Tolerance, verdict)
	}
	_ = tw.Flush()
	for _, f := range res.Figures {
		if f.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", f.Name, f.Note)
		}
	}
	if len(res.Trace) > 0 {
		fmt.Fprintln(w, "\nthroughput over time (Mbit/s):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SECOND\tCAPACITY\tMEASURED\tERROR")
		for _, p := range res.Trace {
			e := "-"
			if p.CapacityBits > 0 {
				e = fmt.Sprintf("%+.1f%%", 100*(p.MeasuredBits-p.CapacityBits)/p.CapacityBits)
			}
			fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%s\n", p.Second, p.CapacityBits/1e6, p.MeasuredBits/1e6, e)
		}
		_ = tw.Flush()
	}
	if res.OK {
		fmt.Fprintln(w, "\nPASS: every figure within tolerance")
	} else {
		fmt.Fprintf(w, "\nFAIL: %d figure(s) outside tolerance\n", len(res.Failed()))
	}
}
