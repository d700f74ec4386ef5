package nodecontainer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

// fakeRuntime records every CLI call and answers from a table keyed by
// the call's first arguments.
type fakeRuntime struct {
	calls  [][]string
	stdins []string
	answer func(args []string) (string, error)
}

func (f *fakeRuntime) run(_ context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	f.calls = append(f.calls, args)
	in := ""
	if stdin != nil {
		b, _ := io.ReadAll(stdin)
		in = string(b)
	}
	f.stdins = append(f.stdins, in)
	if f.answer == nil {
		return nil, nil
	}
	out, err := f.answer(args)
	return []byte(out), err
}

var _ = Describe("Nodes", func() {
	var (
		rt    *fakeRuntime
		nodes nodecontainer.Nodes
	)
	BeforeEach(func() {
		rt = &fakeRuntime{}
		nodes = nodecontainer.NewNodes(rt.run)
	})

	It("probes, reads, links and copies in node containers by name, passing paths as arguments, never as shell text", func(ctx SpecContext) {
		Expect(nodes.Probe(ctx, "es-q-agent1", "http://x")).To(Succeed())
		Expect(nodes.CopyFrom(ctx, "es-q-agent2", "/var/lib/edgesim/samples/h", "/tmp/d")).To(Succeed())
		Expect(nodes.CopyTo(ctx, "es-q-agent2", "/tmp/m", "/var/lib/edgesim/models/x")).To(Succeed())
		Expect(nodes.Symlink(ctx, "es-q-agent2", "m-1", "/var/lib/edgesim/models/current")).To(Succeed())
		Expect(rt.calls).To(Equal([][]string{
			{"exec", "es-q-agent1", "curl", "-sf", "-m", "2", "-o", "/dev/null", "http://x"},
			{"cp", "es-q-agent2:/var/lib/edgesim/samples/h/.", "/tmp/d"},
			{"exec", "es-q-agent2", "mkdir", "-p", "/var/lib/edgesim/models/x"},
			{"cp", "/tmp/m/.", "es-q-agent2:/var/lib/edgesim/models/x"},
			{"exec", "es-q-agent2", "sh", "-c", `ln -sfn "$1" "$2.new" && mv -Tf "$2.new" "$2"`, "sh", "m-1", "/var/lib/edgesim/models/current"},
		}))
	})

	It("says whether a file exists in a node container, and reads a missing one as empty", func(ctx SpecContext) {
		rt.answer = func(args []string) (string, error) {
			if args[len(args)-1] == "/there" {
				return "yes\n", nil
			}
			return "", nil
		}
		Expect(nodes.Exists(ctx, "n1", "/there")).To(BeTrue())
		Expect(nodes.Exists(ctx, "n1", "/gone")).To(BeFalse())
		Expect(nodes.ReadFile(ctx, "n1", "/gone")).To(BeEmpty())
	})

	It("reads a container's PID and refuses a container without a process", func(ctx SpecContext) {
		rt.answer = func(args []string) (string, error) {
			if args[len(args)-1] == "up" {
				return "4242\n", nil
			}
			return "0\n", nil
		}
		Expect(nodes.PID(ctx, "up")).To(Equal(4242))
		_, err := nodes.PID(ctx, "down")
		Expect(err).To(MatchError(ContainSubstring("node container down has no process")))
	})

	It("pipes an archive into the node's containerd, and wraps a failure in ErrImage naming the node", func(ctx SpecContext) {
		archive := filepath.Join(GinkgoT().TempDir(), "img.tar")
		Expect(os.WriteFile(archive, []byte("tar bytes"), 0o644)).To(Succeed())
		Expect(nodes.Load(ctx, "n1", archive)).To(Succeed())
		Expect(rt.calls[0]).To(Equal([]string{"exec", "-i", "n1", "ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests", "-"}))
		Expect(rt.stdins[0]).To(Equal("tar bytes"))

		rt.answer = func([]string) (string, error) { return "", errors.New("ctr: no space") }
		err := nodes.Load(ctx, "n2", archive)
		Expect(err).To(MatchError(nodecontainer.ErrImage))
		Expect(err).To(MatchError(And(ContainSubstring("img.tar"), ContainSubstring("node n2"), ContainSubstring("no space"))))
		Expect(nodes.Load(ctx, "n2", "/nonexistent.tar")).To(MatchError(nodecontainer.ErrImage))
	})

	It("loads the cameras image on camera hosts and edgenode's elsewhere, and returns the container's PID", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		w := nodecontainer.Workloads{Edgenode: nodecontainer.Image{Archive: filepath.Join(dir, "edge.tar")}, Cameras: nodecontainer.Image{Archive: filepath.Join(dir, "cams.tar")}}
		for _, f := range []string{"edge.tar", "cams.tar"} {
			Expect(os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)).To(Succeed())
		}
		rt.answer = func(args []string) (string, error) { return "7", nil }
		Expect(nodes.LoadWorkload(ctx, w, provider.RoleCamera, "c")).To(Equal(7))
		Expect(nodes.LoadWorkload(ctx, w, provider.RoleEdge, "e")).To(Equal(7))
		Expect(nodes.LoadWorkload(ctx, w, provider.RoleCloud, "k")).To(Equal(7))
		Expect(rt.stdins).To(Equal([]string{"cams.tar", "", "edge.tar", "", "edge.tar", ""}))
	})

	DescribeTable("node faults act on the plan node's container",
		func(kind provider.ActionKind, verb string) {
			container := func(node string) (string, bool) {
				return map[string]string{"store-1-edge-2": "es-q-agent3"}[node], node == "store-1-edge-2"
			}
			Expect(nodes.Inject(context.Background(), provider.Action{Kind: kind, Node: "store-1-edge-2"}, container, nil)).To(Succeed())
			Expect(rt.calls).To(Equal([][]string{{verb, "es-q-agent3"}}))
			Expect(nodes.Inject(context.Background(), provider.Action{Kind: kind, Node: "nope"}, container, nil)).To(MatchError(ContainSubstring("no node nope")))
		},
		Entry("kill", provider.ActionKill, "kill"),
		Entry("start", provider.ActionStart, "start"),
		Entry("pause", provider.ActionPause, "pause"),
		Entry("resume", provider.ActionResume, "unpause"),
	)

	It("refuses a link fault before the links exist, without calling the runtime", func(ctx SpecContext) {
		err := nodes.Inject(ctx, provider.Action{Kind: provider.ActionPartition, Link: "store-1-access"}, func(string) (string, bool) { return "", false }, nil)
		Expect(err).To(MatchError(ContainSubstring("no links yet")))
		Expect(rt.calls).To(BeEmpty())
	})

	It("lowers a control plane's CPU weight and sums its processes' resident memory", func(ctx SpecContext) {
		rt.answer = func(args []string) (string, error) {
			if args[0] == "exec" {
				return "524288\n", nil // kB
			}
			return "", nil
		}
		Expect(nodes.YieldCPU(ctx, "cp")).To(Succeed())
		Expect(rt.calls[0]).To(Equal([]string{"update", "--cpu-shares", "128", "cp"}))
		Expect(nodes.ResidentMemory(ctx, "cp")).To(Equal(uint64(512 << 20)))
		Expect(rt.calls[1][:3]).To(Equal([]string{"exec", "cp", "sh"}))
		Expect(strings.Join(rt.calls[1], " ")).To(And(ContainSubstring("VmRSS"), ContainSubstring("= kubectl ]")), "edgesim's own kubectl processes do not count")

		rt.answer = func([]string) (string, error) { return "sh: awk: not found", nil }
		_, err := nodes.ResidentMemory(ctx, "cp")
		Expect(err).To(MatchError(ContainSubstring("resident memory of cp")))
	})

	It("completes a cluster's figures with its control plane's memory, or says it could not measure it", func(ctx SpecContext) {
		rt.answer = func([]string) (string, error) { return "524288\n", nil }
		tb := nodecontainer.Testbed{Nodes: nodes}
		var logged []string
		logf := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
		c := tb.Measure(ctx, evidence.Cluster{Name: "c", ControlPlane: "cp", Create: time.Second}, logf)
		Expect(c).To(Equal(evidence.Cluster{Name: "c", ControlPlane: "cp", Create: time.Second, ControlPlaneMemory: 512 << 20}))

		rt.answer = func([]string) (string, error) { return "sh: awk: not found", nil }
		c = tb.Measure(ctx, evidence.Cluster{Name: "c", ControlPlane: "cp"}, logf)
		Expect(c.ControlPlaneMemory).To(BeZero())
		Expect(logged).To(ConsistOf(Equal("control plane cp: resident memory 512 MiB"), ContainSubstring("control plane cp: resident memory not measured")))
	})

	It("closes no links safely (a failed Provision)", func(ctx SpecContext) {
		var l *nodecontainer.Links
		Expect(l.Close(ctx)).To(Succeed())
		Expect(l.Stats()).To(BeEmpty())
		_, ok := l.Host("x")
		Expect(ok).To(BeFalse())
	})
})

var _ = Describe("ClusterName and EngineName", func() {
	It("make DNS labels within the limits from any testbed name", func() {
		Expect(nodecontainer.ClusterName("QuickStart_run.1-abc123", 40)).To(Equal("es-quickstart-run-1-abc123"))
		long := nodecontainer.ClusterName(strings.Repeat("x", 60)+"-abc123", 40)
		Expect(len(long)).To(BeNumerically("<=", 40))
		Expect(long).To(HavePrefix(nodecontainer.ClusterNamePrefix))
		Expect(netem.CheckName(nodecontainer.EngineName(long))).To(Succeed())
	})
})
