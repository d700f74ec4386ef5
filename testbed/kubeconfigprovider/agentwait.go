package kubeconfigprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrAgentsRefused: the cluster would not run the agents' pods (Pod
// Security or another admission policy forbids privileged pods, or pods
// in the nodes' network namespaces).
var ErrAgentsRefused = errors.New("the cluster refused the edgesim agents")

// refusal is ErrAgentsRefused with the cluster's own words.
type refusal struct{ words string }

func (r *refusal) Error() string        { return ErrAgentsRefused.Error() + ": " + r.words }
func (r *refusal) Is(target error) bool { return target == ErrAgentsRefused }

// ErrImagePull: a node could not pull a workload image from the registry.
var ErrImagePull = errors.New("a node cannot pull the workload image")

// pullReasons are the waiting reasons of a container whose image a node
// cannot pull.
var pullReasons = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}

// agentPods is what `kubectl get pods -o json` says of the agent pods.
type agentPods struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status string `json:"status"`
			} `json:"conditions"`
			ContainerStatuses []struct {
				Image string `json:"image"`
				State struct {
					Waiting *struct {
						Reason  string `json:"reason"`
						Message string `json:"message"`
					} `json:"waiting"`
				} `json:"state"`
			} `json:"containerStatuses"`
		} `json:"status"`
	} `json:"items"`
}

// agentsReady reads the agent pods and the namespace's FailedCreate
// events: the pods by node once every node in nodes has a Ready agent,
// nil while they are coming, or an error (ErrImagePull, ErrAgentsRefused)
// as soon as one cannot come.
func agentsReady(podsJSON, failedCreate []byte, nodes []string) (map[string]string, error) {
	if msg := strings.TrimSpace(string(failedCreate)); msg != "" {
		return nil, &refusal{words: firstLine(msg)}
	}
	var pods agentPods
	if err := json.Unmarshal(podsJSON, &pods); err != nil {
		return nil, fmt.Errorf("agent pods: %w", err)
	}
	ready := map[string]string{}
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && slices.Contains(pullReasons, w.Reason) {
				return nil, fmt.Errorf("%w: node %s: %s %s: %s (the nodes must reach the registry given with --image-registry; a plain-HTTP registry needs --insecure-registry here and an HTTP mirror in the nodes' containerd)",
					ErrImagePull, p.Spec.NodeName, w.Reason, c.Image, w.Message)
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" && p.Spec.NodeName != "" {
				ready[p.Spec.NodeName] = p.Metadata.Name
			}
		}
	}
	for _, n := range nodes {
		if ready[n] == "" {
			return nil, nil
		}
	}
	return ready, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// agentTimeout bounds the wait for the agents (image pulls included).
const agentTimeout = 3 * time.Minute

// waitAgents waits until an agent (with links or without) is Ready on
// every node in nodes and returns the agent pods by node; it fails as soon
// as the cluster refuses the pods or a node cannot pull the image.
func (p *Provider) waitAgents(ctx context.Context, links bool, nodes []string) (map[string]string, error) {
	deadline := time.Now().Add(agentTimeout)
	for {
		pods, err := p.kc.Kubectl(ctx, nil, "-n", p.ns, "get", "pods", "-l", "app.kubernetes.io/name="+AgentName+","+labelAgentLinks+"="+strconv.FormatBool(links), "-o", "json")
		if err != nil {
			return nil, err
		}
		events, err := p.kc.Kubectl(ctx, nil, "-n", p.ns, "get", "events", "--field-selector", "reason=FailedCreate,involvedObject.name="+agentDaemonSet(links),
			"-o", `jsonpath={range .items[*]}{.message}{"\n"}{end}`)
		if err != nil {
			return nil, err
		}
		ready, err := agentsReady(pods, events, nodes)
		if err != nil || ready != nil {
			return ready, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the edgesim agents are not ready on every node after %s (pods: %s)", agentTimeout, p.agentSummary(ctx))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
