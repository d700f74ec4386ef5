package pipeline_test

import (
	"context"
	"errors"
	"image"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
)

func TestPipeline(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Pipeline Suite")
}

// fakeModel's runners block until the test releases them (gate) and
// report the frame's width as the detection's box width.
type fakeModel struct {
	info    pipeline.ModelInfo
	gate    chan struct{}
	failNew bool
	mu      sync.Mutex
	made    int
}

type fakeRunner struct{ m *fakeModel }

func (m *fakeModel) NewRunner() (pipeline.Runner, error) {
	if m.failNew {
		return nil, errors.New("broken weights")
	}
	m.mu.Lock()
	m.made++
	m.mu.Unlock()
	return &fakeRunner{m}, nil
}
func (m *fakeModel) Info() pipeline.ModelInfo { return m.info }

func (r *fakeRunner) Detect(img image.Image) ([]pipeline.Detection, error) {
	if r.m.gate != nil {
		<-r.m.gate
	}
	if img.Bounds().Dx() == 13 {
		return nil, errors.New("bad frame")
	}
	return []pipeline.Detection{{Label: "person", Score: 0.9, Box: img.Bounds()}}, nil
}
func (r *fakeRunner) Close() error { return nil }

type collector struct {
	mu  sync.Mutex
	got []pipeline.Result
}

func (c *collector) sink(r pipeline.Result) { c.mu.Lock(); c.got = append(c.got, r); c.mu.Unlock() }
func (c *collector) rtps() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint32
	for _, r := range c.got {
		out = append(out, r.Frame.RTP)
	}
	return out
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func frame(rtp uint32) pipeline.Frame {
	return pipeline.Frame{RTP: rtp, Received: t0, Image: image.NewGray(image.Rect(0, 0, 32, 16))}
}

type env struct {
	reg *prometheus.Registry
	m   *metrics.Metrics
	mod *fakeModel
	p   *pipeline.Pipeline
}

func newEnv(gated bool, opts ...pipeline.Option) *env {
	e := &env{reg: prometheus.NewRegistry(), mod: &fakeModel{info: pipeline.ModelInfo{Name: "tiny", Version: "1", SHA256: "abc"}}}
	if gated {
		e.mod.gate = make(chan struct{})
	}
	var err error
	e.m, err = metrics.New(e.reg)
	Expect(err).NotTo(HaveOccurred())
	opts = append([]pipeline.Option{pipeline.WithMetrics(e.m), pipeline.WithClock(func() time.Time { return t0 })}, opts...)
	e.p, err = pipeline.New(e.mod, opts...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if e.mod.gate != nil {
			close(e.mod.gate)
		}
		Expect(e.p.Close()).To(Succeed())
	})
	return e
}

func dropped(m *metrics.Metrics, cam, reason string) float64 {
	return testutil.ToFloat64(m.FramesDropped.WithLabelValues(cam, reason))
}

