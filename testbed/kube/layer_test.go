package kube_test

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

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
	}
	return nil, nil
}

func (c *fakeCluster) KubectlCommand(ctx context.Context, _ ...string) *exec.Cmd {
	if c.watch != "" {
		return exec.CommandContext(ctx, "echo", c.watch)
	}
	return exec.CommandContext(ctx, "true")
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

// fakeMachines answers Exec with the machine's name.
type fakeMachines struct{ execs [][]string }

func (m *fakeMachines) Exec(_ context.Context, node string, argv ...string) ([]byte, error) {
	m.execs = append(m.execs, append([]string{node}, argv...))
	return []byte(node + "\n"), nil
}

func (m *fakeMachines) CopyFrom(context.Context, string, string, string) error { return nil }

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

	It("has no events and no alerts before any cluster is added", func(ctx SpecContext) {
		empty, err := kube.New(plan, machines, cfg, kube.Config{Dir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(empty.ClusterEvents(ctx)).To(BeEmpty())
		Expect(empty.Alerts(ctx)).To(BeEmpty())
	})
})
