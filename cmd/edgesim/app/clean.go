package app

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/hwlimit"
	"github.com/edgesim/edgesim/netem"
)

func newCleanCmd(streams Streams) *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove what killed edgesim runs left behind (namespaces, devices, cgroups, clusters, records)",
		Long: `clean reads the state records edgesim keeps for every running testbed (one
file per testbed in the state directory, with its owner's process id) and,
for every record whose owner process is gone, removes the network
namespaces it lists, then the record. TUN devices and routes live inside
those namespaces and go with them. The cgroups that confined nodes to
their hardware class (/edgesim/<run>-<node>) go when they carry edgesim's
owner mark, their creator process is gone and no process is left in them.
Records of running testbeds and anything edgesim did not record or mark are
left alone.

What it removes of each provider beyond that:

` + cleanHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := netem.Clean(cmd.Context(), stateDir)
			removed, kept := rep.Removed, rep.Skipped
			for _, p := range providerList {
				if p.clean == nil {
					continue
				}
				r, k, perr := p.clean(cmd.Context(), stateDir)
				removed, kept, err = append(removed, r...), append(kept, k...), errors.Join(err, perr)
			}
			// Cgroups are the machine's, not the state directory's: only
			// what was removed is worth a line.
			hrep, herr := hwlimit.Clean(cmd.Context())
			removed = append(removed, hrep.Removed...)
			for _, r := range removed {
				fmt.Fprintln(streams.Out, "removed", r)
			}
			for _, s := range kept {
				fmt.Fprintln(streams.Out, "kept", s)
			}
			if err := errors.Join(err, herr); err != nil {
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
