package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newCleanCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "clean",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("clean: not built yet")
		},
	}
}
