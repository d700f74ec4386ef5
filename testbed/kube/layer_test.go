package kube_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/provider"
)

// fakeCluster answers kubectl as a cluster would for the layer's calls and
// records them; its watch streams end at once.
type fakeCluster struct {
	mu      sync.Mutex
	calls   [][]string
	applied []string // the rendered objects of every apply
	nodes   string   // the answer to the node readiness query
	watch   string   // what its watch streams, if anything
	raw     string   // the answer to `kubectl get --raw`
	// pods answers a pod query by label and node (a rollout's wait), given
	// the label selector and the field selector.
	pods func(labels, fields string) string
}

func (c *fakeCluster) Kubectl(_ context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, args)
	switch {
	case slices.Equal(args, []string{"apply", "-f", "-"}):
		b, _ := io.ReadAll(stdin)
		c.applied = append(c.applied, string(b))
	case len(args) > 3 && args[0] == "get" && args[1] == "nodes" && strings.Contains(args[3], ".status.conditions"):
		return []byte(c.nodes), nil
	case len(args) == 3 && args[0] == "get" && args[1] == "--raw":
		return []byte(c.raw), nil
	case c.pods != nil && slices.Contains(args, "--field-selector"):
		return []byte(c.pods(args[slices.Index(args, "-l")+1], args[slices.Index(args, "--field-selector")+1])), nil
	}
	return nil, nil
}

func (c *fakeCluster) KubectlCommand(ctx context.Context, _ ...string) *exec.Cmd {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch != "" {
		return exec.CommandContext(ctx, "echo", c.watch)
	}
	return exec.CommandContext(ctx, "true")
}

// streams makes the cluster's watches stream watch from their next start.
func (c *fakeCluster) streams(watch string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watch = watch
}

// oneCluster is a cluster that holds every plan node, each Kubernetes
// node named after its machine.
func oneCluster(plan *provider.Plan, c *fakeCluster) *kube.Member {
	m := &kube.Member{Name: "one", Cluster: c}
	for _, n := range plan.Nodes {
		m.Nodes = append(m.Nodes, kube.NodeName{Plan: n.Name, Kube: "k-" + n.Name})
	}
	return m
}

func (c *fakeCluster) ran(verb string) [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]string
	for _, a := range c.calls {
		if slices.Contains(a, verb) {
			out = append(out, a)
		}
	}
	return out
}

// fakeMachines records every call as [node, verb, args...], reads every
// file as the machine's name, and says a model directory is on the machine
// when present is set.
type fakeMachines struct {
	execs   [][]string
	present bool
}

func (m *fakeMachines) record(node string, call ...string) {
	m.execs = append(m.execs, append([]string{node}, call...))
}

func (m *fakeMachines) Probe(_ context.Context, node, url string) error {
	m.record(node, "probe", url)
	return nil
}

func (m *fakeMachines) ReadFile(_ context.Context, node, path string) ([]byte, error) {
	m.record(node, "read", path)
	return []byte(node + "\n"), nil
}

func (m *fakeMachines) Exists(_ context.Context, node, path string) (bool, error) {
	m.record(node, "exists", path)
	return m.present, nil
}

func (m *fakeMachines) Symlink(_ context.Context, node, target, link string) error {
	m.record(node, "symlink", target, link)
	return nil
}

func (m *fakeMachines) CopyFrom(context.Context, string, string, string) error { return nil }

func (m *fakeMachines) CopyTo(_ context.Context, node, src, dst string) error {
	m.record(node, "copy", src, dst)
	return nil
}

