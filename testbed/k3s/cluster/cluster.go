// Package cluster creates and deletes K3s clusters as Podman containers, the
// k3d design: one server container (the control plane, which also runs
// workloads) and an agent container per worker, labelled with its tier and
// site, all from the image testbed/k3s/k3simage builds. K3s runs under the
// node's systemd against the node's own containerd, so it pulls nothing;
// pods reach each other across nodes through edgesim's pod network (routes
// between node PodCIDRs), which the server applies from its manifests
// directory.
//
// Every container and network it makes carries the dev.edgesim.owner
// label (and annotation) of the run, and Create returns the container IDs
// for the run's record: DeleteOwned deletes a cluster only when one of the
// two covers every container of it.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/edgesim/edgesim/testbed/k3s/k3simage"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
)

// Labels on every container and network this package makes.
const (
	// LabelCluster names the cluster a container belongs to.
	LabelCluster = "dev.edgesim.k3s.cluster"
	// LabelRole is "server" or "agent".
	LabelRole = "dev.edgesim.k3s.role"
	// LabelOwner carries the run's owner token (the same key as the kind
	// provider's OwnerAnnotation, which is also set).
	LabelOwner = kindcluster.OwnerAnnotation
)

var (
	// ErrBadSpec is returned for a Spec that cannot be created.
	ErrBadSpec = errors.New("invalid k3s cluster spec")
	// ErrPreflight is wrapped by every error about a machine that cannot
	// run K3s nodes.
	ErrPreflight = errors.New("this machine cannot run K3s nodes")
	// ErrExists is returned when containers of the cluster already exist.
	ErrExists = errors.New("k3s cluster already exists")
	// ErrNotOwned is returned by DeleteOwned when a container of the
	// cluster carries no proof that this run made it.
	ErrNotOwned = kindcluster.ErrNotOwned
	// ErrNodesNotReady is returned when nodes never became Ready.
	ErrNodesNotReady = errors.New("k3s nodes did not become Ready")
)

