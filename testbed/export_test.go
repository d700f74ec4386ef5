package testbed

import (
	"fmt"

	"github.com/edgesim/edgesim/hwlimit"
	"github.com/edgesim/edgesim/testbed/provider"
)

// LocalEdgenodeLaunch writes a node's edgenode files into dir as the local
// provider does, with the cloud at cloudURL, and returns its command line.
func LocalEdgenodeLaunch(plan *Plan, dir, node, cloudURL string) ([]string, error) {
	n, ok := plan.Node(node)
	if !ok {
		return nil, fmt.Errorf("no node %s", node)
	}
	return (&Local{plan: plan, dir: dir}).edgenodeLaunch(n, cloudURL)
}

// CollectCameras and ParseAlerts expose how the testbed reads the cameras'
// sample files and the cloud's alerts file.
var (
	CollectCameras = collectCameras
	ParseAlerts    = parseAlerts
)

// LocalStartEdgenode starts node's edgenode on a provisioned local provider
// the way Deploy does, without waiting for it to be ready, and returns its
// pid and its cgroup (nil for a node without resources).
func LocalStartEdgenode(l *Local, node string) (int, *hwlimit.Group, error) {
	n, ok := l.plan.Node(node)
	if !ok {
		return 0, nil, fmt.Errorf("no node %s", node)
	}
	if err := l.startEdgenode(n); err != nil {
		return 0, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procs[node].pid(), l.groups[node], nil
}

// SetCgroupsAvailable replaces the local provider's check that cgroups can
// enforce resources, until the spec ends.
func SetCgroupsAvailable(f func() error) (restore func()) {
	old := cgroupsAvailable
	cgroupsAvailable = f
	return func() { cgroupsAvailable = old }
}

// FetchFile exposes the rollout's resuming model fetch.
var FetchFile = provider.FetchFile
