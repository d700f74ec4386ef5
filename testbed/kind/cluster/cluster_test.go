package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("containers.conf editing", func() {
	edit := func(in string) (string, bool) {
		out, changed, err := EditConf([]byte(in), PodmanSettings())
		Expect(err).NotTo(HaveOccurred())
		return string(out), changed
	}

	It("writes both sections into an empty file", func() {
		out, changed := edit("")
		Expect(changed).To(BeTrue())
		Expect(out).To(Equal("[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n\n[engine]\nruntime = \"runc\"\n"))
	})

	It("replaces existing keys in place and keeps comments and other keys", func() {
		in := "# host settings\n[containers]\n# limits\ndefault_ulimits = [\"nofile=1024:1024\"]\nlog_driver = \"k8s-file\"\n\n[engine]\nruntime = \"crun\" # fast\ncgroup_manager = \"cgroupfs\"\n"
		out, changed := edit(in)
		Expect(changed).To(BeTrue())
		Expect(out).To(Equal("# host settings\n[containers]\n# limits\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\nlog_driver = \"k8s-file\"\n\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n"))
	})

	It("replaces a multi-line array value as a whole", func() {
		in := "[containers]\ndefault_ulimits = [\n  \"nofile=1:1\",\n]\npids_limit = 0\n"
		out, _ := edit(in)
		Expect(out).To(HavePrefix("[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\npids_limit = 0\n"))
		Expect(out).NotTo(ContainSubstring("nofile=1:1"))
	})

	It("adds a missing key at the end of its section, before the next one", func() {
		in := "[containers]\nlog_driver = \"k8s-file\"\n\n[network]\nnetwork_backend = \"netavark\"\n"
		out, _ := edit(in)
		Expect(out).To(HavePrefix("[containers]\nlog_driver = \"k8s-file\"\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n\n[network]\n"))
		Expect(out).To(HaveSuffix("[engine]\nruntime = \"runc\"\n"))
	})

	It("leaves a file that is already right unchanged", func() {
		once, _ := edit("[engine]\nevents_logger = \"file\"\n")
		twice, changed := edit(once)
		Expect(changed).To(BeFalse())
		Expect(twice).To(Equal(once))
	})

	It("ignores the key in other sections", func() {
		out, _ := edit("[engine.runtimes]\nruntime = \"other\"\n")
		Expect(out).To(ContainSubstring("[engine.runtimes]\nruntime = \"other\"\n"))
		Expect(out).To(ContainSubstring("[engine]\nruntime = \"runc\"\n"))
	})

	It("refuses an array that is never closed", func() {
		_, _, err := EditConf([]byte("[containers]\ndefault_ulimits = [\n \"a\",\n"), PodmanSettings())
		Expect(err).To(MatchError(ContainSubstring("never closed")))
	})

	It("writes this run's configuration to its own file and never the host's", func() {
		dir := GinkgoT().TempDir()
		if os.Geteuid() != 0 {
			Skip("UsePodmanConf may create /lib/modules, which needs root")
		}
		host, hostErr := os.ReadFile(ContainersConfPath)
		GinkgoT().Setenv("CONTAINERS_CONF", "")
		Expect(os.Unsetenv("CONTAINERS_CONF")).To(Succeed())
		restore, err := UsePodmanConf(dir, "run-0a1b2c")
		Expect(err).NotTo(HaveOccurred())
		p := os.Getenv("CONTAINERS_CONF")
		Expect(filepath.Dir(p)).To(Equal(dir), "children (kind's podman) see the run's file through the environment")
		b, err := os.ReadFile(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring(`runtime = "runc"`))
		Expect(string(b)).To(ContainSubstring(`annotations = ["dev.edgesim.owner=run-0a1b2c"]`))
		after, afterErr := os.ReadFile(ContainersConfPath)
		Expect(afterErr == nil).To(Equal(hostErr == nil))
		Expect(after).To(Equal(host), "the host's containers.conf changed")
		Expect(restore()).To(Succeed())
		_, set := os.LookupEnv("CONTAINERS_CONF")
		Expect(set).To(BeFalse())
		Expect(p).NotTo(BeAnExistingFile())
	})
})

