package kindprovider_test

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
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	"github.com/edgesim/edgesim/testbed/kindprovider"
)

// The cluster spec runs the quickstart scenario on a kind cluster: one
// worker per plan node, the workload images built here and loaded into the
// nodes, pod traffic through the netem links, the edge node killed
// half-way by killing its node container. EDGESIM_KIND_NODE_IMAGE selects
// an existing node image; EDGESIM_KIND_RUNTIME forces podman or docker.
var _ = Describe("quickstart on the kind provider", Label("cluster"), func() {
	It("streams, measures, fails over and cleans up", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("kind clusters on Podman and netem links need root here")
		}
		rt, err := cluster.DetectRuntime(ctx, cluster.Runtime(os.Getenv("EDGESIM_KIND_RUNTIME")))
		Expect(err).NotTo(HaveOccurred())
		if rt == cluster.Podman {
			_, err = cluster.ConfigurePodmanHost(cluster.ContainersConfPath)
			Expect(err).NotTo(HaveOccurred())
		}
		image := os.Getenv("EDGESIM_KIND_NODE_IMAGE")
		if image == "" {
			v, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
			Expect(err).NotTo(HaveOccurred())
			res, err := nodeimage.New(v, nodeimage.WithRuntime(string(rt)), nodeimage.WithLog(GinkgoWriter)).Build(ctx)
			Expect(err).NotTo(HaveOccurred())
			image = res.Image
		}
		edgesim, err := gexec.Build("github.com/edgesim/edgesim/cmd/edgesim")
		Expect(err).NotTo(HaveOccurred())
		edgenode, err := gexec.Build("github.com/edgesim/edgesim/cmd/edgenode")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gexec.CleanupBuildArtifacts)

		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		name := "edgesim-qs-" + hex.EncodeToString(suffix[:])
		logs := GinkgoT().TempDir()
		prov, err := kindprovider.New(kindprovider.Config{
			Binaries: testbed.Binaries{Edgesim: edgesim, Edgenode: edgenode}, Dir: logs, StateDir: GinkgoT().TempDir(),
			Name: name, NodeImage: image, Runtime: rt, Log: GinkgoWriter, Seed: 42,
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			out, err := exec.CommandContext(ctx, string(rt), "ps", "-a", "--format", "{{.Names}}").Output()
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Fields(string(out))).NotTo(ContainElement(HavePrefix(name)), "no node container may be left")
		})

		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc.Provider = scenarios.ProviderKind
		start := time.Now()
		res, err := testbed.Run(ctx, sc, testbed.Options{ResultsDir: GinkgoT().TempDir(), Provider: prov,
			Progress: func(p testbed.Progress) {
				if p.Message != "" || p.Elapsed%(5*time.Second) < time.Second {
					fmt.Fprintf(GinkgoWriter, "%s %s %s answering %d/%d, link bytes %d\n", time.Since(start).Round(time.Second), p.Phase, p.Message, p.CamerasAnswering, p.Cameras, p.LinkBytes)
				}
			}})
		took := time.Since(start)
		{ // the workloads' logs, shown with -ginkgo.v or on failure
			if b, rerr := os.ReadFile(filepath.Join(logs, "pods.log")); rerr == nil {
				if len(b) > 8000 {
					b = b[len(b)-8000:]
				}
				GinkgoWriter.Printf("==> pods.log <==\n%s\n", b)
			}
		}
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("quickstart on kind", took.Round(time.Second).String())
		fmt.Printf("edgesim kind provider: quickstart took %s\n", took.Round(time.Second))
		Expect(res.Run.Cameras).To(HaveLen(4))
		for _, c := range res.Run.Cameras {
			Expect(c.Frames).To(ContainElement(HaveField("Answered", BeTrue())), c.ID+" got detections back")
		}
		var linkBytes uint64
		for _, l := range res.Run.Links {
			linkBytes += l.TotalBytes
		}
		Expect(linkBytes).To(BeNumerically(">", 100_000), "the cameras' video crossed the emulated access link")
		Expect(res.Report.Failover).NotTo(BeEmpty())
		b, _ := os.ReadFile(filepath.Join(res.Dir, "report.md"))
		GinkgoWriter.Printf("%s\n", b)
	}, NodeTimeout(15*time.Minute))
})
