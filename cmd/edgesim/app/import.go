package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/scenarios/importers"
)

func newImportCmd(streams Streams) *cobra.Command {
	var (
		mapFlags      []string
		opts          importers.Options
		out           string
		force, strict bool
	)
	cmd := &cobra.Command{
		Use:   "import FORMAT FILE...",
		Short: "Turn Chaos Mesh, Fogify, containerlab or Testground impairments into a scenario",
		Long: `import converts another tool's network impairments into an edgesim scenario:
commented YAML that "edgesim validate" accepts. FORMAT is one of
` + strings.Join(importers.Formats, ", ") + `:

  chaosmesh     Chaos Mesh NetworkChaos objects (actions netem, delay, loss,
                duplicate, corrupt, partition, bandwidth)
  fogify        the x-fogify section of a Fogify docker-compose file (networks,
                per-pair links, timed network actions of the first scenario)
  containerlab  "containerlab tools netem set" command lines, one per line
  testground    a Testground LinkShape, or a network config with a Default one,
                as JSON

Those files name pods, services and containers; edgesim links join groups:
cameras:SITE (a site's cameras), site:SITE (its edge nodes) and cloud. Say
which is which with --map KEY=VALUE:ENDPOINT, once per group:

  chaosmesh     a label of the selectors:       --map app=edgenode:site:store-1
  fogify        a topology label or service:    --map label=mec-svc-1:site:store-1
  containerlab  a node, or NODE/IFACE:          --map node=clab-lab-r1:site:store-1

Where the input does not name the other end (a Chaos Mesh experiment
without a target, a containerlab interface's peer, a Testground shape)
give it with --to (and --from for Testground).

Each converted value carries a comment saying how it was converted (tc's
"bps" units are BYTES per second; Fogify's delay is per side). What could
not be mapped exactly is marked APPROXIMATE; --strict makes that an error.
An input that cannot be mapped at all (an unknown action, a selector with
no --map) is an error naming the field and its line, and nothing is
written. The scenario gets a placeholder fleet (one node and camera per
site): describe yours before running it.`,
		Example: `  # a Chaos Mesh bandwidth experiment between edge pods and the cloud API
  edgesim import chaosmesh --map app=edgenode:site:store-1 --map app=cloud-api:cloud chaos.yaml

  # containerlab: store router's eth1 faces the cloud router
  edgesim import containerlab --map node=clab-lab-r1:site:store-1 --map node=clab-lab-r2:cloud netem.sh -o lab.yaml

  # a Testground LinkShape shaping what the store sends to the cloud
  edgesim import testground --from site:store-1 --to cloud shape.json`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, m := range mapFlags {
				e, err := importers.ParseMapEntry(m)
				if err != nil {
					return err
				}
				opts.Map = append(opts.Map, e)
			}
			var inputs []importers.Input
			for _, f := range args[1:] {
				data, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("cannot read %s: %w", f, err)
				}
				inputs = append(inputs, importers.Input{Name: f, Data: data})
			}
			res, err := importers.Import(args[0], inputs, opts)
			var list scenarios.ErrorList
			if errors.As(err, &list) {
				fmt.Fprintln(streams.ErrOut, list.Error())
				return ExitError{Code: 1, Err: fmt.Errorf("nothing imported: %d problem(s)", len(list))}
			}
			if err != nil {
				return err
			}
			approx := res.Approximations()
			if strict && len(approx) > 0 {
				for _, n := range approx {
					fmt.Fprintln(streams.ErrOut, n.String())
				}
				return ExitError{Code: 1, Err: fmt.Errorf("--strict: %d value(s) could only be approximated; nothing written", len(approx))}
			}
			// The output must load; a failure here is a bug of the importer.
			base, _ := os.Getwd()
			if out != "" {
				base = filepath.Dir(out)
			}
			if _, err := scenarios.Load(firstOr(out, "imported.yaml"), res.YAML, base, scenarios.AllowOutsidePaths()); err != nil {
				return fmt.Errorf("the imported scenario does not load (please report this): %w", err)
			}
			if out == "" {
				_, err = streams.Out.Write(res.YAML)
			} else {
				err = writeNew(out, res.YAML, force)
			}
			if err != nil {
				return err
			}
			if len(approx) > 0 {
				fmt.Fprintf(streams.ErrOut, "%d value(s) approximated; see the APPROXIMATE comments (--strict refuses them)\n", len(approx))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&mapFlags, "map", nil, "KEY=VALUE:ENDPOINT: the input's KEY=VALUE (a label, label=NAME, service=NAME or node=NAME) is ENDPOINT (cloud, site:NAME or cameras:NAME); repeat per group")
	f.StringVar(&opts.From, "from", "", "sending endpoint where the input names none (testground)")
	f.StringVar(&opts.To, "to", "", "the other end where the input names none (chaosmesh without target, containerlab peer, testground)")
	f.StringVar(&opts.Name, "name", "", "scenario name (default: from the input)")
	f.DurationVar(&opts.Duration, "duration", 0, "run length (default: the last timed impairment's end + 30s, or 60s)")
	f.StringVarP(&out, "output", "o", "", "write to FILE instead of standard output")
	f.BoolVar(&force, "force", false, "overwrite the --output file if it exists")
	f.BoolVar(&strict, "strict", false, "fail, writing nothing, when any value could only be approximated")
	return cmd
}

func firstOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// writeNew writes data to path, refusing to replace an existing file
// unless force is set.
func writeNew(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to overwrite it, or choose another -o", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
