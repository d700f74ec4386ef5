package server_test

import (
	"context"
	"errors"
	"image"
	"math/rand"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/runtime/internal/testcam"
	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/runtime/server"
	"github.com/edgesim/edgesim/wire"
)

func TestServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Server Suite")
}

// fakeModel stands in for the CNN in unit tests: one person in the lower
// right of every frame.
type fakeModel struct {
	version string
	broken  bool
}
type fakeRunner struct{}

func (m *fakeModel) NewRunner() (pipeline.Runner, error) {
	if m.broken {
		return nil, errors.New("tampered weights")
	}
	return fakeRunner{}, nil
}
func (m *fakeModel) Info() pipeline.ModelInfo {
	return pipeline.ModelInfo{Name: "fake", Version: m.version, SHA256: "00"}
}
func (fakeRunner) Detect(img image.Image) ([]pipeline.Detection, error) {
	b := img.Bounds()
	return []pipeline.Detection{{Label: "person", Score: 0.9, Box: image.Rect(b.Dx()*3/4, b.Dy()/2, b.Dx()*3/4+20, b.Dy()*9/10)}}, nil
}
func (fakeRunner) Close() error { return nil }

type node struct {
	reg    *prometheus.Registry
	m      *metrics.Metrics
	p      *pipeline.Pipeline
	s      *server.Server
	http   *httptest.Server
	mu     sync.Mutex
	alerts []wire.Alert
	model  *fakeModel
}

func (n *node) gotAlerts() []wire.Alert {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]wire.Alert(nil), n.alerts...)
}

func newNode(opts ...server.Option) *node {
	n := &node{reg: prometheus.NewRegistry(), model: &fakeModel{version: "1"}}
	var err error
	n.m, err = metrics.New(n.reg)
	Expect(err).NotTo(HaveOccurred())
	n.p, err = pipeline.New(n.model, pipeline.WithMetrics(n.m), pipeline.WithWorkers(2))
	Expect(err).NotTo(HaveOccurred())
	opts = append([]server.Option{
		server.WithNodeID("edge-1"),
		server.WithICE(server.ICEConfig{Interfaces: []string{"lo"}, IncludeLoopback: true, DisableMDNS: true}),
		server.WithAlertSink(func(a wire.Alert) { n.mu.Lock(); n.alerts = append(n.alerts, a); n.mu.Unlock() }),
	}, opts...)
	n.s, err = server.New(n.p, n.m, opts...)
	Expect(err).NotTo(HaveOccurred())
	n.http = httptest.NewServer(n.s.Handler())
	DeferCleanup(func() {
		n.http.Close()
		Expect(n.s.Close()).To(Succeed())
		Expect(n.p.Close()).To(Succeed())
	})
	return n
}

func startCamera(n *node, query, token string) *testcam.Camera {
	c, err := testcam.New(320, 240)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Stop)
	code, body, err := c.Publish(n.http.URL, query, token)
	Expect(err).NotTo(HaveOccurred())
	Expect(code).To(Equal(http.StatusCreated), body)
	Eventually(c.DCOpen, "10s").Should(BeClosed())
	return c
}

// stream sends frames at about 20 fps until stop is closed.
func stream(c *testcam.Camera, stop <-chan struct{}, corruptEvery int) {
	c.Stream(stop, 50*time.Millisecond, corruptEvery)
}

const vp8Offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n"

