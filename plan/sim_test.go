package plan_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/units"
	"github.com/edgesim/edgesim/wire"
)

const fixture = "testdata/calibration-test-fixture.yaml"

func loadFixture() *plan.Calibration {
	cal, err := plan.LoadCalibration(fixture)
	Expect(err).NotTo(HaveOccurred())
	Expect(cal.TestFixture).To(BeTrue())
	return cal
}

func cams(n int) []plan.CameraGroup {
	return []plan.CameraGroup{{Name: "cam", Count: n, Width: 640, Height: 360, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit")}}
}

// impaired is a fleet whose every random draw matters: jittery service,
// lossy jittery links, a node kill and a partition.
func impaired(seed int64) *plan.Fleet {
	f := &plan.Fleet{Seed: seed, Duration: 20 * time.Second, Model: "jittery", Placement: plan.PlacementEdge, DetectFPS: 5}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		f.Sites = append(f.Sites, plan.Site{Name: name, Type: "store", Nodes: 2, Class: "small-box", Cameras: cams(6),
			LANUp:   netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: time.Millisecond, Loss: netem.Loss{Percent: 0.5}},
			LANDown: netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: time.Millisecond},
			WANUp:   netem.LinkConfig{Delay: 40 * time.Millisecond, Jitter: 10 * time.Millisecond, RateBits: 2e6}})
	}
	f.Faults = []plan.Fault{
		{At: 8 * time.Second, Action: plan.FaultKill, Node: "b-edge-1"},
		{At: 5 * time.Second, Action: plan.FaultPartition, Site: "c", Link: plan.LinkLAN, Duration: 2 * time.Second},
	}
	return f
}

// withDoorAlert adds a dwell rule on a door zone and, on each site's first
// camera group, a person in the door from 2 s to end.
func withDoorAlert(f *plan.Fleet, end time.Duration) {
	f.Alerts = []plan.AlertRule{{Zone: "door", Label: "person", Dwell: time.Second}}
	for i := range f.Sites {
		c := &f.Sites[i].Cameras[0]
		c.Zones = []plan.Zone{{Name: "door", Rect: [4]float64{0, 0, 0.5, 1}}}
		c.Events = []plan.Event{{Zone: "door", Label: "person", Start: 2 * time.Second, End: end}}
	}
}

// expectLatency checks that the first site's p50 and p95 latency are want
// (within 0.6 %: one camera, no queueing).
func expectLatency(r *plan.Result, want time.Duration) {
	GinkgoHelper()
	for _, q := range []time.Duration{r.Sites[0].LatencyP50, r.Sites[0].LatencyP95} {
		Expect(math.Abs(float64(q-want)) / float64(want)).To(BeNumerically("<", 0.006))
	}
}

