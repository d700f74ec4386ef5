package kube

import (
	"io"
	"time"

	"github.com/edgesim/edgesim/evidence"
)

// WatchStream feeds a `kubectl get -w -o json` stream to a cluster watch
// with the given clock and node names, and returns its events.
func WatchStream(r io.Reader, now func() time.Time, planNode func(string) string) ([]evidence.ClusterEvent, error) {
	w := newClusterWatch(now, planNode, nil)
	err := w.decode(r)
	return w.Events(), err
}

// Unsettled is unsettled.
var Unsettled = unsettled

// StopCamerasError is stopCamerasError.
var StopCamerasError = stopCamerasError
