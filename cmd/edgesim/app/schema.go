package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newSchemaCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "schema",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("schema: not built yet")
		},
	}
}
