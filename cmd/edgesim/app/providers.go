package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// providerEntry is a testbed provider as the command line sees it: its
// name, its own flags and factory, what `edgesim clean` removes of it, and
// its lines of help. The commands loop over providerList and name no
// provider themselves.
type providerEntry struct {
	name scenarios.Provider
	// runHelp says, for run's help, what a testbed is made of on it (one
	// sentence, wrapped when shown).
	runHelp string
	// examples are lines of run's examples (indented two spaces).
	examples string
	// flags registers the provider's own flags on a command and returns
	// its settings; nil for a provider without flags.
	flags func(fs *pflag.FlagSet) providerSettings
	// cleanHelp says, for clean's help, what clean removes of it ("" for
	// nothing of its own; wrapped when shown).
	cleanHelp string
	// clean removes what killed runs left of it in stateDir; nil for
	// nothing of its own.
	clean func(ctx context.Context, stateDir string) (removed, kept []string, err error)
}

// providerSettings are a provider's flag values on one command.
type providerSettings interface {
	// check refuses values the provider cannot use, naming the flag.
	check() error
	// factory makes the provider for a run, keeping its cluster after the
	// run when retain is set; nil when testbed has it built in.
	factory(retain bool) testbed.ProviderFactory
}

// providerList is every provider the command line offers, local first.
var providerList = []providerEntry{localEntry, kindEntry, k3sEntry, kubeconfigEntry}

// localEntry is testbed's built-in provider; netem.Clean and hwlimit.Clean
// remove what it leaves, for every provider.
var localEntry = providerEntry{
	name:    scenarios.ProviderLocal,
	runHelp: "network namespaces joined by emulated links, workloads as processes (built in)",
}

func providerNames() []string {
	names := make([]string, len(providerList))
	for i, p := range providerList {
		names[i] = string(p.name)
	}
	return names
}

// providerFlags are --provider and every provider's own flags on one
// command.
type providerFlags struct {
	provider string
	retain   bool
	settings []boundSettings
}

// boundSettings are one provider's settings on a command.
type boundSettings struct {
	name scenarios.Provider
	providerSettings
}

func (f *providerFlags) register(fs *pflag.FlagSet) {
	quoted := make([]string, 0, len(providerList))
	for _, n := range providerNames() {
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	fs.StringVar(&f.provider, "provider", "", "run on this provider instead of the scenario's spec.provider: "+orList(quoted))
	fs.BoolVar(&f.retain, "retain", false, "keep the cluster of provider kind or k3s after the run, for debugging (the run prints how to reach it and how to delete it)")
	for _, p := range providerList {
		if p.flags != nil {
			f.settings = append(f.settings, boundSettings{p.name, p.flags(fs)})
		}
	}
}

// apply sets the provider the flags ask for on a loaded scenario and
// checks every provider's flags.
func (f providerFlags) apply(sc *scenarios.Scenario) error {
	if f.provider != "" {
		names := providerNames()
		if !slices.Contains(names, f.provider) {
			return fmt.Errorf("--provider %q: want %s", f.provider, orList(names))
		}
		sc.Provider = scenarios.Provider(f.provider)
	}
	for _, s := range f.settings {
		if err := s.check(); err != nil {
			return err
		}
	}
	return nil
}

// providers are the factories of the providers beyond testbed's built-in
// ones.
func (f providerFlags) providers() testbed.Providers {
	out := testbed.Providers{}
	for _, s := range f.settings {
		if fac := s.factory(f.retain); fac != nil {
			out[s.name] = fac
		}
	}
	return out
}

// runHelp is run's list of the providers and what a testbed is made of
// on each.
func runHelp() string { return providerTable(func(p providerEntry) string { return p.runHelp }) }

// cleanHelp is clean's list of what it removes of each provider.
func cleanHelp() string { return providerTable(func(p providerEntry) string { return p.cleanHelp }) }

// providerTable lists the providers with text about each, wrapped to 78
// columns; providers without text are left out.
func providerTable(text func(providerEntry) string) string {
	width := 0
	for _, n := range providerNames() {
		width = max(width, len(n))
	}
	var b strings.Builder
	for _, p := range providerList {
		if text(p) == "" {
			continue
		}
		prefix := fmt.Sprintf("  %-*s  ", width, p.name)
		indent := strings.Repeat(" ", len(prefix))
		line, words := prefix, 0
		for _, w := range strings.Fields(text(p)) {
			if words > 0 && len(line)+1+len(w) > 78 {
				b.WriteString(line + "\n")
				line, words = indent, 0
			}
			if words > 0 {
				line += " "
			}
			line, words = line+w, words+1
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func runExamples() string {
	var parts []string
	for _, p := range providerList {
		if p.examples != "" {
			parts = append(parts, p.examples)
		}
	}
	return strings.Join(parts, "\n\n")
}

// orList joins "a", "b" and "c" as `a, b or c`.
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