var _ = Describe("Pipeline", func() {
	It("infers every frame when there is capacity and keeps the order", func() {
		e := newEnv(false, pipeline.WithWorkers(2))
		c := &collector{}
		s, err := e.p.AddStream("cam1", c.sink)
		Expect(err).NotTo(HaveOccurred())
		for i := uint32(1); i <= 5; i++ {
			Expect(s.Submit(frame(i * 3000))).To(BeTrue())
			Eventually(c.rtps).Should(HaveLen(int(i)))
		}
		Expect(c.rtps()).To(Equal([]uint32{3000, 6000, 9000, 12000, 15000}))
		Expect(testutil.ToFloat64(e.m.FramesInferred)).To(Equal(5.0))
		Expect(testutil.CollectAndCount(e.m.InferenceSeconds)).To(Equal(1))
		c.mu.Lock()
		Expect(c.got[0].Model.String()).To(Equal("tiny@1"))
		Expect(c.got[0].Detections).To(HaveLen(1))
		c.mu.Unlock()
	})

	It("lets the latest frame win while the stream's previous frame is in inference", func() {
		e := newEnv(true, pipeline.WithWorkers(1))
		c := &collector{}
		s, _ := e.p.AddStream("cam1", c.sink)
		Expect(s.Submit(frame(1))).To(BeTrue())
		Eventually(e.p.Busy).Should(Equal(1))
		Expect(s.Submit(frame(2))).To(BeTrue())
		Expect(s.Submit(frame(3))).To(BeTrue())
		Expect(dropped(e.m, "cam1", metrics.ReasonStale)).To(Equal(1.0))
		e.mod.gate <- struct{}{}
		e.mod.gate <- struct{}{}
		Eventually(c.rtps).Should(Equal([]uint32{1, 3}))
	})

	It("sheds load with queue_full when every worker is busy and the queue is full", func() {
		e := newEnv(true, pipeline.WithWorkers(1), pipeline.WithQueueDepth(1))
		a, b, cc := &collector{}, &collector{}, &collector{}
		sa, _ := e.p.AddStream("a", a.sink)
		sb, _ := e.p.AddStream("b", b.sink)
		sc, _ := e.p.AddStream("c", cc.sink)
		Expect(sa.Submit(frame(1))).To(BeTrue())
		Eventually(e.p.Busy).Should(Equal(1))
		Expect(sb.Submit(frame(1))).To(BeTrue())
		Expect(e.p.HasCapacity()).To(BeFalse())
		Expect(testutil.ToFloat64(e.m.QueueDepth)).To(Equal(1.0))
		Expect(sc.Submit(frame(1))).To(BeFalse())
		Expect(dropped(e.m, "c", metrics.ReasonQueueFull)).To(Equal(1.0))
		e.mod.gate <- struct{}{}
		e.mod.gate <- struct{}{}
		Eventually(b.rtps).Should(Equal([]uint32{1}))
		Expect(cc.rtps()).To(BeEmpty())
	})

	It("drops frames that waited longer than the max age", func() {
		now := t0
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		e := newEnv(true, pipeline.WithWorkers(1), pipeline.WithClock(clock), pipeline.WithMaxAge(500*time.Millisecond))
		c := &collector{}
		s, _ := e.p.AddStream("cam1", c.sink)
		s.Submit(frame(1))
		Eventually(e.p.Busy).Should(Equal(1))
		s.Submit(frame(2))
		mu.Lock()
		now = t0.Add(time.Second)
		mu.Unlock()
		e.mod.gate <- struct{}{}
		Eventually(func() float64 { return dropped(e.m, "cam1", metrics.ReasonStale) }).Should(Equal(1.0))
		Expect(c.rtps()).To(Equal([]uint32{1}))
	})

	It("counts detector errors and keeps going", func() {
		e := newEnv(false, pipeline.WithWorkers(1))
		c := &collector{}
		s, _ := e.p.AddStream("cam1", c.sink)
		bad := pipeline.Frame{RTP: 9, Received: t0, Image: image.NewGray(image.Rect(0, 0, 13, 13))}
		s.Submit(bad)
		Eventually(c.rtps).Should(HaveLen(1))
		s.Submit(frame(10))
		Eventually(c.rtps).Should(HaveLen(2))
		Expect(dropped(e.m, "cam1", metrics.ReasonInferError)).To(Equal(1.0))
		c.mu.Lock()
		Expect(c.got[0].Err).To(HaveOccurred())
		c.mu.Unlock()
	})

	It("drains: finishes accepted frames, then refuses new ones", func() {
		e := newEnv(true, pipeline.WithWorkers(1))
		c := &collector{}
		s, _ := e.p.AddStream("cam1", c.sink)
		s.Submit(frame(1))
		Eventually(e.p.Busy).Should(Equal(1))
		s.Submit(frame(2))
		done := make(chan error, 1)
		go func() { done <- e.p.Drain(context.Background()) }()
		Consistently(done, "50ms").ShouldNot(Receive())
		e.mod.gate <- struct{}{}
		e.mod.gate <- struct{}{}
		Eventually(done).Should(Receive(BeNil()))
		Expect(c.rtps()).To(Equal([]uint32{1, 2}))
		Expect(s.Submit(frame(3))).To(BeFalse())
		Expect(dropped(e.m, "cam1", metrics.ReasonDraining)).To(Equal(1.0))
		_, err := e.p.AddStream("cam2", c.sink)
		Expect(err).To(MatchError(pipeline.ErrDraining))
	})

	It("gives up draining when the context ends", func() {
		e := newEnv(true, pipeline.WithWorkers(1))
		s, _ := e.p.AddStream("cam1", func(pipeline.Result) {})
		s.Submit(frame(1))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		Expect(e.p.Drain(ctx)).To(MatchError(context.Canceled))
	})

	It("hot-swaps the model without dropping the stream", func() {
		e := newEnv(false, pipeline.WithWorkers(2))
		c := &collector{}
		s, _ := e.p.AddStream("cam1", c.sink)
		s.Submit(frame(1))
		Eventually(c.rtps).Should(HaveLen(1))
		Expect(e.p.SwapModel(&fakeModel{failNew: true})).To(HaveOccurred())
		Expect(e.p.Model().Version).To(Equal("1"))
		v2 := &fakeModel{info: pipeline.ModelInfo{Name: "tiny", Version: "2", SHA256: "def"}}
		Expect(e.p.SwapModel(v2)).To(Succeed())
		s.Submit(frame(2))
		Eventually(c.rtps).Should(HaveLen(2))
		c.mu.Lock()
		Expect(c.got[1].Model.Version).To(Equal("2"))
		c.mu.Unlock()
		Expect(testutil.CollectAndCompare(e.m.ModelInfo, strings.NewReader(`
# HELP edgenode_model_info The model in use (value 1).
# TYPE edgenode_model_info gauge
edgenode_model_info{name="tiny",sha256="def",version="2"} 1
`))).To(Succeed())
	})

	It("refuses a model whose runners cannot be built", func() {
		_, err := pipeline.New(&fakeModel{failNew: true})
		Expect(err).To(MatchError(ContainSubstring("broken weights")))
		_, err = pipeline.New(nil)
		Expect(err).To(MatchError(pipeline.ErrNoModel))
	})

	It("exposes lint-clean metrics", func() {
		e := newEnv(false)
		s, _ := e.p.AddStream("cam1", func(pipeline.Result) {})
		s.Submit(frame(1))
		e.m.FramesReceived.WithLabelValues("cam1").Inc()
		e.m.Alerts.WithLabelValues("cam1", "door", "person").Inc()
		e.m.Detections.WithLabelValues("cam1", "person").Inc()
		e.m.ModelReloads.WithLabelValues("success").Inc()
		problems, err := testutil.GatherAndLint(e.reg)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
		_, err = metrics.New(e.reg)
		Expect(err).To(MatchError(metrics.ErrRegister))
	})
})

