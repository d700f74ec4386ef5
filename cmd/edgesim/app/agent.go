package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/testbed/agent"
	"github.com/edgesim/edgesim/testbed/kube"
)

func newAgentCmd(streams Streams) *cobra.Command {
	var root, socket string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "The node agent edgesim's DaemonSet runs on clusters it did not create (not for use by hand)",
		Long: `agent is what edgesim's DaemonSet runs, in a privileged hostNetwork pod, on
every node of a cluster edgesim did not create (provider "kubeconfig").
Where the cluster refuses privileged pods, it runs without privilege
(DaemonSet edgesim-agent-nolinks): it then serves the files and probes, and
relays nothing.
edgesim itself drives it with "kubectl exec POD -- /edgesim agent ...";
users do not call it by hand.

"agent run" is the pod's long-running process: it relays the node's packets
to and from edgesim's link engine over UDP (one IPv4 packet per datagram,
through a TUN device named esa*), makes the VXLAN tunnels that carry pod
traffic between workers across the emulated links, and serves /metrics and
/healthz on a TCP port. Every network device it makes carries an ifalias
starting with "` + agent.AliasPrefix + `"; at start it deletes such devices left by
an earlier agent, and on SIGTERM the ones it made.

"attach", "tunnels" and "detach" talk to the running agent over its unix
socket, inside the pod. The file chores (probe, cat, tar, untar, symlink,
exists) act directly and only inside --root, the node's edgesim data
directory, because the workload images have no shell.`,
	}
	cmd.PersistentFlags().StringVar(&root, "root", kube.HostDataDir, "node directory the file chores are confined to")
	cmd.PersistentFlags().StringVar(&socket, "socket", agent.DefaultSocket, "control socket of the running agent")
	withRoot := func(fn func(ctx context.Context, r *agent.Root, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			r, err := agent.OpenRoot(root)
			if err != nil {
				return err
			}
			defer r.Close()
			return fn(c.Context(), r, args)
		}
	}
	cmd.AddCommand(
		newAgentRunCmd(streams, &socket, &root),
		newAgentAttachCmd(&socket),
		&cobra.Command{
			Use:   "tunnels",
			Short: "Make this node's VXLAN tunnel ends, read as JSON from stdin",
			Long: `tunnels reads a JSON list of tunnel ends (kube.TunnelEnd: node, dev, vni,
local, remote, addr, peer, routes) and has the running agent make them;
tunnel devices it made before that are not in the list are deleted.`,
			Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				var ts []kube.TunnelEnd
				if err := json.NewDecoder(streams.In).Decode(&ts); err != nil {
					return fmt.Errorf("agent tunnels: read the tunnels: %w", err)
				}
				return agent.NewClient(socket).ApplyTunnels(c.Context(), ts)
			},
		},
		newAgentDetachCmd(&socket),
		&cobra.Command{
			Use:   "probe URL",
			Short: "GET URL; exit 0 on a 2xx answer within 2s",
			Args:  cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				return agent.Probe(c.Context(), args[0])
			},
		},
		&cobra.Command{
			Use:   "cat PATH",
			Short: "Print a file under --root; a missing file prints nothing",
			Args:  cobra.ExactArgs(1),
			RunE: withRoot(func(_ context.Context, r *agent.Root, args []string) error {
				b, err := r.Cat(args[0])
				if err != nil {
					return err
				}
				_, err = streams.Out.Write(b)
				return err
			}),
		},
		&cobra.Command{
			Use:   "tar DIR",
			Short: "Write the directories and regular files of DIR (under --root) to stdout as tar",
			Args:  cobra.ExactArgs(1),
			RunE: withRoot(func(ctx context.Context, r *agent.Root, args []string) error {
				return r.Tar(ctx, args[0], streams.Out)
			}),
		},
		&cobra.Command{
			Use:   "untar DIR",
			Short: "Extract a tar stream from stdin into DIR (under --root); links and paths leaving DIR are refused",
			Args:  cobra.ExactArgs(1),
			RunE: withRoot(func(ctx context.Context, r *agent.Root, args []string) error {
				return r.Untar(ctx, args[0], streams.In)
			}),
		},
		&cobra.Command{
			Use:   "symlink TARGET LINK",
			Short: "Point LINK at TARGET, replacing LINK atomically (ln -sfn, then mv -T)",
			Args:  cobra.ExactArgs(2),
			RunE: withRoot(func(_ context.Context, r *agent.Root, args []string) error {
				return r.Symlink(args[0], args[1])
			}),
		},
		&cobra.Command{
			Use:   "exists PATH",
			Short: "Exit 0 when PATH (under --root) exists, 1 when not",
			Args:  cobra.ExactArgs(1),
			RunE: withRoot(func(_ context.Context, r *agent.Root, args []string) error {
				ok, err := r.Exists(args[0])
				if err != nil {
					return err
				}
				if !ok {
					return ExitError{Code: 1}
				}
				return nil
			}),
		},
	)
	return cmd
}

