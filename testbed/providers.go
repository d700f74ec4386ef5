package testbed

import (
	"fmt"
	"os/exec"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/scenarios"
)

var lookPath = exec.LookPath

// ProviderConfig is what any provider may need.
type ProviderConfig struct {
	Binaries Binaries
	Dir      string
	StateDir string
	Registry prometheus.Registerer
	Seed     int64
	Name     string
	Observe  func(ObservedEvent)
}

// NewProvider returns the provider a scenario names, or an error saying
// why it cannot run here. It never falls back to another provider.
func NewProvider(name scenarios.Provider, cfg ProviderConfig) (Provider, error) {
	switch name {
	case scenarios.ProviderLocal, "":
		return NewLocal(LocalConfig(cfg))
	default:
		return nil, fmt.Errorf("provider %q is not available in this build yet: use provider: local", name)
	}
}
