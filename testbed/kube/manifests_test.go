package kube_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/provider"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var cfg = kube.ManifestConfig{EdgenodeImage: "localhost/edgesim/edgenode:test", CamerasImage: "localhost/edgesim/edgesim:test"}

func rendered(p *provider.Plan) []byte { return renderedWith(p, cfg) }

func renderedWith(p *provider.Plan, cfg kube.ManifestConfig) []byte {
	objs, err := kube.Manifests(p, cfg)
	Expect(err).NotTo(HaveOccurred())
	cams, err := kube.CameraManifests(p, cfg)
	Expect(err).NotTo(HaveOccurred())
	b, err := kube.Render(append(objs, cams...))
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("Manifests", func() {
	DescribeTable("match the golden files",
		func(example string, compare bool, golden string) {
			b := rendered(kubetest.Plan(example, compare))
			path := filepath.Join("testdata", golden)
			if *update {
				Expect(os.WriteFile(path, b, 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred(), "run go test ./testbed/kindprovider -args -update to create it")
			Expect(string(b)).To(Equal(string(want)))
		},
		Entry("quickstart", "quickstart", false, "quickstart.yaml"),
		Entry("quickstart compared with cloud placement", "quickstart", true, "quickstart-compare.yaml"),
		Entry("factory-5g", "factory-5g", false, "factory-5g.yaml"),
	)

	It("renders one Deployment per site pinned by tier and site, with a Service and a PDB", func() {
		d := kubetest.Docs(rendered(kubetest.Plan("quickstart", false)))
		dep := d["Deployment/edgenode-store-1"]
		Expect(dep).NotTo(BeNil())
		Expect(kubetest.Dig(dep, "spec", "replicas")).To(Equal(2))
		Expect(kubetest.Dig(dep, "spec", "template", "spec", "nodeSelector")).To(Equal(map[string]any{
			kube.LabelTier: "edge", kube.LabelSite: "store-1"}))
		Expect(d).To(HaveKey("Service/edgenode-store-1"))
		Expect(kubetest.Dig(d["PodDisruptionBudget/edgenode-store-1"], "spec", "maxUnavailable")).To(Equal(1))
		cloud := d["Deployment/edgenode-cloud"]
		Expect(kubetest.Dig(cloud, "spec", "template", "spec", "nodeSelector")).To(Equal(map[string]any{
			kube.LabelTier: "cloud", kube.LabelSite: "cloud"}))
		Expect(kubetest.Dig(d["ConfigMap/edgenode-cloud-config"], "data", "edgenode.yaml")).To(And(ContainSubstring("mode: cloud\n"), ContainSubstring("alerts-file: ")))
		Expect(kubetest.Dig(d["ConfigMap/edgenode-store-1-config"], "data", "edgenode.yaml")).To(ContainSubstring("upstream: http://edgenode-cloud.edgesim.svc.cluster.local.:8080\n"))
	})

	It("keeps the alert spool on the node, so it survives a pod reschedule", func() {
		d := kubetest.Docs(rendered(kubetest.Plan("quickstart", false)))
		for _, name := range []string{"edgenode-store-1", "edgenode-cloud"} {
			spec := kubetest.Dig(d["Deployment/"+name], "spec", "template", "spec")
			Expect(kubetest.Dig(spec, "volumes")).To(ContainElement(map[string]any{"name": "spool",
				"hostPath": map[string]any{"path": kube.HostDataDir + "/spool/" + name, "type": "DirectoryOrCreate"}}), name)
			Expect(kubetest.Dig(spec, "containers", 0, "volumeMounts")).To(ContainElement(map[string]any{"name": "spool", "mountPath": "/spool"}), name)
		}
	})

	It("probes /readyz and /healthz and sizes the container from the node's resources", func() {
		d := kubetest.Docs(rendered(kubetest.Plan("quickstart", false)))
		c := kubetest.Dig(d["Deployment/edgenode-store-1"], "spec", "template", "spec", "containers", 0)
		Expect(kubetest.Dig(c, "readinessProbe", "httpGet", "path")).To(Equal("/readyz"))
		Expect(kubetest.Dig(c, "livenessProbe", "httpGet", "path")).To(Equal("/healthz"))
		Expect(kubetest.Dig(c, "resources", "limits")).To(Equal(map[string]any{"cpu": "1000m", "memory": "512Mi"}))
		Expect(kubetest.Dig(c, "resources", "requests")).To(Equal(map[string]any{"cpu": "500m", "memory": "256Mi"}))
		Expect(kubetest.Dig(c, "env")).To(ContainElement(map[string]any{"name": "GOMAXPROCS", "value": "1"}))
	})

	It("sizes the containers of a site from its named hardware class and labels them with it", func() {
		data, err := scenarios.ExampleData("quickstart")
		Expect(err).NotTo(HaveOccurred())
		data = bytes.Replace(data, []byte(`resources: {cpu: "1", memory: 512Mi}`), []byte(`hardware: small-box`), 1)
		data = bytes.Replace(data, []byte("  provider: local\n"), []byte("  provider: local\n  hardware:\n    - {name: small-box, cpu: 1500m, memory: 768Mi}\n"), 1)
		sc, err := scenarios.Load("classes.yaml", data, "")
		Expect(err).NotTo(HaveOccurred())
		p, err := provider.NewPlan(sc, false)
		Expect(err).NotTo(HaveOccurred())
		d := kubetest.Docs(rendered(p))
		tmpl := kubetest.Dig(d["Deployment/edgenode-store-1"], "spec", "template")
		c := kubetest.Dig(tmpl, "spec", "containers", 0)
		Expect(kubetest.Dig(c, "resources", "limits")).To(Equal(map[string]any{"cpu": "1500m", "memory": "768Mi"}))
		Expect(kubetest.Dig(c, "resources", "requests")).To(Equal(map[string]any{"cpu": "750m", "memory": "384Mi"}))
		Expect(kubetest.Dig(c, "env")).To(ContainElement(map[string]any{"name": "GOMAXPROCS", "value": "2"}))
		Expect(kubetest.Dig(tmpl, "metadata", "labels")).To(HaveKeyWithValue("edgesim.dev/hardware", "small-box"))
		Expect(kubetest.Dig(d["Deployment/edgenode-cloud"], "spec", "template", "metadata", "labels")).NotTo(HaveKey("edgesim.dev/hardware"), "the cloud has no class")
	})

	It("tolerates not-ready and unreachable nodes for seconds, not minutes", func() {
		c := cfg
		c.TolerationSeconds = 3
		objs, err := kube.Manifests(kubetest.Plan("quickstart", false), c)
		Expect(err).NotTo(HaveOccurred())
		b, err := kube.Render(objs)
		Expect(err).NotTo(HaveOccurred())
		tol := kubetest.Dig(kubetest.Docs(b)["Deployment/edgenode-store-1"], "spec", "template", "spec", "tolerations").([]any)
		Expect(tol).To(ConsistOf(
			map[string]any{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3},
			map[string]any{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3},
		))
	})

	It("puts the cameras on their camera node, streaming to the site Service (once per site node) and then the cloud", func() {
		d := kubetest.Docs(rendered(kubetest.Plan("quickstart", false)))
		pod := d["Pod/cameras-store-1-cams"]
		Expect(kubetest.Dig(pod, "spec", "nodeSelector")).To(Equal(map[string]any{
			kube.LabelTier: kube.TierCamera, kube.LabelSite: "store-1"}))
		var fleet []struct {
			ID        string
			Endpoints []string
		}
		Expect(json.Unmarshal([]byte(kubetest.Dig(d["ConfigMap/cameras-store-1-cams"], "data", "cameras.json").(string)), &fleet)).To(Succeed())
		Expect(fleet).To(HaveLen(4))
		for _, c := range fleet {
			Expect(c.Endpoints).To(Equal([]string{
				"http://edgenode-store-1.edgesim.svc.cluster.local.:8080/whip",
				"http://edgenode-store-1.edgesim.svc.cluster.local.:8080/whip",
				"http://edgenode-cloud.edgesim.svc.cluster.local.:8080/whip",
			}), c.ID)
		}
	})

	It("keeps the run token in a Secret that edgenodes and cameras read into their environment, never into a command or a ConfigMap", func() {
		withToken := cfg
		withToken.Token = "run-token-1"
		b := renderedWith(kubetest.Plan("quickstart", false), withToken)
		d := kubetest.Docs(b)
		Expect(kubetest.Dig(d["Secret/"+kube.TokenSecret], "stringData", "token")).To(Equal("run-token-1"))
		Expect(strings.Count(string(b), "run-token-1")).To(Equal(1), "only in the Secret")
		fromSecret := func(name string) map[string]any {
			return map[string]any{"name": name, "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": kube.TokenSecret, "key": "token"}}}
		}
		edge := kubetest.Dig(d["Deployment/edgenode-store-1"], "spec", "template", "spec", "containers", 0, "env")
		Expect(edge).To(ContainElements(fromSecret("EDGENODE_TOKEN"), fromSecret("EDGENODE_UPSTREAM_TOKEN")))
		cloud := kubetest.Dig(d["Deployment/edgenode-cloud"], "spec", "template", "spec", "containers", 0, "env")
		Expect(cloud).To(ContainElement(fromSecret("EDGENODE_TOKEN")))
		Expect(kubetest.Dig(d["Pod/cameras-store-1-cams"], "spec", "containers", 0, "env")).To(ContainElement(fromSecret("FAKECAM_TOKEN")))
	})

	It("binds every plan node to a labelled node", func() {
		p := kubetest.Plan("quickstart", true)
		bs := kube.Bindings(p)
		Expect(bs).To(HaveLen(len(p.Nodes)))
		var labels [][2]string
		for _, b := range bs {
			labels = append(labels, [2]string{b.Tier, b.Site})
		}
		Expect(labels).To(Equal([][2]string{
			{"cloud", "cloud"},
			{"edge", "store-1"}, {"edge", "store-1"},
			{"camera", "store-1"}, {"camera", "store-1-via-cloud"},
		}))
	})

	It("refuses a model path it cannot ship, and missing images, in one error", func() {
		p := kubetest.Plan("quickstart", false)
		p.Scenario.Workload.Model.Path = "/models/x"
		_, err := kube.Manifests(p, kube.ManifestConfig{})
		Expect(err).To(MatchError(ContainSubstring("workload.model.path")))
		Expect(err).To(MatchError(ContainSubstring("images: both")))
		_, err = kube.CameraManifests(nil, cfg)
		Expect(err).To(MatchError(ContainSubstring("provider.NewPlan")))
	})
})

var _ = Describe("manifests of the federated layout", func() {
	It("publish the cloud on a node port and point the sites' upstreams and cameras at it", func() {
		fed := cfg
		fed.CloudURL = "http://10.240.0.1:30080"
		objs, err := kube.Manifests(kubetest.Plan("quickstart", false), fed)
		Expect(err).NotTo(HaveOccurred())
		cams, err := kube.CameraManifests(kubetest.Plan("quickstart", false), fed)
		Expect(err).NotTo(HaveOccurred())
		b, err := kube.Render(append(objs, cams...))
		Expect(err).NotTo(HaveOccurred())
		d := kubetest.Docs(b)
		Expect(kubetest.Dig(d["Service/edgenode-cloud"], "spec", "type")).To(Equal("NodePort"))
		Expect(kubetest.Dig(d["Service/edgenode-cloud"], "spec", "ports", 0, "nodePort")).To(Equal(kube.CloudNodePort))
		Expect(kubetest.Dig(d["Service/edgenode-store-1"], "spec", "type")).To(BeNil(), "the site's Service stays inside its cluster")
		Expect(kubetest.Dig(d["ConfigMap/edgenode-store-1-config"], "data", "edgenode.yaml")).To(ContainSubstring("upstream: http://10.240.0.1:30080\n"))
		Expect(string(b)).To(ContainSubstring("http://10.240.0.1:30080/whip"), "the cameras' last endpoint is the cloud over the WAN")
	})
})
