// Package app is the edgesim command line. main.go only calls Run.
package app

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// ExitError carries a process exit code chosen by a command, for example 1
// when an SLO or a validation failed, as opposed to 2 for an error.
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by Run to a process exit code: 0 for nil,
// the code of an ExitError, and 2 for any other error.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	return 2
}

// Run executes the edgesim command line with args (without the program name).
//
// ctx ending (the first Ctrl-C) stops a run and starts its tear-down; see
// WithAbort for the second.
func Run(ctx context.Context, streams Streams, args []string) error {
	root := newRootCmd(streams)
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	return root.ExecuteContext(ctx)
}

func newRootCmd(streams Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "edgesim",
		Short: "Simulate an edge-AI camera fleet on emulated networks and gate rollouts on SLOs",
		Long: `edgesim builds a small replica of an edge-AI fleet: cloud and edge tiers as
network namespaces (or Kubernetes clusters), links impaired like real 4G/5G/Wi-Fi,
synthetic cameras streaming VP8 over WebRTC into the real edgenode detection
runtime. It reports latency, bandwidth and failover figures with pass/fail
gates.

Start with:
  edgesim validate scenarios/examples/quickstart.yaml
  edgesim run scenarios/examples/quickstart.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(
		newVersionCmd(streams),
		newValidateCmd(streams),
		newSchemaCmd(streams),
		newNetemCmd(streams),
		newCleanCmd(streams),
		newFakecamCmd(streams),
		newRunCmd(streams),
		newUpCmd(streams),
		newDownCmd(streams),
		newImageCmd(streams),
		newPlanCmd(streams),
		newImportCmd(streams),
		newClusterCmd(streams),
		newAgentCmd(streams),
	)
	return root
}

type abortKey struct{}

// WithAbort gives Run a channel that, once closed (a second Ctrl-C), cuts
// a run's tear-down short instead of waiting for its deadline.
func WithAbort(ctx context.Context, abort <-chan struct{}) context.Context {
	return context.WithValue(ctx, abortKey{}, abort)
}

func abortFrom(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(abortKey{}).(<-chan struct{})
	return ch
}
