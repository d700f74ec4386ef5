package kctest

import "context"

// Seams for the specs.
var (
	DumpRaw = func(ctx context.Context, kubectl, kubeconfig string) (map[string]string, error) {
		return dump(ctx, kubectl, kubeconfig, false)
	}
	ParseGateway = parseGateway
	KindConfig   = kindConfig
)

var NodesReady = nodesReady
