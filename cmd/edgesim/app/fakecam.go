package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newFakecamCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "fakecam",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("fakecam: not built yet")
		},
	}
}
