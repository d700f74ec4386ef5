package kubeconfigprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

// PreflightError lists everything that keeps a cluster from holding a
// plan, each with its fix.
type PreflightError struct {
	Problems []Problem
}

func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the cluster cannot hold the plan (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	var fixes []string
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.What)
		if p.Fix != "" {
			fixes = append(fixes, p.Fix)
		}
	}
	if len(fixes) > 0 {
		b.WriteString("\nto fix it:")
		for _, f := range fixes {
			b.WriteString("\n  " + f)
		}
	}
	return b.String()
}

// reachTimeout bounds the first request, the one that says whether the
// API server answers at all.
const reachTimeout = 15 * time.Second

// Preflight checks, before anything is created, that the cluster cl
// reaches can hold the plan in namespace ns: the API server answers and
// takes the credentials (else the classified error at once), and then,
// all reported together in a *PreflightError, that the account may do
// what a run does (Rules) and that every plan node maps onto a Ready node
// of its own (Map, with selectors). It returns the mapping, plan node ->
// cluster node. When reg is named, that this machine can push to it is
// one more check; whether the nodes can pull from it shows when the agents
// start, the first pods of a run.
func Preflight(ctx context.Context, cl kube.Cluster, plan *provider.Plan, ns string, selectors []Selector, reg nodecontainer.Registry) (map[string]string, error) {
	rctx, cancel := context.WithTimeout(ctx, reachTimeout)
	_, err := cl.Kubectl(rctx, nil, "get", "--raw", "/version", fmt.Sprintf("--request-timeout=%s", reachTimeout))
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if timedOut && !errors.Is(err, ErrUnreachable) {
			err = fmt.Errorf("%w: no answer within %s: %v", ErrUnreachable, reachTimeout, err)
		}
		return nil, err
	}
	problems, err := CheckPermissions(ctx, cl, ns)
	if err != nil {
		return nil, err
	}
	if reg.Name != "" {
		if err := reg.CheckPush(ctx); err != nil {
			problems = append(problems, Problem{
				What: fmt.Sprintf("this machine cannot push the workload images to %s: %v", reg.Name, err),
				Fix:  "start the registry or name one that answers with --image-registry; a registry on plain HTTP also needs --insecure-registry, one with a login an entry in ~/.docker/config.json",
			})
		}
	}
	out, err := cl.Kubectl(ctx, nil, "get", "nodes", "-o", "json")
	switch {
	case errors.Is(err, ErrForbidden) && len(problems) > 0:
		// The permission problem says it; the mapping waits for the fix.
		return nil, &PreflightError{Problems: problems}
	case err != nil:
		return nil, fmt.Errorf("list the nodes: %w", err)
	}
	nodes, err := kindcluster.ParseNodes(out)
	if err != nil {
		return nil, err
	}
	mapping, mp := Map(plan, nodes, selectors)
	problems = append(problems, mp...)
	if len(problems) > 0 {
		return mapping, &PreflightError{Problems: problems}
	}
	return mapping, nil
}
