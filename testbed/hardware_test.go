package testbed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/hwlimit"
	"github.com/edgesim/edgesim/internal/naming"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

var _ = Describe("cgroup names of nodes", func() {
	It("are lower-case [a-z0-9-], fit hwlimit and differ per run and node", func() {
		a := testbed.CgroupName("quickstart-0a1b2c", "store-1-edge-1")
		Expect(a).To(Equal("quickstart-0a1b2c-store-1-edge-1"))
		Expect(testbed.CgroupName("Quick_Start.x", "n")).To(Equal("quick-start-x-n"))
		long := testbed.CgroupName(strings.Repeat("r", 40)+"-0a1b2c", strings.Repeat("s", 30)+"-edge-1")
		Expect(hwlimit.ValidName(long)).To(Succeed())
		Expect(long).To(HaveLen(hwlimit.MaxName))
		Expect(long).To(HaveSuffix(naming.Fit(strings.Repeat("r", 40)+"-0a1b2c-"+strings.Repeat("s", 30)+"-edge-1", hwlimit.MaxName)[hwlimit.MaxName-naming.HashLen-1:]))
		Expect(testbed.CgroupName(strings.Repeat("r", 40)+"-0a1b2c", strings.Repeat("s", 30)+"-edge-2")).NotTo(Equal(long))
	})
})

var _ = Describe("a node's resources on the local provider", func() {
	// A scenario whose edge node has half a core and 128Mi, and an
	// "edgenode" that waits: started the way the provider starts edgenode
	// (ip netns exec in the node's namespace). That the kernel holds a
	// group's processes to its limits is hwlimit's spec.
	setup := func(ctx context.Context) (*testbed.Local, *testbed.Plan) {
		if os.Geteuid() != 0 {
			Skip("the local provider needs root to create network namespaces")
		}
		data, err := scenarios.ExampleData("quickstart")
		Expect(err).NotTo(HaveOccurred())
		data = bytes.Replace(data, []byte(`resources: {cpu: "1", memory: 512Mi}`), []byte(`resources: {cpu: 500m, memory: 128Mi}`), 1)
		data = bytes.Replace(data, []byte("nodes: 2"), []byte("nodes: 1"), 1)
		data = bytes.Replace(data, []byte("target: {node: store-1-edge-2}"), []byte("target: {node: store-1-edge-1}"), 1)
		sc, err := scenarios.Load("limits.yaml", data, "")
		Expect(err).NotTo(HaveOccurred())
		p, err := testbed.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())

		dir := GinkgoT().TempDir()
		stand := filepath.Join(dir, "edgenode")
		Expect(os.WriteFile(stand, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755)).To(Succeed())
		self, err := os.Executable()
		Expect(err).NotTo(HaveOccurred())
		l, err := testbed.NewLocal(testbed.ProviderConfig{Binaries: testbed.Binaries{Edgenode: stand, Edgesim: self},
			Dir: filepath.Join(dir, "logs"), StateDir: dir, Name: testbed.TestbedName(sc.Name)})
		Expect(err).NotTo(HaveOccurred())
		return l, p
	}

	It("fails the run, naming the node and what to do, when cgroups cannot enforce them", func(ctx SpecContext) {
		DeferCleanup(testbed.SetCgroupsAvailable(func() error {
			return errors.New("hwlimit: confining ... needs root: run edgesim as root")
		}))
		l, p := setup(ctx)
		DeferCleanup(func() { Expect(l.Destroy(context.Background())).To(Succeed()) })
		err := l.Provision(ctx, p)
		Expect(err).To(MatchError(ContainSubstring("node store-1-edge-1 asks for hardware cpu 500m, memory 128MiB, which the local provider enforces with cgroups: hwlimit: confining ... needs root")))
		addr, _ := l.NodeInfo("store-1-edge-1")
		Expect(addr).To(BeEmpty(), "nothing was provisioned")
	})

	It("confines the node's edgenode to a cgroup with its CPU quota and memory limit, removed at teardown", func(ctx SpecContext) {
		if err := hwlimit.Available(); err != nil {
			Skip(err.Error())
		}
		l, p := setup(ctx)
		Expect(l.Provision(ctx, p)).To(Succeed())
		destroyed := false
		DeferCleanup(func() {
			if !destroyed {
				Expect(l.Destroy(context.Background())).To(Succeed())
			}
		})

		pid, g, err := testbed.LocalStartEdgenode(l, "store-1-edge-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(g).NotTo(BeNil())
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(cg)).To(ContainSubstring(g.Path() + "\n"))
		// The pid execs ip, then the stand-in, then sleep; while the kernel
		// swaps one image for the next, environ reads empty.
		Eventually(func() ([]string, error) {
			env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			return strings.Split(string(env), "\x00"), err
		}).Should(ContainElement("GOMAXPROCS=1"))

		lim, err := g.Limits()
		Expect(err).NotTo(HaveOccurred())
		Expect(lim).To(Equal(hwlimit.Limits{CPU: 0.5, Memory: 128 << 20}))

		// Killed and started again (the kill and start faults), edgenode
		// goes into the same group.
		Expect(l.Inject(ctx, testbed.Action{Kind: testbed.ActionKill, Node: "store-1-edge-1"})).To(Succeed())
		Eventually(func() error { _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); return err }).Should(HaveOccurred())
		pid2, again, err := testbed.LocalStartEdgenode(l, "store-1-edge-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(BeIdenticalTo(g))
		cg, err = os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid2))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(cg)).To(ContainSubstring(g.Path() + "\n"))

		destroyed = true
		Expect(l.Destroy(ctx)).To(Succeed())
		Expect(filepath.Join("/sys/fs/cgroup/cpu", g.Path())).NotTo(BeADirectory())
		Expect(filepath.Join("/sys/fs/cgroup", g.Path())).NotTo(BeADirectory())
	})
})
