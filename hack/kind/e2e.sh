#!/usr/bin/env bash
# The kind end-to-end check CI runs: installs the host tools, builds (or
# reuses) the registry-free node image, then
#  1. creates a control plane and three labelled workers on Podman, runs
#     pods and Service traffic across nodes and deletes the cluster;
#  2. runs the kind provider's cluster specs: quickstart (edge node killed,
#     failover broken down into Kubernetes' steps, SLO gates), federated,
#     SIGKILL clean-up, and a capacity plan as an Indexed Job of 3 shards
#     whose merged report must equal a local run's;
#  3. runs the kubeconfig provider's cluster spec: quickstart on a kind
#     cluster made outside edgesim (kind's Go API, images pulled from an
#     in-process registry), every object of the cluster the same after;
# and fails if any container is left behind. Must run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash hack/kind/install-deps.sh
bash hack/gotest.sh -v -count=1 -timeout 110m ./testbed/kind/cluster/ \
	-args -ginkgo.label-filter=cluster -ginkgo.v
bash hack/gotest.sh -v -count=1 -timeout 40m ./testbed/kindprovider/ \
	-args -ginkgo.label-filter=cluster -ginkgo.v
bash hack/gotest.sh -v -count=1 -timeout 30m ./testbed/kubeconfigprovider/ \
	-args -ginkgo.label-filter=cluster -ginkgo.v
left=$(podman ps -a --format '{{.Names}}')
if [ -n "$left" ]; then
	echo "hack/kind/e2e.sh: containers left behind:" >&2
	echo "$left" >&2
	exit 1
fi
