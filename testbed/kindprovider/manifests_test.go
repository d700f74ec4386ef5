package kindprovider_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/provider"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var cfg = kindprovider.ManifestConfig{EdgenodeImage: "localhost/edgesim/edgenode:test", CamerasImage: "localhost/edgesim/edgesim:test"}

func plan(name string, compare bool) *provider.Plan {
	sc, err := scenarios.Example(name)
	Expect(err).NotTo(HaveOccurred())
	p, err := provider.NewPlan(sc, compare)
	Expect(err).NotTo(HaveOccurred())
	return p
}

// docs decodes a rendered stream into generic documents keyed by
// "Kind/name".
func docs(b []byte) map[string]map[string]any {
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		out[d["kind"].(string)+"/"+d["metadata"].(map[string]any)["name"].(string)] = d
	}
	return out
}

func dig(d any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			d = d.(map[string]any)[k]
		case int:
			d = d.([]any)[k]
		}
	}
	return d
}

func rendered(p *provider.Plan) []byte { return renderedWith(p, cfg) }

func renderedWith(p *provider.Plan, cfg kindprovider.ManifestConfig) []byte {
	objs, err := kindprovider.Manifests(p, cfg)
	Expect(err).NotTo(HaveOccurred())
	cams, err := kindprovider.CameraManifests(p, cfg)
	Expect(err).NotTo(HaveOccurred())
	b, err := kindprovider.Render(append(objs, cams...))
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("Manifests", func() {
	DescribeTable("match the golden files",
		func(example string, compare bool, golden string) {
			b := rendered(plan(example, compare))
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
		d := docs(rendered(plan("quickstart", false)))
		dep := d["Deployment/edgenode-store-1"]
		Expect(dep).NotTo(BeNil())
		Expect(dig(dep, "spec", "replicas")).To(Equal(2))
		Expect(dig(dep, "spec", "template", "spec", "nodeSelector")).To(Equal(map[string]any{
			cluster.LabelTier: "edge", cluster.LabelSite: "store-1"}))
		Expect(d).To(HaveKey("Service/edgenode-store-1"))
		Expect(dig(d["PodDisruptionBudget/edgenode-store-1"], "spec", "maxUnavailable")).To(Equal(1))
		cloud := d["Deployment/edgenode-cloud"]
		Expect(dig(cloud, "spec", "template", "spec", "nodeSelector")).To(Equal(map[string]any{
			cluster.LabelTier: "cloud", cluster.LabelSite: "cloud"}))
		Expect(dig(d["ConfigMap/edgenode-cloud-config"], "data", "edgenode.yaml")).To(And(ContainSubstring("mode: cloud\n"), ContainSubstring("alerts-file: ")))
		Expect(dig(d["ConfigMap/edgenode-store-1-config"], "data", "edgenode.yaml")).To(ContainSubstring("upstream: http://edgenode-cloud.edgesim.svc.cluster.local.:8080\n"))
	})

	It("keeps the alert spool on the node, so it survives a pod reschedule", func() {
		d := docs(rendered(plan("quickstart", false)))
		for _, name := range []string{"edgenode-store-1", "edgenode-cloud"} {
			spec := dig(d["Deployment/"+name], "spec", "template", "spec")
			Expect(dig(spec, "volumes")).To(ContainElement(map[string]any{"name": "spool",
				"hostPath": map[string]any{"path": kindprovider.HostDataDir + "/spool/" + name, "type": "DirectoryOrCreate"}}), name)
			Expect(dig(spec, "containers", 0, "volumeMounts")).To(ContainElement(map[string]any{"name": "spool", "mountPath": "/spool"}), name)
		}
	})

	It("probes /readyz and /healthz and sizes the container from the node's resources", func() {
		d := docs(rendered(plan("quickstart", false)))
		c := dig(d["Deployment/edgenode-store-1"], "spec", "template", "spec", "containers", 0)
		Expect(dig(c, "readinessProbe", "httpGet", "path")).To(Equal("/readyz"))
		Expect(dig(c, "livenessProbe", "httpGet", "path")).To(Equal("/healthz"))
		Expect(dig(c, "resources", "limits")).To(Equal(map[string]any{"cpu": "1000m", "memory": "512Mi"}))
		Expect(dig(c, "resources", "requests")).To(Equal(map[string]any{"cpu": "500m", "memory": "256Mi"}))
		Expect(dig(c, "env")).To(ContainElement(map[string]any{"name": "GOMAXPROCS", "value": "1"}))
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
		d := docs(rendered(p))
		tmpl := dig(d["Deployment/edgenode-store-1"], "spec", "template")
		c := dig(tmpl, "spec", "containers", 0)
		Expect(dig(c, "resources", "limits")).To(Equal(map[string]any{"cpu": "1500m", "memory": "768Mi"}))
		Expect(dig(c, "resources", "requests")).To(Equal(map[string]any{"cpu": "750m", "memory": "384Mi"}))
		Expect(dig(c, "env")).To(ContainElement(map[string]any{"name": "GOMAXPROCS", "value": "2"}))
		Expect(dig(tmpl, "metadata", "labels")).To(HaveKeyWithValue("edgesim.dev/hardware", "small-box"))
		Expect(dig(d["Deployment/edgenode-cloud"], "spec", "template", "metadata", "labels")).NotTo(HaveKey("edgesim.dev/hardware"), "the cloud has no class")
	})

	It("tolerates not-ready and unreachable nodes for seconds, not minutes", func() {
		c := cfg
		c.TolerationSeconds = 3
		objs, err := kindprovider.Manifests(plan("quickstart", false), c)
		Expect(err).NotTo(HaveOccurred())
		b, err := kindprovider.Render(objs)
		Expect(err).NotTo(HaveOccurred())
		tol := dig(docs(b)["Deployment/edgenode-store-1"], "spec", "template", "spec", "tolerations").([]any)
		Expect(tol).To(ConsistOf(
			map[string]any{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3},
			map[string]any{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3},
		))
	})

	It("puts the cameras on their camera node, streaming to the site Service (once per site node) and then the cloud", func() {
		d := docs(rendered(plan("quickstart", false)))
		pod := d["Pod/cameras-store-1-cams"]
		Expect(dig(pod, "spec", "nodeSelector")).To(Equal(map[string]any{
			cluster.LabelTier: kindprovider.TierCamera, cluster.LabelSite: "store-1"}))
		var fleet []struct {
			ID        string
			Endpoints []string
		}
		Expect(json.Unmarshal([]byte(dig(d["ConfigMap/cameras-store-1-cams"], "data", "cameras.json").(string)), &fleet)).To(Succeed())
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
		b := renderedWith(plan("quickstart", false), withToken)
		d := docs(b)
		Expect(dig(d["Secret/"+kindprovider.TokenSecret], "stringData", "token")).To(Equal("run-token-1"))
		Expect(strings.Count(string(b), "run-token-1")).To(Equal(1), "only in the Secret")
		fromSecret := func(name string) map[string]any {
			return map[string]any{"name": name, "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": kindprovider.TokenSecret, "key": "token"}}}
		}
		edge := dig(d["Deployment/edgenode-store-1"], "spec", "template", "spec", "containers", 0, "env")
		Expect(edge).To(ContainElements(fromSecret("EDGENODE_TOKEN"), fromSecret("EDGENODE_UPSTREAM_TOKEN")))
		cloud := dig(d["Deployment/edgenode-cloud"], "spec", "template", "spec", "containers", 0, "env")
		Expect(cloud).To(ContainElement(fromSecret("EDGENODE_TOKEN")))
		Expect(dig(d["Pod/cameras-store-1-cams"], "spec", "containers", 0, "env")).To(ContainElement(fromSecret("FAKECAM_TOKEN")))
	})

	It("binds every plan node to a labelled worker", func() {
		p := plan("quickstart", true)
		bs := kindprovider.Bindings(p)
		Expect(bs).To(HaveLen(len(p.Nodes)))
		var workers []cluster.Worker
		for _, b := range bs {
			workers = append(workers, b.Worker)
		}
		Expect(workers).To(Equal([]cluster.Worker{
			{Tier: "cloud", Site: "cloud"},
			{Tier: "edge", Site: "store-1"}, {Tier: "edge", Site: "store-1"},
			{Tier: "camera", Site: "store-1"}, {Tier: "camera", Site: "store-1-via-cloud"},
		}))
		Expect(cluster.Spec{Name: "edgesim-test", Image: "img", Workers: workers}.Validate()).To(Succeed())
	})

	It("refuses a model path it cannot ship, and missing images, in one error", func() {
		p := plan("quickstart", false)
		p.Scenario.Workload.Model.Path = "/models/x"
		_, err := kindprovider.Manifests(p, kindprovider.ManifestConfig{})
		Expect(err).To(MatchError(ContainSubstring("workload.model.path")))
		Expect(err).To(MatchError(ContainSubstring("images: both")))
		_, err = kindprovider.CameraManifests(nil, cfg)
		Expect(err).To(MatchError(ContainSubstring("provider.NewPlan")))
	})
})
