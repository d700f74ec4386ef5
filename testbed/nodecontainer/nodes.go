// Package nodecontainer is what the providers whose Kubernetes nodes are
// containers (kind's and K3s's) share below the Kubernetes layer: the node
// containers reached through the container runtime's CLI (the layer's
// machines, their PIDs, node faults, image loading, CPU weight, resident
// memory), the workload images, the emulated links between the node
// containers and the state records `edgesim clean` reads.
package nodecontainer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edgesim/edgesim/testbed/provider"
)

// Runner runs the container runtime's CLI with args (stdin may be nil)
// and returns its stdout; a failure carries its stderr.
type Runner func(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error)

// CLI is the Runner of a runtime's command-line tool ("podman" or
// "docker").
func CLI(runtime string) Runner {
	return func(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, runtime, args...)
		var out, stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &stderr
		if err := cmd.Run(); err != nil {
			return out.Bytes(), fmt.Errorf("%s %s: %w: %s", runtime, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out.Bytes(), nil
	}
}

// Nodes are a testbed's node containers, reached through a container
// runtime's CLI and named by container. kind and K3s name each Kubernetes
// node after its container, so Nodes are also the Kubernetes layer's
// machines (kube.Machines).
type Nodes struct{ run Runner }

// NewNodes returns the node containers run reaches.
func NewNodes(run Runner) Nodes { return Nodes{run: run} }

// Run runs the runtime's CLI with args.
func (n Nodes) Run(ctx context.Context, args ...string) ([]byte, error) {
	return n.run(ctx, nil, args...)
}

// Exec runs argv in a node container.
func (n Nodes) Exec(ctx context.Context, node string, argv ...string) ([]byte, error) {
	return n.run(ctx, nil, append([]string{"exec", node}, argv...)...)
}

// Probe gets url with the node container's curl (kube.Machines).
func (n Nodes) Probe(ctx context.Context, node, url string) error {
	_, err := n.Exec(ctx, node, "curl", "-sf", "-m", "2", "-o", "/dev/null", url)
	return err
}

// ReadFile reads a file in a node container; a missing one is empty
// (kube.Machines).
func (n Nodes) ReadFile(ctx context.Context, node, path string) ([]byte, error) {
	return n.Exec(ctx, node, "sh", "-c", `cat "$1" 2>/dev/null || true`, "sh", path)
}

// Exists reports whether path exists in a node container (kube.Machines).
func (n Nodes) Exists(ctx context.Context, node, path string) (bool, error) {
	out, err := n.Exec(ctx, node, "sh", "-c", `if [ -e "$1" ]; then echo yes; fi`, "sh", path)
	return strings.TrimSpace(string(out)) == "yes", err
}

// Symlink points link at target in a node container, replacing it
// atomically (a new link renamed over the old one; kube.Machines).
func (n Nodes) Symlink(ctx context.Context, node, target, link string) error {
	_, err := n.Exec(ctx, node, "sh", "-c", `ln -sfn "$1" "$2.new" && mv -Tf "$2.new" "$2"`, "sh", target, link)
	return err
}

// CopyFrom copies the contents of the directory src in a node container
// into the local directory dst (kube.Machines).
func (n Nodes) CopyFrom(ctx context.Context, node, src, dst string) error {
	_, err := n.run(ctx, nil, "cp", node+":"+src+"/.", dst)
	return err
}

// CopyTo copies the contents of the local directory src into the
// directory dst in a node container, creating it (kube.Machines).
func (n Nodes) CopyTo(ctx context.Context, node, src, dst string) error {
	if _, err := n.Exec(ctx, node, "mkdir", "-p", dst); err != nil {
		return err
	}
	_, err := n.run(ctx, nil, "cp", src+"/.", node+":"+dst)
	return err
}

// PID is the host PID of a node container's init process: the netem
// links attach to its network namespace.
func (n Nodes) PID(ctx context.Context, node string) (int, error) {
	out, err := n.run(ctx, nil, "inspect", "-f", "{{.State.Pid}}", node)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("node container %s has no process (pid %q): is it running?", node, strings.TrimSpace(string(out)))
	}
	return pid, nil
}

// Load imports an image archive into a node container's containerd (the
// k8s.io namespace the kubelet uses), the way `kind load image-archive`
// does; pods then run it with imagePullPolicy Never.
func (n Nodes) Load(ctx context.Context, node, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer f.Close()
	if _, err := n.run(ctx, f, "exec", "-i", node,
		"ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests", "-"); err != nil {
		return fmt.Errorf("%w: load %s into node %s: %v", ErrImage, filepath.Base(archive), node, err)
	}
	return nil
}

// LoadImage is Load through runtime's CLI ("podman" or "docker").
func LoadImage(ctx context.Context, runtime, node, archive string) error {
	return NewNodes(CLI(runtime)).Load(ctx, node, archive)
}

// ControlPlaneShares is the CPU weight a control-plane container gets
// (node containers keep the default, 1024).
const ControlPlaneShares = 128

// YieldCPU lowers a control-plane container's CPU weight: in a real fleet
// the control plane runs on machines of its own; here it shares the host's
// CPUs with the emulated nodes, so it yields to them when both want a CPU
// (a relative weight: it still gets all the CPU that is free).
func (n Nodes) YieldCPU(ctx context.Context, node string) error {
	_, err := n.run(ctx, nil, "update", "--cpu-shares", strconv.Itoa(ControlPlaneShares), node)
	return err
}

// residentScript sums VmRSS (kB) over every process in the container's
// PID namespace, which includes those of the pods it runs, but not the
// kubectl processes edgesim runs there (its watches and queries).
const residentScript = `for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = kubectl ] || cat $p/status 2>/dev/null; done | awk '$1 == "VmRSS:" {s += $2} END {print s + 0}'`

// ResidentMemory is the resident memory of every process in a node
// container (pods included, edgesim's own kubectl processes not), in
// bytes: the sum of their VmRSS, so pages they share count once per
// process.
func (n Nodes) ResidentMemory(ctx context.Context, node string) (uint64, error) {
	out, err := n.Exec(ctx, node, "sh", "-c", residentScript)
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resident memory of %s: %q: %w", node, strings.TrimSpace(string(out)), err)
	}
	return kb * 1024, nil
}

// nodeVerbs are the runtime verbs of the node faults.
var nodeVerbs = map[provider.ActionKind]string{
	provider.ActionKill: "kill", provider.ActionStart: "start",
	provider.ActionPause: "pause", provider.ActionResume: "unpause",
}

// Inject applies a fault action. Node faults act on the plan node's
// container (container finds it): kill (SIGKILL), start, pause and resume
// (freezer), so the whole Kubernetes node dies or freezes; link faults act
// on the emulated links as on the local provider.
func (n Nodes) Inject(ctx context.Context, a provider.Action, container func(node string) (string, bool), links *Links) error {
	if verb, ok := nodeVerbs[a.Kind]; ok {
		c, ok := container(a.Node)
		if !ok {
			return fmt.Errorf("%s: no node %s", a.Kind, a.Node)
		}
		_, err := n.run(ctx, nil, verb, c)
		return err
	}
	if links == nil {
		return fmt.Errorf("%s: %w", a, errNoLinks)
	}
	return links.links.Apply(ctx, a)
}
