package app

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
)

// kindEntry is `provider: kind` (testbed/kindprovider).
var kindEntry = providerEntry{
	name:    scenarios.ProviderKind,
	runHelp: "a kind cluster with one worker per node, the emulated links between the workers, edgenode as Deployments, cameras as pods",
	examples: `  # the same scenario on a kind cluster (or set spec.provider: kind in it)
  sudo edgesim run --provider kind my-fleet.yaml

  # a cloud cluster plus one cluster per site, joined over the emulated WAN
  sudo edgesim run --provider kind --kind-layout federated my-fleet.yaml`,
	flags: func(fs *pflag.FlagSet) providerSettings {
		k := &kindFlags{}
		fs.StringVar(&k.nodeImage, "node-image", "", `kind node image for provider: kind (default: the one "edgesim image node" builds, built first if missing)`)
		fs.StringVar(&k.runtime, "runtime", "", `container runtime for provider: kind, "podman" or "docker" (default: detect)`)
		fs.StringVar(&k.layout, "kind-layout", "single", `provider: kind: "single" (one cluster, nodes labelled by tier and site) or "federated" (a cloud cluster plus one per site)`)
		return k
	},
	cleanHelp: "clusters of killed runs (records below STATE-DIR/kind), deleted with their node containers",
	clean: func(ctx context.Context, stateDir string) ([]string, []string, error) {
		rep, err := kindprovider.Clean(ctx, stateDir)
		return rep.Removed, rep.Skipped, err
	},
}

// kindFlags are the settings of `provider: kind` runs.
type kindFlags struct {
	layout    string
	nodeImage string
	runtime   string
}

func (k *kindFlags) check() error {
	if _, err := kindprovider.ParseLayout(k.layout); err != nil {
		return fmt.Errorf("--kind-layout: %w", err)
	}
	return nil
}

func (k *kindFlags) factory(retain bool) testbed.ProviderFactory {
	return kindprovider.Factory(kindprovider.Options{
		NodeImage: k.nodeImage, Runtime: cluster.Runtime(k.runtime), Retain: retain, Layout: kindprovider.Layout(k.layout),
	})
}
