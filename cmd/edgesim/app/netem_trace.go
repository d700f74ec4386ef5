package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/netem"
)

func newNetemTraceCmd(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "check-trace FILE...",
		Short: "Validate Mahimahi mm-link traces and print their capacity",
		Long: `check-trace parses each Mahimahi trace (one delivery opportunity of 1504
bytes per line, in milliseconds since the start, non-decreasing, last value
> 0) and prints its period, opportunity count and mean and peak capacity.
A malformed trace is reported with FILE:LINE and the exit status is 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				t, err := netem.LoadTrace(path)
				if err != nil {
					fmt.Fprintln(streams.Out, err)
					bad++
					continue
				}
				var peak int64
				for at := time.Duration(0); at < t.Period(); at += time.Second {
					peak = max(peak, t.CapacityBetween(at, at+time.Second))
				}
				fmt.Fprintf(streams.Out, "%s: ok: period %s, %d opportunities, mean %.2f Mbit/s, busiest second %.2f Mbit/s\n",
					path, t.Period(), len(t.Ms), t.MeanRateBits()/1e6, float64(peak*8)/1e6)
			}
			if bad > 0 {
				return ExitError{Code: 1, Err: errors.New("malformed trace(s)")}
			}
			return nil
		},
	}
}
