package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/scenarios"
)

func newValidateCmd(streams Streams) *cobra.Command {
	var output string
	var quiet, resolved, outside bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files and print every problem with its line, column and field",
		Long: `validate decodes each scenario file strictly and checks it completely:
unknown fields (with a "did you mean" hint), malformed units, values out of
range, and cross-references (fault targets, zones used by events and alert
rules, link endpoints, trace files). Every problem is printed at once as

  FILE:LINE:COL: FIELD.PATH: MESSAGE

Units must be explicit: durations as 20ms or 1.5s, rates as 10Mbit or
12.5MB/s. The tc spelling "mbps" is rejected because tc reads it as
megabytes per second, eight times what most people mean.

Exit status: 0 when every file is valid, 1 when any is invalid, 2 when a
file could not be read or the command itself failed.

Valid files may get warnings (exit status 0): numbers that probably do
not measure what was meant, such as cameras sending more than their link
carries, jitter larger than the delay, or events cut off by the end of the run.

Capacity plans (kind: Plan, e.g. scenarios/examples/plan-fleet.yaml) are
checked the way "edgesim plan" reads them, scenario included.

Use "-" to read a scenario from standard input.`,
		Example: `  # check the examples
  edgesim validate scenarios/examples/*.yaml

  # check a scenario piped in, machine-readable problems
  cat my.yaml | edgesim validate -o json -

  # problems only, no per-file OK lines
  edgesim validate -q site-a.yaml site-b.yaml

  # see what "profile: 4g" and the defaults expand to
  edgesim validate --resolved scenarios/examples/quickstart.yaml`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("validate needs one or more scenario files, e.g. edgesim validate scenarios/examples/quickstart.yaml (or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: use text or json", output)
			}
			if resolved && output != "text" {
				return errors.New("--resolved prints YAML; use it without --output json")
			}
			return runValidate(streams, args, output, quiet, resolved, outside)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print problems and the summary only")
	cmd.Flags().BoolVar(&outside, "allow-outside-paths", false, "accept trace files and report.dir outside the scenario file's directory (as edgesim run --allow-outside-paths)")
	cmd.Flags().BoolVar(&resolved, "resolved", false, "print each valid scenario as edgesim resolves it: defaults applied, profiles expanded, names generated")
	return cmd
}

type validateResult struct {
	File     string          `json:"file"`
	Valid    bool            `json:"valid"`
	Name     string          `json:"name,omitempty"`
	Problems []problemRecord `json:"problems,omitempty"`
	Warnings []problemRecord `json:"warnings,omitempty"`
}

type problemRecord struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func runValidate(streams Streams, files []string, output string, quiet, resolved, outside bool) error {
	var opts []scenarios.LoadOption
	if outside {
		opts = append(opts, scenarios.AllowOutsidePaths())
	}
	var results []validateResult
	invalid, problems, unreadable, warnings := 0, 0, 0, 0
	for _, file := range files {
		var (
			s        *scenarios.Scenario
			planName string
			err      error
		)
		if file == "-" {
			data, rerr := io.ReadAll(io.LimitReader(streams.In, 8<<20))
			if rerr != nil {
				return fmt.Errorf("reading standard input: %w", rerr)
			}
			s, err = scenarios.Load("<stdin>", data, "", opts...)
		} else if _, serr := os.Stat(file); serr != nil {
			// Not a scenario problem: the file is not there to check.
			unreadable++
			if output == "text" {
				if _, werr := fmt.Fprintf(streams.Out, "%s: cannot read: %v\n", file, errors.Unwrap(serr)); werr != nil {
					return werr
				}
			}
			results = append(results, validateResult{File: file, Problems: []problemRecord{{Message: "cannot read: " + errors.Unwrap(serr).Error()}}})
			continue
		} else if isPlanFile(file) {
			// a capacity plan (kind: Plan): checked as edgesim plan reads it
			var p *plan.Plan
			if p, err = plan.LoadPlan(file); p != nil {
				planName = p.Name
			}
		} else {
			s, err = scenarios.LoadFile(file, opts...)
		}
		r := validateResult{File: file, Valid: err == nil, Name: planName}
		if s != nil {
			r.Name = s.Name
		}
		if err != nil {
			var list scenarios.ErrorList
			if !errors.As(err, &list) {
				return fmt.Errorf("%s: %w", file, err)
			}
			invalid++
			problems += len(list)
			for _, fe := range list {
				r.Problems = append(r.Problems, problemRecord{Line: fe.Line, Column: fe.Col, Path: fe.Path, Message: fe.Msg})
			}
			if output == "text" {
				if _, werr := fmt.Fprintln(streams.Out, list.Error()); werr != nil {
					return werr
				}
			}
		} else if output == "text" {
			if !quiet {
				if _, werr := fmt.Fprintf(streams.Out, "ok   %s (%s)\n", file, r.Name); werr != nil {
					return werr
				}
			}
			if resolved && s != nil {
				text, merr := yaml.Marshal(s)
				if merr != nil {
					return fmt.Errorf("%s: printing the resolved scenario: %w", file, merr)
				}
				if _, werr := fmt.Fprintf(streams.Out, "---\n# %s, resolved\n%s", file, text); werr != nil {
					return werr
				}
			}
			for _, w := range warningsOf(s) {
				warned := *w
				warned.Msg = "warning: " + w.Msg
				if _, werr := fmt.Fprintln(streams.Out, warned.Error()); werr != nil {
					return werr
				}
			}
		}
		if s != nil {
			warnings += len(s.Warnings)
			for _, w := range s.Warnings {
				r.Warnings = append(r.Warnings, problemRecord{Line: w.Line, Column: w.Col, Path: w.Path, Message: w.Msg})
			}
		}
		results = append(results, r)
	}
	if output == "json" {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		summary := fmt.Sprintf("%d %s checked: %d valid, %d invalid", len(files), plural(len(files), "file", "files"), len(files)-invalid-unreadable, invalid)
		if problems > 0 {
			summary += fmt.Sprintf(" (%d %s)", problems, plural(problems, "problem", "problems"))
		}
		if unreadable > 0 {
			summary += fmt.Sprintf(", %d unreadable", unreadable)
		}
		if warnings > 0 {
			summary += fmt.Sprintf(", %d %s", warnings, plural(warnings, "warning", "warnings"))
		}
		if _, err := fmt.Fprintln(streams.Out, summary); err != nil {
			return err
		}
	}
	if unreadable > 0 {
		return ExitError{Code: 2}
	}
	if invalid > 0 {
		// The problems are printed already; an empty message keeps main quiet.
		return ExitError{Code: 1}
	}
	return nil
}

// isPlanFile reports whether a file holds a capacity plan (kind: Plan)
// rather than a scenario.
func isPlanFile(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var head struct {
		Kind string `yaml:"kind"`
	}
	return yaml.Unmarshal(data, &head) == nil && head.Kind == plan.PlanKind
}

func warningsOf(s *scenarios.Scenario) scenarios.ErrorList {
	if s == nil {
		return nil
	}
	return s.Warnings
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return strings.TrimSpace(many)
}
