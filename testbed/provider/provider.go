// Package provider is the contract between the testbed's orchestrator
// (package testbed) and the backends that build a testbed: the Provider
// interface, its configuration and fault actions, and the Plan every
// provider builds. The orchestrator, the local provider, the kind provider
// and the shared Kubernetes layer (package kube) import it; it imports none
// of them.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/evidence"
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

// Binaries are the programs a provider runs on its nodes.
type Binaries struct {
	Edgenode string // the edgenode runtime
	Edgesim  string // edgesim itself, for `edgesim fakecam`
}

// ObservedEvent is something a provider saw happen without being asked,
// such as a workload process that crashed.
type ObservedEvent struct {
	At     time.Time
	Kind   string
	Target string
	Detail string
	// Ends says the run cannot go on (e.g. the cluster's API server is
	// gone): the runner ends it, tears down what it can and writes a
	// partial report whose reason is this event.
	Ends bool
}

// Config is what any provider may need.
type Config struct {
	Binaries Binaries
	// Dir receives the workloads' logs and configuration files.
	Dir string
	// StateDir is netem's state record directory ("" = netem's default).
	StateDir string
	Registry prometheus.Registerer
	Seed     int64
	// Name names the run's resources (namespaces, clusters); unique per run.
	Name string
	// Observe is told about what the provider saw happen unasked:
	// unexpected process exits, or an event that ends the run.
	Observe func(ObservedEvent)
	// Log receives progress lines worth showing to the user (each line
	// becomes a Progress message).
	Log io.Writer
}

// Factory makes a provider for one run.
type Factory func(Config) (Provider, error)

// ClusterEventSource is implemented by providers that watch a cluster's
// nodes and pods; the events go into the report's failover breakdown.
type ClusterEventSource interface {
	// ClusterEvents may wait, bounded, for changes under way to finish.
	ClusterEvents(ctx context.Context) []evidence.ClusterEvent
}

// ClusterReporter is implemented by providers that build Kubernetes
// clusters: what they measured of them goes into the report.
type ClusterReporter interface {
	// Clusters measures what it measures at the end of a run (e.g. the
	// control plane's memory, the workloads still running) and returns it
	// with what it measured while building the clusters.
	Clusters(ctx context.Context) []evidence.Cluster
}

// FaultDescriber is implemented by providers that carry out a fault in a
// way its name does not say (e.g. a node kill through Kubernetes on a node
// the provider does not own); the report names the method with the fault.
type FaultDescriber interface {
	// DescribeFault says how the provider carries out a ("": as named).
	DescribeFault(a Action) string
}

// LinkEmulation is implemented by providers that may have to run
// without emulating the links (e.g. on a cluster that refuses privileged
// pods); the runner asks after Provision, and the report then says so at
// its top and does not judge the link SLOs.
type LinkEmulation interface {
	// LinksNotEmulated says why the links are not emulated ("" = they
	// are).
	LinksNotEmulated() string
}

// ErrLinksNotEmulated is what Inject returns for a link fault when the
// links are not emulated: the fault is not carried out.
var ErrLinksNotEmulated = errors.New("not carried out: the links are not emulated")

// Diagnoser is implemented by providers that can gather evidence of what
// went wrong (e.g. kubectl's view of nodes, pods and endpoints); the runner
// asks when a run fails, before tearing down, and puts it in the report.
type Diagnoser interface {
	Diagnose(ctx context.Context) []evidence.Diagnostic
}

// MootError is a tear-down step's failure that destroying the testbed
// makes moot, e.g. a pod of a cluster that Destroy then deletes was not
// gone in time. When Destroy succeeds, the run reports it as a warning
// instead of failing; when Destroy fails, it is an error like any other.
type MootError struct{ Err error }

func (e *MootError) Error() string { return e.Err.Error() }
func (e *MootError) Unwrap() error { return e.Err }

// Moot marks err as made moot by Destroy (nil stays nil).
func Moot(err error) error {
	if err == nil {
		return nil
	}
	return &MootError{Err: err}
}
