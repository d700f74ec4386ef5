package k3sprovider_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/k3s/cluster"
	"github.com/edgesim/edgesim/testbed/k3sprovider"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/provider"
)

// machine is a fake host: root, every tool, the binaries and the image
// unless a spec takes them away; it records the runtime's calls.
type machine struct {
	root, podman, image bool
	defaultErr          error
	preflighted         []string
	calls               [][]string
}

func (m *machine) host() k3sprovider.Host {
	return k3sprovider.Host{
		Euid: func() int {
			if m.root {
				return 0
			}
			return 1000
		},
		LookPath: func(tool string) (string, error) {
			if tool == "podman" && !m.podman {
				return "", errors.New("not found")
			}
			return "/usr/bin/" + tool, nil
		},
		Stat: func(p string) (os.FileInfo, error) {
			if p == "/bin/edgenode" || p == "/bin/edgesim" {
				return nil, nil
			}
			return nil, os.ErrNotExist
		},
		DefaultImage: func(context.Context) (string, error) {
			return "localhost/edgesim/k3s-node:default", m.defaultErr
		},
		Preflight: func(_ context.Context, image string) error {
			m.preflighted = append(m.preflighted, image)
			if !m.image {
				return fmt.Errorf("%w: the K3s node image %s is not built; build it with `edgesim image node && edgesim image k3s`", cluster.ErrPreflight, image)
			}
			return nil
		},
		Runtime: func(_ context.Context, _ io.Reader, args ...string) ([]byte, error) {
			m.calls = append(m.calls, args)
			return nil, nil
		},
	}
}

var bins = provider.Binaries{Edgenode: "/bin/edgenode", Edgesim: "/bin/edgesim"}

var _ = Describe("New", func() {
	var m *machine
	BeforeEach(func() { m = &machine{root: true, podman: true, image: true} })

	It("runs with the default K3s node image when every check passes", func() {
		p, err := k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: bins, Name: "es-q-1"}}, m.host())
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Name()).To(Equal("k3s"))
		Expect(p.Image()).To(Equal("localhost/edgesim/k3s-node:default"))
		Expect(m.preflighted).To(Equal([]string{"localhost/edgesim/k3s-node:default"}))
	})

	It("checks a given image instead of working out the default", func() {
		m.defaultErr = errors.New("must not be asked")
		p, err := k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: bins}, Image: "mine:1"}, m.host())
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Image()).To(Equal("mine:1"))
	})

	It("refuses a machine without the K3s node image, naming `edgesim image k3s`", func() {
		m.image = false
		_, err := k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: bins}}, m.host())
		Expect(err).To(MatchError(cluster.ErrPreflight))
		Expect(err).To(MatchError(ContainSubstring("edgesim image k3s")))

		m.image, m.defaultErr = true, errors.New("go: not found")
		_, err = k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: bins}}, m.host())
		Expect(err).To(MatchError(And(ContainSubstring("no K3s node image"), ContainSubstring("go: not found"), ContainSubstring("edgesim image k3s"))))
	})

	It("lists everything missing at once, without asking Podman when it cannot run", func() {
		m.root, m.podman = false, false
		_, err := k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: provider.Binaries{Edgenode: "/gone/edgenode"}}}, m.host())
		Expect(err).To(MatchError(And(
			ContainSubstring("run edgesim as root"),
			ContainSubstring("podman is not installed: install it with hack/kind/install-deps.sh"),
			ContainSubstring("edgenode binary /gone/edgenode"),
			ContainSubstring("no edgesim binary given: build it with `go tool task build`"),
		)))
		Expect(m.preflighted).To(BeEmpty(), "no image check without root and Podman")
		Expect(m.calls).To(BeEmpty(), "nothing started")
	})
})

