package cluster_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/k3s/cluster"
	"github.com/edgesim/edgesim/testbed/k3s/k3simage"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

// The cluster spec builds (or reuses) the K3s node image, brings up a
// server and one agent as Podman containers, waits for both nodes to be
// Ready, runs an HTTP server pod on the server node and reaches it from a
// pod on the agent (pod to pod across nodes), then deletes the cluster and
// checks that nothing of it is left. It needs root, Podman and the kind
// node image (`edgesim image node`).
var _ = Describe("a K3s cluster of Podman containers", Label("cluster", "k3s"), Ordered, func() {
	var (
		c    *cluster.Cluster
		spec cluster.Spec
	)

	BeforeAll(func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("K3s nodes are privileged Podman containers and need root")
		}
		b, err := k3simage.New(k3simage.WithLog(GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		res, err := b.Build(ctx)
		Expect(err).NotTo(HaveOccurred())
		if res.Cached {
			fmt.Printf("edgesim k3s: image %s (cached)\n", res.Image)
		} else {
			fmt.Printf("edgesim k3s: image %s built in %s (k3s binary cached: %v)\n", res.Image, res.Total.Round(time.Second), res.BinaryCached)
			for _, s := range res.Steps {
				fmt.Printf("edgesim k3s:   %-24s %s\n", s.Name, s.Duration.Round(time.Second))
			}
		}

		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		id := hex.EncodeToString(suffix[:])
		spec = cluster.Spec{Name: "es-k3s-e2e-" + id, Image: res.Image, Owner: "k3s-e2e-" + id,
			ServerLabels:    map[string]string{kindcluster.LabelTier: "cloud"},
			Agents:          []kindcluster.Worker{{Tier: "edge", Site: "site-a"}},
			NodeGracePeriod: 10 * time.Second}
		start := time.Now()
		c, err = cluster.Create(ctx, spec)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			Expect(c.Delete(ctx)).To(Succeed())
			Expect(c.Kubeconfig).NotTo(BeAnExistingFile())
			out, err := exec.CommandContext(ctx, "podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "label="+cluster.LabelCluster).Output()
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Fields(string(out))).NotTo(ContainElement(HavePrefix(spec.Name)))
			Expect(exec.CommandContext(ctx, "podman", "network", "inspect", cluster.NetworkName(spec.Name)).Run()).To(HaveOccurred(), "the network is gone")
			names, err := cluster.Clusters(ctx, spec.Owner)
			Expect(err).NotTo(HaveOccurred())
			Expect(names).To(BeEmpty())
		}, NodeTimeout(3*time.Minute))
		Expect(c.WaitReady(ctx, 8*time.Minute)).To(Succeed())
		fmt.Printf("edgesim k3s: containers up and K3s started in %s, both nodes Ready %s later (%s from the start)\n",
			c.CreateDuration.Round(time.Second), c.ReadyDuration.Round(time.Second), time.Since(start).Round(time.Second))
		AddReportEntry("k3s cluster ready", time.Since(start).Round(time.Second).String())
	}, NodeTimeout(60*time.Minute))

	It("has a Ready server and a Ready agent labelled with tier and site", func(ctx SpecContext) {
		nodes, err := c.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes).To(HaveLen(2))
		for _, n := range nodes {
			Expect(n.Ready).To(BeTrue(), n.Name)
		}
		agent := nodes[0]
		if agent.Name != cluster.AgentName(spec.Name, 0) {
			agent = nodes[1]
		}
		Expect(agent.Name).To(Equal(cluster.AgentName(spec.Name, 0)))
		Expect(agent.Labels).To(HaveKeyWithValue(kindcluster.LabelTier, "edge"))
		Expect(agent.Labels).To(HaveKeyWithValue(kindcluster.LabelSite, "site-a"))

		// The host kubeconfig reaches the API server on loopback.
		if _, err := exec.LookPath("kubectl"); err == nil {
			out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.Kubeconfig, "get", "nodes", "-o", "name").CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
			Expect(string(out)).To(ContainSubstring("node/" + cluster.ServerName(spec.Name)))
		}

		// Resident memory of K3s on each node, for docs/PERFORMANCE.md.
		for _, node := range []string{cluster.ServerName(spec.Name), cluster.AgentName(spec.Name, 0)} {
			out, err := exec.CommandContext(ctx, "podman", "exec", node, "ps", "-eo", "rss=,args=").Output()
			Expect(err).NotTo(HaveOccurred())
			for _, l := range strings.Split(string(out), "\n") {
				f := strings.Fields(l)
				if len(f) >= 2 && (f[1] == "k3s" || strings.HasPrefix(f[1], k3simage.BinaryPath)) {
					kb, _ := strconv.Atoi(f[0])
					fmt.Printf("edgesim k3s: %s: %d MiB resident: %s\n", node, kb/1024, strings.Join(f[1:], " "))
				}
			}
		}
	}, NodeTimeout(2*time.Minute))

	It("carries pod traffic from a pod on the agent to a pod on the server", func(ctx SpecContext) {
		v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
		Expect(err).NotTo(HaveOccurred())
		manifest := strings.NewReplacer("IMAGE", nodeimage.BusyboxImage(v), "SERVER", cluster.ServerName(spec.Name),
			"AGENT", cluster.AgentName(spec.Name, 0)).Replace(podsManifest)
		_, err = c.Kubectl(ctx, strings.NewReader(manifest), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())

		var serverIP string
		Eventually(ctx, func(g Gomega) {
			out, err := c.Kubectl(ctx, nil, "get", "pods", "-n", "edgesim-e2e", "-o",
				`jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.status.podIP}{"\n"}{end}`)
			g.Expect(err).NotTo(HaveOccurred())
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			g.Expect(lines).To(HaveLen(2))
			for _, l := range lines {
				f := strings.Fields(l)
				g.Expect(f).To(HaveLen(4), l)
				g.Expect(f[2]).To(Equal("Running"), l)
				if f[0] == "web" {
					g.Expect(f[1]).To(Equal(cluster.ServerName(spec.Name)))
					serverIP = f[3]
				} else {
					g.Expect(f[1]).To(Equal(cluster.AgentName(spec.Name, 0)))
				}
			}
		}).WithTimeout(4 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		// busybox's nc, not its wget: Debian's static wget crashes in glibc.
		Eventually(ctx, func(g Gomega) {
			out, err := c.Kubectl(ctx, nil, "exec", "-n", "edgesim-e2e", "client", "--", "sh", "-c",
				`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 `+serverIP+` 8080`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(out)).To(HavePrefix("HTTP/1.1 200"))
			g.Expect(string(out)).To(ContainSubstring("served-by-" + cluster.ServerName(spec.Name)))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
	}, NodeTimeout(8*time.Minute))
})

// podsManifest is a busybox httpd pinned to the server node that answers
// with its node's name, and a client pod pinned to the agent.
const podsManifest = `
apiVersion: v1
kind: Namespace
metadata:
  name: edgesim-e2e
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: edgesim-e2e
spec:
  nodeName: SERVER
  containers:
  - name: web
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo served-by-SERVER > /www/index.html && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: edgesim-e2e
spec:
  nodeName: AGENT
  containers:
  - name: client
    image: IMAGE
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`
