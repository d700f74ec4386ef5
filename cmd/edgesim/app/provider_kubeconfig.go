package app

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// kubeconfigEntry is `provider: kubeconfig` (testbed/kubeconfigprovider).
var kubeconfigEntry = providerEntry{
	name:    scenarios.ProviderKubeconfig,
	runHelp: "an existing cluster a kubeconfig reaches: plan nodes mapped onto its nodes by labels, the workload images pushed to --image-registry, everything in a namespace of the run's own, the emulated links relayed by a privileged agent on each node (check the cluster first with `edgesim cluster check`)",
	examples: `  # the same scenario on a cluster you already have
  sudo edgesim cluster check my-fleet.yaml --kubeconfig ~/.kube/config
  sudo edgesim run --provider kubeconfig --kubeconfig ~/.kube/config \
    --image-registry registry.lab:5000/edgesim my-fleet.yaml`,
	flags: func(fs *pflag.FlagSet) providerSettings {
		k := &kubeconfigFlags{}
		fs.StringVar(&k.target.Kubeconfig, "kubeconfig", "", "provider kubeconfig: the cluster's kubeconfig file (default: the scenario's spec.kubeconfig)")
		fs.StringVar(&k.target.Context, "context", "", "provider kubeconfig: the kubeconfig context (default: its current-context)")
		fs.StringVar(&k.kubectl, "kubectl", "", "provider kubeconfig: the kubectl binary (default: kubectl on PATH, else the one `edgesim image node` built)")
		fs.StringArrayVar(&k.selectors, "node-selector", nil, "provider kubeconfig: nodes for a tier or site no edgesim.dev/node label names: tier=TIER:LABEL=VALUE[,...] or site=SITE:LABEL=VALUE[,...] (repeatable)")
		fs.StringVar(&k.registry.Name, "image-registry", "", "provider kubeconfig: the registry (HOST[:PORT][/PATH]) the workload images are pushed to and the nodes pull from")
		fs.BoolVar(&k.registry.Insecure, "insecure-registry", false, "provider kubeconfig: --image-registry speaks plain HTTP")
		return k
	},
	cleanHelp: "namespaces of killed runs on clusters reached by kubeconfig (records below STATE-DIR/kubeconfig), deleted only when they still carry the run's label",
	clean: func(ctx context.Context, stateDir string) ([]string, []string, error) {
		rep, err := kp.Clean(ctx, stateDir)
		return rep.Removed, rep.Skipped, err
	},
}

// kubeconfigFlags are the settings of `provider: kubeconfig` runs.
type kubeconfigFlags struct {
	target    kp.Target
	kubectl   string
	selectors []string
	registry  nodecontainer.Registry
	parsed    []kp.Selector
}

func (k *kubeconfigFlags) check() error {
	k.parsed = nil
	for _, s := range k.selectors {
		sel, err := kp.ParseSelector(s)
		if err != nil {
			return fmt.Errorf("--node-selector: %w", err)
		}
		k.parsed = append(k.parsed, sel)
	}
	return nil
}

func (k *kubeconfigFlags) factory(bool) testbed.ProviderFactory {
	return kp.Factory(kp.Options{Target: k.target, Kubectl: k.kubectl, Selectors: k.parsed, Registry: k.registry})
}
