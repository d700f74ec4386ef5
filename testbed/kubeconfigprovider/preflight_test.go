package kubeconfigprovider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/google/go-containerregistry/pkg/registry"

	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// node is a cluster node as `kubectl get nodes -o json` lists it.
func node(name string, ready bool, labels ...string) kindcluster.NodeStatus {
	n := kindcluster.NodeStatus{Name: name, Ready: ready, Labels: map[string]string{}}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		n.Labels[k] = v
	}
	return n
}

// nodeList renders nodes as `kubectl get nodes -o json` does.
func nodeList(nodes ...kindcluster.NodeStatus) string {
	type cond struct{ Type, Status string }
	var items []map[string]any
	for _, n := range nodes {
		status := "False"
		if n.Ready {
			status = "True"
		}
		items = append(items, map[string]any{
			"metadata": map[string]any{"name": n.Name, "labels": n.Labels},
			"status":   map[string]any{"conditions": []map[string]string{{"type": "Ready", "status": status}}},
		})
	}
	b, _ := json.Marshal(map[string]any{"kind": "List", "items": items})
	return string(b)
}

// fakeCluster answers the preflight's kubectl calls as an API server
// would and records them.
type fakeCluster struct {
	calls [][]string
	// version is the error of `get --raw /version` (nil = it answers).
	version error
	// nodes is what `get nodes -o json` prints; nodesErr its error.
	nodes    string
	nodesErr error
	// refuse lists the "verb resource[.group]" the account may not do.
	refuse []string
	// concatenated prints the access reviews one object after another
	// instead of as one List.
	concatenated bool
	// namespaces records the namespace of every namespaced review.
	namespaces []string
}

func (c *fakeCluster) Kubectl(_ context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	c.calls = append(c.calls, args)
	switch {
	case args[0] == "get" && args[1] == "--raw":
		return nil, c.version
	case slices.Equal(args, []string{"get", "nodes", "-o", "json"}):
		return []byte(c.nodes), c.nodesErr
	case slices.Equal(args, []string{"create", "-f", "-", "-o", "json"}):
		var list struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.NewDecoder(stdin).Decode(&list); err != nil {
			return nil, err
		}
		var out bytes.Buffer
		for _, it := range list.Items {
			if _, asked := it["status"]; asked {
				return nil, fmt.Errorf("a question carries an answer: %v", it)
			}
			attrs := it["spec"].(map[string]any)["resourceAttributes"].(map[string]any)
			r := attrs["resource"].(string)
			if sub, ok := attrs["subresource"].(string); ok {
				r += "/" + sub
			}
			if g := attrs["group"].(string); g != "" {
				r += "." + g
			}
			if ns, ok := attrs["namespace"].(string); ok {
				c.namespaces = append(c.namespaces, ns)
			}
			it["status"] = map[string]any{"allowed": !slices.Contains(c.refuse, attrs["verb"].(string)+" "+r)}
		}
		if c.concatenated {
			for _, it := range list.Items {
				b, _ := json.MarshalIndent(it, "", "  ")
				out.Write(append(b, '\n'))
			}
		} else {
			b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": list.Items})
			out.Write(b)
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("unexpected kubectl %v", args)
}

func (c *fakeCluster) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "true")
}

