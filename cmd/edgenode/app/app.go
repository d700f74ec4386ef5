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
		Use:   "edgenode",
		Short: "The edge detection runtime: WHIP in, real inference, detections and alerts out",
		Long: `edgenode is the edge detection runtime of edgesim.

  serve   receive camera streams over WebRTC (WHIP), decode VP8, run the CNN,
          answer detections on each camera's data channel, raise zone/dwell
          alerts to the cloud tier; --mode cloud also receives alerts
  train   train the detector on synthetic scenes
  eval    evaluate a model against the scene generator's ground truth, or
          compare models side by side (--models: accuracy, speed, size)
  optimize make an int8, pruned or distilled variant of a model

See docs/edgenode.md and docs/protocol.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(streams), newTrainCmd(streams), newEvalCmd(streams), newOptimizeCmd(streams))
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	return root.ExecuteContext(ctx)
}
