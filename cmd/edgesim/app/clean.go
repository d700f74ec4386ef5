package app

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/kindprovider"
)

func newCleanCmd(streams Streams) *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove what killed edgesim runs left behind (namespaces, devices, kind clusters, records)",
		Long: `clean reads the state records edgesim keeps for every running testbed (one
file per testbed in the state directory, with its owner's process id) and,
for every record whose owner process is gone, removes the network
namespaces it lists, then the record. TUN devices and routes live inside
those namespaces and go with them. kind clusters of killed runs (records
below STATE-DIR/kind) are deleted with their node containers. Records of
running testbeds and anything edgesim did not record are left alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := netem.Clean(cmd.Context(), stateDir)
			krep, kerr := kindprovider.Clean(cmd.Context(), stateDir)
			removed, kept := append(rep.Removed, krep.Removed...), append(rep.Skipped, krep.Skipped...)
			for _, r := range removed {
				fmt.Fprintln(streams.Out, "removed", r)
			}
			for _, s := range kept {
				fmt.Fprintln(streams.Out, "kept", s)
			}
			if err := errors.Join(err, kerr); err != nil {
				return err
			}
			if len(removed) == 0 && len(kept) == 0 {
				fmt.Fprintln(streams.Out, "nothing to clean in", stateDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", netem.DefaultStateDir(), "directory of the state records")
	return cmd
}
