package kindprovider_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	capacity "github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/kindprovider"
)

// The plan Job on a kind cluster: the edgesim binary in a registry-free
// image loaded into the nodes, `edgesim plan job` applied as printed (an
// Indexed Job of 3 shards on one worker's host directory, then the merge
// Job), and the report the merge pod prints equal to a local run's, curves
// and capacity figures alike. EDGESIM_KIND_NODE_IMAGE selects an existing
// node image; EDGESIM_KIND_RUNTIME forces podman or docker.
var _ = Describe("a capacity plan as a Kubernetes Indexed Job", Label("cluster"), func() {
	It("runs 3 shards on kind and merges them into the report of a local run", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("kind clusters on Podman need root here")
		}
		rt, err := cluster.DetectRuntime(ctx, cluster.Runtime(os.Getenv("EDGESIM_KIND_RUNTIME")))
		Expect(err).NotTo(HaveOccurred())
		edgesim, err := gexec.Build("github.com/edgesim/edgesim/cmd/edgesim")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gexec.CleanupBuildArtifacts)

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
		img, err := kindprovider.BuildImage(ctx, kindprovider.ImageSpec{Repo: "localhost/edgesim/edgesim-plan",
			Binaries: map[string]string{"edgesim": edgesim}}, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		worker := cluster.WorkerName(spec.Name, 0)
		for _, node := range []string{c.ControlPlane(), worker} {
			Expect(kindprovider.LoadImage(ctx, string(rt), node, img.Archive)).To(Succeed())
		}

		By("applying the manifest edgesim plan job prints")
		cal0, err := os.ReadFile(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		manifest, err := capacity.JobManifest(p, cal0, capacity.JobOptions{Image: img.Ref, Shards: 3,
			HostPath: "/var/lib/edgesim-plan/" + spec.Name, Node: worker, MergeWait: 10 * time.Minute})
		Expect(err).NotTo(HaveOccurred())
		out, err := c.Kubectl(ctx, strings.NewReader(manifest), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred(), string(out))

		By("waiting for the merge Job, which waits for the 3 shards")
		Eventually(ctx, func(g Gomega) {
			out, err := c.Kubectl(ctx, nil, "get", "job", "-n", "edgesim-plan", "two-stores-merge", "-o",
				`jsonpath={.status.succeeded}/{.status.failed}`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(out)).To(HavePrefix("1/"), "merge job status")
		}).WithTimeout(10 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())
		shards, err := c.Kubectl(ctx, nil, "get", "job", "-n", "edgesim-plan", "two-stores-shards", "-o", `jsonpath={.status.succeeded}`)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(shards)).To(Equal("3"))

		logs, err := c.Kubectl(ctx, nil, "logs", "-n", "edgesim-plan", "job/two-stores-merge")
		Expect(err).NotTo(HaveOccurred())
		var merged capacity.CapacityReport
		Expect(json.Unmarshal(logs, &merged)).To(Succeed(), string(logs))
		// The pods' host names differ from this machine's, so the calibration
		// warnings may too; the figures may not.
		Expect(asJSON(merged.Curves)).To(Equal(asJSON(local.Curves)))
		Expect(asJSON(merged.Capacity)).To(Equal(asJSON(local.Capacity)))
		Expect(merged.Seed).To(Equal(local.Seed))
		Expect(merged.Stats.Points).To(BeNumerically(">", local.Stats.Points))
	}, NodeTimeout(100*time.Minute))
})

func asJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}
