package app

import (
	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/fakecam/cli"
)

// newFakecamCmd is `edgesim fakecam`: synthetic cameras streaming VP8 over
// WebRTC (WHIP) into edgenode or any WHIP server.
func newFakecamCmd(streams Streams) *cobra.Command {
	return cli.NewCommand(streams.Out, streams.ErrOut)
}
