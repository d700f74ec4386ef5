package kindprovider_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	capacity "github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// The plan Job on a kind cluster: the edgesim binary in a registry-free
// image loaded into the nodes, the manifest `edgesim plan job` prints
// applied as is (an Indexed Job of 3 shards on one worker's host
// directory, then the merge Job), and the report the merge pod prints
// equal to a local run's in every figure (only the time, the run
// statistics and the calibration's path and host may differ). The plan is
// plan/testdata's two-stores (7 sites, 12 simulated seconds, 14 sweep
// points; well under a second per shard), so the spec costs about the
// cluster's creation. EDGESIM_KIND_NODE_IMAGE selects an existing node
// image; EDGESIM_KIND_RUNTIME forces podman or docker.
var _ = Describe("a capacity plan as a Kubernetes Indexed Job", Label("cluster"), func() {
	It("runs 3 shards on kind and merges them into the report of a local run", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("kind clusters on Podman need root here")
		}
		rt, err := cluster.DetectRuntime(ctx, cluster.Runtime(os.Getenv("EDGESIM_KIND_RUNTIME")))
		Expect(err).NotTo(HaveOccurred())
		if rt == cluster.Podman {
			// The node containers' limits and runtime, as the provider sets
			// them: with Podman's defaults runc cannot set nofile on hosts
			// whose hard limit is low (a fresh CI machine).
			restore, err := cluster.UsePodmanConf(GinkgoT().TempDir(), "")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(restore)
		}
		bins, err := kubetest.BuildBinaries()
		Expect(err).NotTo(HaveOccurred())
		edgesim := bins.Edgesim

		planFile := filepath.Join("..", "..", "plan", "testdata", "plan-two-stores.yaml")
		p, err := capacity.LoadPlan(planFile)
		Expect(err).NotTo(HaveOccurred())
		cal, err := capacity.LoadCalibration(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		local, err := capacity.RunPlan(ctx, p, cal, capacity.RunOptions{})
		Expect(err).NotTo(HaveOccurred())

		image := os.Getenv("EDGESIM_KIND_NODE_IMAGE")
		if image == "" {
			v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
			Expect(err).NotTo(HaveOccurred())
			res, err := nodeimage.New(v, nodeimage.WithRuntime(string(rt)), nodeimage.WithLog(GinkgoWriter)).Build(ctx)
			Expect(err).NotTo(HaveOccurred())
			image = res.Image
		}
		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		spec := cluster.Spec{Name: "edgesim-plan-" + hex.EncodeToString(suffix[:]), Image: image,
			Workers: []cluster.Worker{{Tier: "cloud", Site: "cloud"}}}
		c, err := cluster.Create(ctx, rt, spec, cluster.WithLog(GinkgoWriter), cluster.WithReadyTimeout(4*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { Expect(c.Delete(ctx)).To(Succeed()) }, NodeTimeout(3*time.Minute))

		By("loading an image with the edgesim binary into every node, no registry involved")
		img, err := nodecontainer.BuildImage(ctx, nodecontainer.ImageSpec{Repo: "localhost/edgesim/edgesim-plan",
			Binaries: map[string]string{"edgesim": edgesim}}, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		worker := cluster.WorkerName(spec.Name, 0)
		for _, node := range []string{c.ControlPlane(), worker} {
			Expect(nodecontainer.LoadImage(ctx, string(rt), node, img.Archive)).To(Succeed())
		}

		By("applying the manifest edgesim plan job prints")
		manifest, err := exec.CommandContext(ctx, edgesim, "plan", "job", planFile, "--shards", "3", "--image", img.Ref,
			"--host-path", "/var/lib/edgesim-plan/"+spec.Name, "--node", worker, "--merge-wait", "4m").Output()
		Expect(err).NotTo(HaveOccurred())
		out, err := c.Kubectl(ctx, bytes.NewReader(manifest), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred(), string(out))

		By("waiting for the merge Job, which waits for the 3 shards")
		Eventually(ctx, func(g Gomega) {
			for _, job := range []string{"two-stores-shards", "two-stores-merge"} {
				out, err := c.Kubectl(ctx, nil, "get", "job", "-n", "edgesim-plan", job, "-o", `jsonpath={.status.failed}`)
				g.Expect(err).NotTo(HaveOccurred())
				if f := string(out); f != "" && f != "0" {
					StopTrying(job + " has failed pods").Wrap(errors.New(jobDebug(ctx, c))).Now()
				}
			}
			out, err := c.Kubectl(ctx, nil, "get", "job", "-n", "edgesim-plan", "two-stores-merge", "-o", `jsonpath={.status.succeeded}`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(out)).To(Equal("1"), "merge pods succeeded")
		}).WithTimeout(5 * time.Minute).WithPolling(3 * time.Second).Should(Succeed())
		shards, err := c.Kubectl(ctx, nil, "get", "job", "-n", "edgesim-plan", "two-stores-shards", "-o", `jsonpath={.status.succeeded}`)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(shards)).To(Equal("3"))

		logs, err := c.Kubectl(ctx, nil, "logs", "-n", "edgesim-plan", "job/two-stores-merge")
		Expect(err).NotTo(HaveOccurred())
		var merged capacity.CapacityReport
		Expect(json.Unmarshal(logs, &merged)).To(Succeed(), string(logs))
		Expect(merged.Shard).To(BeNil())
		Expect(merged.Stats.Points).To(BeNumerically(">", local.Stats.Points), "the shards' simulations, counted in every shard")
		Expect(comparable(merged)).To(Equal(comparable(*local)))
	}, NodeTimeout(30*time.Minute))
})

// comparable is a capacity report as JSON without what may differ between
// a local run and the merged shards: the time, the run statistics, the
// calibration's path (the pods read it from a ConfigMap), also in the
// warnings, and the warning
// naming the machine (the pod's host name is not this machine's).
func comparable(r capacity.CapacityReport) string {
	var warnings []string
	for _, w := range r.Warnings {
		if !strings.Contains(w, "not on this machine") {
			warnings = append(warnings, strings.ReplaceAll(w, r.Calibration.Path, "CALIBRATION"))
		}
	}
	r.Generated, r.Stats, r.Calibration.Path = time.Time{}, capacity.RunStats{}, ""
	r.Warnings = warnings
	b, err := json.MarshalIndent(r, "", "  ")
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// jobDebug is what a failed plan Job left: its pods and their logs.
func jobDebug(ctx context.Context, c *cluster.Cluster) string {
	pods, _ := c.Kubectl(ctx, nil, "get", "pods", "-n", "edgesim-plan", "-o", "wide")
	logs, _ := c.Kubectl(ctx, nil, "logs", "-n", "edgesim-plan", "-l", "app.kubernetes.io/name=edgesim-plan", "--tail=40", "--prefix")
	return string(pods) + "\n" + string(logs)
}
