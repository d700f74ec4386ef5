package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newNetemCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "netem",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("netem: not built yet")
		},
	}
}
