package testbed_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

var _ = Describe("a scenario with a 20-character site name", func() {
	flagship := func() *scenarios.Scenario {
		data, err := scenarios.ExampleData("quickstart")
		Expect(err).NotTo(HaveOccurred())
		sc, err := scenarios.Load("flagship.yaml", bytes.ReplaceAll(data, []byte("store-1"), []byte("flagship-store-north")), "")
		Expect(err).NotTo(HaveOccurred(), "it validates")
		return sc
	}

	It("keeps the names that fit and shortens only the mirror's camera host for netem", func() {
		p, err := testbed.NewPlan(flagship(), true)
		Expect(err).NotTo(HaveOccurred())
		n, ok := p.Node("flagship-store-north-via-cloud-cams")
		Expect(ok).To(BeTrue(), "the plan keeps the readable name")
		Expect(n.EngineHost()).To(MatchRegexp(`^flagship-store-north-via-[0-9a-f]{6}$`))
		n, _ = p.Node("flagship-store-north-cams")
		Expect(n.EngineHost()).To(Equal(n.Name))
	})

	DescribeTable("provisions its hosts, namespaces and links on the local provider",
		func(ctx SpecContext, compare bool) {
			if os.Geteuid() != 0 {
				Skip("the local provider needs root to create network namespaces")
			}
			sc := flagship()
			p, err := testbed.NewPlan(sc, compare)
			Expect(err).NotTo(HaveOccurred())
			// Provision starts no program: any existing file will do.
			self, err := os.Executable()
			Expect(err).NotTo(HaveOccurred())
			dir := GinkgoT().TempDir()
			l, err := testbed.NewLocal(testbed.ProviderConfig{Binaries: testbed.Binaries{Edgenode: self, Edgesim: self},
				Dir: filepath.Join(dir, "logs"), StateDir: dir, Name: testbed.TestbedName(sc.Name)})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { Expect(l.Destroy(context.Background())).To(Succeed()) })

			Expect(l.Provision(ctx, p)).To(Succeed())
			for _, n := range p.Nodes {
				addr, ns := l.NodeInfo(n.Name)
				Expect(addr).NotTo(BeEmpty(), n.Name)
				Expect(filepath.Join(netem.NetnsDir, ns)).To(BeAnExistingFile(), n.Name)
			}
			stats, err := l.LinkStats(ctx)
			Expect(err).NotTo(HaveOccurred())
			var links []string
			for _, s := range stats {
				links = append(links, s.Link)
			}
			for _, pl := range p.Links {
				Expect(links).To(ContainElement(pl.Name))
			}
		},
		Entry("with the cloud-placement mirror", true),
		Entry("without it", false),
	)
})
