// Package evidence holds what a testbed provider observes beside the
// samples: changes of a cluster's nodes and pods, and diagnostics gathered
// when a run fails. The provider contract (testbed) returns these types and
// the run record (reports.Run) carries them to the analysis, so both sides
// share one definition. It imports nothing of the project.
package evidence

import "time"

// Diagnostic is one piece of evidence: a command and what it printed.
type Diagnostic struct {
	Title   string `json:"title"`
	Command string `json:"command,omitempty"`
	Output  string `json:"output"`
}

// ClusterEventKind names a change of a node or pod.
type ClusterEventKind string

// The changes of nodes and pods the failover breakdown uses.
const (
	NodeNotReady ClusterEventKind = "NodeNotReady"
	NodeReady    ClusterEventKind = "NodeReady"
	// PodDeleted is a requested deletion: an eviction by the taint
	// manager, or any delete.
	PodDeleted ClusterEventKind = "PodDeleted"
	// PodScheduled is a pod bound to a node.
	PodScheduled ClusterEventKind = "PodScheduled"
	PodReady     ClusterEventKind = "PodReady"
)

// Known reports whether k is one of the kinds above.
func (k ClusterEventKind) Known() bool {
	switch k {
	case NodeNotReady, NodeReady, PodDeleted, PodScheduled, PodReady:
		return true
	}
	return false
}

// ClusterEvent is one change of a node or pod a cluster provider observed,
// on the testbed's clock.
type ClusterEvent struct {
	At       time.Time        `json:"at"`
	Kind     ClusterEventKind `json:"kind"`
	Node     string           `json:"node"`               // plan node name, e.g. "store-1-edge-2"
	Pod      string           `json:"pod,omitempty"`      // pod name, for pod events
	Workload string           `json:"workload,omitempty"` // the pod's Deployment, e.g. "edgenode-store-1"
	Detail   string           `json:"detail,omitempty"`   // e.g. the condition's reason
}

// Cluster is what a cluster provider measured of one Kubernetes cluster it
// built for a run; the report shows it beside the run's phases.
type Cluster struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	// Create is how long creating the node containers and starting
	// Kubernetes took, and Ready how long after that every node took to be
	// Ready.
	Create time.Duration `json:"createNs"`
	Ready  time.Duration `json:"readyNs"`
	// ControlPlane is the control plane's node container, and
	// ControlPlaneMemory the resident memory of every process in it (the
	// pods it runs included) near the end of the run; 0 when it could not
	// be measured.
	ControlPlane       string `json:"controlPlane,omitempty"`
	ControlPlaneMemory uint64 `json:"controlPlaneMemoryBytes,omitempty"`
	// FailoverSettings says how the cluster was tuned for fast failover,
	// next to Kubernetes' defaults ("" when it was not).
	FailoverSettings string `json:"failoverSettings,omitempty"`
}
