package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newEvalCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "eval",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("eval: not built yet")
		},
	}
}
