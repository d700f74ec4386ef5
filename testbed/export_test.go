package testbed

import "fmt"

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