var _ = Describe("scheduling policies", func() {
	It("samples at detect fps in 90 kHz ticks, with 10 % slack", func() {
		Expect(pipeline.SampleInterval(5)).To(Equal(uint32(18000)))
		Expect(pipeline.SampleInterval(0)).To(BeZero())
		Expect(pipeline.SkipSample(18000, 1000, false, 1001)).To(BeFalse(), "the first frame is sampled")
		Expect(pipeline.SkipSample(18000, 1000, true, 1000+16199)).To(BeTrue())
		Expect(pipeline.SkipSample(18000, 1000, true, 1000+16200)).To(BeFalse())
		Expect(pipeline.SkipSample(0, 1000, true, 1001)).To(BeFalse(), "no sampling without an interval")
	})
	It("drops a frame only when it waited longer than a set max age", func() {
		Expect(pipeline.Stale(501*time.Millisecond, 500*time.Millisecond)).To(BeTrue())
		Expect(pipeline.Stale(500*time.Millisecond, 500*time.Millisecond)).To(BeFalse())
		Expect(pipeline.Stale(time.Hour, 0)).To(BeFalse())
	})
	It("gives an incomplete head frame up past the pending count, or past the wait with another frame behind it", func() {
		const n, wait = pipeline.AssemblyMaxPending, pipeline.AssemblyMaxWait
		Expect(pipeline.GiveUpHead(n, n, 0, wait)).To(BeFalse())
		Expect(pipeline.GiveUpHead(n+1, n, 0, wait)).To(BeTrue())
		Expect(pipeline.GiveUpHead(2, n, wait, wait)).To(BeFalse(), "not before the wait has passed")
		Expect(pipeline.GiveUpHead(2, n, wait+1, wait)).To(BeTrue())
		Expect(pipeline.GiveUpHead(1, n, time.Hour, wait)).To(BeFalse(), "alone, the head waits for its packets")
		Expect(pipeline.GiveUpHead(2, n, time.Hour, 0)).To(BeFalse(), "no wait limit: only by count")
	})
})

var _ = Describe("Slot, a stream's latest-frame-wins state", func() {
	It("holds one waiting frame, replaces it with a newer one and runs at most one at a time", func() {
		var s pipeline.Slot[int]
		Expect(s.Offer(1)).To(Equal(pipeline.Enqueue), "idle: the caller queues the stream")
		s.Queued()
		Expect(s.Offer(2)).To(Equal(pipeline.Replaced), "2 replaces 1 while the stream waits")
		f, ok := s.Take()
		Expect(ok).To(BeTrue())
		Expect(f).To(Equal(2))
		Expect(s.Active()).To(BeTrue())
		Expect(s.Offer(3)).To(Equal(pipeline.Held), "in inference: 3 waits, the stream is not queued twice")
		Expect(s.Done()).To(BeTrue(), "3 waits: queue the stream again")
		s.Queued()
		Expect(s.Drop()).To(BeTrue(), "queue full or closed: 3 is dropped")
		_, ok = s.Take()
		Expect(ok).To(BeFalse(), "nothing waits")
		Expect(s.Done()).To(BeFalse())
		Expect(s.Offer(4)).To(Equal(pipeline.Enqueue))
	})
})