var _ = Describe("Map", func() {
	plan := kubetest.Plan("quickstart", false) // cloud-1, store-1-edge-1, store-1-edge-2, store-1-cams

	It("maps every plan node onto the node labelled with its name", func() {
		m, problems := kp.Map(plan, []kindcluster.NodeStatus{
			node("a", true, "edgesim.dev/node=cloud-1"),
			node("b", true, "edgesim.dev/node=store-1-edge-1"),
			node("c", true, "edgesim.dev/node=store-1-edge-2"),
			node("d", true, "edgesim.dev/node=store-1-cams"),
		}, nil)
		Expect(problems).To(BeEmpty())
		Expect(m).To(Equal(map[string]string{"cloud-1": "a", "store-1-edge-1": "b", "store-1-edge-2": "c", "store-1-cams": "d"}))
	})

	It("names every unmapped plan node with the label line that fixes it, proposing free workers before control planes", func() {
		_, problems := kp.Map(plan, []kindcluster.NodeStatus{
			node("cp", true, "node-role.kubernetes.io/control-plane="),
			node("w1", true, "edgesim.dev/node=cloud-1"),
			node("w2", true),
			node("w3", false), // not Ready: never proposed
			node("w4", true, "edgesim.dev/node=other-run"), // another plan's node: never taken
		}, nil)
		var fixes []string
		for _, p := range problems {
			fixes = append(fixes, p.Fix)
		}
		Expect(fixes).To(Equal([]string{
			"kubectl label node w2 edgesim.dev/node=store-1-edge-1",
			"kubectl label node cp edgesim.dev/node=store-1-edge-2",
			"add a Ready node to the cluster (every Ready node is taken)",
		}))
		Expect(problems[0].What).To(ContainSubstring("plan node store-1-edge-1 (tier edge, site store-1) has no cluster node"))
		Expect(problems[2].What).To(ContainSubstring("store-1-cams"))
	})

	It("refuses two nodes claiming one plan node and a mapped node that is not Ready", func() {
		_, problems := kp.Map(plan, []kindcluster.NodeStatus{
			node("a", true, "edgesim.dev/node=cloud-1"),
			node("b", true, "edgesim.dev/node=cloud-1"),
			node("c", false, "edgesim.dev/node=store-1-edge-1"),
			node("d", true, "edgesim.dev/node=store-1-edge-2"),
			node("e", true, "edgesim.dev/node=store-1-cams"),
		}, nil)
		Expect(problems).To(ConsistOf(
			kp.Problem{What: "nodes a and b both carry edgesim.dev/node=cloud-1", Fix: "kubectl label node b edgesim.dev/node-"},
			kp.Problem{What: "node c (plan node store-1-edge-1) is not Ready", Fix: "kubectl describe node c"},
		))
	})

	It("picks nodes by selector, a site's before its tier's, one plan node per node", func() {
		site, err := kp.ParseSelector("site=store-1:rack=7")
		Expect(err).NotTo(HaveOccurred())
		tier, err := kp.ParseSelector("tier=edge:pool=edge")
		Expect(err).NotTo(HaveOccurred())
		cams, err := kp.ParseSelector("tier=camera:pool=cams")
		Expect(err).NotTo(HaveOccurred())
		m, problems := kp.Map(plan, []kindcluster.NodeStatus{
			node("cloud", true, "edgesim.dev/node=cloud-1"),
			node("e1", true, "pool=edge"),
			node("k1", true, "pool=cams"),
			node("r1", true, "rack=7", "pool=edge"),
			node("r2", true, "rack=7"),
		}, []kp.Selector{tier, cams, site})
		Expect(problems).To(BeEmpty())
		Expect(m).To(Equal(map[string]string{"cloud-1": "cloud", "store-1-edge-1": "r1", "store-1-edge-2": "r2", "store-1-cams": "k1"}),
			"the site's rack takes the edges although e1 matches their tier; the camera host, of the same site, finds the rack full and takes its tier's node")
	})

	It("reads selectors and refuses malformed ones", func() {
		s, err := kp.ParseSelector("tier=camera:zone=lab,arch=arm64")
		Expect(err).NotTo(HaveOccurred())
		Expect(s).To(Equal(kp.Selector{Tier: "camera", Labels: map[string]string{"zone": "lab", "arch": "arm64"}}))
		for _, bad := range []string{"edge:zone=lab", "tier=gpu:zone=lab", "site=:a=b", "tier=edge:zone", "rack=1:a=b", "tier=edge"} {
			_, err := kp.ParseSelector(bad)
			Expect(err).To(MatchError(ContainSubstring("node selector %q", bad)), bad)
		}
	})
})

