package render

import (
	"fmt"
	"time"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/internal/reportkit"
)

// clusterLine is one cluster's line in report.md and report.html: how
// long it took to build, and its control plane's memory.
func clusterLine(c evidence.Cluster) string {
	s := fmt.Sprintf("%s, %d nodes: containers up and Kubernetes started in %s, every node Ready %s later (%s in all)",
		c.Name, c.Nodes, c.Create.Round(100*time.Millisecond), c.Ready.Round(100*time.Millisecond), (c.Create + c.Ready).Round(100*time.Millisecond))
	if c.ControlPlaneMemory == 0 {
		return s + fmt.Sprintf("; control plane %s: resident memory not measured", c.ControlPlane)
	}
	return s + fmt.Sprintf("; control plane %s: %s resident at the end of the run (its pods included)", c.ControlPlane, reportkit.Bytes(c.ControlPlaneMemory))
}
