package app

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/k3sprovider"
)

// k3sEntry is `provider: k3s` (testbed/k3sprovider).
var k3sEntry = providerEntry{
	name:    scenarios.ProviderK3s,
	runHelp: "a K3s cluster of Podman containers (a server, one agent per node; the image `edgesim image k3s` builds), the emulated links between the agents, edgenode as Deployments, cameras as pods",
	examples: `  # the same scenario on a K3s cluster (build the K3s node image once first)
  sudo edgesim image node && sudo edgesim image k3s
  sudo edgesim run --provider k3s my-fleet.yaml`,
	flags: func(fs *pflag.FlagSet) providerSettings {
		k := &k3sFlags{}
		fs.StringVar(&k.image, "k3s-image", "", `K3s node image for provider: k3s (default: the one "edgesim image k3s" builds, which must exist)`)
		return k
	},
	cleanHelp: "clusters of killed runs (records below STATE-DIR/k3s), deleted with their containers, network and kubeconfig when their owner mark or recorded IDs prove them edgesim's",
	clean: func(ctx context.Context, stateDir string) ([]string, []string, error) {
		rep, err := k3sprovider.Clean(ctx, stateDir)
		return rep.Removed, rep.Skipped, err
	},
}

// k3sFlags are the settings of `provider: k3s` runs.
type k3sFlags struct{ image string }

func (k *k3sFlags) check() error { return nil }

func (k *k3sFlags) factory(retain bool) testbed.ProviderFactory {
	return k3sprovider.Factory(k3sprovider.Options{Image: k.image, Retain: retain})
}
