package fakecam_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/vp8"
	"github.com/edgesim/edgesim/fakecam/whiptest"
	"github.com/edgesim/edgesim/wire"
)

func camConfig(id string, endpoints ...string) fakecam.Config {
	return fakecam.Config{
		ID: id,
		Scene: scene.Config{Width: 320, Height: 180, FPS: 10, Background: scene.BackgroundStreet,
			Seed: 7, People: 3, Vehicles: 1},
		Bitrate:   400_000,
		Endpoints: endpoints,
	}
}

func startReceiver(opts whiptest.Options) *whiptest.Server {
	GinkgoHelper()
	srv, err := whiptest.New(opts)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Close)
	return srv
}

// runCamera starts cam.Run and returns a stop function that cancels it and
// waits for it to return, giving its error.
func runCamera(ctx context.Context, run func(context.Context) error) func() error {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx) }()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			cancel()
			Eventually(done).WithTimeout(15 * time.Second).Should(Receive(&err))
			stopped = true
		}
		return err
	}
	DeferCleanup(func() { _ = stop() })
	return stop
}

// changed is the fraction of pixels in r whose luma differs by more than 16.
func changed(a, b *image.YCbCr, r image.Rectangle) float64 {
	n, c := 0.0, 0.0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if math.Abs(float64(a.Y[y*a.YStride+x])-float64(b.Y[y*b.YStride+x])) > 16 {
				c++
			}
			n++
		}
	}
	return c / math.Max(n, 1)
}

func psnr(a, b *image.YCbCr) float64 {
	se := 0.0
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			d := float64(a.Y[y*a.YStride+x]) - float64(b.Y[y*b.YStride+x])
			se += d * d
		}
	}
	return 10 * math.Log10(255*255/math.Max(se/float64(a.Rect.Dx()*a.Rect.Dy()), 1e-9))
}

func readLines[T any](path string) []T {
	GinkgoHelper()
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		Expect(json.Unmarshal(sc.Bytes(), &v)).To(Succeed())
		out = append(out, v)
	}
	Expect(sc.Err()).NotTo(HaveOccurred())
	return out
}