var _ = Describe("runtime detection", func() {
	probe := func(working ...Runtime) probeFunc {
		return func(_ context.Context, rt Runtime) error {
			for _, w := range working {
				if w == rt {
					return nil
				}
			}
			return fmt.Errorf("%s info failed: cannot connect", rt)
		}
	}

	It("prefers Docker when its daemon answers", func(ctx SpecContext) {
		Expect(detect(ctx, "", probe(Docker, Podman))).To(Equal(Docker))
	})

	It("uses Podman when Docker does not answer", func(ctx SpecContext) {
		Expect(detect(ctx, "", probe(Podman))).To(Equal(Podman))
	})

	It("names both failures and the fix when neither works", func(ctx SpecContext) {
		_, err := detect(ctx, "", probe())
		Expect(errors.Is(err, ErrNoRuntime)).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("docker info failed"))
		Expect(err.Error()).To(ContainSubstring("podman info failed"))
		Expect(err.Error()).To(ContainSubstring("hack/kind/install-deps.sh"))
	})

	It("never falls back from an explicit choice", func(ctx SpecContext) {
		_, err := detect(ctx, Podman, probe(Docker))
		Expect(err).To(MatchError(ErrNoRuntime))
		Expect(err.Error()).To(ContainSubstring("podman info failed"))
	})

	It("rejects an unknown runtime", func(ctx SpecContext) {
		_, err := detect(ctx, "lxc", probe(Docker))
		Expect(err).To(MatchError(ContainSubstring(`unknown runtime "lxc"`)))
	})
})

