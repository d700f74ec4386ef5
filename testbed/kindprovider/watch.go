package kindprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/edgesim/edgesim/reports"
)

// watchObject is the part of a watched node or pod the failover breakdown
// needs.
type watchObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name              string            `json:"name"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *time.Time        `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"conditions"`
	} `json:"status"`
}

func (o *watchObject) condition(typ string) (ok bool, reason string) {
	for _, c := range o.Status.Conditions {
		if c.Type == typ {
			return c.Status == "True", c.Reason
		}
	}
	return false, ""
}

type podState struct {
	node           string
	ready, deleted bool
}

// clusterWatch turns the node and pod objects a watch delivers into
// report events: each change of a node's readiness, and each pod's
// binding, readiness and deletion, stamped with the time it was seen.
// Objects seen again unchanged (a restarted watch lists everything anew)
// give no event.
type clusterWatch struct {
	now func() time.Time
	// planNode maps a Kubernetes node name to the plan node it stands for
	// ("" when it stands for none, e.g. the control plane).
	planNode func(k8sNode string) string
	// notify, if set, is told about every event as it is recorded.
	notify func(reports.ClusterEvent)

	mu     sync.Mutex
	nodes  map[string]bool // readiness last seen
	pods   map[string]podState
	events []reports.ClusterEvent
}

func newClusterWatch(now func() time.Time, planNode func(string) string, notify func(reports.ClusterEvent)) *clusterWatch {
	return &clusterWatch{now: now, planNode: planNode, notify: notify, nodes: map[string]bool{}, pods: map[string]podState{}}
}

// observe records what changed in one object.
func (w *clusterWatch) observe(o *watchObject) {
	at := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch o.Kind {
	case "Node":
		ready, reason := o.condition("Ready")
		was, seen := w.nodes[o.Metadata.Name]
		w.nodes[o.Metadata.Name] = ready
		if !seen || was == ready { // the first sight is the baseline
			return
		}
		kind := reports.NodeNotReady
		if ready {
			kind = reports.NodeReady
		}
		w.add(reports.ClusterEvent{At: at, Kind: kind, Node: w.planNode(o.Metadata.Name), Detail: reason})
	case "Pod":
		name := o.Metadata.Name
		was := w.pods[name]
		now := podState{node: o.Spec.NodeName, deleted: o.Metadata.DeletionTimestamp != nil}
		now.ready, _ = o.condition("Ready")
		w.pods[name] = now
		ev := reports.ClusterEvent{At: at, Node: w.planNode(now.node), Pod: name, Workload: o.Metadata.Labels[labelApp]}
		if now.node != "" && was.node == "" {
			ev.Kind = reports.PodScheduled
			w.add(ev)
		}
		if now.ready && !was.ready && !now.deleted {
			ev.Kind = reports.PodReady
			w.add(ev)
		}
		if now.deleted && !was.deleted {
			ev.Kind, ev.Detail = reports.PodDeleted, "deleted"
			if by, reason := o.condition("DisruptionTarget"); by {
				ev.Detail = reason // e.g. DeletionByTaintManager
			}
			w.add(ev)
		}
	}
}

func (w *clusterWatch) add(ev reports.ClusterEvent) {
	w.events = append(w.events, ev)
	if w.notify != nil {
		w.notify(ev)
	}
}

// Events returns a copy of the events so far, in the order seen.
func (w *clusterWatch) Events() []reports.ClusterEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// decode feeds every object of a `kubectl get -w -o json` stream to the
// watch until the stream ends.
func (w *clusterWatch) decode(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var o watchObject
		if err := dec.Decode(&o); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode watched object: %w", err)
		}
		w.observe(&o)
	}
}

// run keeps `kubectl get -w` of nodes and of the edgesim namespace's pods
// going until ctx ends, restarting a watch the API server closed.
func (w *clusterWatch) run(ctx context.Context, command func(ctx context.Context, args ...string) *exec.Cmd) {
	var wg sync.WaitGroup
	for _, args := range [][]string{
		{"get", "nodes", "--watch", "-o", "json"},
		{"-n", Namespace, "get", "pods", "--watch", "-o", "json"},
	} {
		wg.Go(func() {
			for ctx.Err() == nil {
				cmd := command(ctx, args...)
				out, err := cmd.StdoutPipe()
				if err == nil && cmd.Start() == nil {
					_ = w.decode(out)
					_ = cmd.Wait()
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	wg.Wait()
}