var _ = Describe("CheckPermissions", func() {
	It("asks every rule in one request, namespaced ones in the run's namespace, and names what is refused", func() {
		c := &fakeCluster{refuse: []string{"create pods/exec", "watch deployments.apps"}}
		problems, err := kp.CheckPermissions(context.Background(), c, "edgesim-r1")
		Expect(err).NotTo(HaveOccurred())
		Expect(c.calls).To(HaveLen(1))
		Expect(c.namespaces).NotTo(BeEmpty())
		Expect(c.namespaces).To(HaveEach("edgesim-r1"))
		Expect(problems).To(HaveLen(1))
		Expect(problems[0].What).To(Equal("the account may not create pods/exec, watch deployments.apps (namespaced ones in edgesim-r1)"))
		Expect(problems[0].Fix).To(ContainSubstring("deploy/kubeconfig/rbac.yaml"))
	})

	It("reads answers printed one object after another as well as a List", func() {
		c := &fakeCluster{concatenated: true, refuse: []string{"list nodes"}}
		problems, err := kp.CheckPermissions(context.Background(), c, "ns")
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(HaveLen(1))
		Expect(problems[0].What).To(HavePrefix("the account may not list nodes ("))
		c = &fakeCluster{concatenated: true}
		Expect(kp.CheckPermissions(context.Background(), c, "ns")).To(BeEmpty())
	})

	It("ships deploy/kubeconfig/rbac.yaml as Rules make it", func() {
		want, err := kp.RBAC()
		Expect(err).NotTo(HaveOccurred())
		got, err := os.ReadFile("../../deploy/kubeconfig/rbac.yaml")
		Expect(err).NotTo(HaveOccurred(), "write it with: go test ./testbed/kubeconfigprovider/ -args -update-rbac")
		if *updateRBAC {
			Expect(os.WriteFile("../../deploy/kubeconfig/rbac.yaml", want, 0o644)).To(Succeed())
			got = want
		}
		Expect(string(got)).To(Equal(string(want)))
		docs := kubetest.Docs(want)
		Expect(docs).To(HaveKey("ClusterRole/edgesim"))
		Expect(kubetest.Dig(docs["ClusterRole/edgesim"], "rules")).To(HaveLen(len(kp.Rules)))
	})
})