var _ = Describe("Camera streaming", func() {
	It("streams frames whose decoded pixels show the objects where the ground truth says", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{KeepImages: true})
		cfg := camConfig("cam-gt", srv.URL)
		cfg.Bitrate = 1_000_000
		reg := prometheus.NewPedanticRegistry()
		cam, err := fakecam.NewCamera(cfg, fakecam.WithRegisterer(reg))
		Expect(err).NotTo(HaveOccurred())
		stop := runCamera(ctx, cam.Run)
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(15 * time.Second).Should(BeNumerically(">=", 25))
		Expect(stop()).To(Succeed())

		empty := cfg.Scene
		empty.CameraID, empty.People, empty.Vehicles = cfg.ID, 0, 0
		bg, err := scene.New(empty)
		Expect(err).NotTo(HaveOccurred())
		checked, objects := 0, 0
		for _, f := range srv.Frames() {
			Expect(f.Camera).To(Equal("cam-gt"))
			if f.Frame < 10 {
				continue // let the rate control settle
			}
			truth := cam.Scene().Render(int(f.Frame))
			Expect(psnr(truth.Image, f.Image)).To(BeNumerically(">", 24), "frame %d is not the frame announced", f.Frame)
			back := bg.Render(int(f.Frame)).Image
			for _, o := range truth.Objects {
				if o.Occlusion > 0.2 || o.Box.Dx()*o.Box.Dy() < 400 || o.Box.Min.X == 0 || o.Box.Max.X == 320 {
					continue // hidden, tiny or cut by the frame edge
				}
				// How much of the box differs from the background in the
				// uncoded frame depends on the object's colours; the coded
				// frame must show at least half of it (a missing object
				// shows next to none). A fixed 0.25 failed whenever frame 25
				// was received (a slow run): the car in it differs from the
				// road in 0.23 of its box even uncoded.
				ideal := changed(truth.Image, back, o.Box)
				if ideal < 0.1 {
					continue // too like the background to tell apart after coding
				}
				objects++
				Expect(changed(f.Image, back, o.Box)).To(BeNumerically(">", ideal/2),
					"frame %d: no object at %v (%.2f of its box differs from the background uncoded)", f.Frame, o.Box, ideal)
			}
			// away from every object (and from the edges, where objects too
			// little visible for the ground truth enter) it is the background
			diff, n := 0.0, 0.0
			for y := 0; y < 180; y++ {
			pixels:
				for x := 40; x < 280; x++ {
					for _, o := range truth.Objects {
						m := o.Box.Dx()/4 + 4
						if (image.Point{x, y}).In(image.Rect(o.Box.Min.X-m, o.Box.Min.Y-4, o.Box.Max.X+m, o.Box.Max.Y+o.Box.Dy()/8+4)) {
							continue pixels
						}
					}
					n++
					if math.Abs(float64(f.Image.Y[y*f.Image.YStride+x])-float64(back.Y[y*back.YStride+x])) > 16 {
						diff++
					}
				}
			}
			Expect(diff/n).To(BeNumerically("<", 0.01), "frame %d", f.Frame)
			checked++
		}
		Expect(checked).To(BeNumerically(">=", 10))
		Expect(objects).To(BeNumerically(">=", 10))
		st := cam.Stats()
		Expect(st.FramesSent).To(Equal(st.FramesCaptured))
		Expect(st.Latency.Count).To(BeNumerically(">=", 25))
		Expect(st.Latency.P50).To(BeNumerically(">", 0))
		Expect(srv.Deletes()).To(Equal(1), "the session is ended with DELETE")
		Expect(counterValue(reg, "fakecam_frames_answered_total")).To(BeNumerically("==", st.FramesAnswered))
		problems, err := testutil.GatherAndLint(reg)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
	}, SpecTimeout(40*time.Second))

	It("sends a keyframe when the receiver asks with a PLI", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{})
		cfg := camConfig("cam-pli", srv.URL)
		cfg.KeyframeInterval = 10000
		cam, err := fakecam.NewCamera(cfg)
		Expect(err).NotTo(HaveOccurred())
		runCamera(ctx, cam.Run)
		Eventually(func() int { return len(srv.Frames()) }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 5))
		keys := func() (n int) {
			for _, f := range srv.Frames() {
				if f.Keyframe {
					n++
				}
			}
			return n
		}
		Expect(keys()).To(Equal(1))
		Expect(srv.RequestKeyframe()).To(Succeed())
		Eventually(keys).WithTimeout(5 * time.Second).Should(Equal(2))
		Expect(cam.Stats().KeyframeRequests).To(BeNumerically(">=", 1))
	}, SpecTimeout(30*time.Second))

	It("reconnects to the next endpoint when its receiver dies, and records how long it took", func(ctx SpecContext) {
		a := startReceiver(whiptest.Options{})
		b := startReceiver(whiptest.Options{})
		cam, err := fakecam.NewCamera(camConfig("cam-failover", a.URL, b.URL),
			fakecam.WithICETimeouts(400*time.Millisecond, 400*time.Millisecond, 100*time.Millisecond),
			fakecam.WithAnswerTimeout(time.Second))
		Expect(err).NotTo(HaveOccurred())
		runCamera(ctx, cam.Run)
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 5))
		a.Kill()
		Eventually(func() []fakecam.Reconnect { return cam.Stats().Reconnects }).WithTimeout(15 * time.Second).Should(
			ContainElement(And(
				HaveField("From", a.URL), HaveField("To", b.URL), HaveField("TookMS", BeNumerically(">", 0)))))
		Eventually(func() int { return len(b.Frames()) }).WithTimeout(5 * time.Second).Should(BeNumerically(">=", 5))
		answered := cam.Stats().FramesAnswered
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(5 * time.Second).Should(BeNumerically(">", answered+3))
		Expect(b.Frames()[0].Keyframe).To(BeTrue(), "a new session starts with a keyframe")
		Eventually(func() uint64 { return cam.Stats().FramesUnanswered }).Should(BeNumerically(">", 0), "frames lost in the gap are counted")
	}, SpecTimeout(40*time.Second))

	It("reconnects at once when the receiver closes the connection", func(ctx SpecContext) {
		a := startReceiver(whiptest.Options{})
		cam, err := fakecam.NewCamera(camConfig("cam-close", a.URL))
		Expect(err).NotTo(HaveOccurred())
		runCamera(ctx, cam.Run)
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 3))
		Expect(a.Sessions()).To(Equal(1))
		a.CloseSessions()
		Eventually(func() []fakecam.Reconnect { return cam.Stats().Reconnects }).WithTimeout(10 * time.Second).Should(
			ContainElement(And(HaveField("To", a.URL), HaveField("TookMS", BeNumerically("<", 3000)))))
		Eventually(a.Sessions).Should(Equal(1))
	}, SpecTimeout(30*time.Second))

	It("counts frames that never get an answer", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{NoAnswer: true})
		dir := GinkgoT().TempDir()
		cfg := camConfig("cam-silent", srv.URL)
		cfg.Duration = 1500 * time.Millisecond
		cam, err := fakecam.NewCamera(cfg, fakecam.WithOutputDir(dir), fakecam.WithAnswerTimeout(500*time.Millisecond))
		Expect(err).NotTo(HaveOccurred())
		Expect(cam.Run(ctx)).To(Succeed())
		st := cam.Stats()
		Expect(st.FramesSent).To(BeNumerically(">", 5))
		Expect(st.FramesAnswered).To(BeZero())
		Expect(st.FramesUnanswered).To(Equal(st.FramesCaptured))
		Expect(len(srv.Frames())).To(BeNumerically(">", 5), "the frames did arrive")
		lines := readLines[map[string]any](filepath.Join(dir, "latency-cam-silent.jsonl"))
		Expect(lines).To(HaveLen(int(st.FramesCaptured)))
		for _, l := range lines {
			Expect(l).To(HaveKeyWithValue("answered", false))
			Expect(l).NotTo(HaveKey("latency_ms"))
		}
	}, SpecTimeout(30*time.Second))

	It("replays an IVF file", func(ctx SpecContext) {
		path := filepath.Join(GinkgoT().TempDir(), "clip.ivf")
		writeIVF(path, 20)
		srv := startReceiver(whiptest.Options{})
		cfg := camConfig("cam-ivf", srv.URL)
		cfg.IVF = path
		cam, err := fakecam.NewCamera(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(cam.Scene()).To(BeNil())
		runCamera(ctx, cam.Run)
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 25))
		Expect(len(srv.Frames())).To(BeNumerically(">", 20), "the clip loops")
	}, SpecTimeout(30*time.Second))

	It("rejects an unusable IVF file", func(ctx SpecContext) {
		path := filepath.Join(GinkgoT().TempDir(), "bad.ivf")
		Expect(os.WriteFile(path, []byte("DKIF not really"), 0o644)).To(Succeed())
		cfg := camConfig("cam-badivf", "http://127.0.0.1:1/whip")
		cfg.IVF = path
		cam, err := fakecam.NewCamera(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(cam.Run(ctx)).To(MatchError(fakecam.ErrBadIVF))
	})

	It("uses the injected clock for capture and arrival times", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{})
		dir := GinkgoT().TempDir()
		clock := shiftedClock{offset: -24 * time.Hour}
		cfg := camConfig("cam-clock", srv.URL)
		cfg.Duration = 1500 * time.Millisecond
		f, err := fakecam.NewFleet([]fakecam.Config{cfg}, fakecam.WithClock(clock), fakecam.WithOutputDir(dir))
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Run(ctx)).To(Succeed())
		lines := readLines[map[string]any](filepath.Join(dir, "latency-cam-clock.jsonl"))
		Expect(lines).NotTo(BeEmpty())
		yesterday := time.Now().Add(-24 * time.Hour).UnixMicro()
		for _, l := range lines {
			Expect(l["capture_us"]).To(BeNumerically("~", yesterday, 60e6))
			if l["answered"] == true {
				Expect(l["latency_ms"]).To(BeNumerically(">", 0))
				Expect(l["latency_ms"]).To(BeNumerically("<", 5000))
			}
		}
	}, SpecTimeout(30*time.Second))
})

