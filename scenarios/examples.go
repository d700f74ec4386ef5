package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed examples/*.yaml
var examplesFS embed.FS

// Examples returns the example scenarios, one NAME.yaml per example at the
// root of the file system.
func Examples() fs.FS { return examples }

var examples = mustSub(examplesFS, "examples")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// IsPlanExample reports whether an example file is a capacity plan
// (plan-*.yaml, kind: Plan, run by edgesim plan) rather than a scenario.
func IsPlanExample(file string) bool { return strings.HasPrefix(path.Base(file), "plan-") }

// IsFileExample reports whether an example scenario ships files next to
// it (the rollout-*.yaml examples name a model directory): it runs from its
// file, edgesim run scenarios/examples/rollout-canary.yaml, and is not one
// of the embedded examples, which reference no files.
func IsFileExample(file string) bool { return strings.HasPrefix(path.Base(file), "rollout-") }

// DefaultExample is the example that runs when no scenario is given.
const DefaultExample = "quickstart"

// ExampleNames lists the embedded examples, sorted.
func ExampleNames() []string {
	entries, _ := fs.ReadDir(examples, ".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !IsPlanExample(e.Name()) && !IsFileExample(e.Name()) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Example loads an embedded example scenario by name ("quickstart",
// "night-watch-4g", ...). Examples reference no files, so nothing needs
// resolving on disk.
func Example(name string) (*Scenario, error) {
	data, err := ExampleData(name)
	if err != nil {
		return nil, err
	}
	return Load(path.Join("scenarios/examples", name+".yaml"), data, "")
}

// ExampleData returns the YAML of an embedded example.
func ExampleData(name string) ([]byte, error) {
	data, err := fs.ReadFile(examples, name+".yaml")
	if err != nil {
		return nil, fmt.Errorf("%w %q; examples are: %s", ErrUnknownExample, name, strings.Join(ExampleNames(), ", "))
	}
	return data, nil
}
