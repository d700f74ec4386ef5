package testbed

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"

	"github.com/edgesim/edgesim/scenarios"
)

var lookPath = exec.LookPath

// Providers maps a scenario's provider name to its factory, for providers
// that live outside this package (e.g. testbed/kindprovider, which imports
// it): `testbed.Options{Providers: testbed.Providers{scenarios.ProviderKind:
// kindprovider.Factory(...)}}`.
type Providers map[scenarios.Provider]ProviderFactory

// NewProvider returns the provider a scenario names, from extra or the
// built-in local provider, or an error saying why it cannot run here. It
// never falls back to another provider.
func NewProvider(name scenarios.Provider, cfg ProviderConfig, extra Providers) (Provider, error) {
	if name == "" {
		name = scenarios.ProviderLocal
	}
	if f, ok := extra[name]; ok {
		return f(cfg)
	}
	if name == scenarios.ProviderLocal {
		return NewLocal(cfg)
	}
	avail := []string{string(scenarios.ProviderLocal)}
	for n := range extra {
		avail = append(avail, string(n))
	}
	sort.Strings(avail)
	avail = slices.Compact(avail)
	return nil, fmt.Errorf("provider %q is not available here (available: %v): use one of those in spec.provider", name, avail)
}
