package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Rollouts on a Kubernetes provider (provider.ModelRoller). The model is
// served from the first cloud node's machine, on its emulated address, and
// each site fetches it from inside the machine of its first edge node, so
// its bytes cross the site's uplink as on the local provider. The switch
// happens on the node, the way an edge box updates itself over the air:
// the edgenode pods of a rolled-out site load their model from the node's
// disk (ModelsDir, mounted read-only) through a link named currentModel;
// SwapModel copies the model onto the node, moves the link and asks the
// pod's edgenode to reload (POST /admin/model, a hot swap that keeps the
// camera streams), then waits for /readyz. A pod replaced later (a node
// fault, a rescheduling) starts with the model the link names, so the
// rollout outlives the pod. Replacing the pods instead (a Deployment
// rollout) would end every stream of the pod: its cameras reconnect to
// their next endpoint, the cloud, and stay there, so a gate would never
// see the new model's answers.

const (
	// swapMount is where an edgenode pod of a rolled-out site sees its
	// node's ModelsDir.
	swapMount = "/var/lib/edgesim-models"
	// currentModel is the link, in ModelsDir, to the model the pods load;
	// initialModel the directory of the model the plan started them with.
	currentModel = "current"
	initialModel = "initial"
)

// ModelsDir is the directory, on each node of a rolled-out site, holding
// the models of the site's edgenode Deployment name.
func ModelsDir(name string) string { return HostDataDir + "/models/" + name }

// swapTimeout bounds how long SwapModel waits for the edgenode to take
// the reload and serve.
const swapTimeout = time.Minute

// rolloutState is what rollouts changed: the model directory each node
// runs ("" = the plan's).
type rolloutState struct {
	mu     sync.Mutex
	models map[string]string
}

// stageModels puts the plan's model of every rolled-out site on each of
// its nodes (ModelsDir/initialModel, linked as currentModel) before the
// pods start.
func (l *Layer) stageModels(ctx context.Context) error {
	var initial string
	for _, n := range l.plan.NodesOf(provider.RoleEdge) {
		if !rolledSite(l.plan, n) {
			continue
		}
		_, k := l.where(n.Name)
		if k == "" {
			return fmt.Errorf("edge node %s is in no cluster", n.Name)
		}
		if initial == "" {
			dir, err := provider.PlanModel(l.plan, l.cfg.Dir)
			if err != nil {
				return err
			}
			initial = dir
		}
		base := ModelsDir(EdgenodeName(n.Site))
		if err := l.copyModel(ctx, k, initial, base+"/"+initialModel); err != nil {
			return err
		}
		if err := l.machines.Symlink(ctx, k, initialModel, base+"/"+currentModel); err != nil {
			return fmt.Errorf("node %s: link the initial model: %w", n.Name, err)
		}
	}
	return nil
}

// copyModel copies the model directory src onto machine k at dst, unless
// a model is there already (models are never changed in place).
func (l *Layer) copyModel(ctx context.Context, k, src, dst string) error {
	present, err := l.machines.Exists(ctx, k, dst+"/manifest.json")
	if err != nil {
		return fmt.Errorf("machine %s: %w", k, err)
	}
	if present {
		return nil
	}
	if err := l.machines.CopyTo(ctx, k, src, dst); err != nil {
		return fmt.Errorf("copy model %s onto %s: %w", src, k, err)
	}
	return nil
}

// ModelDir implements provider.ModelRoller: the directory a rollout
// switched node to ("" = the plan's model).
func (l *Layer) ModelDir(node string) string {
	l.rollouts.mu.Lock()
	defer l.rollouts.mu.Unlock()
	return l.rollouts.models[node]
}

