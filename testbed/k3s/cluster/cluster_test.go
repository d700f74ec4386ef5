package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/k3s/k3simage"
	kindcluster "github.com/edgesim/edgesim/testbed/kind/cluster"
)

func spec() Spec {
	return Spec{Name: "es-k3s", Image: "localhost/edgesim/k3s-node:v1-abc", Owner: "run-1",
		ServerLabels: map[string]string{kindcluster.LabelTier: "cloud"},
		Agents:       []kindcluster.Worker{{Tier: "edge", Site: "site-a"}}}
}

func decode(b []byte) map[string]any {
	var m map[string]any
	Expect(json.Unmarshal(b, &m)).To(Succeed())
	return m
}

var _ = Describe("Spec", func() {
	It("accepts a good spec and names every problem of a bad one", func() {
		Expect(spec().Validate()).To(Succeed())
		s := spec()
		s.Name, s.Owner, s.Image = "Bad_Name", "", ""
		s.Agents[0].Tier = "Edge Tier"
		err := s.Validate()
		Expect(err).To(MatchError(ErrBadSpec))
		for _, want := range []string{"Bad_Name", "owner", "edgesim image k3s", "Edge Tier"} {
			Expect(err.Error()).To(ContainSubstring(want))
		}
	})
	It("names containers after the cluster", func() {
		Expect(ServerName("c")).To(Equal("c-server"))
		Expect(AgentName("c", 0)).To(Equal("c-agent1"))
		Expect(NetworkName("c")).To(Equal("edgesim-k3s-c"))
	})
})

