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

	It("puts every object and every in-cluster URL of the run in the namespace it is given", func() {
		p := kubetest.Plan("quickstart", false)
		c := cfg
		c.Namespace, c.Token = "edgesim-r42", "secret"
		objs, err := kube.Manifests(p, c)
		Expect(err).NotTo(HaveOccurred())
		cams, err := kube.CameraManifests(p, c)
		Expect(err).NotTo(HaveOccurred())
		b, err := kube.Render(append(objs, cams...))
		Expect(err).NotTo(HaveOccurred())
		d := kubetest.Docs(b)
		Expect(d).To(HaveKey("Namespace/edgesim-r42"))
		for key, doc := range d {
			if key != "Namespace/edgesim-r42" {
				Expect(kubetest.Dig(doc, "metadata", "namespace")).To(Equal("edgesim-r42"), key)
			}
		}
		Expect(string(b)).NotTo(ContainSubstring(".edgesim.svc"))
		Expect(kubetest.Dig(d["ConfigMap/edgenode-store-1-config"], "data", "edgenode.yaml")).To(ContainSubstring("upstream: http://edgenode-cloud.edgesim-r42.svc.cluster.local.:8080\n"))
		Expect(kubetest.Dig(d["ConfigMap/cameras-store-1-cams"], "data", "cameras.json")).To(ContainSubstring("edgenode-store-1.edgesim-r42.svc.cluster.local."))
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

	It("refuses missing images and models it was not given, in one error", func() {
		p := kubetest.Plan("quickstart", false)
		p.Scenario.Workload.Model.Path = "/models/x"
		_, err := kube.Manifests(p, kube.ManifestConfig{})
		Expect(err).To(MatchError(ContainSubstring("model /models/x of node cloud-1: not read")))
		Expect(err).To(MatchError(ContainSubstring("images: both")))
		p = kubetest.Plan("quickstart", false)
		p.Scenario.Sites[0].Model = &scenarios.Model{Name: "x", Path: "/models/x"} // the site's own (sites[].workload.model)
		_, err = kube.Manifests(p, cfg)
		Expect(err).To(MatchError(ContainSubstring("model /models/x of node store-1-edge-1: not read")))
		_, err = kube.CameraManifests(nil, cfg)
		Expect(err).To(MatchError(ContainSubstring("provider.NewPlan")))
	})

	Describe("a model directory", func() {
		var dir string
		BeforeEach(func() {
			dir = GinkgoT().TempDir()
			Expect(os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"version":"v9"}`), 0o644)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(dir, "weights.bin"), []byte{0, 1, 2, 0xff}, 0o644)).To(Succeed())
		})

		It("ships in a ConfigMap per tier that the edgenodes mount and name as their model", func() {
			p := kubetest.Plan("quickstart", false)
			p.Scenario.Workload.Model.Path = dir
			models, err := kube.ReadModels(p)
			Expect(err).NotTo(HaveOccurred())
			mc := cfg
			mc.Models = models
			objs, err := kube.Manifests(p, mc)
			Expect(err).NotTo(HaveOccurred())
			var maps []*kube.ConfigMap
			var deps []*kube.Deployment
			configs := map[string]string{}
			for _, o := range objs {
				switch o := o.(type) {
				case *kube.ConfigMap:
					if strings.HasSuffix(o.Metadata.Name, "-model") {
						maps = append(maps, o)
					} else {
						configs[o.Metadata.Name] = o.Data["edgenode.yaml"]
					}
				case *kube.Deployment:
					deps = append(deps, o)
				}
			}
			Expect(deps).To(HaveLen(2)) // cloud and store-1
			Expect(maps).To(HaveLen(len(deps)))
			for _, cm := range maps {
				Expect(cm.BinaryData).To(Equal(map[string]string{"manifest.json": "eyJ2ZXJzaW9uIjoidjkifQ==", "weights.bin": "AAEC/w=="}))
			}
			for _, d := range deps {
				spec := d.Spec.Template.Spec
				Expect(spec.Volumes).To(ContainElement(kube.Volume{Name: "model", ConfigMap: &kube.ConfigMapVolume{Name: d.Metadata.Name + "-model"}}))
				Expect(spec.Containers[0].VolumeMounts).To(ContainElement(HaveField("Name", "model")))
				var mount string
				for _, m := range spec.Containers[0].VolumeMounts {
					if m.Name == "model" {
						mount = m.MountPath
						Expect(m.ReadOnly).To(BeTrue())
					}
				}
				Expect(configs[d.Metadata.Name+"-config"]).To(ContainSubstring("model: " + mount + "\n"))
				Expect(configs[d.Metadata.Name+"-config"]).NotTo(ContainSubstring(dir))
			}
		})

		It("ships a site's own model to that site only; an embedded variant needs no ConfigMap", func() {
			p := kubetest.Plan("quickstart", false)
			p.Scenario.Sites[0].Model = &scenarios.Model{Name: "mine", Path: dir}
			models, err := kube.ReadModels(p)
			Expect(err).NotTo(HaveOccurred())
			Expect(models).To(HaveKey(dir))
			mc := cfg
			mc.Models = models
			objs, err := kube.Manifests(p, mc)
			Expect(err).NotTo(HaveOccurred())
			var maps []string
			configs := map[string]string{}
			for _, o := range objs {
				if cm, ok := o.(*kube.ConfigMap); ok {
					if strings.HasSuffix(cm.Metadata.Name, "-model") {
						maps = append(maps, cm.Metadata.Name)
					} else if y := cm.Data["edgenode.yaml"]; y != "" {
						configs[cm.Metadata.Name] = y
					}
				}
			}
			Expect(maps).To(Equal([]string{kube.EdgenodeName("store-1") + "-model"}))
			Expect(configs[kube.EdgenodeName("")+"-config"]).NotTo(ContainSubstring("model:"), "the cloud runs the image's default model")

			p = kubetest.Plan("quickstart", false)
			p.Scenario.Sites[0].Model = &scenarios.Model{Name: "v2-int8", Variant: "v2-int8", Embedded: "edgesim-det/v2-int8"}
			objs, err = kube.Manifests(p, cfg)
			Expect(err).NotTo(HaveOccurred())
			for _, o := range objs {
				if cm, ok := o.(*kube.ConfigMap); ok {
					Expect(cm.Metadata.Name).NotTo(HaveSuffix("-model"))
					if cm.Metadata.Name == kube.EdgenodeName("store-1")+"-config" {
						Expect(cm.Data["edgenode.yaml"]).To(ContainSubstring("model: embedded:edgesim-det/v2-int8\n"))
					}
				}
			}
		})

		It("is refused before any cluster exists when a ConfigMap cannot carry it", func() {
			big := make([]byte, kube.MaxModelBytes)
			Expect(os.WriteFile(filepath.Join(dir, "weights.bin"), big, 0o644)).To(Succeed())
			p := kubetest.Plan("quickstart", false)
			p.Scenario.Workload.Model.Path = dir
			_, err := kube.New(p, nil, kube.ManifestConfig{}, kube.Config{})
			Expect(err).To(MatchError(And(ContainSubstring("bytes of files, but a ConfigMap carries at most 1048576"), ContainSubstring("edgenode optimize"))))
		})

		It("is refused when it holds more than plain files or has no manifest", func() {
			Expect(os.Mkdir(filepath.Join(dir, "sub"), 0o755)).To(Succeed())
			_, err := kube.ReadModel(dir)
			Expect(err).To(MatchError(ContainSubstring("sub is not a regular file")))
			Expect(os.Remove(filepath.Join(dir, "sub"))).To(Succeed())
			Expect(os.Remove(filepath.Join(dir, "manifest.json"))).To(Succeed())
			_, err = kube.ReadModel(dir)
			Expect(err).To(MatchError(ContainSubstring("no manifest.json")))
		})

		It("is read from the committed variants within the limit", func() {
			for _, v := range []string{"v2", "v2-int8"} {
				files, err := kube.ReadModel(filepath.Join("..", "..", "runtime", "models", "edgesim-det", v))
				Expect(err).NotTo(HaveOccurred(), v)
				Expect(files).To(HaveKey("weights.bin"))
			}
		})
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