func newAgentRunCmd(streams Streams, socket, root *string) *cobra.Command {
	var (
		runID       string
		metricsPort int
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Serve as the node agent until SIGTERM (the DaemonSet pod's command)",
		Long: `run deletes the devices an earlier agent left (by their ifalias), then
serves the control socket (--socket) and /metrics and /healthz on
--metrics-port (all addresses: the pod uses the host's network) until
SIGTERM, and then deletes every device it made.

With ` + agent.FilesTokenEnv + ` set (edgesim's DaemonSet takes it from a
Secret of the run), the files under --root are also served read-only on
--metrics-port, to requests that carry that token as their bearer: edgesim
reads the camera samples and the alerts there instead of through an exec.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runID == "" {
				return errors.New("agent run: --run-id is required")
			}
			ctx := c.Context()
			reg := prometheus.NewRegistry()
			a, err := agent.New(ctx, agent.Config{RunID: runID, Registerer: reg})
			if err != nil {
				return err
			}
			closeCtx := func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			}
			gone, err := a.Sweep(ctx)
			for _, n := range gone {
				fmt.Fprintf(streams.ErrOut, "agent: deleted %s, left by an earlier agent\n", n)
			}
			if err != nil {
				cctx, cancel := closeCtx()
				defer cancel()
				return errors.Join(err, a.Close(cctx))
			}
			addr := ""
			if metricsPort > 0 {
				addr = ":" + strconv.Itoa(metricsPort)
			}
			scfg := agent.ServerConfig{Socket: *socket, MetricsAddr: addr, Gatherer: reg, FilesToken: os.Getenv(agent.FilesTokenEnv)}
			if scfg.FilesToken != "" {
				if scfg.Files, err = agent.OpenRoot(*root); err != nil {
					cctx, cancel := closeCtx()
					defer cancel()
					return errors.Join(err, a.Close(cctx))
				}
				defer scfg.Files.Close()
			}
			s, err := agent.NewServer(a, scfg)
			if err != nil {
				cctx, cancel := closeCtx()
				defer cancel()
				return errors.Join(err, a.Close(cctx))
			}
			fmt.Fprintf(streams.ErrOut, "agent: run %s: control socket %s, metrics %s\n", runID, *socket, addr)
			serr := s.Serve(ctx)
			cctx, cancel := closeCtx()
			defer cancel()
			return errors.Join(serr, a.Close(cctx))
		},
	}
	cmd.Flags().StringVar(&runID, "run-id", "", "id of the edgesim run; it marks every device the agent makes (required)")
	cmd.Flags().IntVar(&metricsPort, "metrics-port", 9464, "TCP port of /metrics and /healthz (0: none)")
	return cmd
}

func newAgentAttachCmd(socket *string) *cobra.Command {
	var cfg agent.RelayConfig
	cmd := &cobra.Command{
		Use:   "attach",
		Short: "Have the running agent relay a TUN device to the link engine",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return agent.NewClient(*socket).Attach(c.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.Name, "name", "esa0", "TUN device name (starts with "+agent.RelayPrefix+")")
	cmd.Flags().StringVar(&cfg.Address, "address", "", "the node's IPv4 address and prefix on the emulated network (CIDR)")
	cmd.Flags().IntVar(&cfg.MTU, "mtu", kube.EngineMTU, "MTU of the TUN device")
	cmd.Flags().IntVar(&cfg.ListenPort, "listen-port", 0, "local UDP port of the relay")
	cmd.Flags().StringVar(&cfg.Engine, "engine", "", "IPv4:port of the link engine")
	for _, f := range []string{"address", "listen-port", "engine"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newAgentDetachCmd(socket *string) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "detach",
		Short: "Close one relay (--name), or every relay and tunnel of the running agent",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return agent.NewClient(*socket).Detach(c.Context(), name)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "relay to close; empty: everything")
	return cmd
}
