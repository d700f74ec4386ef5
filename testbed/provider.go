package testbed

import (
	"context"
	"fmt"
	"time"

	"github.com/edgesim/edgesim/netem"
)

// Provider is a testbed backend: it turns a Plan into running hosts,
// links and workloads, injects faults and reports what its links carried.
// Every method takes a context; Destroy must be safe to call at any point,
// also after a failed or partial Provision.
type Provider interface {
	// Name is the provider's name as a scenario spells it.
	Name() string
	// Provision creates the hosts and links of the plan.
	Provision(ctx context.Context, plan *Plan) error
	// Deploy starts the edgenodes (cloud first) and waits until they are
	// ready.
	Deploy(ctx context.Context) error
	// StartCameras starts every camera host's fleet, writing its samples
	// below dir.
	StartCameras(ctx context.Context, dir string) error
	// StopCameras stops the fleets and lets them flush their samples.
	StopCameras(ctx context.Context) error
	// Inject applies one fault action.
	Inject(ctx context.Context, a Action) error
	// LinkStats reads every link's cumulative counters.
	LinkStats(ctx context.Context) ([]netem.LinkStats, error)
	// Alerts reads the alerts the cloud tier received so far, as JSON lines.
	Alerts(ctx context.Context) ([]byte, error)
	// Destroy removes everything the provider created.
	Destroy(ctx context.Context) error
}

// ActionKind is a provider-level fault action.
type ActionKind string

// Fault actions a provider understands.
const (
	ActionKill      ActionKind = "kill"      // SIGKILL a node's workload
	ActionStart     ActionKind = "start"     // start a killed node's workload again
	ActionPause     ActionKind = "pause"     // SIGSTOP
	ActionResume    ActionKind = "resume"    // SIGCONT
	ActionPartition ActionKind = "partition" // drop everything on a link
	ActionHeal      ActionKind = "heal"      // end a partition
	ActionDegrade   ActionKind = "degrade"   // ramp a link to new settings
	ActionTrace     ActionKind = "trace"     // switch a link's traces
)

// Action is one fault action aimed at a node or a plan link.
type Action struct {
	Kind ActionKind
	Node string
	Link string
	// Up, Down and Ramp for degrade and trace.
	Up, Down netem.LinkConfig
	Ramp     time.Duration
}

func (a Action) String() string {
	if a.Node != "" {
		return fmt.Sprintf("%s %s", a.Kind, a.Node)
	}
	return fmt.Sprintf("%s %s", a.Kind, a.Link)
}