var _ = Describe("Preflight", func() {
	plan := kubetest.Plan("quickstart", false)
	labelled := nodeList(
		node("a", true, "edgesim.dev/node=cloud-1"),
		node("b", true, "edgesim.dev/node=store-1-edge-1"),
		node("c", true, "edgesim.dev/node=store-1-edge-2"),
		node("d", true, "edgesim.dev/node=store-1-cams"),
	)

	It("returns the mapping of a cluster that holds the plan", func() {
		c := &fakeCluster{nodes: labelled}
		m, err := kp.Preflight(context.Background(), c, plan, "edgesim-r1", nil, nodecontainer.Registry{})
		Expect(err).NotTo(HaveOccurred())
		Expect(m).To(HaveLen(4))
		Expect(m["store-1-cams"]).To(Equal("d"))
	})

	It("stops at an API server that does not answer, asking nothing more", func() {
		c := &fakeCluster{version: fmt.Errorf("kubectl get: %w: connection refused", kp.ErrUnreachable)}
		_, err := kp.Preflight(context.Background(), c, plan, "ns", nil, nodecontainer.Registry{})
		Expect(err).To(MatchError(kp.ErrUnreachable))
		Expect(c.calls).To(HaveLen(1))
	})

	It("says credentials refused, not unreachable, when the API server answers Unauthorized", func() {
		c := &fakeCluster{version: fmt.Errorf("kubectl get: %w: You must be logged in to the server (Unauthorized)", kp.ErrUnauthorized)}
		_, err := kp.Preflight(context.Background(), c, plan, "ns", nil, nodecontainer.Registry{})
		Expect(err).To(MatchError(kp.ErrUnauthorized))
		Expect(err).NotTo(MatchError(kp.ErrUnreachable))
	})

	It("lists every problem together: permissions refused and plan nodes unmapped", func() {
		c := &fakeCluster{refuse: []string{"create namespaces"}, nodes: nodeList(node("a", true, "edgesim.dev/node=cloud-1"), node("x", true))}
		_, err := kp.Preflight(context.Background(), c, plan, "ns", nil, nodecontainer.Registry{})
		var pe *kp.PreflightError
		Expect(errors.As(err, &pe)).To(BeTrue())
		Expect(pe.Problems).To(HaveLen(4), "the permission and three plan nodes")
		Expect(err.Error()).To(HavePrefix("the cluster cannot hold the plan (4 problems):\n  - the account may not create namespaces"))
		Expect(err.Error()).To(ContainSubstring("\nto fix it:\n  kubectl apply -f deploy/kubeconfig/rbac.yaml"))
		Expect(err.Error()).To(ContainSubstring("\n  kubectl label node x edgesim.dev/node=store-1-edge-1\n"))
	})

	It("checks that this machine can push to the registry, listing one that does not answer with the rest", func(ctx SpecContext) {
		reg := httptest.NewServer(registry.New())
		DeferCleanup(reg.Close)
		c := &fakeCluster{nodes: labelled}
		_, err := kp.Preflight(ctx, c, plan, "ns", nil, nodecontainer.Registry{Name: reg.Listener.Addr().String()})
		Expect(err).NotTo(HaveOccurred())

		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		gone := l.Addr().String()
		Expect(l.Close()).To(Succeed())
		c = &fakeCluster{refuse: []string{"create namespaces"}, nodes: labelled}
		_, err = kp.Preflight(ctx, c, plan, "ns", nil, nodecontainer.Registry{Name: gone})
		var pe *kp.PreflightError
		Expect(errors.As(err, &pe)).To(BeTrue())
		Expect(pe.Problems).To(HaveLen(2), "the permission and the registry")
		Expect(pe.Problems[1].What).To(HavePrefix("this machine cannot push the workload images to " + gone + ": "))
		Expect(pe.Problems[1].What).To(ContainSubstring("connection refused"))
		Expect(err.Error()).To(ContainSubstring("--insecure-registry"))
	})

	It("reports an account that may not list nodes as a permission problem, not a failure", func() {
		c := &fakeCluster{refuse: []string{"list nodes"}, nodesErr: fmt.Errorf("kubectl get nodes: %w: nodes is forbidden", kp.ErrForbidden)}
		_, err := kp.Preflight(context.Background(), c, plan, "ns", nil, nodecontainer.Registry{})
		var pe *kp.PreflightError
		Expect(errors.As(err, &pe)).To(BeTrue())
		Expect(pe.Problems).To(HaveLen(1))
		Expect(pe.Problems[0].What).To(ContainSubstring("list nodes"))
	})
})