var _ = Describe("Fleet", func() {
	It("streams several cameras with a bounded worker pool and writes ground truth, latency and a summary", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{})
		dir := GinkgoT().TempDir()
		var cfgs []fakecam.Config
		for _, id := range []string{"c1", "c2", "c3", "c4"} {
			c := camConfig(id, srv.URL)
			c.Duration = 2 * time.Second
			c.Scene.Zones = []scene.Zone{{Name: "door", Rect: [4]float64{0.5, 0.5, 0.9, 0.95}}}
			c.Scene.Events = []scene.Event{{Kind: scene.EventLoiter, Zone: "door", Start: 0, End: 10 * time.Second}}
			cfgs = append(cfgs, c)
		}
		fleet, err := fakecam.NewFleet(cfgs, fakecam.WithOutputDir(dir), fakecam.WithWorkers(2))
		Expect(err).NotTo(HaveOccurred())
		Expect(fleet.Run(ctx)).To(Succeed())
		stats := fleet.Stats()
		Expect(stats).To(HaveLen(4))
		cams := map[string]bool{}
		for _, f := range srv.Frames() {
			cams[f.Camera] = true
		}
		Expect(cams).To(HaveLen(4))
		for _, st := range stats {
			GinkgoWriter.Printf("%+v\n", st)
			// 2 s at 10 fps: every tick is captured or, on a loaded machine, skipped
			Expect(st.FramesCaptured + st.FramesSkipped).To(BeNumerically("~", 20, 2))
			Expect(st.FramesSent).To(BeNumerically(">=", 5))
			Expect(st.FramesAnswered).To(BeNumerically(">=", st.FramesSent-2))
			gt := readLines[wire.GroundTruthLine](filepath.Join(dir, "groundtruth-"+st.Camera+".jsonl"))
			Expect(gt).To(HaveLen(int(st.FramesCaptured)))
			Expect(gt[5].Events).To(Equal([]string{"loiter:door"}))
			Expect(gt[5].Objects).To(ContainElement(HaveField("Zones", []string{"door"})))
			lat := readLines[map[string]any](filepath.Join(dir, "latency-"+st.Camera+".jsonl"))
			Expect(lat).To(HaveLen(int(st.FramesCaptured)))
		}
		var sum fakecam.Summary
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &sum)).To(Succeed())
		Expect(sum.Cameras).To(HaveLen(4))
		Expect(sum.Cameras[0].Events).To(Equal(cfgs[0].Scene.Events), "the event windows are in the summary")
		Expect(srv.Deletes()).To(Equal(4))
	}, SpecTimeout(60*time.Second))

	It("rejects duplicate camera ids and bad configs with every problem", func() {
		_, err := fakecam.NewFleet([]fakecam.Config{camConfig("x", "http://127.0.0.1:1/whip"), camConfig("x", "http://127.0.0.1:1/whip")})
		Expect(err).To(MatchError(ContainSubstring(`camera id "x" used twice`)))
		bad := camConfig("bad id!", "ftp://nowhere")
		bad.Bitrate = 5
		bad.Scene.Background = "moon"
		_, err = fakecam.NewCamera(bad)
		Expect(err).To(MatchError(fakecam.ErrInvalidConfig))
		for _, want := range []string{"id \"bad id!\"", "endpoints[0]", "bitrate", `scene: background "moon"`} {
			Expect(err.Error()).To(ContainSubstring(want))
		}
	})

	It("accepts every camera id edgenode accepts (wire.ValidCameraID), ':' included", func() {
		for _, id := range []string{"lobby:main", "site-a.cam_1"} {
			Expect(wire.ValidCameraID(id)).To(BeTrue())
			Expect(camConfig(id, "http://127.0.0.1:1/whip").Validate()).To(Succeed())
		}
	})
})

