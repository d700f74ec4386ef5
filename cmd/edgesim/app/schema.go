package app

import (
	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/scenarios"
)

func newSchemaCmd(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of scenario files, for editors",
		Long: `schema prints the JSON Schema (draft 2020-12) of edgesim scenario files
(apiVersion edgesim.dev/v1alpha1, kind Scenario). It is generated from the
Go types the decoder uses, so it always matches what "edgesim validate"
accepts; "validate" also checks what a schema cannot (cross-references,
trace files, ranges that depend on other fields).

The same schema is committed as scenarios/scenario.schema.json.`,
		Example: `  # save it and point the YAML language server at it
  edgesim schema > scenario.schema.json

  # then, in the first line of a scenario file:
  # yaml-language-server: $schema=./scenario.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := streams.Out.Write(scenarios.JSONSchema())
			return err
		},
	}
}