var _ = Describe("access", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })

	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		Expect(os.WriteFile(p, []byte(text), 0o600)).To(Succeed())
		return p
	}
	const kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: lab\ncontexts:\n- name: lab\n  context: {cluster: lab, user: me}\n- name: rack\n  context: {cluster: rack, user: me}\n"

	It("resolves the context a kubeconfig names or its current one, and refuses one it lacks", func() {
		p := write("config", kubeconfig)
		Expect(kp.CheckKubeconfig(kp.Target{Kubeconfig: p})).To(Equal("lab"))
		Expect(kp.CheckKubeconfig(kp.Target{Kubeconfig: p, Context: "rack"})).To(Equal("rack"))
		_, err := kp.CheckKubeconfig(kp.Target{Kubeconfig: p, Context: "prod"})
		Expect(err).To(MatchError(kp.ErrNoContext))
		Expect(err).To(MatchError(ContainSubstring(`"prod" (it has: lab, rack)`)))
		_, err = kp.CheckKubeconfig(kp.Target{Kubeconfig: write("nocurrent", "contexts: []\n")})
		Expect(err).To(MatchError(ContainSubstring("sets no current-context; name one with --context (it has: none)")))
		_, err = kp.CheckKubeconfig(kp.Target{Kubeconfig: filepath.Join(dir, "missing")})
		Expect(err).To(MatchError(ContainSubstring("--kubeconfig")))
		_, err = kp.CheckKubeconfig(kp.Target{Kubeconfig: write("garbage", "contexts: {{{")})
		Expect(err).To(MatchError(ContainSubstring("not a kubeconfig file")))
	})

	// fakeKubectl is a kubectl that prints its arguments and exits with
	// kubectl's error when $FAIL is set.
	fakeKubectl := func(stderr string) string {
		script := "#!/bin/sh\necho \"$@\"\n"
		if stderr != "" {
			script += fmt.Sprintf("echo %q >&2\nexit 1\n", stderr)
		}
		p := write("kubectl", script)
		Expect(os.Chmod(p, 0o755)).To(Succeed())
		return p
	}

	It("runs kubectl with the kubeconfig and the context before the arguments", func() {
		k := &kp.Kubectl{Path: fakeKubectl(""), Target: kp.Target{Kubeconfig: "/k/config", Context: "rack"}}
		out, err := k.Kubectl(context.Background(), nil, "get", "nodes")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal("--kubeconfig /k/config --context rack get nodes\n"))
		Expect(k.KubectlCommand(context.Background(), "get", "pods", "--watch").Args[1:]).To(Equal([]string{"--kubeconfig", "/k/config", "--context", "rack", "get", "pods", "--watch"}))
	})

	DescribeTable("classifies kubectl's failures and says what to do",
		func(stderr string, want error, advice string) {
			k := &kp.Kubectl{Path: fakeKubectl(stderr), Target: kp.Target{Kubeconfig: "/k/config"}}
			_, err := k.Kubectl(context.Background(), nil, "get", "nodes")
			Expect(err).To(MatchError(want))
			Expect(err).To(MatchError(ContainSubstring(stderr)))
			Expect(err).To(MatchError(ContainSubstring(advice)))
		},
		Entry("refused connection", "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?", kp.ErrUnreachable, "is reachable from this machine"),
		Entry("timeout", "Unable to connect to the server: dial tcp 10.0.0.9:6443: i/o timeout", kp.ErrUnreachable, "is reachable"),
		Entry("expired token", "error: You must be logged in to the server (Unauthorized)", kp.ErrUnauthorized, "renew"),
		Entry("no credentials", "error: You must be logged in to the server (the server has asked for the client to provide credentials)", kp.ErrUnauthorized, "renew"),
		Entry("missing context", `error: context "prod" does not exist`, kp.ErrNoContext, "get-contexts"),
		Entry("RBAC", `Error from server (Forbidden): nodes is forbidden: User "dev" cannot list resource "nodes" in API group "" at the cluster scope`, kp.ErrForbidden, "rbac.yaml"),
	)

	It("finds kubectl on PATH, else the newest complete one `edgesim image node` built", func() {
		onPath := func(string) (string, error) { return "/usr/bin/kubectl", nil }
		notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }
		Expect(kp.FindKubectl(onPath, dir)).To(Equal("/usr/bin/kubectl"))
		_, err := kp.FindKubectl(notOnPath, dir)
		Expect(err).To(MatchError(ContainSubstring("kubectl not found: install it on PATH")))
		for _, b := range []struct {
			name     string
			complete bool
		}{{"kubernetes@v1.34.4", true}, {"kubernetes@v1.35.0", false}} {
			d := filepath.Join(dir, "bin", b.name)
			Expect(os.MkdirAll(d, 0o755)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(d, "kubectl"), nil, 0o755)).To(Succeed())
			if b.complete {
				Expect(os.WriteFile(filepath.Join(d, ".complete"), nil, 0o644)).To(Succeed())
			}
		}
		Expect(kp.FindKubectl(notOnPath, dir)).To(Equal(filepath.Join(dir, "bin", "kubernetes@v1.34.4", "kubectl")),
			"the unfinished build is never used")
	})
})
