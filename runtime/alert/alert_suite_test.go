package alert_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/runtime/alert"
	"github.com/edgesim/edgesim/wire"
)

func TestAlert(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		os.Exit(forwarderChild()) // a process the crash spec SIGKILLs
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Alert Suite")
}

var t0 = time.Date(2026, 1, 1, 22, 0, 0, 0, time.UTC)

func mk(i int) wire.Alert {
	first := t0.Add(time.Duration(i) * time.Second)
	return wire.Alert{
		ID: wire.MakeID("edge-1", "cam1", "loiter", i, first), Node: "edge-1", Camera: "cam1", Zone: "door",
		Label: "person", Rule: "loiter", Track: i, Frame: uint64(i * 10), FirstSeen: first, Raised: first.Add(5 * time.Second), DwellMS: 5000,
	}
}

// cloud is an upstream whose availability the test switches.
type cloud struct {
	store *alert.Store
	srv   *httptest.Server
	up    atomic.Bool
}

func newCloud(opts ...alert.StoreOption) *cloud {
	c := &cloud{}
	var err error
	c.store, err = alert.NewStore(opts...)
	Expect(err).NotTo(HaveOccurred())
	h := c.store.Handler()
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.up.Load() {
			http.Error(w, "uplink down", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	c.up.Store(true)
	DeferCleanup(func() { c.srv.Close(); _ = c.store.Close() })
	return c
}

func run(f *alert.Forwarder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	DeferCleanup(func() { cancel(); <-done })
}

func ids(list []wire.Alert) []string {
	var out []string
	for _, r := range list {
		out = append(out, r.ID)
	}
	return out
}

var _ = Describe("Alert", func() {
	It("derives a stable id from node, camera, rule, track and first-seen time", func() {
		Expect(mk(1).ID).To(Equal(mk(1).ID))
		Expect(mk(1).ID).NotTo(Equal(mk(2).ID))
		Expect(mk(1).ID).To(HaveLen(24))
	})

	It("marshals to the contract's field names", func() {
		b, err := json.Marshal(mk(1))
		Expect(err).NotTo(HaveOccurred())
		for _, k := range []string{`"id"`, `"node"`, `"camera"`, `"zone"`, `"label"`, `"track"`, `"frame"`, `"first_seen":"2026-01-01T22:00:01Z"`, `"raised"`, `"dwell_ms":5000`} {
			Expect(string(b)).To(ContainSubstring(k))
		}
	})
})

var _ = Describe("Forwarder", func() {
	fast := alert.WithBackoff(5*time.Millisecond, 20*time.Millisecond)

	It("rejects an unusable upstream URL", func() {
		_, err := alert.NewForwarder("10.0.0.1:8080")
		Expect(err).To(MatchError(alert.ErrBadUpstream))
	})

	It("delivers alerts in order", func() {
		c := newCloud()
		f, err := alert.NewForwarder(c.srv.URL, fast)
		Expect(err).NotTo(HaveOccurred())
		run(f)
		for i := 1; i <= 3; i++ {
			Expect(f.Enqueue(mk(i))).To(Succeed())
		}
		Eventually(func() []string { return ids(c.store.List()) }).Should(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID}))
		Eventually(f.Pending).Should(BeZero())
	})

	It("stores while the uplink is down and loses none when it returns", func() {
		c := newCloud()
		c.up.Store(false)
		reg := prometheus.NewRegistry()
		f, err := alert.NewForwarder(c.srv.URL, fast, alert.WithSpoolDir(GinkgoT().TempDir()), alert.WithRegisterer(reg))
		Expect(err).NotTo(HaveOccurred())
		run(f)
		for i := 1; i <= 50; i++ {
			Expect(f.Enqueue(mk(i))).To(Succeed())
		}
		Eventually(func() float64 { return testutil.ToFloat64(mustCounter(reg, "edgenode_alert_delivery_failures_total")) }).Should(BeNumerically(">=", 2))
		Expect(f.Pending()).To(Equal(50))
		Expect(c.store.List()).To(BeEmpty())
		c.up.Store(true)
		Eventually(func() int { return len(c.store.List()) }, "5s").Should(Equal(50))
		Expect(ids(c.store.List())[49]).To(Equal(mk(50).ID))
		Eventually(f.Pending).Should(BeZero())
		problems, err := testutil.GatherAndLint(reg)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
	})

	It("keeps the spool across a restart", func() {
		dir := GinkgoT().TempDir()
		c := newCloud()
		c.up.Store(false)
		f1, err := alert.NewForwarder(c.srv.URL, alert.WithSpoolDir(dir))
		Expect(err).NotTo(HaveOccurred())
		for i := 1; i <= 5; i++ {
			Expect(f1.Enqueue(mk(i))).To(Succeed())
		}
		Expect(os.WriteFile(filepath.Join(dir, "99999999999999999999-torn.json"), []byte(`{"id":`), 0o600)).To(Succeed())
		// process dies here; a new one starts on the same spool
		f2, err := alert.NewForwarder(c.srv.URL, fast, alert.WithSpoolDir(dir))
		Expect(err).NotTo(HaveOccurred())
		Expect(f2.Pending()).To(Equal(5))
		c.up.Store(true)
		run(f2)
		Eventually(func() []string { return ids(c.store.List()) }).Should(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID, mk(4).ID, mk(5).ID}))
		Eventually(func() []string { n, _ := filepath.Glob(filepath.Join(dir, "*")); return n }).Should(BeEmpty())
	})

	It("drops the oldest beyond the bound and counts it", func() {
		c := newCloud()
		c.up.Store(false)
		reg := prometheus.NewRegistry()
		dir := GinkgoT().TempDir()
		f, err := alert.NewForwarder(c.srv.URL, fast, alert.WithBound(3), alert.WithSpoolDir(dir), alert.WithRegisterer(reg))
		Expect(err).NotTo(HaveOccurred())
		for i := 1; i <= 5; i++ {
			Expect(f.Enqueue(mk(i))).To(Succeed())
		}
		Expect(f.Pending()).To(Equal(3))
		n, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		Expect(n).To(HaveLen(3))
		Expect(testutil.ToFloat64(mustCounterVec(reg, "edgenode_alerts_dropped_total", "spool_full"))).To(Equal(2.0))
		c.up.Store(true)
		run(f)
		Eventually(func() []string { return ids(c.store.List()) }).Should(Equal([]string{mk(3).ID, mk(4).ID, mk(5).ID}))
	})

	It("refuses to queue an alert the upstream could never accept", func() {
		c := newCloud()
		reg := prometheus.NewRegistry()
		f, err := alert.NewForwarder(c.srv.URL, fast, alert.WithRegisterer(reg))
		Expect(err).NotTo(HaveOccurred())
		run(f)
		bad := mk(1)
		bad.Camera = ""
		Expect(f.Enqueue(bad)).To(MatchError(wire.ErrInvalid))
		Expect(f.Enqueue(mk(2))).To(Succeed())
		Eventually(func() []string { return ids(c.store.List()) }).Should(Equal([]string{mk(2).ID}))
		Expect(testutil.ToFloat64(mustCounterVec(reg, "edgenode_alerts_dropped_total", "invalid"))).To(Equal(1.0))
	})
})

