package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/testbed"
)

// standingRecord is what `edgesim up` writes for `edgesim down`.
type standingRecord struct {
	Name  string             `json:"name"`
	PID   int                `json:"pid"`
	Dir   string             `json:"dir"`
	Nodes []testbed.NodeInfo `json:"nodes,omitempty"`
	Error string             `json:"error,omitempty"`
	// Metrics is the --metrics address ("" = none).
	Metrics string `json:"metrics,omitempty"`
}

func newUpCmd(streams Streams) *cobra.Command {
	var f runFlags
	var foreground bool
	cmd := &cobra.Command{
		Use:   "up [SCENARIO]",
		Short: "Bring a scenario's testbed up and leave it standing for manual poking",
		Long: `up provisions the scenario's nodes and links, starts edgenode everywhere and
the cameras, then leaves it all running in the background (no fault timeline)
and prints where each node is. Poke it with ip netns exec, for example

  ip netns exec <netns> curl -s http://<address>:8080/metrics

and stop it with "edgesim down", which also writes a report of the time it
stood. With --foreground it stays attached and stops on Ctrl-C.

With --metrics ADDR it serves every edgenode's, every link's and its own
metrics for Prometheus at http://ADDR/metrics until it is down.`,
		Example: `  sudo edgesim up scenarios/examples/quickstart.yaml
  sudo edgesim down quickstart

  # standing, with live metrics for Prometheus and Grafana
  sudo edgesim up --metrics 127.0.0.1:9464 scenarios/examples/quickstart.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if foreground {
				return upForeground(cmd.Context(), streams, args, f)
			}
			return upBackground(cmd.Context(), streams, args, f)
		},
	}
	cmd.Flags().StringVar(&f.results, "results", "", "directory for logs and the final report")
	cmd.Flags().StringVar(&f.edgenode, "edgenode", "", "edgenode binary (default: next to edgesim, then $PATH)")
	cmd.Flags().BoolVar(&f.compare, "compare", false, "also stream every site's cameras to the cloud")
	cmd.Flags().BoolVar(&foreground, "foreground", false, "stay attached; Ctrl-C tears the testbed down")
	f.registerPaths(cmd.Flags())
	registerMetricsFlag(cmd.Flags(), &f.metrics)
	f.provider.register(cmd.Flags())
	return cmd
}

func recordPath(name string) string { return filepath.Join(testbed.StateDir(), name+".json") }

func writeRecord(rec standingRecord) error {
	if err := os.MkdirAll(testbed.StateDir(), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	tmp := recordPath(rec.Name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, recordPath(rec.Name))
}

func upForeground(ctx context.Context, streams Streams, args []string, f runFlags) error {
	sc, opts, err := f.prepare(ctx, streams, args)
	if err != nil {
		return err
	}
	rec := standingRecord{Name: sc.Name, PID: os.Getpid(), Metrics: f.metrics}
	stopMetrics, err := f.liveMetrics(&opts)
	if err != nil {
		return err
	}
	defer stopMetrics()
	st, err := testbed.Up(ctx, sc, opts)
	if err != nil {
		rec.Error = err.Error()
		_ = writeRecord(rec)
		return err
	}
	rec.Dir, rec.Nodes = st.Dir, st.Nodes()
	if err := writeRecord(rec); err != nil {
		_, _ = st.Down(context.WithoutCancel(ctx))
		return err
	}
	printNodes(streams, rec)
	st.Serve(ctx)
	res, err := st.Down(context.WithoutCancel(ctx))
	_ = os.Remove(recordPath(sc.Name))
	if res != nil {
		fmt.Fprintf(streams.Out, "testbed %s is down; report: %s\n", sc.Name, filepath.Join(res.Dir, "report.html"))
	}
	return err
}

func printNodes(streams Streams, rec standingRecord) {
	tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tSITE\tADDRESS\tNETNS")
	for _, n := range rec.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.Site, n.Address, n.Netns)
	}
	_ = tw.Flush()
	if rec.Metrics != "" {
		fmt.Fprintf(streams.Out, "live metrics at http://%s/metrics\n", rec.Metrics)
	}
	fmt.Fprintf(streams.Out, "testbed %s is up (pid %d, logs in %s); stop it with: edgesim down %s\n", rec.Name, rec.PID, rec.Dir, rec.Name)
}

// upBackground starts `edgesim up --foreground` detached and waits until it
// reports its nodes or its error.
func upBackground(ctx context.Context, streams Streams, args []string, f runFlags) error {
	sc, err := loadScenario(args, f.outside)
	if err != nil {
		return err
	}
	if f.metrics != "" { // a clear error here rather than in the detached process's log
		ln, err := metricsListener(f.metrics)
		if err != nil {
			return err
		}
		_ = ln.Close()
	}
	_ = os.Remove(recordPath(sc.Name))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(testbed.StateDir(), 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(testbed.StateDir(), sc.Name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(self, append([]string{"up", "--foreground"}, os.Args[2:]...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return ctx.Err()
		case err := <-done:
			return fmt.Errorf("edgesim up exited before the testbed stood (%v); see %s", err, logPath)
		case <-tick.C:
		}
		b, err := os.ReadFile(recordPath(sc.Name))
		if err != nil {
			continue
		}
		var rec standingRecord
		if json.Unmarshal(b, &rec) != nil {
			continue
		}
		if rec.Error != "" {
			_ = os.Remove(recordPath(sc.Name))
			return fmt.Errorf("%s (log: %s)", rec.Error, logPath)
		}
		printNodes(streams, rec)
		return nil
	}
}

func newDownCmd(streams Streams) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down [NAME...]",
		Short: "Tear down testbeds left standing by edgesim up",
		Long: `down stops the named standing testbeds (all of them without a name): it
signals each "edgesim up" process, which stops the workloads, removes the
namespaces and links, and writes its report.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				files, _ := filepath.Glob(filepath.Join(testbed.StateDir(), "*.json"))
				for _, f := range files {
					names = append(names, trimExt(filepath.Base(f)))
				}
				if len(names) == 0 {
					fmt.Fprintln(streams.Out, "no standing testbeds")
					return nil
				}
			}
			var errs []error
			for _, n := range names {
				errs = append(errs, down(cmd.Context(), streams, n, timeout))
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for a testbed to go down")
	return cmd
}

func trimExt(s string) string { return s[:len(s)-len(filepath.Ext(s))] }

func down(ctx context.Context, streams Streams, name string, timeout time.Duration) error {
	b, err := os.ReadFile(recordPath(name))
	if err != nil {
		return fmt.Errorf("no standing testbed %q (see %s); edgesim clean removes leftovers", name, testbed.StateDir())
	}
	var rec standingRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("%s: %w", recordPath(name), err)
	}
	if err := syscall.Kill(rec.PID, syscall.SIGTERM); err != nil {
		_ = os.Remove(recordPath(name))
		return fmt.Errorf("testbed %s (pid %d) is gone already: run edgesim clean to remove what it left", name, rec.PID)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for syscall.Kill(rec.PID, 0) == nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed %s (pid %d) still running after %s", name, rec.PID, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
	_ = os.Remove(filepath.Join(testbed.StateDir(), name+".log"))
	fmt.Fprintf(streams.Out, "testbed %s is down; report: %s\n", name, filepath.Join(rec.Dir, "report.html"))
	return nil
}
