package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/runtime/internal/testcam"
	"github.com/edgesim/edgesim/runtime/node"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/server"
	"github.com/edgesim/edgesim/wire"
)

func TestNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Node Suite")
}

// personModel stands in for the CNN where a test needs a detection in a
// known place (alerts): one person in the lower right of every frame.
type personModel struct{}
type personRunner struct{}

func (personModel) NewRunner() (pipeline.Runner, error) { return personRunner{}, nil }
func (personModel) Info() pipeline.ModelInfo {
	return pipeline.ModelInfo{Name: "person", Version: "t", SHA256: "00"}
}
func (personRunner) Detect(img image.Image) ([]pipeline.Detection, error) {
	b := img.Bounds()
	return []pipeline.Detection{{Label: "person", Score: 0.9, Box: image.Rect(b.Dx()*3/4, b.Dy()/2, b.Dx()*3/4+20, b.Dy()*9/10)}}, nil
}
func (personRunner) Close() error { return nil }

func testConfig() node.Config {
	c := node.DefaultConfig()
	c.Listen = "127.0.0.1:0"
	c.ICE = server.ICEConfig{Interfaces: []string{"lo"}, IncludeLoopback: true, DisableMDNS: true}
	c.DetectFPS = 0
	c.Workers = 1
	return c
}

// start runs a node until the spec ends; it returns the node and a function
// that stops it (SIGTERM) and returns Run's error.
func start(cfg node.Config, opts ...node.Option) (*node.Node, func() error) {
	n, err := node.New(cfg, opts...)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var result error
	stopped := false
	stop := func() error {
		if !stopped {
			cancel()
			result = <-done
			stopped = true
		}
		return result
	}
	DeferCleanup(func() { _ = stop() })
	Eventually(func() int {
		resp, err := http.Get("http://" + n.Addr() + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}).Should(Equal(http.StatusOK))
	return n, stop
}

func camera(n *node.Node, id string) *testcam.Camera {
	c, err := testcam.New(320, 240)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Stop)
	code, body, err := c.Publish("http://"+n.Addr(), "?camera="+id, "")
	Expect(err).NotTo(HaveOccurred())
	Expect(code).To(Equal(http.StatusCreated), body)
	Eventually(c.DCOpen, "10s").Should(BeClosed())
	return c
}

// stream sends frames at about 10 fps until stop is closed.
func stream(c *testcam.Camera, stop <-chan struct{}) { c.Stream(stop, 100*time.Millisecond, 0) }

var _ = Describe("Config", func() {
	It("reports every problem at once", func() {
		c := node.DefaultConfig()
		c.Mode, c.MaxSessions, c.QueueDepth = "fog", 0, 0
		c.ICE.PortMin = 9
		c.ICE.PublicIPs = []string{"nope"}
		err := c.Validate()
		Expect(err).To(MatchError(node.ErrConfig))
		for _, s := range []string{"--mode", "--max-sessions", "--queue-depth", "--ice-ports", "--public-ip"} {
			Expect(err.Error()).To(ContainSubstring(s))
		}
	})

	It("refuses to start with a missing model", func() {
		c := testConfig()
		c.ModelDir = filepath.Join(GinkgoT().TempDir(), "none")
		_, err := node.New(c)
		Expect(err).To(MatchError(ContainSubstring("refusing to start without a valid model")))
	})

	It("refuses to start with a bad rules file", func() {
		c := testConfig()
		c.RulesFile = filepath.Join(GinkgoT().TempDir(), "rules.yaml")
		Expect(os.WriteFile(c.RulesFile, []byte("rules: [{name: r, zone: nowhere, label: person}]\n"), 0o600)).To(Succeed())
		_, err := node.New(c, node.WithModel(personModel{}))
		Expect(err).To(MatchError(ContainSubstring("unknown zone")))
	})
})