// SwapModel implements provider.ModelRoller: it copies dir onto node's
// machine (once), points the node's currentModel link at it ("" = the
// plan's model), has the edgenode pod on the node reload and waits until
// it is ready; it returns the model the pod serves.
func (l *Layer) SwapModel(ctx context.Context, node, dir string) (string, error) {
	n, ok := l.plan.Node(node)
	m, k := l.where(node)
	if !ok || m == nil || !rolledSite(l.plan, n) {
		return "", fmt.Errorf("%s is not an edge node of a rolled-out site", node)
	}
	start := time.Now()
	base := ModelsDir(EdgenodeName(n.Site))
	target := initialModel
	if dir != "" {
		sum := sha256.Sum256([]byte(dir))
		target = "m-" + hex.EncodeToString(sum[:6])
		if err := l.copyModel(ctx, k, dir, base+"/"+target); err != nil {
			return "", err
		}
	}
	if err := l.machines.Symlink(ctx, k, target, base+"/"+currentModel); err != nil {
		return "", fmt.Errorf("node %s: move the model link: %w", node, err)
	}
	placed := time.Since(start)
	l.rollouts.mu.Lock()
	if l.rollouts.models == nil {
		l.rollouts.models = map[string]string{}
	}
	l.rollouts.models[node] = dir
	l.rollouts.mu.Unlock()
	h, err := l.host(node)
	if err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, swapTimeout)
	defer cancel()
	ip, err := l.waitPodIP(wctx, m, EdgenodeName(n.Site), k)
	if err != nil {
		return "", err
	}
	c := provider.NetnsClient(h, false)
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(l.edgenodePort()))
	served, err := provider.ReloadModel(wctx, c, url, l.Manifests.Token)
	if err != nil {
		return "", fmt.Errorf("hot-swap %s: %w", node, err)
	}
	if err := provider.WaitReady(wctx, c, url+"/readyz", nil); err != nil {
		return served, fmt.Errorf("%s not ready after the swap: %w", node, err)
	}
	l.logf("%s serves %s: model on the node and linked in %s, reloaded and ready %s later", node, served, placed.Round(time.Millisecond), (time.Since(start) - placed).Round(time.Millisecond))
	return served, nil
}

// waitPodIP asks for podIP until it answers or ctx ends: a kubectl call
// that timed out on a busy host, or a pod that is restarting, is not a
// failed swap yet.
func (l *Layer) waitPodIP(ctx context.Context, m *Member, name, k string) (string, error) {
	for {
		ip, err := l.podIP(ctx, m, name, k)
		if err == nil {
			return ip, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(provider.ReloadRetry):
		}
	}
}

// podIP is the IP of the running edgenode pod of Deployment name on k.
func (l *Layer) podIP(ctx context.Context, m *Member, name, k string) (string, error) {
	out, err := m.Cluster.Kubectl(ctx, nil, "-n", l.Manifests.Ns(), "get", "pods", "-l", labelApp+"="+name,
		"--field-selector", "spec.nodeName="+k+",status.phase=Running",
		"-o", `jsonpath={range .items[*]}{.status.podIP} {.metadata.deletionTimestamp}{"\n"}{end}`)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 1 {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("no running edgenode pod of %s on %s", name, k)
}

func (l *Layer) host(node string) (netem.EngineHost, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.hosts[node]
	if !ok {
		return nil, fmt.Errorf("node %s has no emulated host (the links are not attached)", node)
	}
	return h, nil
}

// ServeModel implements provider.ModelRoller (provider.ServeModel on the
// first cloud node's machine).
func (l *Layer) ServeModel(_ context.Context, dir string, files []string) (string, func(), error) {
	cloud := l.plan.NodesOf(provider.RoleCloud)
	if len(cloud) == 0 {
		return "", nil, errors.New("no cloud node to serve the model from")
	}
	h, err := l.host(cloud[0].Name)
	if err != nil {
		return "", nil, err
	}
	return provider.ServeModel(h, dir, files)
}

// FetchModel implements provider.ModelRoller (provider.FetchModel from
// node's machine).
func (l *Layer) FetchModel(ctx context.Context, node, url string, files []string, dst string) (int64, error) {
	h, err := l.host(node)
	if err != nil {
		return 0, err
	}
	return provider.FetchModel(ctx, h, url, files, dst)
}

// edgenodePort is the port of the edgenode pods (EdgenodePort; specs
// replace it).
func (l *Layer) edgenodePort() int {
	if l.podPort != 0 {
		return l.podPort
	}
	return EdgenodePort
}
