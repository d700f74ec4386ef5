package kctest_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/kubeconfigprovider/kctest"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// sleeper is the workload image's only binary: it waits for SIGTERM.
const sleeper = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// EDGESIM_KCTEST_DRIFT=30s makes the spec measure, once, what changes by
// itself in the idle cluster over that long (kctest.IdleDrift) and print it.
var _ = Describe("a kind cluster made outside edgesim, pulling from an in-process registry", Label("cluster"), func() {
	It("runs pods from the registry on both workers and is left as it was once they are deleted", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("kind clusters on Podman need root here")
		}
		specStart := time.Now()
		kubectl, err := kctest.DefaultKubectl()
		Expect(err).NotTo(HaveOccurred())

		reg, err := kctest.StartRegistry(ctx, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(reg.Close)

		// A static binary built here, in a one-layer image pushed through loopback.
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "main.go"), []byte(sleeper), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sleeper\n\ngo 1.22\n"), 0o644)).To(Succeed())
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "sleeper", ".")
		build.Dir = dir
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build: %s", out)
		img, err := nodecontainer.BuildImage(ctx, nodecontainer.ImageSpec{
			Repo: "localhost/kctest/sleeper", Binaries: map[string]string{"sleeper": filepath.Join(dir, "sleeper")}, Entrypoint: []string{"/sleeper"},
		}, dir)
		Expect(err).NotTo(HaveOccurred())
		pushed, err := nodecontainer.PushImage(ctx, img, nodecontainer.Registry{Name: reg.LocalAddr() + "/lab", Insecure: true})
		Expect(err).NotTo(HaveOccurred())
		image := reg.Addr() + strings.TrimPrefix(pushed, reg.LocalAddr())
		fmt.Fprintf(GinkgoWriter, "image %s\n", image)

		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		createStart := time.Now()
		c, err := kctest.CreateCluster(ctx, "e2e-"+hex.EncodeToString(suffix[:]), 2, reg,
			kctest.WithLog(GinkgoWriter), kctest.WithKubectl(kubectl),
			kctest.WithWorkers(kctest.Worker{Labels: map[string]string{"kctest.edgesim.dev/site": "a"}},
				kctest.Worker{Labels: map[string]string{"kctest.edgesim.dev/site": "b"}}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			Expect(c.Delete(ctx)).To(Succeed())
			out, err := exec.CommandContext(ctx, "podman", "ps", "-a", "--format", "{{.Names}}").Output()
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Fields(string(out))).NotTo(ContainElement(HavePrefix(c.Name)))
			Expect(c.Kubeconfig).NotTo(BeAnExistingFile())
		}, NodeTimeout(3*time.Minute))
		Expect(c.Name).To(HavePrefix(kctest.NamePrefix))
		created := time.Since(createStart)
		AddReportEntry("cluster create", fmt.Sprintf("%s (kind %s, nodes Ready %s later)", created.Round(time.Second), c.CreateDuration.Round(time.Second), c.ReadyDuration.Round(time.Second)))
		fmt.Printf("kctest: cluster %s created in %s (kind %s, all 3 nodes Ready %s later)\n", c.Name, created.Round(time.Second), c.CreateDuration.Round(time.Second), c.ReadyDuration.Round(time.Second))

		k := &kubeconfigprovider.Kubectl{Path: kubectl, Target: kubeconfigprovider.Target{Kubeconfig: c.Kubeconfig}}
		out, err = k.Kubectl(ctx, nil, "get", "nodes", "-L", "kctest.edgesim.dev/site", "--no-headers")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(MatchRegexp(`(?m)^` + c.Name + `-worker\s.*\sa$`))
		Expect(string(out)).To(MatchRegexp(`(?m)^` + c.Name + `-worker2\s.*\sb$`))

		if gap := os.Getenv("EDGESIM_KCTEST_DRIFT"); gap != "" {
			d, err := time.ParseDuration(gap)
			Expect(err).NotTo(HaveOccurred())
			drift, err := kctest.IdleDrift(ctx, kubectl, c.Kubeconfig, d)
			Expect(err).NotTo(HaveOccurred())
			fmt.Printf("kctest: idle drift over %s (%d):\n  %s\n", d, len(drift), strings.Join(drift, "\n  "))
		}

		before, err := kctest.DumpObjects(ctx, kubectl, c.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		rawBefore, err := kctest.DumpRaw(ctx, kubectl, c.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		Expect(before).To(HaveKey("Node//" + c.Name + "-control-plane"))
		Expect(before).NotTo(HaveKey(HavePrefix("Lease.coordination.k8s.io/")))
		Expect(before).NotTo(HaveKey(HavePrefix("Event")))

		_, err = k.Kubectl(ctx, strings.NewReader(pods(image)), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(g Gomega) {
			out, err := k.Kubectl(ctx, nil, "get", "pods", "-n", "default", "-l", "app=kctest-pull", "-o",
				`jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.status.containerStatuses[0].imageID}{"\n"}{end}`)
			g.Expect(err).NotTo(HaveOccurred())
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			g.Expect(lines).To(ConsistOf(
				MatchRegexp(`^kctest-pull-a `+c.Name+`-worker Running \S*@sha256:`),
				MatchRegexp(`^kctest-pull-b `+c.Name+`-worker2 Running \S*@sha256:`)))
		}).WithTimeout(3 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		during, err := kctest.DumpObjects(ctx, kubectl, c.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		Expect(kctest.Diff(before, during)).To(ConsistOf("added Pod/default/kctest-pull-a", "added Pod/default/kctest-pull-b"))

		_, err = k.Kubectl(ctx, nil, "delete", "pods", "-n", "default", "-l", "app=kctest-pull", "--wait=true", "--timeout=2m")
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(g Gomega) {
			after, err := kctest.DumpObjects(ctx, kubectl, c.Kubeconfig)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(kctest.Diff(before, after)).To(BeEmpty())
		}).WithTimeout(30 * time.Second).WithPolling(3 * time.Second).Should(Succeed())
		// What the normalisation hid in this run, for the record.
		rawAfter, err := kctest.DumpRaw(ctx, kubectl, c.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		hidden := kctest.Diff(rawBefore, rawAfter)
		fmt.Printf("kctest: %d objects dumped; without normalisation the run changed %d:\n  %s\n", len(before), len(hidden), strings.Join(hidden, "\n  "))
		AddReportEntry("spec", time.Since(specStart).Round(time.Second).String())
		fmt.Printf("kctest: spec body done in %s\n", time.Since(specStart).Round(time.Second))
	}, NodeTimeout(12*time.Minute))
})

// pods is one pod on each worker running image.
func pods(image string) string {
	var b strings.Builder
	for _, site := range []string{"a", "b"} {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: kctest-pull-%s
  namespace: default
  labels: {app: kctest-pull}
spec:
  nodeSelector: {kctest.edgesim.dev/site: %s}
  containers:
  - name: sleeper
    image: %s
`, site, site, image)
	}
	return b.String()
}