var _ = Describe("goroutines", func() {
	It("leaves none behind after a camera stops", func(ctx SpecContext) {
		base := runtime.NumGoroutine()
		srv, err := whiptest.New(whiptest.Options{})
		Expect(err).NotTo(HaveOccurred())
		cfg := camConfig("cam-leak", srv.URL)
		cfg.Duration = time.Second
		cam, err := fakecam.NewCamera(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(cam.Run(ctx)).To(Succeed())
		srv.Close()
		Eventually(runtime.NumGoroutine).WithTimeout(10 * time.Second).Should(BeNumerically("<=", base+2))
	}, SpecTimeout(30*time.Second))
})

// shiftedClock is the real clock moved by offset.
type shiftedClock struct{ offset time.Duration }

func (c shiftedClock) Now() time.Time { return time.Now().Add(c.offset) }
func (c shiftedClock) NewTicker(d time.Duration) fakecam.Ticker {
	return fakecam.RealClock{}.NewTicker(d)
}
func (c shiftedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func writeIVF(path string, n int) {
	GinkgoHelper()
	s, err := scene.New(scene.Config{Width: 320, Height: 180, FPS: 10, Seed: 1, CameraID: "ivf", People: 2})
	Expect(err).NotTo(HaveOccurred())
	enc, err := vp8.NewEncoder(vp8.Config{Width: 320, Height: 180, FPS: 10, Bitrate: 300_000, KeyframeInterval: 10})
	Expect(err).NotTo(HaveOccurred())
	defer enc.Close()
	var frames [][]byte
	for i := 0; i < n; i++ {
		data, _, err := enc.Encode(s.Render(i).Image, int64(i))
		Expect(err).NotTo(HaveOccurred())
		frames = append(frames, data)
	}
	var out bytes.Buffer
	Expect(fakecam.WriteIVF(&out, 320, 180, 10, frames)).To(Succeed())
	Expect(os.WriteFile(path, out.Bytes(), 0o644)).To(Succeed())
}

func counterValue(reg *prometheus.Registry, name string) float64 {
	GinkgoHelper()
	mfs, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	Fail("metric " + name + " not registered")
	return 0
}
