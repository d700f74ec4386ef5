package kube

import (
	"io"
	"time"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
)

// SetEmulated gives l the emulated hosts AttachLinks would have made and
// the port its edgenode pods listen on.
func SetEmulated(l *Layer, hosts map[string]netem.EngineHost, podPort int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hosts, l.podPort = hosts, podPort
}

// WatchStream feeds a `kubectl get -w -o json` stream to a cluster watch
// with the given clock and node names, and returns its events.
func WatchStream(r io.Reader, now func() time.Time, planNode func(string) string) ([]evidence.ClusterEvent, error) {
	w := newClusterWatch(now, planNode, nil)
	err := w.decode(r)
	return w.Events(), err
}

// Unseen is unseen.
var Unseen = unseen

// Unsettled is unsettled.
var Unsettled = unsettled

// StopCamerasError is stopCamerasError.
var StopCamerasError = stopCamerasError
