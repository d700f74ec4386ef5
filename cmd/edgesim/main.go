// Command edgesim builds a small replica of an edge-AI fleet, impairs its
// links, streams synthetic cameras into the real detection runtime and
// reports latency, bandwidth and failover results.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgesim/edgesim/cmd/edgesim/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, app.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "edgesim:", msg)
		}
		os.Exit(app.ExitCode(err))
	}
}