var _ = Describe("Store", func() {
	It("deduplicates by id, lists, and keeps a JSONL file across restarts", func() {
		path := filepath.Join(GinkgoT().TempDir(), "alerts.jsonl")
		reg := prometheus.NewRegistry()
		now := t0.Add(time.Hour)
		c := newCloud(alert.WithJSONL(path), alert.WithStoreRegisterer(reg), alert.WithStoreClock(func() time.Time { return now }))
		for _, a := range []wire.Alert{mk(1), mk(1), mk(2)} {
			b, _ := json.Marshal(a)
			resp, err := http.Post(c.srv.URL+"/v1/alerts", "application/json", strings.NewReader(string(b)))
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(BeElementOf(http.StatusCreated, http.StatusOK))
		}
		resp, err := http.Get(c.srv.URL + "/v1/alerts")
		Expect(err).NotTo(HaveOccurred())
		var got []wire.Alert
		Expect(json.NewDecoder(resp.Body).Decode(&got)).To(Succeed())
		resp.Body.Close()
		Expect(got).To(HaveLen(2))
		Expect(got[0].Received).To(Equal(now))
		Expect(testutil.ToFloat64(mustCounterVec(reg, "edgenode_alerts_received_total", "duplicate"))).To(Equal(1.0))
		Expect(c.store.Close()).To(Succeed())

		raw, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(raw), "\n")).To(Equal(2))
		again, err := alert.NewStore(alert.WithJSONL(path))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(again.Close)
		dup, err := again.Add(mk(2))
		Expect(err).NotTo(HaveOccurred())
		Expect(dup).To(BeTrue())
		Expect(again.List()).To(HaveLen(2))
	})

	It("refuses malformed alerts with 400 when they name no id", func() {
		c := newCloud()
		for _, body := range []string{"nope", `{"id":""}`, `[{"id":"x","node":"n","camera":"c","raised":"2026-01-01T00:00:00Z"},{"node":"n"}]`} {
			resp, err := http.Post(c.srv.URL+"/v1/alerts", "application/json", strings.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), body)
		}
	})
})

func mustCounter(reg *prometheus.Registry, name string) prometheus.Collector {
	return gathered{reg, name, ""}
}
func mustCounterVec(reg *prometheus.Registry, name, label string) prometheus.Collector {
	return gathered{reg, name, label}
}

// gathered re-exposes one gathered series as a collector for testutil.ToFloat64.
type gathered struct {
	reg         *prometheus.Registry
	name, label string
}

func (g gathered) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc(g.name, "x", nil, nil)
}
func (g gathered) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != g.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if g.label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != g.label) {
				continue
			}
			v += m.GetCounter().GetValue()
		}
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "x", nil, nil), prometheus.CounterValue, v)
}