var _ = Describe("cluster spec", func() {
	spec := Spec{Name: "edgesim-e2e", Image: "localhost/edgesim/kind-node:v1.34.4-abc", Workers: DefaultWorkers()}

	It("renders a control plane and one labelled worker per entry, all on the image", func() {
		cfg := spec.KindConfig()
		Expect(cfg.Name).To(Equal("edgesim-e2e"))
		Expect(cfg.Nodes).To(HaveLen(4))
		Expect(string(cfg.Nodes[0].Role)).To(Equal("control-plane"))
		Expect(cfg.Nodes[0].Labels).To(BeEmpty())
		for i, n := range cfg.Nodes {
			Expect(n.Image).To(Equal(spec.Image), "node %d", i)
		}
		Expect(cfg.Nodes[1].Labels).To(Equal(map[string]string{LabelTier: "cloud", LabelSite: "cloud"}))
		Expect(cfg.Nodes[3].Labels).To(Equal(map[string]string{LabelTier: "edge", LabelSite: "site-b"}))
		Expect(cfg.Networking.PodSubnet).NotTo(BeEmpty(), "kind defaults are applied")
	})

	It("lets the kubelet run on cgroup v1 hosts", func() {
		var kubelet struct {
			Kind         string `yaml:"kind"`
			FailCgroupV1 *bool  `yaml:"failCgroupV1"`
		}
		Expect(spec.KindConfig().KubeadmConfigPatches).To(HaveLen(1))
		Expect(yaml.Unmarshal([]byte(spec.KindConfig().KubeadmConfigPatches[0]), &kubelet)).To(Succeed())
		Expect(kubelet.Kind).To(Equal("KubeletConfiguration"))
		Expect(kubelet.FailCgroupV1).To(HaveValue(BeFalse()))
	})

	It("keeps Kubernetes' node grace period unless asked, and tunes both sides when asked", func() {
		Expect(spec.KindConfig().KubeadmConfigPatches).To(Equal([]string{KubeletCgroupV1Patch}))
		fast := spec
		fast.NodeGracePeriod = 10 * time.Second
		Expect(fast.Validate()).To(Succeed())
		patches := fast.KindConfig().KubeadmConfigPatches[1:]
		Expect(patches).To(HaveLen(2))
		var cm struct {
			Kind              string `yaml:"kind"`
			ControllerManager struct {
				ExtraArgs map[string]string `yaml:"extraArgs"`
			} `yaml:"controllerManager"`
		}
		Expect(yaml.Unmarshal([]byte(patches[0]), &cm)).To(Succeed())
		Expect(cm.Kind).To(Equal("ClusterConfiguration"))
		Expect(cm.ControllerManager.ExtraArgs).To(Equal(map[string]string{"node-monitor-period": "1s", "node-monitor-grace-period": "10s"}))
		var kubelet struct {
			Kind      string `yaml:"kind"`
			Lease     int    `yaml:"nodeLeaseDurationSeconds"`
			StatusFor string `yaml:"nodeStatusUpdateFrequency"`
		}
		Expect(yaml.Unmarshal([]byte(patches[1]), &kubelet)).To(Succeed())
		Expect(kubelet.Kind).To(Equal("KubeletConfiguration"))
		Expect(kubelet.StatusFor).To(Equal("2s"), "five status posts per grace period")
		Expect(kubelet.Lease).To(Equal(8), "lease renewed every 2 s (a quarter of its duration)")
	})

	It("sets the pod subnet when asked, and refuses one that is not an IPv4 network", func() {
		own := spec
		own.PodSubnet = "10.243.0.0/16"
		Expect(own.Validate()).To(Succeed())
		Expect(own.KindConfig().Networking.PodSubnet).To(Equal("10.243.0.0/16"))
		own.PodSubnet = "fd00::/64"
		Expect(own.Validate()).To(MatchError(ContainSubstring("podSubnet")))
	})

	It("rejects a grace period Kubernetes cannot take", func() {
		for _, g := range []time.Duration{time.Second, 7500 * time.Millisecond} {
			bad := spec
			bad.NodeGracePeriod = g
			Expect(bad.Validate()).To(MatchError(ContainSubstring("nodeGracePeriod")), g.String())
		}
	})

	It("accepts the default spec", func() {
		Expect(spec.Validate()).To(Succeed())
	})

	It("reports every problem at once", func() {
		bad := Spec{Name: "Bad_Name", Workers: []Worker{{Tier: "edge", Site: "Site A"}}}
		err := bad.Validate()
		Expect(err).To(MatchError(ErrBadSpec))
		Expect(err.Error()).To(ContainSubstring(`name "Bad_Name"`))
		Expect(err.Error()).To(ContainSubstring("image: required"))
		Expect(err.Error()).To(ContainSubstring(`workers[0].site "Site A"`))
	})
})

var _ = Describe("node status", func() {
	It("parses readiness and labels from kubectl's node list", func() {
		nodes, err := ParseNodes([]byte(`{"items":[
		 {"metadata":{"name":"b-worker","labels":{"edgesim.dev/site":"site-a"}},"status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"False"}]}},
		 {"metadata":{"name":"a-control-plane"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}]}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes).To(Equal([]NodeStatus{
			{Name: "a-control-plane", Ready: true},
			{Name: "b-worker", Ready: false, Labels: map[string]string{LabelSite: "site-a"}},
		}))
	})

	It("rejects output that is not a node list", func() {
		_, err := ParseNodes([]byte("error: the server doesn't have a resource type"))
		Expect(err).To(MatchError(ContainSubstring("decode node list")))
	})

	It("carries every not-Ready node's kubelet log in its message", func() {
		err := &NotReadyError{Cluster: "c", NotReady: []string{"c-worker"}, KubeletLogs: map[string]string{"c-worker": "E1129 kubelet: failed to run Kubelet: misconfiguration"}}
		Expect(errors.Is(err, ErrNodesNotReady)).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("--- kubelet log of c-worker ---"))
		Expect(strings.Count(err.Error(), "misconfiguration")).To(Equal(1))
	})
})