var _ = Describe("Node", func() {
	It("runs the real embedded model on a published stream", func() {
		reg := prometheus.NewRegistry()
		n, stop := start(testConfig(), node.WithRegistry(reg))
		c := camera(n, "cam-real")
		halt := make(chan struct{})
		go stream(c, halt)
		DeferCleanup(func() { close(halt) })
		Eventually(func() int { return len(c.Got()) }, "20s").Should(BeNumerically(">=", 5))
		d := c.Got()[0]
		Expect(d.Model).To(HavePrefix("edgesim-det@"))
		Expect(d.InferMS).To(BeNumerically(">", 0))
		resp, err := http.Get("http://" + n.Addr() + "/metrics")
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		buf := new(bytes.Buffer)
		_, _ = buf.ReadFrom(resp.Body)
		Expect(buf.String()).To(ContainSubstring(`edgenode_frames_received_total{camera="cam-real"}`))
		Expect(buf.String()).To(ContainSubstring(`edgenode_model_info{name="edgesim-det"`))
		problems, err := testutil.GatherAndLint(reg)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
		Expect(stop()).To(Succeed())
	})

	It("sends alerts from an edge node to a cloud node, storing them while the uplink is down", func() {
		dir := GinkgoT().TempDir()
		cloudCfg := testConfig()
		cloudCfg.Mode, cloudCfg.NodeID = node.ModeCloud, "cloud"
		cloudCfg.AlertsFile = filepath.Join(dir, "alerts.jsonl")
		cloud, stopCloud := start(cloudCfg, node.WithModel(personModel{}))
		cloudAddr := cloud.Addr()

		rulesFile := filepath.Join(dir, "rules.yaml")
		Expect(os.WriteFile(rulesFile, []byte("zones: [{name: yard, rect: [0.5, 0.5, 1, 1]}]\nrules: [{name: loiter, zone: yard, label: person, dwell: 500ms}]\n"), 0o600)).To(Succeed())
		edgeCfg := testConfig()
		edgeCfg.NodeID, edgeCfg.RulesFile, edgeCfg.Upstream = "edge-1", rulesFile, "http://"+cloudAddr
		edgeCfg.SpoolDir = filepath.Join(dir, "spool")
		edge, _ := start(edgeCfg, node.WithModel(personModel{}))

		// uplink down: the cloud stops before the alert is raised
		Expect(stopCloud()).To(Succeed())
		c := camera(edge, "cam-1")
		halt := make(chan struct{})
		go stream(c, halt)
		DeferCleanup(func() { close(halt) })
		Eventually(func() int { return edge.Forwarder().Pending() }, "15s").Should(Equal(1))
		spooled, _ := filepath.Glob(filepath.Join(edgeCfg.SpoolDir, "*.json"))
		Expect(spooled).To(HaveLen(1))

		// uplink back: a cloud node on the same address receives it
		cloudCfg.Listen = cloudAddr
		cloud2, _ := start(cloudCfg, node.WithModel(personModel{}))
		Eventually(func() int { return len(cloud2.Alerts().List()) }, "15s").Should(Equal(1))
		a := cloud2.Alerts().List()[0]
		Expect(a.Node).To(Equal("edge-1"))
		Expect(a.Camera).To(Equal("cam-1"))
		Expect(a.Zone).To(Equal("yard"))
		raw, err := os.ReadFile(cloudCfg.AlertsFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).To(ContainSubstring(a.ID))
		Eventually(edge.Forwarder().Pending).Should(BeZero())

		// placement "cloud": the cloud node takes streams too
		cc := camera(cloud2, "site-2-cam-1")
		halt2 := make(chan struct{})
		go stream(cc, halt2)
		DeferCleanup(func() { close(halt2) })
		Eventually(func() int { return len(cc.Got()) }, "15s").Should(BeNumerically(">=", 2))
		Expect(cc.Got()[0].Node).To(Equal("cloud"))
	})

	It("stores a cloud node's own alerts in its store, like alerts posted from the edge", func() {
		dir := GinkgoT().TempDir()
		rulesFile := filepath.Join(dir, "rules.yaml")
		Expect(os.WriteFile(rulesFile, []byte("zones: [{name: yard, rect: [0.5, 0.5, 1, 1]}]\nrules: [{name: loiter, zone: yard, label: person, dwell: 500ms}]\n"), 0o600)).To(Succeed())
		cfg := testConfig()
		cfg.Mode, cfg.NodeID, cfg.RulesFile = node.ModeCloud, "cloud", rulesFile
		cfg.AlertsFile = filepath.Join(dir, "alerts.jsonl")
		cloud, _ := start(cfg, node.WithModel(personModel{}))
		Expect(cloud.Forwarder()).To(BeNil(), "no upstream")

		c := camera(cloud, "cam-cloud")
		halt := make(chan struct{})
		go stream(c, halt)
		DeferCleanup(func() { close(halt) })
		Eventually(func() int { return len(cloud.Alerts().List()) }, "15s").Should(Equal(1))
		a := cloud.Alerts().List()[0]
		Expect(a.Node).To(Equal("cloud"))
		Expect(a.Camera).To(Equal("cam-cloud"))
		Expect(a.Zone).To(Equal("yard"))
		Expect(a.Rule).To(Equal("loiter"))

		// what testbed collection reads: GET /v1/alerts and the JSONL file
		resp, err := http.Get("http://" + cloud.Addr() + "/v1/alerts")
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var listed []wire.Alert
		Expect(json.NewDecoder(resp.Body).Decode(&listed)).To(Succeed())
		Expect(listed).To(HaveLen(1))
		Expect(listed[0].ID).To(Equal(a.ID))
		raw, err := os.ReadFile(cfg.AlertsFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).To(ContainSubstring(a.ID))
	})

	It("hot-swaps the model from --model on reload while the stream keeps running", func() {
		def, err := detector.Default()
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		_, err = def.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		cfg := testConfig()
		cfg.ModelDir = dir
		reg := prometheus.NewRegistry()
		n, _ := start(cfg, node.WithRegistry(reg))
		c := camera(n, "cam-swap")
		halt := make(chan struct{})
		go stream(c, halt)
		DeferCleanup(func() { close(halt) })
		Eventually(func() int { return len(c.Got()) }, "20s").Should(BeNumerically(">=", 2))
		v1 := c.Got()[0].Model

		// a tampered update is refused and the old model keeps serving
		w := filepath.Join(dir, def.Manifest.Weights)
		if def.Manifest.Weights == "" {
			w = filepath.Join(dir, detector.WeightsFile)
		}
		orig, err := os.ReadFile(w)
		Expect(err).NotTo(HaveOccurred())
		bad := append([]byte(nil), orig...)
		bad[len(bad)/3] ^= 0xff
		Expect(os.WriteFile(w, bad, 0o600)).To(Succeed())
		info, err := n.Reload(context.Background())
		Expect(errors.Is(err, detector.ErrModelTampered)).To(BeTrue())
		Expect(info.String()).To(Equal(v1))

		// a new version is swapped in without dropping the session
		man := def.Manifest
		man.Version = "v-next"
		next, err := def.WithManifest(man)
		Expect(err).NotTo(HaveOccurred())
		_, err = next.Save(dir)
		Expect(err).NotTo(HaveOccurred())
		info, err = n.Reload(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Version).To(Equal("v-next"))
		Eventually(func() string { g := c.Got(); return g[len(g)-1].Model }, "10s").Should(HaveSuffix("@v-next"))
		Expect(n.Server().Sessions()).To(Equal(1))
		Expect(testutil.ToFloat64(n.Metrics().ModelReloads.WithLabelValues("failure"))).To(Equal(1.0))
		Expect(testutil.ToFloat64(n.Metrics().ModelReloads.WithLabelValues("success"))).To(Equal(1.0))
	})

	It("drains on stop: refuses new sessions and closes the open ones", func() {
		n, stop := start(testConfig(), node.WithModel(personModel{}))
		c := camera(n, "cam-d")
		halt := make(chan struct{})
		go stream(c, halt)
		DeferCleanup(func() { close(halt) })
		Eventually(func() int { return len(c.Got()) }, "10s").Should(BeNumerically(">=", 2))
		Expect(stop()).To(Succeed())
		Expect(n.Server().Sessions()).To(BeZero())
		_, err := http.Get("http://" + n.Addr() + "/healthz")
		Expect(err).To(HaveOccurred(), "the listener is closed")
		Expect(errors.Is(err, context.Canceled)).To(BeFalse())
	})
})