var _ = Describe("WHIP ingest", func() {
	It("receives VP8 over WebRTC and answers every inferred frame on the data channel", func() {
		n := newNode()
		c := startCamera(n, "?camera=cam-a", "")
		stop := make(chan struct{})
		go stream(c, stop, 0)
		DeferCleanup(func() { close(stop) })
		Eventually(func() int { return len(c.Got()) }, "15s").Should(BeNumerically(">=", 10))
		d := c.Got()[3]
		Expect(d.Node).To(Equal("edge-1"))
		Expect(d.Model).To(Equal("fake@1"))
		Expect(d.Width).To(Equal(320))
		Expect(d.Height).To(Equal(240))
		Expect(d.Frame).NotTo(BeZero())
		Expect(d.Detections).To(HaveLen(1))
		Expect(d.Detections[0].Label).To(Equal("person"))
		Expect(d.Detections[0].Track).To(Equal(1), "the same box keeps its track")
		Expect(testutil.ToFloat64(n.m.FramesReceived.WithLabelValues("cam-a"))).To(BeNumerically(">=", 10))
		Expect(testutil.ToFloat64(n.m.FramesDecoded)).To(BeNumerically(">=", 10))
		Expect(testutil.ToFloat64(n.m.FramesInferred)).To(BeNumerically(">=", 10))
		Expect(testutil.ToFloat64(n.m.Detections.WithLabelValues("cam-a", "person"))).To(BeNumerically(">=", 10))
		Expect(testutil.CollectAndCount(n.m.E2ELatency)).To(Equal(1))
		Expect(testutil.ToFloat64(n.m.ActiveStreams)).To(Equal(1.0))
		Expect(n.s.Sessions()).To(Equal(1))

		c.Stop()
		Eventually(n.s.Sessions, "5s").Should(BeZero())
		Expect(testutil.ToFloat64(n.m.ActiveStreams)).To(BeZero())
	})

	It("samples at the detect fps and counts the rest as skipped", func() {
		n := newNode(server.WithDetectFPS(5))
		c := startCamera(n, "?camera=cam-b", "")
		stop := make(chan struct{})
		go stream(c, stop, 0)
		DeferCleanup(func() { close(stop) })
		Eventually(func() float64 {
			return testutil.ToFloat64(n.m.FramesDropped.WithLabelValues("cam-b", metrics.ReasonSkipped))
		}, "15s").Should(BeNumerically(">=", 10))
		got := c.Got()
		Expect(len(got)).To(BeNumerically(">=", 3))
		for i := 1; i < len(got); i++ {
			Expect(got[i].RTP-got[i-1].RTP).To(BeNumerically(">=", 9000*1.7), "frames about 200 ms apart")
		}
	})

	It("counts corrupted VP8 frames as decode errors and keeps the stream going", func() {
		n := newNode()
		c := startCamera(n, "?camera=cam-c", "")
		stop := make(chan struct{})
		go stream(c, stop, 5)
		DeferCleanup(func() { close(stop) })
		Eventually(func() float64 {
			return testutil.ToFloat64(n.m.FramesDropped.WithLabelValues("cam-c", metrics.ReasonDecodeError))
		}, "15s").Should(BeNumerically(">=", 2))
		before := len(c.Got())
		Eventually(func() int { return len(c.Got()) }, "10s").Should(BeNumerically(">", before+3))
	})

	It("survives an RTP flood in bounded memory and keeps answering", func() {
		n := newNode()
		c := startCamera(n, "?camera=flood", "")
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { stream(c, stop, 0); close(done) }()
		DeferCleanup(func() {
			select {
			case <-stop:
			default:
				close(stop)
			}
		})
		Eventually(func() int { return len(c.Got()) }, "15s").Should(BeNumerically(">=", 3))
		close(stop)
		<-done

		var before, after goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&before)
		rng := rand.New(rand.NewSource(7))
		payload := make([]byte, 1100)
		for i := 0; i < 30000; i++ {
			rng.Read(payload)
			payload[0] = 0x10 // VP8 descriptor: start of partition 0
			p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: rng.Intn(50) == 0, SequenceNumber: uint16(i),
				Timestamp: uint32(rng.Intn(64)) * 3000}, Payload: append([]byte(nil), payload...)}
			if err := c.WriteRTP(p); err != nil {
				break
			}
		}
		goruntime.GC()
		goruntime.ReadMemStats(&after)
		Expect(int64(after.HeapInuse)-int64(before.HeapInuse)).To(BeNumerically("<", 64<<20), "30k packets (33 MB) must not pile up")

		got := len(c.Got())
		stop2 := make(chan struct{})
		go stream(c, stop2, 0)
		DeferCleanup(func() { close(stop2) })
		Eventually(func() int { return len(c.Got()) }, "15s").Should(BeNumerically(">", got+3), "answers resume after the next key frame")
		dropped := testutil.ToFloat64(n.m.FramesDropped.WithLabelValues("flood", metrics.ReasonIncomplete)) +
			testutil.ToFloat64(n.m.FramesDropped.WithLabelValues("flood", metrics.ReasonDecodeError)) +
			testutil.ToFloat64(n.m.FramesDropped.WithLabelValues("flood", metrics.ReasonNoKeyframe))
		Expect(dropped).To(BeNumerically(">", 0))
	})

	It("raises a zone/dwell alert with the camera's frame id", func() {
		cfg, err := rules.Parse([]byte("zones: [{name: yard, rect: [0.5, 0.5, 1, 1]}]\nrules: [{name: loiter, zone: yard, label: person, dwell: 1s}]\n"))
		Expect(err).NotTo(HaveOccurred())
		n := newNode(server.WithRules(cfg))
		c := startCamera(n, "?camera=cam-d", "")
		stop := make(chan struct{})
		go stream(c, stop, 0)
		DeferCleanup(func() { close(stop) })
		Eventually(n.gotAlerts, "15s").Should(HaveLen(1))
		Consistently(n.gotAlerts, "500ms").Should(HaveLen(1), "one alert per track")
		a := n.gotAlerts()[0]
		Expect(a.Node).To(Equal("edge-1"))
		Expect(a.Camera).To(Equal("cam-d"))
		Expect(a.Zone).To(Equal("yard"))
		Expect(a.Label).To(Equal("person"))
		Expect(a.Track).To(Equal(1))
		Expect(a.Frame).NotTo(BeZero())
		Expect(a.DwellMS).To(BeNumerically(">=", 1000))
		Expect(a.Validate()).To(Succeed())
		Expect(testutil.ToFloat64(n.m.Alerts.WithLabelValues("cam-d", "yard", "person"))).To(Equal(1.0))
	})

	It("gives a camera without an id a generated one", func() {
		n := newNode()
		startCamera(n, "", "")
		Expect(n.s.Sessions()).To(Equal(1))
	})

	It("requires the bearer token when one is set", func() {
		n := newNode(server.WithToken("s3cret"))
		c, err := testcam.New(320, 240)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Stop)
		code, body, err := c.Publish(n.http.URL, "?camera=x", "wrong")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(body).To(ContainSubstring("Bearer"))
		startCamera(n, "?camera=x", "s3cret")
	})

	It("answers 503 with Retry-After beyond the session limit", func() {
		n := newNode(server.WithMaxSessions(1), server.WithRetryAfter(7))
		startCamera(n, "?camera=one", "")
		ok, why := n.s.Ready()
		Expect(ok).To(BeFalse())
		Expect(why).To(ContainSubstring("session limit"))
		resp, body := testcam.Post(n.http.URL+"/whip?camera=two", "application/sdp", []byte(vp8Offer))
		Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		Expect(resp.Header.Get("Retry-After")).To(Equal("7"))
		Expect(body).To(ContainSubstring("session limit of 1"))
		Expect(testutil.ToFloat64(n.m.SessionsRejected.WithLabelValues("session_limit"))).To(Equal(1.0))
	})

	DescribeTable("refuses bad offers with a 4xx and the reason",
		func(ctype, body string, code int, reason string) {
			n := newNode()
			resp, msg := testcam.Post(n.http.URL+"/whip", ctype, []byte(body))
			Expect(resp.StatusCode).To(Equal(code))
			Expect(msg).To(ContainSubstring(reason))
			Expect(n.s.Sessions()).To(BeZero())
		},
		Entry("wrong content type", "application/json", "{}", http.StatusUnsupportedMediaType, "application/sdp"),
		Entry("not SDP", "application/sdp", "hello", http.StatusBadRequest, "does not parse"),
		Entry("audio only", "application/sdp", strings.Replace(strings.Replace(vp8Offer, "m=video", "m=audio", 1), "VP8/90000", "opus/48000/2", 1), http.StatusBadRequest, "no video"),
		Entry("H.264 only", "application/sdp", strings.Replace(vp8Offer, "VP8/90000", "H264/90000", 1), http.StatusBadRequest, "not offered as VP8"),
		Entry("too large", "application/sdp", vp8Offer+strings.Repeat("a=x\r\n", 20000), http.StatusRequestEntityTooLarge, "larger than"),
	)

	It("rejects a bad camera id", func() {
		n := newNode()
		resp, msg := testcam.Post(n.http.URL+"/whip?camera=a%20b", "application/sdp", []byte(vp8Offer))
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		Expect(msg).To(ContainSubstring("camera id"))
	})

	It("lets browsers publish: CORS preflight and exposed Location", func() {
		n := newNode()
		req, _ := http.NewRequest(http.MethodOptions, n.http.URL+"/whip", nil)
		req.Header.Set("Origin", "null")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
		Expect(resp.Header.Get("Access-Control-Allow-Origin")).To(Equal("*"))
		Expect(resp.Header.Get("Access-Control-Allow-Headers")).To(ContainSubstring("Authorization"))
		Expect(resp.Header.Get("Access-Control-Expose-Headers")).To(ContainSubstring("Location"))
		req, _ = http.NewRequest(http.MethodPatch, n.http.URL+"/whip/abc", nil)
		resp, err = http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusMethodNotAllowed))
		req, _ = http.NewRequest(http.MethodDelete, n.http.URL+"/whip/nope", nil)
		resp, err = http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	})

	It("drains: stops taking sessions, then closes the open ones", func() {
		n := newNode()
		c := startCamera(n, "?camera=cam-e", "")
		stop := make(chan struct{})
		go stream(c, stop, 0)
		DeferCleanup(func() { close(stop) })
		Eventually(func() int { return len(c.Got()) }, "15s").Should(BeNumerically(">=", 3))
		resp, _ := http.Get(n.http.URL + "/readyz")
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		Expect(n.s.Drain(ctx)).To(Succeed())
		Expect(n.s.Sessions()).To(BeZero())
		resp, _ = http.Get(n.http.URL + "/readyz")
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		resp, body := testcam.Post(n.http.URL+"/whip", "application/sdp", []byte(vp8Offer))
		Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		Expect(body).To(ContainSubstring("shutting down"))
		resp, _ = http.Get(n.http.URL + "/healthz")
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
	})

	It("hot-swaps the model over HTTP without dropping the stream", func() {
		var next *fakeModel
		n := newNode(server.WithToken("t"), server.WithModelLoader(func(context.Context) (pipeline.Model, error) { return next, nil }))
		c := startCamera(n, "?camera=cam-f", "t")
		stop := make(chan struct{})
		go stream(c, stop, 0)
		DeferCleanup(func() { close(stop) })
		Eventually(func() int { return len(c.Got()) }, "15s").Should(BeNumerically(">=", 3))

		next = &fakeModel{version: "1", broken: true}
		resp, body := testcam.Post(n.http.URL+"/admin/model", "", nil, "Authorization", "Bearer t")
		Expect(resp.StatusCode).To(Equal(http.StatusUnprocessableEntity))
		Expect(body).To(ContainSubstring("still serving fake@1"))
		Expect(testutil.ToFloat64(n.m.ModelReloads.WithLabelValues("failure"))).To(Equal(1.0))

		next = &fakeModel{version: "2"}
		resp, body = testcam.Post(n.http.URL+"/admin/model", "", nil, "Authorization", "Bearer t")
		Expect(resp.StatusCode).To(Equal(http.StatusOK), body)
		Expect(testutil.ToFloat64(n.m.ModelReloads.WithLabelValues("success"))).To(Equal(1.0))
		Eventually(func() string { g := c.Got(); return g[len(g)-1].Model }, "10s").Should(Equal("fake@2"))
		Expect(n.s.Sessions()).To(Equal(1))

		resp, _ = testcam.Post(n.http.URL+"/admin/model", "", nil)
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
	})

	It("announces candidates from the configured port range and public IP", func() {
		n := newNode(server.WithICE(server.ICEConfig{PortMin: 41000, PortMax: 41019, Interfaces: []string{"lo"},
			IncludeLoopback: true, DisableMDNS: true, PublicIPs: []string{"192.0.2.10"}}))
		pc, err := testcam.LoopbackAPI().NewPeerConnection(webrtc.Configuration{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(pc.Close)
		_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		Expect(err).NotTo(HaveOccurred())
		offer, err := pc.CreateOffer(nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pc.SetLocalDescription(offer)).To(Succeed())
		resp, answer := testcam.Post(n.http.URL+"/whip?camera=nat", "application/sdp", []byte(offer.SDP))
		Expect(resp.StatusCode).To(Equal(http.StatusCreated), answer)
		var cands []string
		for _, l := range strings.Split(answer, "\r\n") {
			if strings.HasPrefix(l, "a=candidate:") {
				cands = append(cands, l)
			}
		}
		Expect(cands).NotTo(BeEmpty())
		for _, c := range cands {
			f := strings.Fields(c)
			Expect(f[4]).To(Equal("192.0.2.10"), c)
			port, err := strconv.Atoi(f[5])
			Expect(err).NotTo(HaveOccurred())
			Expect(port).To(BeNumerically(">=", 41000))
			Expect(port).To(BeNumerically("<=", 41019))
		}
		// the session is never connected; end it without waiting for the timeout
		req, _ := http.NewRequest(http.MethodDelete, n.http.URL+resp.Header.Get("Location"), nil)
		dresp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		dresp.Body.Close()
		Expect(n.s.Sessions()).To(BeZero())
	})

	It("accepts an offer that also carries audio (as browsers send) and ignores the audio", func() {
		n := newNode()
		pc, err := testcam.LoopbackAPI().NewPeerConnection(webrtc.Configuration{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(pc.Close)
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			_, err = pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			Expect(err).NotTo(HaveOccurred())
		}
		_, err = pc.CreateDataChannel(wire.DataChannelLabel, nil)
		Expect(err).NotTo(HaveOccurred())
		offer, err := pc.CreateOffer(nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pc.SetLocalDescription(offer)).To(Succeed())
		resp, answer := testcam.Post(n.http.URL+"/whip?camera=av", "application/sdp", []byte(offer.SDP))
		Expect(resp.StatusCode).To(Equal(http.StatusCreated), answer)
		Expect(answer).To(ContainSubstring("VP8/90000"))
		Expect(answer).To(MatchRegexp(`m=audio 0 |a=inactive`), "audio is declined")
		Expect(n.s.Sessions()).To(Equal(1))
	})

	It("leaves no goroutines behind after a session ends", func() {
		n := newNode()
		before := goruntime.NumGoroutine()
		c := startCamera(n, "?camera=leak", "")
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { stream(c, stop, 0); close(done) }()
		Eventually(func() int { return len(c.Got()) }, "15s").Should(BeNumerically(">=", 3))
		close(stop)
		<-done
		c.Stop()
		Eventually(n.s.Sessions, "5s").Should(BeZero())
		http.DefaultClient.CloseIdleConnections()
		Eventually(goruntime.NumGoroutine, "10s").Should(BeNumerically("<=", before), func() string { b := make([]byte, 1<<20); return string(b[:goruntime.Stack(b, true)]) })
	})

	It("refuses bad configuration", func() {
		_, err := server.New(nil, nil)
		Expect(err).To(MatchError(server.ErrBadConfig))
	})
})
