package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/evidence"
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
	node, workload string
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
	notify func(evidence.ClusterEvent)

	mu     sync.Mutex
	nodes  map[string]bool // readiness last seen
	pods   map[string]podState
	events []evidence.ClusterEvent
}

func newClusterWatch(now func() time.Time, planNode func(string) string, notify func(evidence.ClusterEvent)) *clusterWatch {
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
		kind := evidence.NodeNotReady
		if ready {
			kind = evidence.NodeReady
		}
		w.add(evidence.ClusterEvent{At: at, Kind: kind, Node: w.planNode(o.Metadata.Name), Detail: reason})
	case "Pod":
		name := o.Metadata.Name
		was := w.pods[name]
		now := podState{node: o.Spec.NodeName, workload: o.Metadata.Labels[labelApp], deleted: o.Metadata.DeletionTimestamp != nil}
		now.ready, _ = o.condition("Ready")
		w.pods[name] = now
		ev := evidence.ClusterEvent{At: at, Node: w.planNode(now.node), Pod: name, Workload: o.Metadata.Labels[labelApp]}
		if now.node != "" && was.node == "" {
			ev.Kind = evidence.PodScheduled
			w.add(ev)
		}
		if now.ready && !was.ready && !now.deleted {
			ev.Kind = evidence.PodReady
			w.add(ev)
		}
		if now.deleted && !was.deleted {
			ev.Kind, ev.Detail = evidence.PodDeleted, "deleted"
			if by, reason := o.condition("DisruptionTarget"); by {
				ev.Detail = reason // e.g. DeletionByTaintManager
			}
			w.add(ev)
		}
	}
}

func (w *clusterWatch) add(ev evidence.ClusterEvent) {
	w.events = append(w.events, ev)
	if w.notify != nil {
		w.notify(ev)
	}
}

// Events returns a copy of the events so far, in the order seen.
func (w *clusterWatch) Events() []evidence.ClusterEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// edgenodesOn lists the edgenode pods bound to a Kubernetes node and not
// deleted.
func (w *clusterWatch) edgenodesOn(k8sNode string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for name, p := range w.pods {
		if p.node == k8sNode && !p.deleted && p.workload != "" && strings.HasPrefix(p.workload, "edgenode-") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
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

// run keeps `kubectl get -w` of nodes and of the pods in namespace ns
// going until ctx ends, restarting a watch that ended (the API server
// closes watches now and then); logf is told why one ended.
func (w *clusterWatch) run(ctx context.Context, ns string, command func(ctx context.Context, args ...string) *exec.Cmd, logf func(string, ...any)) {
	var wg sync.WaitGroup
	for _, args := range [][]string{
		{"get", "nodes", "--watch", "-o", "json"},
		{"-n", ns, "get", "pods", "--watch", "-o", "json"},
	} {
		wg.Go(func() {
			for ctx.Err() == nil {
				cmd := command(ctx, args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.StdoutPipe()
				if err == nil {
					err = cmd.Start()
				}
				if err == nil {
					err = w.decode(out)
					if werr := cmd.Wait(); err == nil {
						err = werr
					}
				}
				if ctx.Err() == nil {
					why := ""
					if err != nil {
						why = " (" + err.Error() + ")"
					}
					if msg := strings.TrimSpace(stderr.String()); msg != "" {
						why += ": " + msg[strings.LastIndexByte(msg, '\n')+1:]
					}
					logf("kubectl %s ended%s; watching again", strings.Join(args, " "), why)
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

// unsettled lists the edgenode pods that a node loss put out of work and
// that Kubernetes has not replaced yet: pods bound to a node when it went
// NotReady (and not deleted before), for which there is no deletion
// followed by a Ready pod of the same workload scheduled after the loss. A
// node that came back Ready ends the wait for its pods.
func unsettled(events []evidence.ClusterEvent) []string {
	type pod struct {
		node, workload string
		scheduled      time.Time
		deleted        bool
	}
	type loss struct{ lost, deleted time.Time }
	pods := map[string]*pod{}
	waiting := map[string]*loss{}
	for _, e := range events {
		switch e.Kind {
		case evidence.PodScheduled:
			pods[e.Pod] = &pod{node: e.Node, workload: e.Workload, scheduled: e.At}
		case evidence.PodDeleted:
			if p := pods[e.Pod]; p != nil {
				p.deleted = true
			}
			if w := waiting[e.Pod]; w != nil {
				w.deleted = e.At
			}
		case evidence.NodeNotReady:
			for name, p := range pods {
				if p.node == e.Node && !p.deleted && strings.HasPrefix(p.workload, "edgenode-") {
					waiting[name] = &loss{lost: e.At}
				}
			}
		case evidence.NodeReady:
			for name := range waiting {
				if pods[name].node == e.Node {
					delete(waiting, name)
				}
			}
		case evidence.PodReady:
			r := pods[e.Pod]
			for name, w := range waiting {
				if r != nil && !w.deleted.IsZero() && r.workload == pods[name].workload && !r.scheduled.Before(w.lost) {
					delete(waiting, name)
				}
			}
		}
	}
	out := make([]string, 0, len(waiting))
	for name := range waiting {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
