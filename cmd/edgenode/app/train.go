package app

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until its area lands; replaced by the real command.
func newTrainCmd(_ Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "train",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("train: not built yet")
		},
	}
}
