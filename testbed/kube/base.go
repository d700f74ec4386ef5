package kube

import (
	"context"
	"errors"
	"io"

	"github.com/edgesim/edgesim/evidence"
)

// Base gives a provider built on the layer the provider.Provider,
// ClusterEventSource and Diagnoser methods it hands to its Layer, safe to
// call before Provision made one (Destroy and the report may ask after a
// failed Provision). A provider embeds it and sets Layer in Provision.
type Base struct {
	// Layer runs the workloads (nil before Provision).
	Layer *Layer
}

// Deploy implements provider.Provider (see Layer.Deploy).
func (b *Base) Deploy(ctx context.Context) error { return b.Layer.Deploy(ctx) }

// StartCameras implements provider.Provider (see Layer.StartCameras).
func (b *Base) StartCameras(ctx context.Context, dir string) error {
	return b.Layer.StartCameras(ctx, dir)
}

// StopCameras implements provider.Provider (see Layer.StopCameras).
func (b *Base) StopCameras(ctx context.Context) error {
	if b.Layer == nil {
		return nil
	}
	return b.Layer.StopCameras(ctx)
}

// Alerts implements provider.Provider (see Layer.Alerts).
func (b *Base) Alerts(ctx context.Context) ([]byte, error) {
	if b.Layer == nil {
		return nil, nil
	}
	return b.Layer.Alerts(ctx)
}

// ClusterEvents implements provider.ClusterEventSource (see
// Layer.ClusterEvents).
func (b *Base) ClusterEvents(ctx context.Context) []evidence.ClusterEvent {
	if b.Layer == nil {
		return nil
	}
	return b.Layer.ClusterEvents(ctx)
}

// Diagnose implements provider.Diagnoser (see Layer.Diagnose).
func (b *Base) Diagnose(ctx context.Context) []evidence.Diagnostic {
	if b.Layer == nil {
		return nil
	}
	return b.Layer.Diagnose(ctx)
}

// Edgenodes lists the edgenode pods running on a plan node's Kubernetes
// node (see Layer.Edgenodes).
func (b *Base) Edgenodes(node string) []string {
	if b.Layer == nil {
		return nil
	}
	return b.Layer.Edgenodes(node)
}

// EdgenodeMetrics reads the /metrics of the edgenode on a plan node (see
// Layer.EdgenodeMetrics).
func (b *Base) EdgenodeMetrics(ctx context.Context, node string) (io.ReadCloser, error) {
	if b.Layer == nil {
		return nil, errNoLayer
	}
	return b.Layer.EdgenodeMetrics(ctx, node)
}

// errNoLayer is a rollout step asked of a provider before Provision.
var errNoLayer = errors.New("no cluster yet")

// ServeModel implements provider.ModelRoller (see Layer.ServeModel).
func (b *Base) ServeModel(ctx context.Context, dir string, files []string) (string, func(), error) {
	if b.Layer == nil {
		return "", nil, errNoLayer
	}
	return b.Layer.ServeModel(ctx, dir, files)
}

// FetchModel implements provider.ModelRoller (see Layer.FetchModel).
func (b *Base) FetchModel(ctx context.Context, node, url string, files []string, dst string) (int64, error) {
	if b.Layer == nil {
		return 0, errNoLayer
	}
	return b.Layer.FetchModel(ctx, node, url, files, dst)
}

// SwapModel implements provider.ModelRoller (see Layer.SwapModel).
func (b *Base) SwapModel(ctx context.Context, node, dir string) (string, error) {
	if b.Layer == nil {
		return "", errNoLayer
	}
	return b.Layer.SwapModel(ctx, node, dir)
}

// ModelDir implements provider.ModelRoller (see Layer.ModelDir).
func (b *Base) ModelDir(node string) string {
	if b.Layer == nil {
		return ""
	}
	return b.Layer.ModelDir(node)
}
