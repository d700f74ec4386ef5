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
	ctx, abort := interrupts()
	err := app.Run(app.WithAbort(ctx, abort), app.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "edgesim:", msg)
		}
		os.Exit(app.ExitCode(err))
	}
}

// interrupts: the first SIGINT or SIGTERM ends ctx (a run stops and tears
// down), the second closes abort (the tear-down stops waiting), the third
// kills the process the default way.
func interrupts() (context.Context, <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	abort := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		close(abort)
		signal.Reset(os.Interrupt, syscall.SIGTERM)
	}()
	return ctx, abort
}
