// Package app is the edgenode command line. main.go only calls Run.
package app

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Run executes the edgenode command line with args (without the program name).
func Run(ctx context.Context, streams Streams, args []string) error {
	root := &cobra.Command{
		Use:           "edgenode",
		Short:         "The edge detection runtime: WHIP in, real inference, detections and alerts out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(streams), newTrainCmd(streams), newEvalCmd(streams))
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