var _ = Describe("the Kubernetes layer on a provider's clusters", func() {
	var (
		plan     *provider.Plan
		machines *fakeMachines
		cloud    *fakeCluster
		site     *fakeCluster
		layer    *kube.Layer
		dir      string
	)
	BeforeEach(func() {
		plan = kubetest.Plan("quickstart", false)
		machines, cloud, site = &fakeMachines{}, &fakeCluster{}, &fakeCluster{
			watch: `{"kind":"Pod","metadata":{"name":"edgenode-store-1-a","labels":{"app.kubernetes.io/name":"edgenode-store-1"}},"spec":{"nodeName":"k-store-1-edge-1"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}`,
			raw:   "edgenode_frames_total 3\n",
		}
		dir = GinkgoT().TempDir()
		var err error
		layer, err = kube.New(plan, machines, cfg, kube.Config{Dir: dir})
		Expect(err).NotTo(HaveOccurred())
		// Two clusters as the federated layout makes them: the cloud's and
		// the site's, each Kubernetes node named after its machine.
		cm := &kube.Member{Name: "c", Sites: []string{kube.CloudSite}, Cluster: cloud}
		sm := &kube.Member{Name: "s1", Sites: []string{"store-1"}, Cluster: site}
		for _, n := range plan.Nodes {
			m := sm
			if n.Role == provider.RoleCloud {
				m = cm
			}
			m.Nodes = append(m.Nodes, kube.NodeName{Plan: n.Name, Kube: "k-" + n.Name})
		}
		layer.Add(cm)
		layer.Add(sm)
		DeferCleanup(layer.Close, context.Background())
	})

	It("applies to each cluster the objects of its sites, cloud first, and waits for its Deployments", func(ctx SpecContext) {
		Expect(layer.Deploy(ctx)).To(Succeed())
		Expect(cloud.applied).To(HaveLen(1))
		Expect(site.applied).To(HaveLen(1))
		Expect(cloud.applied[0]).To(ContainSubstring("name: edgenode-cloud\n"))
		Expect(cloud.applied[0]).NotTo(ContainSubstring("name: edgenode-store-1\n"))
		Expect(site.applied[0]).To(ContainSubstring("name: edgenode-store-1\n"))
		Expect(site.applied[0]).NotTo(ContainSubstring("name: edgenode-cloud\n"))
		for _, applied := range []string{cloud.applied[0], site.applied[0]} {
			Expect(applied).To(ContainSubstring("kind: Namespace\n"), "the namespace goes everywhere")
		}
		Expect(cloud.ran("rollout")).To(ConsistOf(ContainElement("deployment/edgenode-cloud")))
		Expect(site.ran("rollout")).To(ConsistOf(ContainElement("deployment/edgenode-store-1")))
		Expect(filepath.Join(dir, "manifests-c-edgenodes.yaml")).To(BeARegularFile())
		Expect(filepath.Join(dir, "manifests-s1-edgenodes.yaml")).To(BeARegularFile())
	})

	It("reads an edgenode's /metrics through the API server's pod proxy, and says when no edgenode runs on the node", func(ctx SpecContext) {
		Eventually(func() []string { return layer.Edgenodes("store-1-edge-1") }).Should(ConsistOf("edgenode-store-1-a"))
		body, err := layer.EdgenodeMetrics(ctx, "store-1-edge-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(io.ReadAll(body)).To(BeEquivalentTo("edgenode_frames_total 3\n"))
		Expect(site.ran("--raw")).To(Equal([][]string{{"get", "--raw", "/api/v1/namespaces/edgesim/pods/edgenode-store-1-a:8080/proxy/metrics"}}))

		_, err = layer.EdgenodeMetrics(ctx, "store-1-edge-2")
		Expect(err).To(MatchError("no edgenode pod runs on store-1-edge-2"))
		_, err = (&kube.Base{}).EdgenodeMetrics(ctx, "store-1-edge-1")
		Expect(err).To(MatchError("no cluster yet"))
	})

	It("reads the alerts from the machines of the cloud nodes", func(ctx SpecContext) {
		b, err := layer.Alerts(ctx)
		Expect(err).NotTo(HaveOccurred())
		cloudNode := plan.NodesOf(provider.RoleCloud)[0].Name
		Expect(string(b)).To(Equal("k-" + cloudNode + "\n"))
		Expect(machines.execs).To(ConsistOf(ContainElement(ContainSubstring("/var/lib/edgesim/alerts/alerts.jsonl"))))
	})

	It("describes exactly the nodes that are not Ready when diagnosing", func(ctx SpecContext) {
		site.nodes = "s1-control-plane True\nk-a True\nk-b False\nk-c Unknown\nk-d \n"
		var titles []string
		for _, d := range layer.Diagnose(ctx) {
			titles = append(titles, d.Title)
		}
		Expect(titles).To(ContainElements("c: Nodes", "s1: Pods", "s1: Node k-b (not Ready)", "s1: Node k-c (not Ready)", "s1: Node k-d (not Ready)"))
		Expect(titles).NotTo(ContainElement(ContainSubstring("k-a")))
		Expect(titles).NotTo(ContainElement(HavePrefix("c: Node ")))
	})

	Describe("a node fault", func() {
		node := func(ready string) string {
			return `{"kind":"Node","metadata":{"name":"k-store-1-edge-2"},"status":{"conditions":[{"type":"Ready","status":"` + ready + `","reason":"NodeStatusUnknown"}]}}`
		}
		var (
			faulted *kube.Layer
			log     *gbytes.Buffer
			cluster *fakeCluster
		)
		BeforeEach(func() {
			log, cluster = gbytes.NewBuffer(), &fakeCluster{watch: node("True")}
			var err error
			faulted, err = kube.New(plan, machines, cfg, kube.Config{Dir: GinkgoT().TempDir(), Log: log, NodeGracePeriod: 10 * time.Second})
			Expect(err).NotTo(HaveOccurred())
			faulted.Add(oneCluster(plan, cluster))
			DeferCleanup(faulted.Close, context.Background())
			Eventually(log).Should(gbytes.Say("kubectl get nodes --watch -o json ended; watching again"), "the node's first sight, Ready, is the watch's baseline")
		})

		It("keeps the failover breakdown waiting until the clusters see a killed node NotReady", func(ctx SpecContext) {
			faulted.NodeFault(provider.Action{Kind: provider.ActionKill, Node: "store-1-edge-2"})
			events := make(chan []evidence.ClusterEvent, 1)
			go func() { events <- faulted.ClusterEvents(ctx) }()
			Eventually(log).Should(gbytes.Say(`waiting up to 5[45]s for Kubernetes to mark store-1-edge-2 NotReady\n`), "the grace period (10 s), the toleration (0 s here) and settleLimit (45 s)")
			Consistently(events, 1500*time.Millisecond).ShouldNot(Receive(), "the run ended before Kubernetes noticed")
			cluster.streams(node("Unknown"))
			var evs []evidence.ClusterEvent
			Eventually(events, 5*time.Second).Should(Receive(&evs))
			Expect(evs).To(ContainElement(And(HaveField("Kind", evidence.NodeNotReady), HaveField("Node", "store-1-edge-2"), HaveField("Detail", "NodeStatusUnknown"))))
		})

		It("does not wait for a node started again, nor for a link fault", func(ctx SpecContext) {
			faulted.NodeFault(provider.Action{Kind: provider.ActionPause, Node: "store-1-edge-2"})
			faulted.NodeFault(provider.Action{Kind: provider.ActionResume, Node: "store-1-edge-2"})
			faulted.NodeFault(provider.Action{Kind: provider.ActionPartition, Link: "store-1-uplink"})
			Expect(faulted.ClusterEvents(ctx)).To(BeEmpty())
			Expect(log).NotTo(gbytes.Say("waiting up to"))
		})

		It("stops waiting at its bound or when its context ends, and says so", func(ctx SpecContext) {
			faulted.NodeFault(provider.Action{Kind: provider.ActionKill, Node: "store-1-edge-2"})
			c, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			Expect(faulted.ClusterEvents(c)).To(BeEmpty())
			Expect(log).To(gbytes.Say("for Kubernetes to mark store-1-edge-2 NotReady"))
		})
	})

	It("has no events and no alerts before any cluster is added", func(ctx SpecContext) {
		empty, err := kube.New(plan, machines, cfg, kube.Config{Dir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(empty.ClusterEvents(ctx)).To(BeEmpty())
		Expect(empty.Alerts(ctx)).To(BeEmpty())
	})

	Describe("a rollout", func() {
		var (
			int8   string
			server *httptest.Server
			posts  []string
		)
		BeforeEach(func() {
			int8 = filepath.Join("..", "..", "runtime", "models", "edgesim-det", "v2-int8")
			plan.Scenario.Rollouts = []scenarios.Rollout{{Name: "r", Batches: [][]string{{"store-1"}}}}
			mc := cfg
			mc.Token = "run-token-1"
			var err error
			layer, err = kube.New(plan, machines, mc, kube.Config{Dir: dir})
			Expect(err).NotTo(HaveOccurred())
			layer.Add(oneCluster(plan, site))
			DeferCleanup(layer.Close, context.Background())
			// The edgenode pod: answers the reload with the run token.
			posts = nil
			serving := "edgesim-det@v2-int8"
			server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodPost && r.URL.Path == "/admin/model":
					posts = append(posts, r.Header.Get("Authorization"))
					fmt.Fprintln(w, "serving "+serving)
				case r.URL.Path == "/readyz":
				default:
					http.NotFound(w, r)
				}
			}))
			DeferCleanup(server.Close)
			_, port, _ := net.SplitHostPort(server.Listener.Addr().String())
			p, _ := strconv.Atoi(port)
			kube.SetEmulated(layer, map[string]netem.EngineHost{"store-1-edge-1": loopbackHost{}, "store-1-edge-2": loopbackHost{}}, p)
			site.pods = func(labels, fields string) string {
				if labels == "app.kubernetes.io/name=edgenode-store-1" && strings.HasPrefix(fields, "spec.nodeName=k-store-1-edge-") {
					return "127.0.0.1 \n"
				}
				return ""
			}
		})

		It("stages the plan's model on the site's nodes and points its pods at the node's link", func(ctx SpecContext) {
			Expect(layer.Deploy(ctx)).To(Succeed())
			base := "/var/lib/edgesim/models/edgenode-store-1"
			for _, k := range []string{"k-store-1-edge-1", "k-store-1-edge-2"} {
				Expect(machines.execs).To(ContainElement([]string{k, "copy", filepath.Join(dir, "models", "initial"), base + "/initial"}))
				Expect(machines.execs).To(ContainElement([]string{k, "symlink", "initial", base + "/current"}))
			}
			Expect(filepath.Join(dir, "models", "initial", "manifest.json")).To(BeARegularFile(), "the embedded model, copied out")
			Expect(site.applied[0]).To(ContainSubstring("path: " + base + "\n"))
			Expect(site.applied[0]).To(ContainSubstring(`model: /var/lib/edgesim-models/current`))
			Expect(machines.execs).NotTo(ContainElement(HaveExactElements(HavePrefix("k-cloud"), "symlink", "initial", HaveSuffix("/current"))), "the cloud is not rolled out")
		})

		It("copies the model onto the node once, moves the link, reloads the pod's edgenode with the run token and reports what it serves; back to the plan's model alike", func(ctx SpecContext) {
			Expect(layer.ModelDir("store-1-edge-1")).To(BeEmpty())
			Expect(layer.SwapModel(ctx, "store-1-edge-1", int8)).To(Equal("edgesim-det@v2-int8"))
			Expect(layer.ModelDir("store-1-edge-1")).To(Equal(int8))
			Expect(layer.ModelDir("store-1-edge-2")).To(BeEmpty(), "only the node asked")
			Expect(posts).To(Equal([]string{"Bearer run-token-1"}))
			copies := func() int {
				n := 0
				for _, e := range machines.execs {
					if len(e) > 1 && e[1] == "copy" {
						n++
					}
				}
				return n
			}
			Expect(copies()).To(Equal(1))
			Expect(machines.execs[len(machines.execs)-1]).To(HaveExactElements("k-store-1-edge-1", "symlink", MatchRegexp(`^m-[0-9a-f]{12}$`), "/var/lib/edgesim/models/edgenode-store-1/current"))

			machines.present = true // the model is on the node now
			Expect(layer.SwapModel(ctx, "store-1-edge-1", int8)).To(Equal("edgesim-det@v2-int8"))
			Expect(copies()).To(Equal(1), "not copied twice")
			Expect(layer.SwapModel(ctx, "store-1-edge-1", "")).NotTo(BeEmpty())
			Expect(machines.execs[len(machines.execs)-1]).To(HaveExactElements("k-store-1-edge-1", "symlink", "initial", "/var/lib/edgesim/models/edgenode-store-1/current"))
			Expect(layer.ModelDir("store-1-edge-1")).To(BeEmpty())
			Expect(copies()).To(Equal(1))

			_, err := layer.SwapModel(ctx, plan.NodesOf(provider.RoleCloud)[0].Name, int8)
			Expect(err).To(MatchError(ContainSubstring("is not an edge node of a rolled-out site")))
		})

		It("waits for the node's edgenode pod to be running before it reloads it", func(ctx SpecContext) {
			asked := 0
			site.pods = func(labels, fields string) string {
				if asked++; asked < 3 {
					return "" // restarting
				}
				return "127.0.0.1 \n"
			}
			Expect(layer.SwapModel(ctx, "store-1-edge-1", int8)).To(Equal("edgesim-det@v2-int8"))
			Expect(asked).To(Equal(3))
			Expect(posts).To(HaveLen(1))
		})

		It("says which pod is missing, and cannot serve or fetch before the links are attached", func(ctx SpecContext) {
			site.pods = func(string, string) string { return "" }
			sctx, cancel := context.WithTimeout(ctx, 3*provider.ReloadRetry)
			defer cancel()
			_, err := layer.SwapModel(sctx, "store-1-edge-2", int8)
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Expect(err).To(MatchError(ContainSubstring("no running edgenode pod of edgenode-store-1 on k-store-1-edge-2")))
			Expect(posts).To(BeEmpty())
			kube.SetEmulated(layer, nil, 0)
			_, _, err = layer.ServeModel(ctx, GinkgoT().TempDir(), nil)
			Expect(err).To(MatchError(ContainSubstring("the links are not attached")))
			_, err = layer.FetchModel(ctx, "store-1-edge-1", "http://127.0.0.1:1", nil, GinkgoT().TempDir())
			Expect(err).To(MatchError(ContainSubstring("the links are not attached")))
		})
	})
})

// loopbackHost is an emulated host that is this process's own network.
type loopbackHost struct{}

func (loopbackHost) Name() string             { return "loopback" }
func (loopbackHost) Address() net.IP          { return net.IPv4(127, 0, 0, 1) }
func (loopbackHost) NetnsPath() string        { return "" }
func (loopbackHost) NetnsName() string        { return "" }
func (loopbackHost) Do(fn func() error) error { return fn() }
