package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
)

// Standing is a testbed kept up for manual poking: nodes, links and
// workloads run until Down.
type Standing struct {
	r *runner
	// Dir holds the logs (and, with Options.Report, the report written
	// after Down).
	Dir string
}

// NodeInfo says where a node of a standing testbed can be reached.
type NodeInfo struct {
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	Site    string `json:"site,omitempty"`
	Address string `json:"address"`
	Netns   string `json:"netns,omitempty"` // for `ip netns exec`
}

// addresser is implemented by providers that can say where a node is.
type addresser interface {
	NodeInfo(node string) (address, netns string)
}

// Up provisions the scenario's testbed, starts the edgenodes and cameras,
// and returns without running the timeline. Down stops it and returns the
// result of the time it stood. When Up fails, it tears down what it made
// and hands the partial result to Options.Report.
func Up(ctx context.Context, sc *scenarios.Scenario, o Options) (*Standing, error) {
	r, err := newRunner(sc, o)
	if err != nil {
		return nil, err
	}
	err = r.phase(PhaseProvision, func(ctx context.Context) error {
		if err := r.prov.Provision(ctx, r.plan); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		r.provisioned()
		return r.prov.Deploy(ctx)
	}, ctx)
	if err == nil {
		r.mu.Lock()
		r.tail = newTailer(filepath.Join(r.dir, "cameras"))
		r.camStart = r.o.Now()
		r.runStart = r.camStart
		r.current, r.currentStart = PhaseRun, r.camStart // what Down records the standing time as
		r.mu.Unlock()
		err = r.prov.StartCameras(ctx, filepath.Join(r.dir, "cameras"))
	}
	if err != nil {
		_, ferr := r.finish(ctx, err)
		return nil, errors.Join(err, ferr)
	}
	return &Standing{r: r, Dir: r.dir}, nil
}

// Nodes lists the nodes and their addresses.
func (s *Standing) Nodes() []NodeInfo {
	var out []NodeInfo
	a, _ := s.r.prov.(addresser)
	for _, n := range s.r.plan.Nodes {
		info := NodeInfo{Name: n.Name, Role: n.Role, Site: n.Site}
		if a != nil {
			info.Address, info.Netns = a.NodeInfo(n.Name)
		}
		out = append(out, info)
	}
	return out
}

// Serve samples the links and progress until ctx ends.
func (s *Standing) Serve(ctx context.Context) {
	_ = s.r.wait(ctx, "up", time.Duration(1<<62), nil)
}

// Down stops and removes everything and returns the result of the time
// the testbed stood (given to Options.Report like a run's).
func (s *Standing) Down(ctx context.Context) (*Result, error) {
	s.r.mu.Lock()
	s.r.run.Phases = append(s.r.run.Phases, reports.Phase{Name: PhaseRun, Start: s.r.runStart, End: s.r.o.Now()})
	s.r.mu.Unlock()
	return s.r.finish(ctx, nil)
}

// StateDir is where `edgesim up` records standing testbeds.
func StateDir() string {
	if d := os.Getenv("EDGESIM_STATE_DIR"); d != "" {
		return d
	}
	return "/run/edgesim/testbeds"
}