var _ = Describe("K3s configuration", func() {
	It("runs the server on the node's containerd with the testbed's components off", func() {
		b, err := ServerConfig(spec(), "tok", "registry.k8s.io/pause:3.10", false)
		Expect(err).NotTo(HaveOccurred())
		m := decode(b)
		Expect(m).To(HaveKeyWithValue("container-runtime-endpoint", "unix:///run/containerd/containerd.sock"))
		Expect(m).To(HaveKeyWithValue("pause-image", "registry.k8s.io/pause:3.10"))
		Expect(m).To(HaveKeyWithValue("flannel-backend", "none"))
		Expect(m).To(HaveKeyWithValue("disable-network-policy", true))
		Expect(m).To(HaveKeyWithValue("disable-cloud-controller", true))
		Expect(m).To(HaveKeyWithValue("token", "tok"))
		Expect(m).To(HaveKeyWithValue("node-name", "es-k3s-server"))
		Expect(m["disable"]).To(ConsistOf("traefik", "servicelb", "metrics-server", "local-storage"))
		Expect(m["node-label"]).To(ConsistOf(kindcluster.LabelTier + "=cloud"))
		Expect(m["kubelet-arg"]).To(ConsistOf("cgroup-driver=systemd"), "no cgroup v1 switch on a v2 host")
		Expect(m).NotTo(HaveKey("kube-controller-manager-arg"), "Kubernetes' defaults without a grace period")
	})
	It("lets the kubelet run on cgroup v1 hosts only there", func() {
		b, err := ServerConfig(spec(), "tok", "p", true)
		Expect(err).NotTo(HaveOccurred())
		Expect(decode(b)["kubelet-arg"]).To(ContainElement("fail-cgroupv1=false"))
		b, err = AgentConfig(spec(), 0, "https://10.89.0.2:6443", "tok", "p", true)
		Expect(err).NotTo(HaveOccurred())
		Expect(decode(b)["kubelet-arg"]).To(ContainElement("fail-cgroupv1=false"))
	})
	It("sets fast node failure detection from the grace period", func() {
		s := spec()
		s.NodeGracePeriod = 10 * time.Second
		b, err := ServerConfig(s, "tok", "p", false)
		Expect(err).NotTo(HaveOccurred())
		Expect(decode(b)["kube-controller-manager-arg"]).To(ConsistOf("node-monitor-period=1s", "node-monitor-grace-period=10s"))
		Expect(string(KubeletConfig(10 * time.Second))).To(And(
			ContainSubstring("nodeLeaseDurationSeconds: 8\n"), ContainSubstring(`nodeStatusUpdateFrequency: "2s"`)))
		Expect(string(KubeletConfig(3*time.Second))).To(ContainSubstring("nodeLeaseDurationSeconds: 4\n"), "at least one second per renewal")
		Expect(KubeletConfig(0)).To(BeNil())
	})
	It("joins agents to the server with the token and labels them with tier and site", func() {
		b, err := AgentConfig(spec(), 0, "https://10.89.0.2:6443", "tok", "p", false)
		Expect(err).NotTo(HaveOccurred())
		m := decode(b)
		Expect(m).To(HaveKeyWithValue("server", "https://10.89.0.2:6443"))
		Expect(m).To(HaveKeyWithValue("token", "tok"))
		Expect(m).To(HaveKeyWithValue("node-name", "es-k3s-agent1"))
		Expect(m["node-label"]).To(ConsistOf(kindcluster.LabelSite+"=site-a", kindcluster.LabelTier+"=edge"))
		_, err = AgentConfig(spec(), 1, "u", "t", "p", false)
		Expect(err).To(HaveOccurred())
	})
	It("points the host kubeconfig at the published loopback port", func() {
		out, err := HostKubeconfig([]byte("clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"), "41234")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("server: https://127.0.0.1:41234\n"))
		_, err = HostKubeconfig([]byte("server: https://10.0.0.1:6443\n"), "1")
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("UnmountedControllers", func() {
	const mounts = `30 25 0:26 / /sys/fs/cgroup/cpu rw,nosuid shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw shared:11 - cgroup cgroup rw,net_cls,net_prio
`
	const cgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpu	1	6	1
memory	4	537	1
net_cls	9	2	1
net_prio	9	2	1
perf_event	0	2	1
hugetlb	%s	2	1
`
	It("finds a controller bound to a hierarchy the host never mounted (what K3s leaves)", func() {
		Expect(UnmountedControllers([]byte(strings.Replace(cgroups, "%s", "12", 1)), []byte(mounts))).To(Equal([]string{"hugetlb"}))
	})
	It("joins controllers bound to one hierarchy, which mount only together", func() {
		unmounted := strings.Replace(strings.Replace(cgroups, "%s", "0", 1), "net_cls\t9", "net_cls\t13", 1)
		unmounted = strings.Replace(unmounted, "net_prio\t9", "net_prio\t13", 1)
		Expect(UnmountedControllers([]byte(unmounted), []byte("30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"))).To(Equal([]string{"net_cls,net_prio"}))
	})
	It("finds nothing on a clean host or once the controller is mounted", func() {
		Expect(UnmountedControllers([]byte(strings.Replace(cgroups, "%s", "0", 1)), []byte(mounts))).To(BeEmpty())
		fixed := mounts + "40 25 0:40 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb\n"
		Expect(UnmountedControllers([]byte(strings.Replace(cgroups, "%s", "12", 1)), []byte(fixed))).To(BeEmpty())
	})
})

// fakePodman answers podman commands from a table and records them.
type fakePodman struct {
	calls   [][]string
	answers map[string]string // joined args prefix -> stdout
	fail    map[string]bool   // joined args prefix -> error
	// removes lists the containers "podman ps" no longer shows after "rm".
	removes bool
	// failFirst fails the first n calls with a prefix.
	failFirst map[string]int
}

func (f *fakePodman) run(_ context.Context, _ io.Reader, args ...string) ([]byte, error) {
	f.calls = append(f.calls, args)
	joined := strings.Join(args, " ")
	for prefix, n := range f.failFirst {
		if strings.HasPrefix(joined, prefix) && n > 0 {
			f.failFirst[prefix] = n - 1
			return nil, errors.New("exit status 125: given PIDs did not die within timeout")
		}
	}
	if f.removes && len(args) > 0 && args[0] == "rm" {
		for k := range f.answers {
			if strings.HasPrefix(k, "ps ") {
				f.answers[k] = ""
			}
		}
	}
	for prefix := range f.fail {
		if strings.HasPrefix(joined, prefix) {
			return nil, errors.New("exit status 125")
		}
	}
	best := ""
	for prefix := range f.answers {
		if strings.HasPrefix(joined, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	return []byte(f.answers[best]), nil
}

func (f *fakePodman) called(prefix string) bool {
	for _, c := range f.calls {
		if strings.HasPrefix(strings.Join(c, " "), prefix) {
			return true
		}
	}
	return false
}

var _ = Describe("Preflight", func() {
	var (
		m  machine
		fp *fakePodman
	)
	BeforeEach(func() {
		fp = &fakePodman{answers: map[string]string{"image inspect": "registry.k8s.io/pause:3.10\n"}, fail: map[string]bool{}}
		m = machine{euid: func() int { return 0 }, lookPath: func(string) (string, error) { return "/usr/bin/podman", nil }, podman: fp.run}
	})
	It("returns the image's pause image on a prepared machine", func() {
		Expect(m.preflight(context.Background(), "img")).To(Equal("registry.k8s.io/pause:3.10"))
	})
	It("asks for root before anything else", func() {
		m.euid = func() int { return 1000 }
		_, err := m.preflight(context.Background(), "img")
		Expect(err).To(MatchError(ErrPreflight))
		Expect(err.Error()).To(ContainSubstring("root"))
		Expect(fp.calls).To(BeEmpty())
	})
	It("names Podman and the script that installs it", func() {
		m.lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
		_, err := m.preflight(context.Background(), "img")
		Expect(err).To(MatchError(ContainSubstring("hack/kind/install-deps.sh")))
	})
	It("names the missing image and the commands that build it", func() {
		fp.fail["image inspect"] = true
		_, err := m.preflight(context.Background(), "img")
		Expect(err).To(MatchError(ContainSubstring("edgesim image node && edgesim image k3s")))
	})
	It("refuses an image edgesim image k3s did not make", func() {
		fp.answers["image inspect"] = "<no value>\n"
		_, err := m.preflight(context.Background(), "kindest/node:v1.35.0")
		Expect(err).To(MatchError(ContainSubstring(k3simage.LabelPause)))
	})
})

var _ = Describe("DeleteOwned", func() {
	var (
		fp       *fakePodman
		repaired int
		repair   = func() ([]string, error) { repaired++; return nil, nil }
		kc       string
	)
	BeforeEach(func() {
		repaired = 0
		kc = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		fp = &fakePodman{fail: map[string]bool{}, answers: map[string]string{
			"ps -a -q --no-trunc --filter label=" + LabelCluster + "=es-k3s":       "aaa\nbbb\n",
			"inspect --format {{index .Config.Labels \"" + LabelOwner + "\"}} aaa": "run-1\n",
			"inspect --format {{index .Config.Labels \"" + LabelOwner + "\"}} bbb": "someone-else\n",
			"network inspect --format": "run-1\n",
		}}
	})
	It("deletes nothing when a container carries no mark of the run", func() {
		err := deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{Owner: "run-1"}, kc)
		Expect(err).To(MatchError(ErrNotOwned))
		Expect(fp.called("kill")).To(BeFalse())
		Expect(fp.called("rm")).To(BeFalse())
		Expect(fp.called("network rm")).To(BeFalse())
	})
	It("deletes the containers and network when the IDs or the owner prove them", func() {
		fp.removes = true
		Expect(deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{Owner: "run-1", IDs: []string{"bbb"}}, kc)).To(Succeed())
		at := func(call ...string) int {
			return slices.IndexFunc(fp.calls, func(c []string) bool { return slices.Equal(c, call) })
		}
		kill, rm := at("kill", "--signal", "KILL", "aaa", "bbb"), at("rm", "-f", "-v", "--ignore", "aaa", "bbb")
		Expect(kill).To(BeNumerically(">=", 0), "the nodes are killed, not stopped, first")
		Expect(rm).To(BeNumerically(">", kill), "then removed")
		Expect(fp.called("network rm -f edgesim-k3s-es-k3s")).To(BeTrue())
		Expect(repaired).To(Equal(1), "cgroup mounts are repaired after K3s is gone")
	})
	It("tries the removal again when podman gave up on a container that did not die in time", func() {
		fp.removes = true
		fp.failFirst = map[string]int{"rm -f": 2}
		pause := removePause
		removePause = 0
		DeferCleanup(func() { removePause = pause })
		Expect(deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{Owner: "run-1", IDs: []string{"bbb"}}, kc)).To(Succeed())
		n := 0
		for _, c := range fp.calls {
			if c[0] == "rm" {
				n++
			}
		}
		Expect(n).To(Equal(3), "two failed tries, then the one that removed them")
	})
	It("reports containers of the cluster that survive the delete", func() {
		err := deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{Owner: "run-1", IDs: []string{"bbb"}}, kc)
		Expect(err).To(MatchError(ContainSubstring("left containers behind: aaa, bbb")))
	})
	It("never deletes on an empty owner token", func() {
		err := deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{}, kc)
		Expect(err).To(MatchError(ErrNotOwned))
		Expect(fp.called("rm")).To(BeFalse())
	})
	It("leaves a network of the same name that another run made", func() {
		fp.answers["ps -a -q --no-trunc --filter label="+LabelCluster+"=es-k3s"] = ""
		fp.answers["network inspect --format"] = "run-2\n"
		Expect(deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{Owner: "run-1"}, kc)).To(MatchError(ErrNotOwned))
		Expect(fp.called("network rm")).To(BeFalse())
	})
	It("is no error for a cluster that does not exist", func() {
		fp.answers["ps -a -q --no-trunc --filter label="+LabelCluster+"=es-k3s"] = ""
		fp.fail["network inspect"] = true
		Expect(deleteOwned(context.Background(), fp.run, repair, "es-k3s", Proof{Owner: "run-1"}, kc)).To(Succeed())
		Expect(fp.called("rm")).To(BeFalse())
	})
})

var _ = Describe("WaitReady", func() {
	It("restarts K3s once on a registered node that stays NotReady, and then sees it Ready", func(ctx SpecContext) {
		nodes := func(agentReady string) string {
			return `{"items":[{"metadata":{"name":"es-k3s-server"},"status":{"conditions":[{"type":"Ready","status":"True"}]}},` +
				`{"metadata":{"name":"es-k3s-agent1"},"status":{"conditions":[{"type":"Ready","status":"` + agentReady + `"}]}}]}`
		}
		fp := &fakePodman{fail: map[string]bool{}, answers: map[string]string{"exec -i es-k3s-server kubectl": nodes("False")}}
		restart := "exec es-k3s-agent1 systemctl restart k3s.service"
		run := func(c context.Context, in io.Reader, args ...string) ([]byte, error) {
			if strings.Join(args, " ") == restart {
				fp.answers["exec -i es-k3s-server kubectl"] = nodes("True")
			}
			return fp.run(c, in, args...)
		}
		after := stuckAfter
		stuckAfter = 0
		DeferCleanup(func() { stuckAfter = after })
		c := &Cluster{Spec: Spec{Name: "es-k3s", Agents: []kindcluster.Worker{{Tier: "edge", Site: "s"}}}, podman: run, now: time.Now,
			repair: func() ([]string, error) { return nil, nil }}
		Expect(c.WaitReady(ctx, time.Minute)).To(Succeed())
		n := 0
		for _, call := range fp.calls {
			if strings.Join(call, " ") == restart {
				n++
			}
		}
		Expect(n).To(Equal(1))
	})
})

var _ = Describe("Clusters", func() {
	It("lists each cluster of an owner once", func() {
		fp := &fakePodman{answers: map[string]string{"ps -a": "b\na\nb\n"}}
		Expect(clusters(context.Background(), fp.run, "run-1")).To(Equal([]string{"a", "b"}))
		Expect(fp.calls[0]).To(ContainElement("label=" + LabelOwner + "=run-1"))
	})
})
