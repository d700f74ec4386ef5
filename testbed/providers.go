package testbed

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/scenarios"
)

var lookPath = exec.LookPath

// ProviderConfig is what any provider may need.
type ProviderConfig struct {
	Binaries Binaries
	// Dir receives the workloads' logs and configuration files.
	Dir string
	// StateDir is netem's state record directory ("" = netem's default).
	StateDir string
	Registry prometheus.Registerer
	Seed     int64
	// Name names the run's resources (namespaces, clusters); unique per run.
	Name string
	// Observe is told about unexpected process exits.
	Observe func(ObservedEvent)
	// Log receives progress lines worth showing to the user (each line
	// becomes a Progress message).
	Log io.Writer
}

// ProviderFactory makes a provider for one run.
type ProviderFactory func(ProviderConfig) (Provider, error)

// Providers maps a scenario's provider name to its factory, for providers
// that live outside this package (e.g. testbed/kindprovider, which imports
// it): `testbed.Options{Providers: testbed.Providers{scenarios.ProviderKind:
// kindprovider.Factory(...)}}`.
type Providers map[scenarios.Provider]ProviderFactory

// ClusterEventSource is implemented by providers that watch a cluster's
// nodes and pods; the events go into the report's failover breakdown.
type ClusterEventSource interface {
	// ClusterEvents may wait, bounded, for changes under way to finish.
	ClusterEvents(ctx context.Context) []evidence.ClusterEvent
}

// Diagnoser is implemented by providers that can gather evidence of what
// went wrong (e.g. kubectl's view of nodes, pods and endpoints); the runner
// asks when a run fails, before tearing down, and puts it in the report.
type Diagnoser interface {
	Diagnose(ctx context.Context) []evidence.Diagnostic
}

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