// Spec describes a cluster.
type Spec struct {
	// Name of the cluster; its containers are <Name>-server and
	// <Name>-agent<i>.
	Name string
	// Image is the K3s node image (k3simage's Result.Image).
	Image string
	// ServerLabels are node labels of the server (e.g. tier=cloud when the
	// scenario runs cloud workloads on it).
	ServerLabels map[string]string
	// Agents, in order.
	Agents []kindcluster.Worker
	// NodeGracePeriod is how long the control plane waits for a silent
	// node before marking it NotReady (Kubernetes' default, 50 s, when 0);
	// kubelets then renew their lease every NodeGracePeriod/5.
	NodeGracePeriod time.Duration
	// Owner is the run's owner token, put on every container.
	Owner string
	// Kubeconfig is where the host kubeconfig is written (default
	// /tmp/edgesim-k3s-<Name>.kubeconfig).
	Kubeconfig string
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate reports what is wrong with a Spec.
func (s Spec) Validate() error {
	var errs []string
	if !dns1123.MatchString(s.Name) || len(s.Name) > 40 {
		errs = append(errs, fmt.Sprintf("name %q: want at most 40 lower-case letters, digits and '-'", s.Name))
	}
	if s.Image == "" {
		errs = append(errs, "no image; build one with `edgesim image k3s`")
	}
	if s.Owner == "" || !dns1123.MatchString(s.Owner) {
		errs = append(errs, fmt.Sprintf("owner %q: want lower-case letters, digits and '-'", s.Owner))
	}
	for i, a := range s.Agents {
		if !dns1123.MatchString(a.Tier) || !dns1123.MatchString(a.Site) {
			errs = append(errs, fmt.Sprintf("agent %d: tier %q and site %q must be label values of lower-case letters, digits and '-'", i, a.Tier, a.Site))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrBadSpec, strings.Join(errs, "; "))
	}
	return nil
}

// ServerName is the server container (and node) of a cluster.
func ServerName(cluster string) string { return cluster + "-server" }

// AgentName is the container (and node) of agent i (from 0).
func AgentName(cluster string, i int) string { return fmt.Sprintf("%s-agent%d", cluster, i+1) }

// NetworkName is the cluster's Podman network.
func NetworkName(cluster string) string { return "edgesim-k3s-" + cluster }

func (s Spec) kubeconfigPath() string {
	if s.Kubeconfig != "" {
		return s.Kubeconfig
	}
	return "/tmp/edgesim-k3s-" + s.Name + ".kubeconfig"
}

// podman runs the podman CLI; tests replace it.
type podman func(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error)

func runPodman(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "podman", args...)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return out.Bytes(), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// machine is what Preflight asks of the host; tests replace it.
type machine struct {
	euid     func() int
	lookPath func(string) (string, error)
	podman   podman
}

func realMachine() machine {
	return machine{euid: os.Geteuid, lookPath: exec.LookPath, podman: runPodman}
}

// Preflight checks, before anything starts, that this machine can run the
// cluster: root, Podman, and the K3s node image. Each error names what is
// missing and the command that provides it.
func Preflight(ctx context.Context, image string) error {
	_, err := realMachine().preflight(ctx, image)
	return err
}

// preflight returns the image's pause image label.
func (m machine) preflight(ctx context.Context, image string) (string, error) {
	if m.euid() != 0 {
		return "", fmt.Errorf("%w: K3s nodes are privileged Podman containers, which need root; run edgesim as root (sudo)", ErrPreflight)
	}
	if _, err := m.lookPath("podman"); err != nil {
		return "", fmt.Errorf("%w: podman is not installed; install it with hack/kind/install-deps.sh (as root)", ErrPreflight)
	}
	if image == "" {
		return "", fmt.Errorf("%w: no K3s node image given; build it with `edgesim image k3s`", ErrPreflight)
	}
	out, err := m.podman(ctx, nil, "image", "inspect", "--format", `{{index .Labels "`+k3simage.LabelPause+`"}}`, image)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%w: the K3s node image %s is not built; build it with `edgesim image node && edgesim image k3s`", ErrPreflight, image)
	}
	pause := strings.TrimSpace(string(out))
	if pause == "" || pause == "<no value>" {
		return "", fmt.Errorf("%w: %s is not a K3s node image made by `edgesim image k3s` (no %s label)", ErrPreflight, image, k3simage.LabelPause)
	}
	return pause, nil
}

// Cluster is a created K3s cluster.
type Cluster struct {
	Spec Spec
	// Kubeconfig is a kubeconfig for use from the host: the API server is
	// published on a loopback port.
	Kubeconfig string
	// ContainerIDs are the containers Create made: the proof, for the
	// run's record, that they are edgesim's to delete.
	ContainerIDs []string
	// CreateDuration is how long creating the containers and starting K3s
	// took, and ReadyDuration how long after that WaitReady waited.
	CreateDuration, ReadyDuration time.Duration

	podman         podman
	createdNetwork bool
	now            func() time.Time
	repair         func() ([]string, error)
}

// Option configures Create.
type Option func(*Cluster)

// WithClock replaces time.Now for the durations.
func WithClock(now func() time.Time) Option { return func(c *Cluster) { c.now = now } }

