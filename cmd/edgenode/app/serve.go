package app

import (
	"context"
	"fmt"
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
)

// newServeCmd runs the edge (or cloud) detection runtime until SIGINT/SIGTERM.
func newServeCmd(streams Streams) *cobra.Command {
	cfg := node.DefaultConfig()
	var icePorts, logLevel string
	var remoteNets []string
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
(upper case, dashes as underscores), e.g. EDGENODE_DETECT_FPS=5.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			if icePorts != "" {
				lo, hi, ok := strings.Cut(icePorts, "-")
				a, err1 := strconv.ParseUint(lo, 10, 16)
				b, err2 := strconv.ParseUint(hi, 10, 16)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("--ice-ports %q: want LOW-HIGH, e.g. 50000-50100", icePorts)
				}
				cfg.ICE.PortMin, cfg.ICE.PortMax = uint16(a), uint16(b)
			}
			for _, r := range remoteNets {
				pfx, err := netip.ParsePrefix(r)
				if err != nil {
					return fmt.Errorf("--ice-allow-remote %q: want a CIDR such as 10.0.0.0/8", r)
				}
				cfg.ICE.RemoteNets = append(cfg.ICE.RemoteNets, pfx)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
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
			fmt.Fprintf(streams.Out, "edgenode %s (%s) listening on %s\n", cfg.NodeID, cfg.Mode, n.Addr())
			return n.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTP listen address (WHIP, metrics, health)")
	f.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "node name in detections, alerts and logs")
	f.StringVar(&cfg.Mode, "mode", cfg.Mode, "edge, or cloud (also receives alerts on /v1/alerts)")
	f.StringVar(&cfg.Token, "token", cfg.Token, "require Authorization: Bearer <token> on WHIP, admin and alert posts")
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
	f.StringVar(&icePorts, "ice-ports", "", "UDP port range for WebRTC media, LOW-HIGH (default: ephemeral)")
	f.StringSliceVar(&cfg.ICE.Interfaces, "ice-interface", nil, "only gather ICE candidates on these interfaces (repeatable)")
	f.StringSliceVar(&cfg.ICE.PublicIPs, "public-ip", nil, "announce these IPs (1:1 NAT) instead of the host addresses (repeatable)")
	f.StringSliceVar(&remoteNets, "ice-allow-remote", nil, "only pair with cameras in these networks, CIDR (repeatable; default any)")
	f.BoolVar(&cfg.ICE.IncludeLoopback, "ice-loopback", false, "also offer loopback candidates (single-host setups)")
	f.BoolVar(&cfg.ICE.DisableMDNS, "no-mdns", false, "do not use mDNS ICE candidates")
	f.StringVar(&cfg.ModelDir, "model", cfg.ModelDir, "model directory with manifest.json (default: the embedded model)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long SIGTERM waits for in-flight frames")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// applyEnv sets every flag not given on the command line from
// EDGENODE_<FLAG> when that variable is set.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "EDGENODE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}
