package cluster_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

// The cluster specs build (or reuse) a node image with no registry, create
// a control plane and three labelled workers on Podman (or Docker), run a
// server pod on every worker behind one Service, check that a client on
// every worker reaches the servers on all workers through the Service, and
// delete everything. EDGESIM_KIND_NODE_IMAGE selects an existing image (for
// example an upstream kindest/node where a registry is reachable);
// EDGESIM_KIND_RUNTIME forces "podman" or "docker".
var _ = Describe("a kind cluster from a registry-free node image", Label("cluster"), Ordered, func() {
	var (
		c  *cluster.Cluster
		rt cluster.Runtime
	)

	BeforeAll(func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("kind clusters on Podman need root here")
		}
		var err error
		rt, err = cluster.DetectRuntime(ctx, cluster.Runtime(os.Getenv("EDGESIM_KIND_RUNTIME")))
		Expect(err).NotTo(HaveOccurred())
		if rt == cluster.Podman {
			restore, err := cluster.UsePodmanConf(GinkgoT().TempDir(), "")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(restore)
		}

		image := os.Getenv("EDGESIM_KIND_NODE_IMAGE")
		if image == "" {
			v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
			Expect(err).NotTo(HaveOccurred())
			b := nodeimage.New(v, nodeimage.WithRuntime(string(rt)), nodeimage.WithLog(GinkgoWriter))
			res, err := b.Build(ctx)
			Expect(err).NotTo(HaveOccurred())
			image = res.Image
			if res.Cached {
				AddReportEntry("node image", image+" (cached)")
				fmt.Fprintf(GinkgoWriter, "node image %s: cached\n", image)
			} else {
				AddReportEntry("node image build", res.Total.Round(time.Second).String())
				fmt.Printf("edgesim kind: node image build (not cached) %s: %s\n", image, res.Total.Round(time.Second))
				for _, s := range res.Steps {
					fmt.Printf("edgesim kind:   %-24s %s\n", s.Name, s.Duration.Round(time.Second))
				}
			}
		}

		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		spec := cluster.Spec{Name: "edgesim-e2e-" + hex.EncodeToString(suffix[:]), Image: image, Workers: cluster.DefaultWorkers()}
		c, err = cluster.Create(ctx, rt, spec, cluster.WithLog(GinkgoWriter), cluster.WithReadyTimeout(4*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			Expect(c.Delete(ctx)).To(Succeed())
			Expect(c.Kubeconfig).NotTo(BeAnExistingFile())
			out, err := exec.CommandContext(ctx, string(rt), "ps", "-a", "--format", "{{.Names}}").Output()
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Fields(string(out))).NotTo(ContainElement(HavePrefix(spec.Name)))
			vols, err := exec.CommandContext(ctx, string(rt), "volume", "ls", "-q").Output()
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Fields(string(vols))).NotTo(ContainElement(HavePrefix(spec.Name)))
		}, NodeTimeout(3*time.Minute))
		AddReportEntry("cluster create", c.CreateDuration.Round(time.Second).String())
		fmt.Printf("edgesim kind: cluster create %s, all nodes Ready %s later (%d nodes, %s)\n",
			c.CreateDuration.Round(time.Second), c.ReadyDuration.Round(time.Second), 1+len(spec.Workers), rt)
	}, NodeTimeout(100*time.Minute))

	It("has a Ready control plane and three workers labelled with tier and site", func(ctx SpecContext) {
		nodes, err := c.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes).To(HaveLen(4))
		sites := map[string]string{}
		for _, n := range nodes {
			Expect(n.Ready).To(BeTrue(), n.Name)
			if site, ok := n.Labels[cluster.LabelSite]; ok {
				sites[site] = n.Labels[cluster.LabelTier]
			}
		}
		Expect(sites).To(Equal(map[string]string{"cloud": "cloud", "site-a": "edge", "site-b": "edge"}))
	}, NodeTimeout(time.Minute))

	It("runs a pod on every worker and carries Service traffic between nodes", func(ctx SpecContext) {
		v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
		Expect(err).NotTo(HaveOccurred())
		busybox := nodeimage.BusyboxImage(v)
		if img := os.Getenv("EDGESIM_KIND_TEST_IMAGE"); img != "" {
			busybox = img
		}
		_, err = c.Kubectl(ctx, strings.NewReader(echoManifest(busybox)), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())

		// One server and one client pod on every worker, all Running.
		Eventually(ctx, func(g Gomega) {
			out, err := c.Kubectl(ctx, nil, "get", "pods", "-n", "edgesim-e2e", "-o",
				`jsonpath={range .items[*]}{.metadata.labels.app} {.spec.nodeName} {.status.phase}{"\n"}{end}`)
			g.Expect(err).NotTo(HaveOccurred())
			perNode := map[string]int{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Fields(l)
				g.Expect(f).To(HaveLen(3))
				g.Expect(f[2]).To(Equal("Running"), l)
				perNode[f[1]]++
			}
			g.Expect(perNode).To(HaveLen(3))
			for n, count := range perNode {
				g.Expect(count).To(Equal(2), n)
			}
		}).WithTimeout(3 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		clients, err := c.Kubectl(ctx, nil, "get", "pods", "-n", "edgesim-e2e", "-l", "app=client", "-o",
			`jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}`)
		Expect(err).NotTo(HaveOccurred())
		// Every client, through the Service's ClusterIP, reaches the servers on
		// all three workers, so traffic crosses nodes in every direction.
		// (busybox's nc, not its wget: Debian's static wget crashes in glibc.)
		for _, client := range strings.Fields(string(clients)) {
			seen := map[string]bool{}
			Eventually(ctx, func(g Gomega) {
				out, err := c.Kubectl(ctx, nil, "exec", "-n", "edgesim-e2e", client, "--", "sh", "-c",
					`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$ECHO_SERVICE_HOST" "$ECHO_SERVICE_PORT"`)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(string(out)).To(HavePrefix("HTTP/1.1 200"))
				lines := strings.Fields(string(out))
				seen[lines[len(lines)-1]] = true
				g.Expect(seen).To(HaveLen(3), "servers reached from %s: %v", client, seen)
			}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		}

		// CoreDNS answers for the Service from a pod.
		svcIP, err := c.Kubectl(ctx, nil, "get", "service", "-n", "edgesim-e2e", "echo", "-o", "jsonpath={.spec.clusterIP}")
		Expect(err).NotTo(HaveOccurred())
		client := strings.Fields(string(clients))[0]
		Eventually(ctx, func(g Gomega) {
			out, err := c.Kubectl(ctx, nil, "exec", "-n", "edgesim-e2e", client, "--", "nslookup", "echo.edgesim-e2e.svc.cluster.local")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(out)).To(ContainSubstring(string(svcIP)))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	}, NodeTimeout(8*time.Minute))
})

// echoManifest is a Service in front of one busybox httpd per worker that
// answers with its node's name, and one client pod per worker.
func echoManifest(image string) string {
	return strings.NewReplacer("IMAGE", image).Replace(`
apiVersion: v1
kind: Namespace
metadata:
  name: edgesim-e2e
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: edgesim-e2e
spec:
  selector:
    app: echo
  ports:
  - port: 8080
    targetPort: 8080
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: echo
  namespace: edgesim-e2e
spec:
  selector:
    matchLabels:
      app: echo
  template:
    metadata:
      labels:
        app: echo
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - key: edgesim.dev/tier
                operator: Exists
      containers:
      - name: httpd
        image: IMAGE
        imagePullPolicy: IfNotPresent
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        command: ["sh", "-c", "mkdir -p /www && echo $NODE_NAME > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports:
        - containerPort: 8080
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: client
  namespace: edgesim-e2e
spec:
  selector:
    matchLabels:
      app: client
  template:
    metadata:
      labels:
        app: client
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - key: edgesim.dev/tier
                operator: Exists
      terminationGracePeriodSeconds: 1
      containers:
      - name: client
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "exec sleep 86400"]
`)
}
