// Package cli is the `edgesim fakecam` command: a synthetic camera fleet
// publishing VP8 over WebRTC (WHIP) from the command line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/units"
)

type flags struct {
	whip             []string
	cameras          int
	prefix           string
	sceneSpec        string
	resolution       string
	fps              float64
	bitrate          units.BitRate
	keyframeInterval int
	encoderSpeed     int
	duration         units.Duration
	token            string
	out              string
	config           string
	seed             int64
	people           int
	vehicles         int
	ivf              string
	workers          int
	answerTimeout    units.Duration
	progress         units.Duration
	iceDisconnected  units.Duration
	iceFailed        units.Duration
	iceKeepalive     units.Duration
	quiet            bool
	pionLog          bool
}

// NewCommand returns the fakecam command writing progress and the summary
// to out and pion's warnings (with --pion-log) to errOut.
func NewCommand(out, errOut io.Writer) *cobra.Command {
	f := flags{bitrate: 800_000, fps: 10, resolution: "640x360", cameras: 1, prefix: "cam-", sceneSpec: "street",
		people: 3, vehicles: 1, progress: units.Duration(5 * time.Second), answerTimeout: units.Duration(5 * time.Second),
		iceDisconnected: units.Duration(1500 * time.Millisecond), iceFailed: units.Duration(2 * time.Second),
		iceKeepalive: units.Duration(300 * time.Millisecond)}
	cmd := &cobra.Command{
		Use:   "fakecam",
		Short: "Stream synthetic cameras (VP8 over WebRTC/WHIP) and measure glass-to-detection latency",
		Long: `fakecam runs a fleet of synthetic cameras in this process. Each renders a
deterministic scene (seed + camera id + frame index give the same pixels on
every run), encodes it as VP8 with libvpx and publishes it to a WHIP endpoint
(RFC 9725). Before every frame it announces the frame id and capture time on
the "edgesim" data channel; detections that come back on that channel give
the glass-to-detection latency, measured on this host's clock.

When a connection is lost (ICE failure, DTLS close) the camera reconnects to
the next --whip endpoint and records how long that took.

With --out DIR it writes per camera groundtruth-<cam>.jsonl (objects per
frame), latency-<cam>.jsonl (one line per frame: answered or not, latency,
detections) and bitrate-<cam>.jsonl (encoder target and sent bitrate per
second), and summary.json at the end. SIGINT/SIGTERM stop cleanly: sessions
are DELETEd and files flushed.

--config FILE takes the full per-camera settings (zones, scripted events,
endpoints) as JSON: an array of cameras, or {"cameras": [...]}, e.g.

  [{"id": "cam-1", "endpoints": ["http://10.0.0.2:8080/whip"], "bitrate": "800Kbit",
    "duration": "30s",
    "scene": {"width": 640, "height": 360, "fps": 10, "background": "street",
              "night": false, "seed": 1, "people": 3, "vehicles": 1,
              "zones": [{"name": "entrance", "rect": [0.6, 0.5, 0.95, 0.95]}],
              "events": [{"kind": "loiter", "zone": "entrance", "start": "20s", "end": "35s"}]}}]

Flags given explicitly (--whip, --token, --duration, --bitrate) override
every camera of the file.`,
		Example: `  # four cameras at night to one edgenode for 30 s
  edgesim fakecam --whip http://10.0.0.2:8080/whip --cameras 4 --scene night \
    --resolution 640x360 --fps 10 --bitrate 800kbit --duration 30s --out run1

  # fail over to a second node
  edgesim fakecam --whip http://10.0.0.2:8080/whip --whip http://10.0.0.3:8080/whip

  # cameras from a file
  edgesim fakecam --config cams.json --out run1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), cmd, &f, out, errOut)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.whip, "whip", nil, "WHIP endpoint URL; repeat for failover order (e.g. http://10.0.0.2:8080/whip)")
	fl.IntVar(&f.cameras, "cameras", f.cameras, "number of cameras")
	fl.StringVar(&f.prefix, "camera-prefix", f.prefix, "camera ids are <prefix>1..<prefix>N")
	fl.StringVar(&f.sceneSpec, "scene", f.sceneSpec, "background and lighting: street, parking, indoor, optionally with night (e.g. night, parking-night)")
	fl.StringVar(&f.resolution, "resolution", f.resolution, "frame size WIDTHxHEIGHT")
	fl.Float64Var(&f.fps, "fps", f.fps, "frames per second")
	fl.Var(&f.bitrate, "bitrate", "encoder target bitrate, e.g. 800kbit or 2Mbit")
	fl.IntVar(&f.keyframeInterval, "keyframe-interval", 0, "frames between keyframes (0: every 10 s)")
	fl.IntVar(&f.encoderSpeed, "encoder-speed", 0, "libvpx cpu-used, -16 (fastest, lowest quality) to 16 (0: -6, as WebRTC senders on desktops)")
	fl.Var(&f.duration, "duration", "stop after this much video, e.g. 30s (default: until interrupted)")
	fl.StringVar(&f.token, "token", "", "bearer token for the WHIP server (default $"+fakecam.TokenEnv+"; prefer the variable: ps shows flags)")
	fl.StringVar(&f.out, "out", "", "directory for ground truth, latency, bitrate and summary files")
	fl.StringVar(&f.config, "config", "", "JSON file with per-camera settings (see above)")
	fl.Int64Var(&f.seed, "seed", 1, "scene seed (same seed, same scenes)")
	fl.IntVar(&f.people, "people", f.people, "mean number of people in view per camera")
	fl.IntVar(&f.vehicles, "vehicles", f.vehicles, "mean number of vehicles in view per camera")
	fl.StringVar(&f.ivf, "ivf", "", "replay this VP8 IVF file instead of rendering scenes")
	fl.IntVar(&f.workers, "workers", 0, "frames rendered and encoded at once (default: number of CPUs)")
	fl.Var(&f.answerTimeout, "answer-timeout", "a frame without detections after this long counts as unanswered")
	fl.Var(&f.iceDisconnected, "ice-disconnected", "a connection without traffic for this long counts as disconnected")
	fl.Var(&f.iceFailed, "ice-failed", "a disconnected connection without traffic for this much longer has failed: reconnect")
	fl.Var(&f.iceKeepalive, "ice-keepalive", "ICE keepalive interval")
	fl.Var(&f.progress, "progress", "print progress this often (0: never)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors")
	fl.BoolVar(&f.pionLog, "pion-log", false, "print the WebRTC stack's warnings to standard error")
	return cmd
}

func parseResolution(s string) (int, int, error) {
	w, h, ok := strings.Cut(strings.ToLower(s), "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--resolution %q: want WIDTHxHEIGHT, e.g. 640x360", s)
	}
	return wi, hi, nil
}

func parseScene(s string) (background string, night bool, err error) {
	background = scene.BackgroundStreet
	for _, tok := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == '-' || r == ',' || r == '+' }) {
		switch tok {
		case scene.BackgroundStreet, scene.BackgroundParking, scene.BackgroundIndoor:
			background = tok
		case "night":
			night = true
		case "day":
			night = false
		default:
			return "", false, fmt.Errorf("--scene %q: use street, parking or indoor, optionally with night (e.g. parking-night)", s)
		}
	}
	return background, night, nil
}

func (f *flags) cameraConfigs(cmd *cobra.Command) ([]fakecam.Config, error) {
	changed := cmd.Flags().Changed
	envToken, fromEnv := os.LookupEnv(fakecam.TokenEnv)
	if !changed("token") && fromEnv {
		f.token = envToken
	}
	if f.config != "" {
		cfgs, err := fakecam.LoadConfigFile(f.config)
		if err != nil {
			return nil, err
		}
		for i := range cfgs {
			if changed("whip") {
				cfgs[i].Endpoints = f.whip
			}
			if changed("token") || fromEnv && cfgs[i].Token == "" {
				cfgs[i].Token = f.token
			}
			if changed("duration") {
				cfgs[i].Duration = f.duration.Std()
			}
			if changed("bitrate") {
				cfgs[i].Bitrate = f.bitrate
			}
		}
		return cfgs, nil
	}
	if len(f.whip) == 0 {
		return nil, errors.New("give a WHIP endpoint with --whip URL (e.g. --whip http://10.0.0.2:8080/whip) or cameras with --config FILE")
	}
	if f.cameras < 1 {
		return nil, fmt.Errorf("--cameras %d: want at least 1", f.cameras)
	}
	w, h, err := parseResolution(f.resolution)
	if err != nil {
		return nil, err
	}
	bg, night, err := parseScene(f.sceneSpec)
	if err != nil {
		return nil, err
	}
	var cfgs []fakecam.Config
	for i := 1; i <= f.cameras; i++ {
		cfgs = append(cfgs, fakecam.Config{
			ID: f.prefix + strconv.Itoa(i),
			Scene: scene.Config{Width: w, Height: h, FPS: f.fps, Background: bg, Night: night, Seed: f.seed,
				People: f.people, Vehicles: f.vehicles},
			Bitrate:          f.bitrate,
			KeyframeInterval: f.keyframeInterval,
			EncoderSpeed:     f.encoderSpeed,
			Endpoints:        f.whip,
			Token:            f.token,
			IVF:              f.ivf,
			Duration:         f.duration.Std(),
		})
	}
	return cfgs, nil
}

func run(ctx context.Context, cmd *cobra.Command, f *flags, out, errOut io.Writer) error {
	cfgs, err := f.cameraConfigs(cmd)
	if err != nil {
		return err
	}
	if f.iceDisconnected <= 0 || f.iceFailed <= 0 || f.iceKeepalive <= 0 {
		return errors.New("--ice-disconnected, --ice-failed and --ice-keepalive must be positive durations, e.g. 1.5s, 2s, 300ms")
	}
	opts := []fakecam.Option{fakecam.WithAnswerTimeout(f.answerTimeout.Std()),
		fakecam.WithICETimeouts(f.iceDisconnected.Std(), f.iceFailed.Std(), f.iceKeepalive.Std())}
	if f.out != "" {
		opts = append(opts, fakecam.WithOutputDir(f.out))
	}
	if f.workers > 0 {
		opts = append(opts, fakecam.WithWorkers(f.workers))
	}
	if f.pionLog {
		opts = append(opts, fakecam.WithPionLog(errOut))
	}
	fleet, err := fakecam.NewFleet(cfgs, opts...)
	if err != nil {
		return err
	}
	if f.quiet {
		out = io.Discard
	}
	fmt.Fprintf(out, "fakecam: %d camera(s) streaming to %s\n", len(cfgs), strings.Join(cfgs[0].Endpoints, ", "))
	done := make(chan error, 1)
	go func() { done <- fleet.Run(ctx) }()
	var tick <-chan time.Time
	if f.progress > 0 && !f.quiet {
		t := time.NewTicker(f.progress.Std())
		defer t.Stop()
		tick = t.C
	}
	start := time.Now()
	for {
		select {
		case err = <-done:
			printSummary(out, fleet.Stats())
			if f.out != "" {
				fmt.Fprintf(out, "results in %s\n", f.out)
			}
			return err
		case <-tick:
			printProgress(out, time.Since(start), fleet.Stats())
		}
	}
}

func printProgress(w io.Writer, el time.Duration, st []fakecam.Stats) {
	var sent, answered, unanswered uint64
	var reconnects, connected int
	var p50 float64
	for _, s := range st {
		sent += s.FramesSent
		answered += s.FramesAnswered
		unanswered += s.FramesUnanswered
		reconnects += len(s.Reconnects)
		p50 = max(p50, s.Latency.P50)
		if s.Connected {
			connected++
		}
	}
	fmt.Fprintf(w, "%6s connected %d/%d  sent %d  answered %d  unanswered %d  worst p50 %.1f ms  reconnects %d\n",
		el.Truncate(time.Second), connected, len(st), sent, answered, unanswered, p50, reconnects)
}

func printSummary(w io.Writer, st []fakecam.Stats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMERA\tSENT\tANSWERED\tUNANSWERED\tP50 MS\tP95 MS\tKBIT/S\tRECONNECTS\tERROR")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.0f\t%d\t%s\n", s.Camera, s.FramesSent, s.FramesAnswered,
			s.FramesUnanswered, s.Latency.P50, s.Latency.P95, s.BitrateBPS/1000, len(s.Reconnects), s.Error)
	}
	_ = tw.Flush()
}