var _ = Describe("the cluster of a plan", func() {
	It("has one agent per plan node with its tier and site, and the fast failover settings", func() {
		m := &machine{root: true, podman: true, image: true}
		p, err := k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: bins, Name: k3sprovider.ClusterName("quickstart-0a1b2c")}}, m.host())
		Expect(err).NotTo(HaveOccurred())
		plan := kubetest.Plan("quickstart", false)
		s := p.Spec(plan, "run-1")
		Expect(s.Validate()).To(Succeed())
		Expect(s.Name).To(Equal("es-quickstart-0a1b2c"))
		Expect(s.Owner).To(Equal("run-1"))
		Expect(s.NodeGracePeriod).To(Equal(10 * time.Second))
		Expect(s.ServerLabels).To(BeEmpty(), "no plan node runs on the server")
		bindings := kube.Bindings(plan)
		Expect(s.Agents).To(HaveLen(len(plan.Nodes)))
		for i, b := range bindings {
			Expect(s.Agents[i]).To(Equal(kindcluster.Worker{Tier: b.Tier, Site: b.Site}))
		}
		Expect(p.FailoverSettings()).To(And(ContainSubstring("node-monitor-grace-period 10s"), ContainSubstring("renewed every 2s"),
			ContainSubstring("for 5s")))
	})

	It("names clusters within K3s's limit for any testbed name", func() {
		for _, n := range []string{"q-0a1b2c", "a-really-long-scenario-name-of-forty-chars-0a1b2c"} {
			s := cluster.Spec{Name: k3sprovider.ClusterName(n), Image: "i", Owner: "run-1"}
			Expect(s.Validate()).To(Succeed(), n)
		}
	})
})

var _ = Describe("faults and tear-down before the cluster exists", func() {
	It("refuses faults and destroys nothing", func(ctx SpecContext) {
		m := &machine{root: true, podman: true, image: true}
		p, err := k3sprovider.NewOn(k3sprovider.Config{Config: provider.Config{Binaries: bins, StateDir: GinkgoT().TempDir()}}, m.host())
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionKill, Node: "store-1-edge-2"})).To(MatchError(ContainSubstring("no node store-1-edge-2")))
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionPartition, Link: "store-1-access"})).To(MatchError(ContainSubstring("no links")))
		Expect(p.Destroy(ctx)).To(Succeed())
		Expect(p.StopCameras(ctx)).To(Succeed())
		Expect(p.ClusterEvents(ctx)).To(BeEmpty())
		Expect(p.Diagnose(ctx)).To(BeEmpty())
		Expect(m.calls).To(BeEmpty())
	})
})

var _ = Describe("K3s cluster records and Clean", func() {
	It("deletes a killed run's cluster with the record's proof, keeps one it cannot prove and a running run's", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		killed := filepath.Join(dir, "k3s", "es-quickstart-0a1b2c.json")
		foreign := filepath.Join(dir, "k3s", "es-quickstart-ffffff.json")
		Expect(os.MkdirAll(filepath.Dir(killed), 0o755)).To(Succeed())
		Expect(os.WriteFile(killed, []byte(`{"name":"es-quickstart-0a1b2c","pid":-1,"proof":{"owner":"run-1","container_ids":["abc"]}}`), 0o644)).To(Succeed())
		Expect(os.WriteFile(foreign, []byte(`{"name":"es-quickstart-ffffff","pid":-1,"proof":{"owner":"run-2"}}`), 0o644)).To(Succeed())
		running, err := k3sprovider.WriteRecord(dir, "es-quickstart-123456", cluster.Proof{Owner: "run-3"})
		Expect(err).NotTo(HaveOccurred())

		got := map[string]cluster.Proof{}
		*k3sprovider.DeleteOwned = func(_ context.Context, name string, p cluster.Proof, _ string) error {
			got[name] = p
			if p.Owner == "run-2" {
				return fmt.Errorf("k3s cluster %q: %w", name, cluster.ErrNotOwned)
			}
			return nil
		}
		DeferCleanup(func() { *k3sprovider.DeleteOwned = cluster.DeleteOwned })
		rep, err := k3sprovider.Clean(ctx, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(map[string]cluster.Proof{
			"es-quickstart-0a1b2c": {Owner: "run-1", IDs: []string{"abc"}},
			"es-quickstart-ffffff": {Owner: "run-2"},
		}), "the running run's cluster is not touched")
		Expect(rep.Removed).To(Equal([]string{"k3s cluster es-quickstart-0a1b2c"}))
		Expect(rep.Skipped).To(ConsistOf(ContainSubstring("es-quickstart-123456 (pid"), ContainSubstring("es-quickstart-ffffff")))
		Expect(killed).NotTo(BeAnExistingFile())
		Expect(foreign).To(BeAnExistingFile())
		Expect(running).To(BeAnExistingFile())
	})
})
