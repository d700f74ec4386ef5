package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newServeCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "serve",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("serve: not built yet")
		},
	}
}
