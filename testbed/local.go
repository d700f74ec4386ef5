package testbed

import (
	"github.com/edgesim/edgesim/testbed/provider"

	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/hwlimit"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
)

// Local is the embedded provider: every node is a network namespace on this
// machine, workloads are real processes inside them, links are netem's
// userspace engine. A node's resources (its hardware class) confine its
// edgenode in a cgroup of its own (package hwlimit).
type Local struct {
	bin      Binaries
	dir      string // logs and configs of the run
	stateDir string
	reg      prometheus.Registerer
	seed     int64
	name     string
	token    string // the run token (NewRunToken)
	observe  func(ObservedEvent)

	plan  *Plan
	eng   netem.Engine
	hosts map[string]netem.EngineHost
	links provider.Links

	mu     sync.Mutex
	procs  map[string]*process
	groups map[string]*hwlimit.Group // by node: the cgroups of nodes with resources
}

// NewLocal returns the local provider (it does not use cfg.Log: its
// processes log into cfg.Dir). It checks up front that it can run
// here: root (or a user namespace), /dev/net/tun, ip(8) and the binaries.
func NewLocal(cfg ProviderConfig) (*Local, error) {
	var missing []error
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = append(missing, netem.ErrNoTUN)
	}
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Errorf("the local provider creates network namespaces and needs root: run edgesim as root (sudo -E edgesim ...)"))
	}
	if _, err := lookPath("ip"); err != nil {
		missing = append(missing, errors.New("ip(8) is missing: install iproute2 (apt-get install iproute2)"))
	}
	for name, p := range map[string]string{"edgenode": cfg.Binaries.Edgenode, "edgesim": cfg.Binaries.Edgesim} {
		if p == "" {
			missing = append(missing, fmt.Errorf("no %s binary given: build it with `go tool task build`", name))
		} else if _, err := os.Stat(p); err != nil {
			missing = append(missing, fmt.Errorf("%s binary %s: %w (build it with `go tool task build`)", name, p, err))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the local provider cannot run here: %w", errors.Join(missing...))
	}
	if cfg.Observe == nil {
		cfg.Observe = func(ObservedEvent) {}
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	return &Local{bin: cfg.Binaries, dir: cfg.Dir, stateDir: cfg.StateDir, reg: cfg.Registry, seed: cfg.Seed, name: cfg.Name, token: provider.NewRunToken(), observe: cfg.Observe,
		hosts: map[string]netem.EngineHost{}, links: provider.Links{}, procs: map[string]*process{}, groups: map[string]*hwlimit.Group{}}, nil
}

// Name implements Provider.
func (l *Local) Name() string { return string(scenarios.ProviderLocal) }

// Provision implements Provider: one namespace per node, one netem link per
// plan link. It fails first if a node asks for resources that this machine
// cannot enforce.
func (l *Local) Provision(ctx context.Context, plan *Plan) error {
	if err := checkHardware(plan); err != nil {
		return err
	}
	l.plan = plan
	opts := []netem.Option{netem.WithRegisterer(l.reg), netem.WithSeed(l.seed), netem.WithName(l.name)}
	if l.stateDir != "" {
		opts = append(opts, netem.WithStateDir(l.stateDir))
	}
	eng, err := netem.NewEngine(ctx, opts...)
	if err != nil {
		return err
	}
	l.eng = eng
	for _, n := range plan.Nodes {
		h, err := eng.AddHost(ctx, netem.HostSpec{Name: n.EngineHost(), Group: n.Group})
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		l.hosts[n.Name] = h
	}
	for _, pl := range plan.Links {
		lk, err := eng.Link(ctx, pl.A, pl.B, pl.Up, pl.Down)
		if err != nil {
			return fmt.Errorf("link %s: %w", pl.Name, err)
		}
		l.links[pl.Name] = lk
	}
	return os.MkdirAll(l.dir, 0o755)
}

// Address is a node's IP address.
func (l *Local) Address(node string) net.IP {
	if h := l.hosts[node]; h != nil {
		return h.Address()
	}
	return nil
}

// NodeInfo returns a node's address and network namespace name.
func (l *Local) NodeInfo(node string) (address, netns string) {
	if h := l.hosts[node]; h != nil {
		return h.Address().String(), h.NetnsName()
	}
	return "", ""
}

// Deploy implements Provider.
func (l *Local) Deploy(ctx context.Context) error {
	for _, role := range []Role{RoleCloud, RoleEdge} {
		nodes := l.plan.NodesOf(role)
		for _, n := range nodes {
			if err := l.startEdgenode(n); err != nil {
				return err
			}
		}
		for _, n := range nodes {
			if err := l.waitReady(ctx, n.Name, 30*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Local) edgenodeURL(node, path string) string {
	return "http://" + net.JoinHostPort(l.Address(node).String(), strconv.Itoa(provider.EdgenodePort)) + path
}

func (l *Local) startEdgenode(n Node) error {
	var cloudURL string
	if cloud := l.plan.NodesOf(RoleCloud); len(cloud) > 0 {
		cloudURL = l.edgenodeURL(cloud[0].Name, "")
	}
	args, err := l.edgenodeLaunch(n, cloudURL)
	if err != nil {
		return err
	}
	env := provider.EdgenodeTokenEnv(l.token, n.Role)
	if c := n.Resources.CPU; c > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(int(math.Max(1, math.Ceil(c.Cores())))))
	}
	p, err := l.start(n, append([]string{l.bin.Edgenode}, args...), env)
	if err != nil || !limited(n.Resources) {
		return err
	}
	if err := l.confine(n, p); err != nil {
		_ = p.stop(context.Background(), time.Second)
		return err
	}
	return nil
}

// confine moves node n's edgenode into the node's cgroup, made on its
// first start with the node's resources as limits. (ip netns exec execs
// edgenode in the same process, so the pid is edgenode's; it runs
// unconfined only for the moment between its start and this.)
func (l *Local) confine(n Node, p *process) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.groups[n.Name]
	if g == nil {
		var err error
		g, err = hwlimit.New(CgroupName(l.name, n.Name), HardwareLimits(n.Resources))
		if err != nil {
			return fmt.Errorf("node %s: confine edgenode to hardware %s: %w", n.Name, describeResources(n.Resources), err)
		}
		l.groups[n.Name] = g
	}
	if err := g.Add(p.pid()); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	return nil
}

// start runs argv in node n's namespace, logging to <dir>/<node>.log, and
// keeps the process as the node's.
func (l *Local) start(n Node, argv, env []string) (*process, error) {
	p, err := startProcess(l.hosts[n.Name].NetnsName(), argv, env,
		filepath.Join(l.dir, n.Name+".log"), n.Name, l.exited)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.procs[n.Name] = p
	l.mu.Unlock()
	return p, nil
}

func (l *Local) exited(name string, err error) {
	detail := "exited"
	if err != nil {
		detail = err.Error()
	}
	l.observe(ObservedEvent{At: time.Now(), Kind: "crash", Target: name, Detail: detail + " (log: " + filepath.Join(l.dir, name+".log") + ")"})
}

// edgenodeLaunch writes node n's edgenode configuration and rules into
// the run directory and returns its command line.
func (l *Local) edgenodeLaunch(n Node, cloudURL string) ([]string, error) {
	configFile := filepath.Join(l.dir, "edgenode-"+n.Name+".yaml")
	rulesFile := filepath.Join(l.dir, "rules-"+n.Name+".yaml")
	env := provider.EdgenodeEnv{NodeID: n.Name, RulesFile: rulesFile,
		SpoolDir: filepath.Join(l.dir, "spool-"+n.Name), AlertsFile: l.alertsFile(), CloudURL: cloudURL}
	if rolledNodes(l.plan.Scenario)[n.Name] {
		dir, err := l.prepareModel(n.Name)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		env.ModelDir = dir
	}
	config, rules, err := provider.EdgenodeFiles(l.plan, n, env)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(rulesFile, rules, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(configFile, config, 0o644); err != nil {
		return nil, err
	}
	return provider.EdgenodeArgs(configFile), nil
}

func (l *Local) alertsFile() string { return filepath.Join(l.dir, "alerts.jsonl") }

// waitReady polls a node's /readyz from inside its namespace.
func (l *Local) waitReady(ctx context.Context, node string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	log := filepath.Join(l.dir, node+".log")
	err := provider.WaitReady(ctx, l.client(node), l.edgenodeURL(node, "/readyz"), func() error {
		l.mu.Lock()
		p := l.procs[node]
		l.mu.Unlock()
		if p != nil && !p.alive() {
			return fmt.Errorf("edgenode %s exited during start-up: %v; see %s", node, p.err, log)
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("edgenode %s not ready after %s: %v; see %s", node, timeout, err, log)
	}
	return err
}

// client is an HTTP client whose connections are made inside the node's
// namespace (so that local traffic does not cross an emulated link).
func (l *Local) client(node string) *http.Client { return provider.NetnsClient(l.hosts[node], false) }

// EdgenodeMetrics reads a node's edgenode /metrics from inside its
// namespace (testbed.EdgenodeMetrics).
func (l *Local) EdgenodeMetrics(ctx context.Context, node string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.edgenodeURL(node, "/metrics"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := l.client(node).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("edgenode %s /metrics answered %s", node, resp.Status)
	}
	return resp.Body, nil
}

// StartCameras implements Provider.
func (l *Local) StartCameras(ctx context.Context, dir string) error {
	for _, n := range l.plan.NodesOf(RoleCamera) {
		cfgPath := filepath.Join(l.dir, "cameras-"+n.Name+".json")
		b, err := provider.CamerasFile(l.plan, n.Name, func(node string) string { return l.edgenodeURL(node, "/whip") })
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
			return err
		}
		out := filepath.Join(dir, n.Name)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if _, err := l.start(n, append([]string{l.bin.Edgesim}, provider.CamerasArgs(cfgPath, out)...), provider.CamerasTokenEnv(l.token)); err != nil {
			return err
		}
	}
	return nil
}

// StopCameras implements Provider.
func (l *Local) StopCameras(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, n := range l.plan.NodesOf(RoleCamera) {
		l.mu.Lock()
		p := l.procs[n.Name]
		l.mu.Unlock()
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.stop(ctx, 10*time.Second) }()
	}
	wg.Wait()
	return nil
}

// Inject implements Provider.
func (l *Local) Inject(ctx context.Context, a Action) error {
	switch a.Kind {
	case ActionKill, ActionPause, ActionResume:
		l.mu.Lock()
		p := l.procs[a.Node]
		l.mu.Unlock()
		if p == nil {
			return fmt.Errorf("%s: node %s runs nothing", a.Kind, a.Node)
		}
		sig := map[ActionKind]syscall.Signal{ActionKill: syscall.SIGKILL, ActionPause: syscall.SIGSTOP, ActionResume: syscall.SIGCONT}[a.Kind]
		return p.signal(sig, a.Kind == ActionKill)
	case ActionStart:
		n, ok := l.plan.Node(a.Node)
		if !ok {
			return fmt.Errorf("start: no node %s", a.Node)
		}
		if err := l.startEdgenode(n); err != nil {
			return err
		}
		return l.waitReady(ctx, n.Name, 30*time.Second)
	}
	return l.links.Apply(ctx, a)
}

// LinkStats implements Provider, with plan link names.
func (l *Local) LinkStats(context.Context) ([]netem.LinkStats, error) {
	return l.links.Stats(l.eng), nil
}

// Alerts implements Provider.
func (l *Local) Alerts(context.Context) ([]byte, error) {
	b, err := os.ReadFile(l.alertsFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Destroy implements Provider: stops every process (gracefully first),
// then removes the nodes' cgroups, namespaces and links.
func (l *Local) Destroy(ctx context.Context) error {
	l.mu.Lock()
	procs := make([]*process, 0, len(l.procs))
	for _, p := range l.procs {
		procs = append(procs, p)
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.stop(ctx, 5*time.Second) }()
	}
	wg.Wait()
	var errs []error
	l.mu.Lock()
	for node, g := range l.groups {
		if err := g.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", node, err))
			continue
		}
		delete(l.groups, node)
	}
	l.mu.Unlock()
	if l.eng != nil {
		errs = append(errs, l.eng.Close(context.WithoutCancel(ctx)))
	}
	return errors.Join(errs...)
}