var _ = Describe("Run", func() {
	var cal *plan.Calibration
	ctx := context.Background()
	BeforeEach(func() { cal = loadFixture() })

	Describe("determinism", func() {
		It("gives identical results for the same seed and different ones for another", func() {
			a, err := plan.Run(ctx, impaired(7), cal)
			Expect(err).NotTo(HaveOccurred())
			b, err := plan.Run(ctx, impaired(7), cal)
			Expect(err).NotTo(HaveOccurred())
			Expect(b).To(Equal(a))
			Expect(a.Types[0].Frames.Answered).To(BeNumerically(">", 1000))
			c, err := plan.Run(ctx, impaired(8), cal)
			Expect(err).NotTo(HaveOccurred())
			Expect(c.Sites).NotTo(Equal(a.Sites))
		})

		It("does not depend on how many sites run at once", func() {
			seq, err := plan.Run(ctx, impaired(3), cal, plan.WithParallelism(1))
			Expect(err).NotTo(HaveOccurred())
			par, err := plan.Run(ctx, impaired(3), cal, plan.WithParallelism(4))
			Expect(err).NotTo(HaveOccurred())
			Expect(par).To(Equal(seq))
		})

		It("does not depend on parallelism with cloud placement either", func() {
			f := func() *plan.Fleet {
				f := impaired(5)
				f.Placement, f.Model, f.Cloud = plan.PlacementCloud, "edgesim-det", plan.Cloud{Nodes: 2, Class: "cloud-box"}
				f.Faults = []plan.Fault{{At: 6 * time.Second, Action: plan.FaultKill, Node: "cloud-2"}}
				return f
			}
			seq, err := plan.Run(ctx, f(), cal, plan.WithParallelism(1))
			Expect(err).NotTo(HaveOccurred())
			par, err := plan.Run(ctx, f(), cal, plan.WithParallelism(3))
			Expect(err).NotTo(HaveOccurred())
			Expect(par).To(Equal(seq))
			Expect(seq.Failover).NotTo(BeEmpty())
		})
	})

	Describe("queueing against closed forms", func() {
		one := func(n int) *plan.Fleet {
			return &plan.Fleet{Seed: 1, Duration: 30 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
				Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: cams(n),
					LANUp: netem.LinkConfig{Delay: 5 * time.Millisecond}, LANDown: netem.LinkConfig{Delay: 5 * time.Millisecond}}}}
		}

		It("below capacity answers every sampled frame after link + decode + service time", func() {
			// one camera sampled at 5/s, a deterministic 100 ms worker: no queueing
			r, err := plan.Run(ctx, one(1), cal)
			Expect(err).NotTo(HaveOccurred())
			fc := r.Sites[0].Frames
			Expect(fc.Dropped()).To(BeZero())
			Expect(fc.Skipped).To(BeNumerically("~", fc.Captured/2, 1))
			Expect(fc.Inferred).To(BeNumerically("~", 150, 1))
			expectLatency(r, 5*time.Millisecond+2*time.Millisecond+100*time.Millisecond+5*time.Millisecond)
		})

		It("counts latency from capture, before the camera's calibrated encode time", func() {
			slow := *cal
			slow.Encoding = slices.Clone(cal.Encoding)
			for i := range slow.Encoding {
				slow.Encoding[i].EncodeSeconds = plan.Quantiles{{Q: 0, V: 0.004}, {Q: 1, V: 0.004}}
			}
			r, err := plan.Run(ctx, one(1), &slow)
			Expect(err).NotTo(HaveOccurred())
			expectLatency(r, 4*time.Millisecond+5*time.Millisecond+2*time.Millisecond+100*time.Millisecond+5*time.Millisecond)
		})

		It("draws the in-situ inference and stack delay instead of the isolated service and encode times where the class has them", func() {
			// isolated: 100 ms busy, 4 ms encode; in situ: 60 ms inference, 9 ms stack
			situ := *cal
			situ.Encoding = slices.Clone(cal.Encoding)
			for i := range situ.Encoding {
				situ.Encoding[i].EncodeSeconds = plan.Quantiles{{Q: 0, V: 0.004}, {Q: 1, V: 0.004}}
			}
			situ.Classes = slices.Clone(cal.Classes)
			i := slices.IndexFunc(situ.Classes, func(c plan.Class) bool { return c.Name == "small-box" })
			situ.Classes[i].InSitu = &plan.InSitu{
				Models: []plan.InSituModel{{Model: "edgesim-det", Frames: 10, ServiceSeconds: plan.Quantiles{{Q: 0, V: 0.060}, {Q: 1, V: 0.060}}}},
				Stack: []plan.InSituStack{{Bitrate: units.MustParseBitRate("600Kbit"), FPS: 10, Frames: 10,
					Seconds: plan.Quantiles{{Q: 0, V: 0.009}, {Q: 1, V: 0.009}}}},
			}
			Expect(situ.Validate()).To(Succeed())
			r, err := plan.Run(ctx, one(1), &situ)
			Expect(err).NotTo(HaveOccurred())
			expectLatency(r, 9*time.Millisecond+5*time.Millisecond+2*time.Millisecond+60*time.Millisecond+5*time.Millisecond)

			By("another frame rate has no stack table: the encode time stays, the in-situ inference too")
			f := one(1)
			f.Sites[0].Cameras[0].FPS = 5
			situ.Encoding = append(situ.Encoding, situ.Encoding[0])
			situ.Encoding[len(situ.Encoding)-1].FPS = 5
			r, err = plan.Run(ctx, f, &situ)
			Expect(err).NotTo(HaveOccurred())
			expectLatency(r, 4*time.Millisecond+5*time.Millisecond+2*time.Millisecond+60*time.Millisecond+5*time.Millisecond)
		})

		It("draws the idle service time for a worker that waited a whole measured gap", func() {
			// one camera sampled every 200 ms, 100 ms busy and 150 ms idle
			// service: the worker waits 50 ms between frames, the whole gap
			idle := *cal
			idle.Classes = slices.Clone(cal.Classes)
			for i := range idle.Classes {
				idle.Classes[i].Models = slices.Clone(cal.Classes[i].Models)
				for j := range idle.Classes[i].Models {
					m := &idle.Classes[i].Models[j]
					m.IdleServiceSeconds, m.IdleGapSeconds = plan.Quantiles{{Q: 0, V: 0.150}, {Q: 1, V: 0.150}}, 0.05
				}
			}
			r, err := plan.Run(ctx, one(1), &idle)
			Expect(err).NotTo(HaveOccurred())
			expectLatency(r, 5*time.Millisecond+2*time.Millisecond+150*time.Millisecond+5*time.Millisecond)
		})

		It("past capacity infers at the capacity and drops the rest", func() {
			// 4 cameras sampled at 5/s offer 20 frames/s to one 100 ms worker (10/s)
			r, err := plan.Run(ctx, one(4), cal)
			Expect(err).NotTo(HaveOccurred())
			fc := r.Sites[0].Frames
			sampled := fc.Captured - fc.Skipped
			Expect(sampled).To(BeNumerically("~", 20*30, 4))
			Expect(fc.Inferred).To(BeNumerically("~", 10*30, 2))
			Expect(fc.Dropped()).To(BeNumerically("~", sampled-10*30, 3))
			Expect(fc.Dropped()).To(Equal(fc.Replaced + fc.TooOld + fc.QueueFull))
		})

		It("puts exactly the frames' bytes, packet overheads and data channel messages on the uplink with cloud placement", func() {
			c := *cal
			c.Encoding = []plan.Encoding{{Bitrate: units.MustParseBitRate("600Kbit"), FPS: 10, KeyframeInterval: 10,
				KeyframeBytes: plan.Quantiles{{Q: 0, V: 12000}, {Q: 1, V: 12000}},
				InterBytes:    plan.Quantiles{{Q: 0, V: 6000}, {Q: 1, V: 6000}}, PayloadBytes: 1200, OverheadBytes: 50}}
			f := one(1)
			f.Placement, f.Cloud = plan.PlacementCloud, plan.Cloud{Nodes: 1, Class: "cloud-box"}
			f.Sites[0].WANUp = netem.LinkConfig{Delay: 30 * time.Millisecond}
			r, err := plan.Run(ctx, f, &c)
			Expect(err).NotTo(HaveOccurred())
			n := r.Sites[0].Frames.Captured
			keys := (n + 9) / 10
			want := (n-keys)*(6000+5*50) + keys*(12000+10*50)
			// Before each frame its data channel message: the JSON padded
			// to SCTP's 4 bytes, and 97 bytes of SCTP, DTLS, UDP and IPv4.
			for i := range n {
				b, err := json.Marshal(wire.FrameMessage{Type: wire.TypeFrame, Frame: uint64(i), RTP: 3_735_928_559, CaptureUS: 1_764_412_345_123_456})
				Expect(err).NotTo(HaveOccurred())
				want += uint64((len(b)+3)&^3 + 97)
			}
			Expect(r.Sites[0].Uplink.Bytes).To(Equal(want))
			Expect(r.Sites[0].Frames.Answered).To(BeNumerically(">", 140))
		})
	})

	Describe("links", func() {
		It("settles packets on a link without a queue at send time exactly as per-packet wake-ups would", func() {
			// A 1 Tbit/s rate never holds a packet back, but a rate makes
			// the simulator wake for each packet: both must agree.
			lossy := func(seed int64, rate int64) *plan.Fleet {
				f := impaired(seed)
				withDoorAlert(f, 15*time.Second)
				for i := range f.Sites {
					s := &f.Sites[i]
					s.LANUp = netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: netem.Loss{Percent: 0.02},
						Duplicate: 1, Corrupt: 0.02, Reorder: netem.Reorder{Percent: 2}, RateBits: rate}
					s.LANDown = netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: time.Millisecond, Duplicate: 2, Corrupt: 2,
						Loss: netem.Loss{Percent: 2}, RateBits: rate}
					s.WANUp = netem.LinkConfig{Delay: 40 * time.Millisecond, Jitter: 5 * time.Millisecond, Corrupt: 5, Duplicate: 3,
						Loss: netem.Loss{Percent: 5}, RateBits: rate}
				}
				f.Faults = append(f.Faults, plan.Fault{At: 3 * time.Second, Action: plan.FaultPartition, Site: "a", Link: plan.LinkWAN, Duration: 3 * time.Second})
				return f
			}
			for _, placement := range []plan.Placement{plan.PlacementEdge, plan.PlacementCloud} {
				run := func(rate int64) *plan.Result {
					f := lossy(11, rate)
					if placement == plan.PlacementCloud {
						f.Placement, f.Model, f.Cloud = plan.PlacementCloud, "edgesim-det", plan.Cloud{Nodes: 2, Class: "cloud-box"}
						f.Faults = []plan.Fault{{At: 6 * time.Second, Action: plan.FaultKill, Node: "cloud-2"}}
					}
					r, err := plan.Run(ctx, f, cal)
					Expect(err).NotTo(HaveOccurred())
					return r
				}
				direct, woken := run(0), run(1e12)
				Expect(direct.Types[0].Frames.LinkLost).To(BeNumerically(">", 0))
				if placement == plan.PlacementEdge {
					Expect(direct.Types[0].Frames.AnswerLost).To(BeNumerically(">", 0))
					Expect(direct.Types[0].Alerted).To(BeNumerically(">", 0))
					Expect(direct.Stats.Events).To(BeNumerically("<", woken.Stats.Events/2))
				}
				direct.Stats.Events, woken.Stats.Events = 0, 0
				Expect(direct).To(Equal(woken), string(placement))
			}
		})

		It("recovers a lost or corrupted video packet by NACK and resend, the frame and those behind it arriving late", func() {
			// One camera, fixed 5 ms links, a deterministic 100 ms worker:
			// without loss every sampled frame takes 112 ms.
			one := func(loss, corrupt float64) *plan.Result {
				f := &plan.Fleet{Seed: 3, Duration: 30 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
					Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: cams(1),
						LANUp:   netem.LinkConfig{Delay: 5 * time.Millisecond, Loss: netem.Loss{Percent: loss}, Corrupt: corrupt},
						LANDown: netem.LinkConfig{Delay: 5 * time.Millisecond}}}}
				r, err := plan.Run(ctx, f, cal)
				Expect(err).NotTo(HaveOccurred())
				return r
			}
			clean := one(0, 0)
			for _, r := range []*plan.Result{one(2, 0), one(0, 2)} {
				fc := r.Sites[0].Frames
				Expect(fc.LinkLost+fc.NoKeyframe).To(BeZero(), "every packet comes again well within the assembler's 500 ms")
				Expect(fc.Answered).To(Equal(clean.Sites[0].Frames.Answered))
				Expect(r.Sites[0].LatencyP50).To(BeNumerically("~", 112*time.Millisecond, 112*time.Millisecond/150))
				// A frame of about 7 packets loses one 13 % of the time. The
				// receiver sees the gap at the next packet (the next frame's,
				// 100 ms on, for a frame's last), NACKs at its timer's next
				// tick (100 ms apart), and the resend takes the round trip.
				Expect(r.Sites[0].LatencyP95).To(And(BeNumerically(">", 112*time.Millisecond+10*time.Millisecond), BeNumerically("<", 112*time.Millisecond+320*time.Millisecond)))
				resent := r.Stats.Packets - clean.Stats.Packets // the same frames: the video's draws do not see the links
				Expect(resent).To(BeNumerically("~", 0.02*float64(clean.Stats.Packets), 0.012*float64(clean.Stats.Packets)))
			}
		})

		It("loses only the frames a corrupting link actually corrupts, and holds the frames after a partition until it gives up those it took", func() {
			// 0.01 % of ~7,000 packets: about one corrupted packet, resent.
			// Packet buffers are reused, so stale bytes must not read as
			// corruption.
			f := impaired(11)
			f.Faults = f.Faults[1:]
			for i := range f.Sites {
				f.Sites[i].LANUp = netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond, Corrupt: 0.01}
			}
			r, err := plan.Run(ctx, f, cal)
			Expect(err).NotTo(HaveOccurred())
			for _, s := range r.Sites {
				if s.Name != "c" {
					Expect(s.Frames.LinkLost+s.Frames.NoKeyframe).To(BeZero(), s.Name)
					continue
				}
				// The partition takes 2 s of 6 cameras' frames at 10 fps.
				// The first frame after it waits for them (a gap in the
				// sequence numbers); the receiver asks for them again, and
				// their resent packets, reordered by the jitter, put more
				// than the assembler's 8 frames in wait at once: it gives
				// up frame after frame. Those that complete after that,
				// and the frames until the keyframe it then asks for, are
				// not decoded.
				Expect(s.Frames.LinkLost + s.Frames.NoKeyframe).To(BeNumerically("~", 6*(10*2+1), 12))
				Expect(s.Frames.NoKeyframe).To(BeNumerically(">=", 6*2), "inter frames after a gap never reach the decoder")
			}
		})
	})

	Describe("faults", func() {
		It("measures the failover gap of a killed node from the calibrated detect and reconnect times", func() {
			f := &plan.Fleet{Seed: 2, Duration: 20 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
				Sites:  []plan.Site{{Name: "s", Nodes: 2, Class: "small-box", Cameras: cams(2)}},
				Faults: []plan.Fault{{At: 10 * time.Second, Action: plan.FaultKill, Node: "s-edge-1"}}}
			r, err := plan.Run(ctx, f, cal)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Failover).To(HaveLen(1)) // camera 0 was on edge-1
			g := r.Failover[0]
			Expect(g.Recovered).To(BeTrue())
			// detect 2..4 s + reconnect 0.5..1.5 s, then a frame's decode and inference
			Expect(g.Gap).To(BeNumerically(">=", 2500*time.Millisecond))
			Expect(g.Gap).To(BeNumerically("<=", 5800*time.Millisecond))
			Expect(g.FramesLost).To(BeNumerically(">=", 20)) // sent to the dead node until noticed
			Expect(r.Sites[0].Frames.NodeDown).To(BeNumerically(">=", 20))
		})

		It("holds alerts during a WAN partition and delivers them after it", func() {
			f := &plan.Fleet{Seed: 4, Duration: 30 * time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge, DetectFPS: 5,
				Alerts: []plan.AlertRule{{Zone: "door", Label: "person", Dwell: 3 * time.Second}},
				Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: []plan.CameraGroup{{
					Name: "cam", Count: 1, Width: 640, Height: 360, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit"),
					Zones:  []plan.Zone{{Name: "door", Rect: [4]float64{0, 0, 0.5, 1}}},
					Events: []plan.Event{{Zone: "door", Label: "person", Start: 5 * time.Second, End: 25 * time.Second}}}},
					WANUp: netem.LinkConfig{Delay: 50 * time.Millisecond}}}}
			r, err := plan.Run(ctx, f, cal)
			Expect(err).NotTo(HaveOccurred())
			tr := r.Types[0]
			Expect(tr.AlertsExpected).To(Equal(1))
			Expect(tr.Alerted).To(Equal(1))
			// dwell, at most one sampling interval, inference and the WAN
			Expect(tr.TimeToAlertP50).To(BeNumerically(">=", 3150*time.Millisecond))
			Expect(tr.TimeToAlertP50).To(BeNumerically("<=", 3400*time.Millisecond))

			f.Faults = []plan.Fault{{At: 7 * time.Second, Action: plan.FaultPartition, Site: "s", Link: plan.LinkWAN, Duration: 5 * time.Second}}
			r, err = plan.Run(ctx, f, cal)
			Expect(err).NotTo(HaveOccurred())
			tr = r.Types[0]
			Expect(tr.Alerted).To(Equal(1))
			// raised at ~8.1 s, retried with backoff until the link is back at 12 s
			Expect(tr.TimeToAlertP50).To(BeNumerically(">=", 7*time.Second))
			Expect(tr.TimeToAlertP50).To(BeNumerically("<=", 12*time.Second))
		})
	})

	Describe("calibration coverage", func() {
		It("refuses an unmeasured class, naming it and the command that measures it", func() {
			f := &plan.Fleet{Seed: 1, Duration: time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge,
				Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "big-box", Cameras: cams(1)}}}
			_, err := plan.Run(ctx, f, cal)
			var missing *plan.MissingCalibrationError
			Expect(errors.As(err, &missing)).To(BeTrue())
			Expect(err.Error()).To(ContainSubstring(`"big-box"`))
			Expect(err.Error()).To(ContainSubstring("edgesim plan calibrate --class big-box"))
		})

		It("refuses an unmeasured model on a measured class", func() {
			f := &plan.Fleet{Seed: 1, Duration: time.Second, Model: "yolo-huge", Placement: plan.PlacementEdge,
				Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: cams(1)}}}
			_, err := plan.Run(ctx, f, cal)
			Expect(err).To(MatchError(ContainSubstring(`model "yolo-huge" on hardware class "small-box"`)))
			Expect(err).To(MatchError(ContainSubstring("edgesim plan calibrate --class small-box --model yolo-huge")))
		})

		It("refuses an unmeasured bitrate and failover timings of another provider", func() {
			f := &plan.Fleet{Seed: 1, Duration: time.Second, Model: "edgesim-det", Placement: plan.PlacementEdge,
				Sites: []plan.Site{{Name: "s", Nodes: 1, Class: "small-box", Cameras: cams(1)}}}
			f.Sites[0].Cameras[0].Bitrate = units.MustParseBitRate("2Mbit")
			_, err := plan.Run(ctx, f, cal)
			Expect(err).To(MatchError(ContainSubstring("--bitrate 2Mbit --fps 10")))

			f.Sites[0].Cameras[0].Bitrate = units.MustParseBitRate("600Kbit")
			f.Provider = "kind"
			f.Faults = []plan.Fault{{At: 0, Action: plan.FaultKill, Node: "s-edge-1"}}
			_, err = plan.Run(ctx, f, cal)
			Expect(err).To(MatchError(And(ContainSubstring("kind provider"), ContainSubstring("--failover-from RESULTS_DIR"))))
		})
	})
})