// Create checks the machine (Preflight), creates the network and node
// containers, starts K3s in each and writes the host kubeconfig. It does
// not wait for the nodes to be Ready (see WaitReady). On failure it
// deletes what it made.
func Create(ctx context.Context, s Spec, opts ...Option) (c *Cluster, err error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	m := realMachine()
	pause, err := m.preflight(ctx, s.Image)
	if err != nil {
		return nil, err
	}
	c = &Cluster{Spec: s, Kubeconfig: s.kubeconfigPath(), podman: m.podman, now: time.Now, repair: RepairCgroups}
	for _, o := range opts {
		o(c)
	}
	start := c.now()
	existing, err := c.containers(ctx, s.Name)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("%w: %q has %d containers; delete it with `edgesim clean` if a run of yours left it", ErrExists, s.Name, len(existing))
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			err = errors.Join(err, c.Delete(cctx))
		}
	}()
	if err := c.createNetwork(ctx); err != nil {
		return c, err
	}
	token, err := randomHex(24)
	if err != nil {
		return c, err
	}
	cgroupV1 := CgroupV1()
	server := ServerName(s.Name)
	if err := c.runNode(ctx, server, "server", true); err != nil {
		return c, err
	}
	cfg, err := ServerConfig(s, token, pause, cgroupV1)
	if err != nil {
		return c, err
	}
	if err := c.startK3s(ctx, server, "server", cfg); err != nil {
		return c, err
	}
	ip, err := c.nodeIP(ctx, server)
	if err != nil {
		return c, err
	}
	for i := range s.Agents {
		name := AgentName(s.Name, i)
		if err := c.runNode(ctx, name, "agent", false); err != nil {
			return c, err
		}
		cfg, err := AgentConfig(s, i, "https://"+ip+":6443", token, pause, cgroupV1)
		if err != nil {
			return c, err
		}
		if err := c.startK3s(ctx, name, "agent", cfg); err != nil {
			return c, err
		}
	}
	if err := c.writeKubeconfig(ctx); err != nil {
		return c, err
	}
	c.CreateDuration = c.now().Sub(start)
	return c, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (c *Cluster) labels(role string) []string {
	args := []string{"--label", LabelCluster + "=" + c.Spec.Name, "--label", LabelOwner + "=" + c.Spec.Owner}
	if role != "" {
		args = append(args, "--label", LabelRole+"="+role)
	}
	return args
}

func (c *Cluster) createNetwork(ctx context.Context) error {
	name := NetworkName(c.Spec.Name)
	if _, err := c.podman(ctx, nil, "network", "inspect", name); err == nil {
		return fmt.Errorf("%w: network %s exists; delete it with `edgesim clean` if a run of yours left it", ErrExists, name)
	}
	if _, err := c.podman(ctx, nil, append(append([]string{"network", "create"}, c.labels("")...), name)...); err != nil {
		return err
	}
	c.createdNetwork = true
	return nil
}

// runNode starts a node container: privileged, systemd as PID 1 through
// kind's entrypoint, /var on an anonymous volume (containerd's overlay
// snapshots fail on the container's own overlay root), a cgroup namespace
// of its own, and for the server the API server published on a loopback
// port.
//
// Without the private cgroup namespace (Podman's default on cgroup v1 is
// the host's), every node's kubelet sees the same kubepods.slice: the
// server's kubelet removes the agents' pod cgroups as orphans, and `kubectl
// exec` into an agent's pod fails with "error adding pid ... to cgroups".
func (c *Cluster) runNode(ctx context.Context, name, role string, publish bool) error {
	args := []string{"run", "-d", "--name", name, "--hostname", name, "--network", NetworkName(c.Spec.Name),
		"--privileged", "--cgroupns=private", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--tmpfs", "/run", "--tmpfs", "/tmp", "-v", "/var", "-v", "/lib/modules:/lib/modules:ro",
		"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
		"-e", "container=podman", "--annotation", kindcluster.OwnerAnnotation + "=" + c.Spec.Owner}
	args = append(args, c.labels(role)...)
	if publish {
		args = append(args, "-p", "127.0.0.1::6443")
	}
	args = append(args, c.Spec.Image)
	out, err := c.podman(ctx, nil, args...)
	if id := strings.TrimSpace(string(out)); id != "" {
		c.ContainerIDs = append(c.ContainerIDs, id)
	}
	return err
}

