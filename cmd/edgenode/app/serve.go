package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/runtime/node"
	"github.com/edgesim/edgesim/runtime/node/nodeconfig"
)

// newServeCmd runs the edge (or cloud) detection runtime until SIGINT/SIGTERM.
func newServeCmd(streams Streams) *cobra.Command {
	o := newServeOptions()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve WHIP ingest, run the detector and send detections and alerts",
		Long: `serve runs the edge detection runtime.

Cameras publish VP8 over WebRTC with WHIP to http://<addr>/whip?camera=<id>;
every inferred frame is answered on the camera's "edgesim" data channel.
Zone/dwell alerts go to --upstream (<url>/v1/alerts), queued on disk in
--spool-dir while the uplink is down. --mode cloud additionally receives
alerts on /v1/alerts (GET lists them, --alerts-file keeps a JSONL copy).

Endpoints: /whip, /metrics, /healthz, /readyz, POST /admin/model (hot-swap).
SIGHUP reloads the model from --model; SIGTERM drains and exits.
Every flag can also be set as an environment variable EDGENODE_<FLAG>
(upper case, dashes as underscores), e.g. EDGENODE_DETECT_FPS=5, or as a
key of the --config file, a YAML map keyed by flag name:

  listen: ":8080"
  node-id: store-1-edge-1
  detect-fps: 5
  rules: /etc/edgesim/rules.yaml
  public-ip: [10.0.0.2]

A flag on the command line wins over the environment, which wins over the
file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := o.resolve(cmd.Flags(), os.LookupEnv)
			if err != nil {
				return err
			}
			cfg := o.cfg
			log := slog.New(slog.NewTextHandler(streams.ErrOut, &slog.HandlerOptions{Level: level}))
			n, err := node.New(cfg, node.WithLogger(log))
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if info, err := n.Reload(context.WithoutCancel(ctx)); err != nil {
							log.Warn("SIGHUP: model reload failed", "err", err, "serving", info.String())
						}
					}
				}
			}()
			if cfg.Token == "" && node.Exposed(n.Addr()) {
				log.Warn("serving without a token on a non-loopback address: whoever reaches it can publish video, swap the model and read alerts; set --token or EDGENODE_TOKEN", "addr", n.Addr())
			}
			fmt.Fprintf(streams.Out, "edgenode %s (%s) listening on %s\n", cfg.NodeID, cfg.Mode, n.Addr())
			return n.Run(ctx)
		},
	}
	o.bind(cmd.Flags())
	return cmd
}

// serveOptions are the serve command's flags: the node configuration and
// the flags that are parsed into it.
type serveOptions struct {
	cfg                        node.Config
	config, icePorts, logLevel string
	remoteNets                 []string
}

func newServeOptions() *serveOptions {
	return &serveOptions{cfg: node.DefaultConfig(), logLevel: "info"}
}

func (o *serveOptions) bind(f *pflag.FlagSet) {
	cfg := &o.cfg
	f.StringVar(&o.config, "config", "", "YAML file of flag values keyed by flag name (see above); flags and EDGENODE_* variables win over it")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTP listen address (WHIP, metrics, health)")
	f.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "node name in detections, alerts and logs")
	f.StringVar(&cfg.Mode, "mode", cfg.Mode, "edge, or cloud (also receives alerts on /v1/alerts)")
	f.StringVar(&cfg.Token, "token", cfg.Token, "require Authorization: Bearer <token> on WHIP, admin, alert posts and reads (prefer EDGENODE_TOKEN: ps shows flags)")
	f.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "open HTTP connections; at the bound a new one closes the connection waiting longest without a request")
	f.DurationVar(&cfg.HeaderTimeout, "header-timeout", cfg.HeaderTimeout, "close connections that send no request headers within this")
	f.IntVar(&cfg.MaxSessions, "max-sessions", cfg.MaxSessions, "concurrent WHIP sessions; more get 503 + Retry-After")
	f.Float64Var(&cfg.DetectFPS, "detect-fps", cfg.DetectFPS, "inferences per second per stream (0 = every frame)")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "inference workers (0 = GOMAXPROCS, which follows the container CPU limit)")
	f.IntVar(&cfg.QueueDepth, "queue-depth", cfg.QueueDepth, "streams waiting for a worker before frames are shed")
	f.DurationVar(&cfg.MaxFrameAge, "max-frame-age", cfg.MaxFrameAge, "drop frames older than this when a worker gets to them")
	f.StringVar(&cfg.RulesFile, "rules", cfg.RulesFile, "zones and alert rules file (YAML or JSON)")
	f.StringVar(&cfg.Upstream, "upstream", cfg.Upstream, "cloud tier base URL for alerts, e.g. http://10.0.0.1:8080")
	f.StringVar(&cfg.UpstreamToken, "upstream-token", cfg.UpstreamToken, "bearer token for the upstream")
	f.StringVar(&cfg.SpoolDir, "spool-dir", cfg.SpoolDir, "directory keeping undelivered alerts (empty = memory only)")
	f.IntVar(&cfg.SpoolBound, "spool-bound", cfg.SpoolBound, "max undelivered alerts kept; the oldest beyond are dropped and counted")
	f.StringVar(&cfg.AlertsFile, "alerts-file", cfg.AlertsFile, "cloud mode: JSONL file of received alerts")
	f.StringVar(&o.icePorts, "ice-ports", "", "UDP port range for WebRTC media, LOW-HIGH (default: ephemeral)")
	f.StringSliceVar(&cfg.ICE.Interfaces, "ice-interface", nil, "only gather ICE candidates on these interfaces (repeatable)")
	f.StringSliceVar(&cfg.ICE.PublicIPs, "public-ip", nil, "announce these IPs (1:1 NAT) instead of the host addresses (repeatable)")
	f.StringSliceVar(&o.remoteNets, "ice-allow-remote", nil, "only pair with cameras in these networks, CIDR (repeatable; default any)")
	f.BoolVar(&cfg.ICE.IncludeLoopback, "ice-loopback", false, "also offer loopback candidates (single-host setups)")
	f.BoolVar(&cfg.ICE.DisableMDNS, "no-mdns", false, "do not use mDNS ICE candidates")
	f.StringVar(&cfg.ModelDir, "model", cfg.ModelDir, "model directory with manifest.json, or embedded:<name>/<version> for a model embedded in the binary (default: the embedded model)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long SIGTERM waits for in-flight frames")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "debug, info, warn or error")
}

// resolve fills every flag not given on the command line from the
// environment, then from the --config file, and parses the flags that are
// text into the node configuration. It returns the log level.
func (o *serveOptions) resolve(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (slog.Level, error) {
	if err := applyEnv(fs, lookupEnv); err != nil {
		return 0, err
	}
	if o.config != "" {
		if err := applyFile(fs, o.config); err != nil {
			return 0, err
		}
	}
	if o.icePorts != "" {
		lo, hi, ok := strings.Cut(o.icePorts, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		if !ok || err1 != nil || err2 != nil {
			return 0, fmt.Errorf("--ice-ports %q: want LOW-HIGH, e.g. 50000-50100", o.icePorts)
		}
		o.cfg.ICE.PortMin, o.cfg.ICE.PortMax = uint16(a), uint16(b)
	}
	for _, r := range o.remoteNets {
		pfx, err := netip.ParsePrefix(r)
		if err != nil {
			return 0, fmt.Errorf("--ice-allow-remote %q: want a CIDR such as 10.0.0.0/8", r)
		}
		o.cfg.ICE.RemoteNets = append(o.cfg.ICE.RemoteNets, pfx)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return 0, fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)
	}
	return level, nil
}

// ServeConfig returns the node configuration `edgenode serve args...`
// runs with (args without "serve"), given the environment lookupEnv:
// flags win over EDGENODE_* variables, which win over the --config file,
// which wins over the defaults. It starts nothing and does not validate
// the configuration (node.New does).
func ServeConfig(args []string, lookupEnv func(string) (string, bool)) (node.Config, error) {
	o := newServeOptions()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		return node.Config{}, err
	}
	if fs.NArg() > 0 {
		return node.Config{}, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	_, err := o.resolve(fs, lookupEnv)
	return o.cfg, err
}

// applyFile sets every flag not given on the command line or in the
// environment from the config file at path.
func applyFile(fs *pflag.FlagSet, path string) error {
	f, err := nodeconfig.Load(path)
	if err != nil {
		return err
	}
	settings, err := f.Settings()
	if err != nil {
		return err
	}
	for _, s := range settings {
		fl := fs.Lookup(s.Flag)
		if fl == nil || s.Flag == "config" {
			return fmt.Errorf("edgenode config %s: %s is not a serve flag", path, s.Flag)
		}
		if fl.Changed {
			continue
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			err = sv.Replace(s.Values)
		} else {
			err = fl.Value.Set(s.Values[0])
		}
		if err != nil {
			return fmt.Errorf("edgenode config %s: %s: %w", path, s.Flag, err)
		}
	}
	return nil
}

// applyEnv sets every flag not given on the command line from
// EDGENODE_<FLAG> when that variable is set.
func applyEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "EDGENODE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}
