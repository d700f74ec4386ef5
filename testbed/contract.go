package testbed

import (
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

// The provider contract lives in package provider, which the orchestrator
// and every provider import; these aliases keep the orchestrator's API
// whole, so `testbed.Plan` and `provider.Plan` are one type.
type (
	Provider           = provider.Provider
	ProviderConfig     = provider.Config
	ProviderFactory    = provider.Factory
	ClusterEventSource = provider.ClusterEventSource
	ClusterReporter    = provider.ClusterReporter
	Diagnoser          = provider.Diagnoser
	FaultDescriber     = provider.FaultDescriber
	Action             = provider.Action
	ActionKind         = provider.ActionKind
	Binaries           = provider.Binaries
	ObservedEvent      = provider.ObservedEvent
	MootError          = provider.MootError
	Plan               = provider.Plan
	Node               = provider.Node
	Link               = provider.Link
	Camera             = provider.Camera
	Role               = provider.Role
)

// Fault actions and node roles: see package provider.
const (
	ActionKill      = provider.ActionKill
	ActionStart     = provider.ActionStart
	ActionPause     = provider.ActionPause
	ActionResume    = provider.ActionResume
	ActionPartition = provider.ActionPartition
	ActionHeal      = provider.ActionHeal
	ActionDegrade   = provider.ActionDegrade
	ActionTrace     = provider.ActionTrace

	RoleCloud  = provider.RoleCloud
	RoleEdge   = provider.RoleEdge
	RoleCamera = provider.RoleCamera

	CloudViaSuffix = provider.CloudViaSuffix
)

// NewPlan is provider.NewPlan.
func NewPlan(sc *scenarios.Scenario, compare bool) (*Plan, error) {
	return provider.NewPlan(sc, compare)
}

// Moot is provider.Moot.
func Moot(err error) error { return provider.Moot(err) }