// startK3s writes the node's K3s configuration and starts K3s once the
// node's systemd answers.
func (c *Cluster) startK3s(ctx context.Context, node, role string, config []byte) error {
	files := map[string][]byte{k3simage.ConfigPath: config, k3simage.RolePath: []byte("K3S_ROLE=" + role + "\n")}
	if kc := KubeletConfig(c.Spec.NodeGracePeriod); kc != nil {
		files[kubeletDropIn] = kc
	}
	for path, content := range files {
		if _, err := c.podman(ctx, bytes.NewReader(content), "exec", "-i", node, "sh", "-c",
			`mkdir -p "$(dirname "$1")" && cat > "$1" && chmod 0600 "$1"`, "sh", path); err != nil {
			return err
		}
	}
	var last error
	for range 120 {
		if _, last = c.podman(ctx, nil, "exec", node, "systemctl", "start", "--no-block", k3simage.Unit); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("start K3s on %s (systemd in the node never answered): %w", node, last)
}

func (c *Cluster) nodeIP(ctx context.Context, node string) (string, error) {
	out, err := c.podman(ctx, nil, "inspect", "--format", "{{json .NetworkSettings.Networks}}", node)
	if err != nil {
		return "", err
	}
	var nets map[string]struct{ IPAddress string }
	if err := json.Unmarshal(out, &nets); err != nil {
		return "", fmt.Errorf("networks of %s: %w", node, err)
	}
	if n, ok := nets[NetworkName(c.Spec.Name)]; ok && n.IPAddress != "" {
		return n.IPAddress, nil
	}
	return "", fmt.Errorf("%s has no address on %s", node, NetworkName(c.Spec.Name))
}

// HostKubeconfig points K3s's admin kubeconfig at the API server's host
// port on loopback.
func HostKubeconfig(k3sYAML []byte, hostPort string) ([]byte, error) {
	const local = "server: https://127.0.0.1:6443"
	if !bytes.Contains(k3sYAML, []byte(local)) {
		return nil, fmt.Errorf("the K3s kubeconfig has no %q line", local)
	}
	return bytes.ReplaceAll(k3sYAML, []byte(local), []byte("server: https://127.0.0.1:"+hostPort)), nil
}

// writeKubeconfig waits for the server to write its admin kubeconfig and
// writes the host's copy.
func (c *Cluster) writeKubeconfig(ctx context.Context) error {
	server := ServerName(c.Spec.Name)
	out, err := c.podman(ctx, nil, "port", server, "6443/tcp")
	if err != nil {
		return err
	}
	hostPort := strings.TrimSpace(string(out))
	if i := strings.LastIndex(hostPort, ":"); i >= 0 {
		hostPort = hostPort[i+1:]
	}
	if hostPort == "" {
		return fmt.Errorf("podman published no host port for %s's API server", server)
	}
	var last error
	for range 300 {
		var kc []byte
		if kc, last = c.podman(ctx, nil, "exec", server, "cat", "/etc/rancher/k3s/k3s.yaml"); last == nil {
			host, err := HostKubeconfig(kc, hostPort)
			if err != nil {
				return err
			}
			return os.WriteFile(c.Kubeconfig, host, 0o600)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the K3s server never wrote its kubeconfig: %w\n%s", last, c.Journal(ctx, server))
}

// Kubectl runs the node image's kubectl inside the server node with K3s's
// admin kubeconfig (the k3s binary dispatches on its own name, so "k3s
// kubectl" from this build is not kubectl), so the host needs no kubectl, and returns its stdout.
func (c *Cluster) Kubectl(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"exec", "-i", ServerName(c.Spec.Name), "kubectl", "--kubeconfig=/etc/rancher/k3s/k3s.yaml"}, args...)
	return c.podman(ctx, stdin, full...)
}

// KubectlCommand is the command Kubectl runs, for callers that stream its
// output; it is killed with edgesim.
func (c *Cluster) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"exec", "-i", ServerName(c.Spec.Name), "kubectl", "--kubeconfig=/etc/rancher/k3s/k3s.yaml"}, args...)
	cmd := exec.CommandContext(ctx, "podman", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Nodes lists the cluster's nodes.
func (c *Cluster) Nodes(ctx context.Context) ([]kindcluster.NodeStatus, error) {
	out, err := c.Kubectl(ctx, nil, "get", "nodes", "-o", "json")
	if err != nil {
		return nil, err
	}
	return kindcluster.ParseNodes(out)
}

// Journal returns the tail of K3s's journal on a node, for error reports.
func (c *Cluster) Journal(ctx context.Context, node string) string {
	out, err := c.podman(context.WithoutCancel(ctx), nil, "exec", node, "journalctl", "--no-pager", "-n", "40", "-u", k3simage.Unit)
	if err != nil {
		return fmt.Sprintf("(could not read the K3s journal of %s: %v)", node, err)
	}
	return string(out)
}

// WaitReady waits until the server and every agent are Ready, then
// repairs the host's cgroup v1 mounts (see RepairCgroups). When timeout
// passes first the error carries each missing node's K3s journal.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	start := c.now()
	want := []string{ServerName(c.Spec.Name)}
	for i := range c.Spec.Agents {
		want = append(want, AgentName(c.Spec.Name, i))
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	notReadySince, restarted := map[string]time.Time{}, map[string]bool{}
	for {
		nodes, err := c.Nodes(wctx)
		last = err
		if err == nil {
			ready := map[string]bool{}
			for _, n := range nodes {
				ready[n.Name] = n.Ready
			}
			var missing []string
			for _, n := range want {
				r, registered := ready[n]
				if r {
					continue
				}
				missing = append(missing, n)
				if registered {
					c.unstick(wctx, n, notReadySince, restarted)
				}
			}
			if len(missing) == 0 {
				c.ReadyDuration = c.now().Sub(start)
				if _, err := c.repair(); err != nil {
					return err
				}
				return nil
			}
			last = fmt.Errorf("not Ready: %s", strings.Join(missing, ", "))
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var b strings.Builder
			for _, n := range want {
				fmt.Fprintf(&b, "\n--- K3s journal of %s ---\n%s", n, c.Journal(ctx, n))
			}
			return fmt.Errorf("%w: k3s cluster %q after %s: %v%s", ErrNodesNotReady, c.Spec.Name, timeout, last, b.String())
		case <-time.After(2 * time.Second):
		}
	}
}

// stuckAfter is how long a registered node may stay NotReady before
// WaitReady restarts its K3s once. Seen here (2 runs in 6, also on a quiet
// host): an agent registers, K3s's agent load balancer goes from
// UNCHECKED to RECOVERING, and the kubelet's informers never sync ("Waiting
// for caches to sync"): it posts no more status and never starts the pod
// network's DaemonSet pod, so the node stays NotReady
// (NetworkPluginNotReady). Restarting K3s on the node made it Ready within
// 25 s.
var stuckAfter = 60 * time.Second

// unstick restarts K3s on a registered node that has been NotReady for
// stuckAfter, once.
func (c *Cluster) unstick(ctx context.Context, node string, since map[string]time.Time, restarted map[string]bool) {
	now := c.now()
	first, seen := since[node]
	if !seen {
		since[node] = now
		return
	}
	if restarted[node] || now.Sub(first) < stuckAfter {
		return
	}
	restarted[node] = true
	_, _ = c.podman(ctx, nil, "exec", node, "systemctl", "restart", k3simage.Unit)
}

// containers lists the IDs of a cluster's containers.
func (c *Cluster) containers(ctx context.Context, name string) ([]string, error) {
	out, err := c.podman(ctx, nil, "ps", "-a", "-q", "--no-trunc", "--filter", "label="+LabelCluster+"="+name)
	if err != nil {
		return nil, fmt.Errorf("list the containers of k3s cluster %q: %w", name, err)
	}
	return strings.Fields(string(out)), nil
}

// Delete removes the containers (with their /var volumes) Create made and
// the network when Create made it, the host kubeconfig, and repairs the
// host's cgroup v1 mounts. It is safe to call twice.
func (c *Cluster) Delete(ctx context.Context) error {
	var errs []error
	if len(c.ContainerIDs) > 0 {
		if err := c.remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.createdNetwork {
		if _, err := c.podman(ctx, nil, "network", "rm", "-f", NetworkName(c.Spec.Name)); err != nil {
			if _, ierr := c.podman(ctx, nil, "network", "inspect", NetworkName(c.Spec.Name)); ierr == nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.Remove(c.Kubeconfig); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	if c.repair != nil {
		if _, err := c.repair(); err != nil {
			errs = append(errs, err)
		}
	}
	if left, err := c.containers(ctx, c.Spec.Name); err == nil {
		var mine []string
		for _, id := range left {
			if slices.Contains(c.ContainerIDs, id) {
				mine = append(mine, id)
			}
		}
		if len(mine) > 0 {
			errs = append(errs, fmt.Errorf("k3s cluster %q left containers behind: %s", c.Spec.Name, strings.Join(mine, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete k3s cluster %q: %w", c.Spec.Name, err)
	}
	return nil
}

// removeAttempts and removePause: `podman rm -f` gives up on a container
// whose processes do not die within its timeout ("given PIDs did not die
// within timeout", seen on a saturated host while K3s shut down); by the
// next try they usually have.
var (
	removeAttempts = 3
	removePause    = 2 * time.Second
)

// remove removes the containers Create made, with their /var volumes,
// trying again when podman gave up on one. It kills them first: `rm -f`
// would stop each with its stop signal and wait up to the stop timeout
// while K3s and its pods shut down, and nothing on a node being removed
// needs an orderly shutdown. A failed kill (a stopped node) is left to
// the removal.
func (c *Cluster) remove(ctx context.Context) error {
	_, _ = c.podman(ctx, nil, append([]string{"kill", "--signal", "KILL"}, c.ContainerIDs...)...)
	var err error
	for i := range removeAttempts {
		if _, err = c.podman(ctx, nil, append([]string{"rm", "-f", "-v", "--ignore"}, c.ContainerIDs...)...); err == nil {
			return nil
		}
		if i+1 < removeAttempts {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(removePause):
			}
		}
	}
	return err
}

// Proof is what shows a cluster's containers are edgesim's (the kind
// provider's Proof): the IDs Create returned, or the run's owner token.
type Proof = kindcluster.Proof

// DeleteOwned deletes a cluster this process did not create (e.g. one a
// killed run left behind), with its network and kubeconfig, but only when
// proof covers every one of its containers and the network: otherwise it
// returns ErrNotOwned and deletes nothing. A cluster that does not exist is
// not an error.
func DeleteOwned(ctx context.Context, name string, proof Proof, kubeconfig string) error {
	return deleteOwned(ctx, runPodman, RepairCgroups, name, proof, kubeconfig)
}

func deleteOwned(ctx context.Context, pm podman, repair func() ([]string, error), name string, proof Proof, kubeconfig string) error {
	c := &Cluster{Spec: Spec{Name: name, Kubeconfig: kubeconfig}, podman: pm, now: time.Now, repair: repair}
	c.Kubeconfig = c.Spec.kubeconfigPath()
	ids, err := c.containers(ctx, name)
	if err != nil {
		return err
	}
	var bad []string
	for _, id := range ids {
		if slices.Contains(proof.IDs, id) {
			continue
		}
		owner, err := pm(ctx, nil, "inspect", "--format", `{{index .Config.Labels "`+LabelOwner+`"}}`, id)
		if err != nil {
			return fmt.Errorf("inspect container %s: %w", id, err)
		}
		if proof.Owner == "" || strings.TrimSpace(string(owner)) != proof.Owner {
			bad = append(bad, id)
		}
	}
	netOwner, nerr := pm(ctx, nil, "network", "inspect", "--format", `{{index .Labels "`+LabelOwner+`"}}`, NetworkName(name))
	ownNetwork := nerr == nil && proof.Owner != "" && strings.TrimSpace(string(netOwner)) == proof.Owner
	if nerr == nil && !ownNetwork && len(ids) == 0 {
		return fmt.Errorf("k3s cluster %q: %w: its network %s carries no mark of the run that recorded it; delete it yourself with `podman network rm %s` if it is not needed", name, ErrNotOwned, NetworkName(name), NetworkName(name))
	}
	if len(bad) > 0 {
		return fmt.Errorf("k3s cluster %q: %w: %d of its %d containers carry no mark of the run that recorded it (a cluster of the same name made by someone else?); delete them yourself with `podman rm -f -v` if they are not needed", name, ErrNotOwned, len(bad), len(ids))
	}
	c.ContainerIDs, c.createdNetwork = ids, ownNetwork
	return c.Delete(ctx)
}

// Clusters lists the names of the K3s clusters whose containers carry the
// given owner token (all edgesim K3s clusters when owner is empty).
func Clusters(ctx context.Context, owner string) ([]string, error) {
	return clusters(ctx, runPodman, owner)
}

func clusters(ctx context.Context, pm podman, owner string) ([]string, error) {
	args := []string{"ps", "-a", "--format", `{{index .Labels "` + LabelCluster + `"}}`, "--filter", "label=" + LabelCluster}
	if owner != "" {
		args = append(args, "--filter", "label="+LabelOwner+"="+owner)
	}
	out, err := pm(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}
