package calibrate_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/plan/calibrate"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/units"
)

func flat(v float64) plan.Quantiles { return plan.Quantiles{{Q: 0, V: v}, {Q: 1, V: v}} }

var _ = Describe("Table", func() {
	It("gives the type-7 sample quantiles at the default levels", func() {
		var s []float64
		for i := 100; i >= 0; i-- { // unsorted on purpose
			s = append(s, float64(i))
		}
		q, err := calibrate.Table(s, calibrate.DefaultLevels)
		Expect(err).NotTo(HaveOccurred())
		Expect(q).To(HaveLen(22))
		for _, p := range q {
			Expect(p.V).To(BeNumerically("~", 100*p.Q, 1e-9), "q %v", p.Q)
		}
		Expect(q[0]).To(Equal(plan.Point{Q: 0, V: 0}))
		Expect(q[20]).To(Equal(plan.Point{Q: 0.99, V: 99}))
		Expect(q[21]).To(Equal(plan.Point{Q: 1, V: 100}))
	})

	It("interpolates between order statistics and keeps a single sample flat", func() {
		q, err := calibrate.Table([]float64{10, 0}, []float64{0, 0.25, 1})
		Expect(err).NotTo(HaveOccurred())
		Expect(q).To(Equal(plan.Quantiles{{Q: 0, V: 0}, {Q: 0.25, V: 2.5}, {Q: 1, V: 10}}))
		q, err = calibrate.Table([]float64{3}, calibrate.DefaultLevels)
		Expect(err).NotTo(HaveOccurred())
		Expect(q.At(0)).To(Equal(3.0))
		Expect(q.At(1)).To(Equal(3.0))
	})

	It("refuses no samples, bad samples and bad levels", func() {
		_, err := calibrate.Table(nil, calibrate.DefaultLevels)
		Expect(err).To(MatchError(ContainSubstring("no samples")))
		_, err = calibrate.Table([]float64{-1}, calibrate.DefaultLevels)
		Expect(err).To(MatchError(ContainSubstring("finite value >= 0")))
		_, err = calibrate.Table([]float64{1}, []float64{0, 0.5})
		Expect(err).To(MatchError(ContainSubstring("start at 0 and end at 1")))
		_, err = calibrate.Table([]float64{1}, []float64{0, 0.5, 0.5, 1})
		Expect(err).To(MatchError(ContainSubstring("increase")))
	})
})

// calibration builds a valid calibration measured by one run.
func calibration(command string, classes []plan.Class, enc []plan.Encoding, fo []plan.FailoverCost) *plan.Calibration {
	c := &plan.Calibration{APIVersion: plan.CalibrationAPIVersion, Kind: plan.CalibrationKind,
		Classes: classes, Encoding: enc, Failover: fo}
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Provenance = plan.Provenance{Machine: "m", Commit: "c", Date: date, Commands: []string{command},
		Runs: []plan.CalibrationRun{{Command: command, Date: date, Commit: "c", Measured: c.Keys()}}}
	return c
}

var _ = Describe("Merge", func() {
	cpu1, gi := units.MilliCPU(1000), units.ByteSize(1<<30)
	enc := func(b string, fps float64) plan.Encoding {
		return plan.Encoding{Bitrate: units.MustParseBitRate(b), FPS: fps, KeyframeInterval: 100,
			KeyframeBytes: flat(9000), InterBytes: flat(7000), PayloadBytes: 1196, OverheadBytes: 68}
	}
	decode := plan.DecodeCost{Width: 640, Height: 360, Bitrate: units.MustParseBitRate("600Kbit"), FrameSeconds: flat(0.004)}
	var base *plan.Calibration
	BeforeEach(func() {
		base = calibration("first",
			[]plan.Class{{Name: "box", CPU: cpu1, Memory: gi, Workers: 1,
				Models: []plan.ModelCost{{Model: "a", ServiceSeconds: flat(0.1)}, {Model: "b", ServiceSeconds: flat(0.2)}},
				Decode: []plan.DecodeCost{decode}}},
			[]plan.Encoding{enc("600Kbit", 10)},
			[]plan.FailoverCost{{Provider: "local", DetectSeconds: flat(3), ReconnectSeconds: flat(0.3)}})
		Expect(base.Validate()).To(Succeed())
	})

	It("replaces what the new run measured and keeps the rest, with the provenance of both runs", func() {
		next := calibration("second",
			[]plan.Class{{Name: "box", CPU: cpu1, Memory: gi, Workers: 1, Models: []plan.ModelCost{{Model: "a", ServiceSeconds: flat(0.15)}}}},
			[]plan.Encoding{enc("1Mbit", 15)}, nil)
		next.Provenance.Machine = "m2"
		m := plan.Merge(base, next)
		Expect(m.Validate()).To(Succeed())
		Expect(m.Classes).To(HaveLen(1))
		Expect(m.Classes[0].Models).To(Equal([]plan.ModelCost{{Model: "a", ServiceSeconds: flat(0.15)}, {Model: "b", ServiceSeconds: flat(0.2)}}))
		Expect(m.Classes[0].Decode).To(Equal([]plan.DecodeCost{decode}))
		Expect(m.Encoding).To(Equal([]plan.Encoding{enc("600Kbit", 10), enc("1Mbit", 15)}))
		Expect(m.Failover).To(HaveLen(1))
		Expect(m.Provenance.Machine).To(Equal("m2"))
		Expect(m.Provenance.Commands).To(Equal([]string{"first", "second"}))
		Expect(m.Provenance.Runs).To(HaveLen(2))
		Expect(m.Provenance.Runs[0].Measured).To(Equal([]string{"class box model b", "class box decode 640x360@600Kbit",
			"encoding 600Kbit@10fps", "failover local"}))
		Expect(m.Provenance.Runs[1].Measured).To(Equal([]string{"class box model a", "encoding 1Mbit@15fps"}))
		Expect(base.Classes[0].Models[0].ServiceSeconds).To(Equal(flat(0.1)), "the base is not modified")
	})

	It("adds in-situ tables beside the isolated ones and replaces them by model and by bitrate and frame rate", func() {
		stack := func(fps float64, v float64) plan.InSituStack {
			return plan.InSituStack{Bitrate: units.MustParseBitRate("600Kbit"), FPS: fps, Frames: 5, Seconds: flat(v)}
		}
		situ := func(cmd string, v float64, st ...plan.InSituStack) *plan.Calibration {
			return calibration(cmd, []plan.Class{{Name: "box", CPU: cpu1, Memory: gi, Workers: 1, InSitu: &plan.InSitu{
				Models: []plan.InSituModel{{Model: "a", Frames: 5, ServiceSeconds: flat(v)}}, Stack: st}}}, nil, nil)
		}
		m := plan.Merge(base, situ("in situ 1", 0.3, stack(10, 0.008)))
		Expect(m.Validate()).To(Succeed())
		Expect(m.Classes[0].Models).To(Equal(base.Classes[0].Models), "the isolated tables stay")
		Expect(m.InSituKeys()).To(Equal([]string{"class box in situ model a", "class box in situ stack 600Kbit@10fps"}))
		svc, err := m.Inference("box", "a")
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Busy).To(Equal(flat(0.3)))
		svc, err = m.Inference("box", "b")
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Busy).To(Equal(flat(0.2)), "a model not measured in situ keeps its isolated time")

		m = plan.Merge(m, situ("in situ 2", 0.4, stack(15, 0.009)))
		Expect(m.Classes[0].InSitu.Models).To(HaveLen(1))
		Expect(m.Classes[0].InSitu.Models[0].ServiceSeconds).To(Equal(flat(0.4)))
		Expect(m.Classes[0].InSitu.Stack).To(Equal([]plan.InSituStack{stack(10, 0.008), stack(15, 0.009)}))
		Expect(m.Provenance.Commands).To(Equal([]string{"first", "in situ 1", "in situ 2"}))
		Expect(m.Provenance.Runs[1].Measured).To(Equal([]string{"class box in situ stack 600Kbit@10fps"}))

		By("the stack table stands in for the encode time of its own bitrate and frame rate only")
		e10, e15 := enc("600Kbit", 10), enc("600Kbit", 20)
		e10.EncodeSeconds, e15.EncodeSeconds = flat(0.002), flat(0.002)
		Expect(m.CameraDelay("box", &e10)).To(Equal(flat(0.008)))
		Expect(m.CameraDelay("box", &e15)).To(Equal(flat(0.002)))
		Expect(m.CameraDelay("other", &e10)).To(Equal(flat(0.002)))

		By("a duplicate or empty in-situ entry is refused")
		bad := plan.Merge(base, situ("bad", 0.3, stack(10, 0.008), stack(10, 0.009)))
		Expect(bad.Validate()).To(MatchError(ContainSubstring("classes[0].inSitu.stack[1]: duplicate bitrate and fps")))
		bad = plan.Merge(base, situ("bad", 0.3))
		bad.Classes[0].InSitu.Models[0].Frames = 0
		Expect(bad.Validate()).To(MatchError(ContainSubstring("classes[0].inSitu.models[0].frames")))
	})

	It("replaces a class whole when its hardware changed, and drops runs with nothing left", func() {
		next := calibration("again",
			[]plan.Class{{Name: "box", CPU: 2 * cpu1, Memory: gi, Workers: 2, Models: []plan.ModelCost{{Model: "a", ServiceSeconds: flat(0.05)}}}},
			[]plan.Encoding{enc("600Kbit", 10)},
			[]plan.FailoverCost{{Provider: "local", DetectSeconds: flat(2), ReconnectSeconds: flat(0.2)}})
		m := plan.Merge(base, next)
		Expect(m.Classes).To(Equal(next.Classes))
		Expect(m.Provenance.Commands).To(Equal([]string{"again"}))
		Expect(m.Provenance.Runs).To(Equal(next.Provenance.Runs))
	})

	It("writes a file that reads back equal, with its header", func() {
		m := plan.Merge(base, calibration("second", nil, []plan.Encoding{enc("1Mbit", 15)}, nil))
		b, err := m.Marshal("measured on m\nby a spec")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(HavePrefix("# measured on m\n# by a spec\napiVersion: "))
		back, err := plan.ParseCalibration(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(m))
	})

	It("refuses to write an invalid calibration", func() {
		base.Classes[0].Workers = 0
		_, err := base.Marshal()
		Expect(err).To(MatchError(plan.ErrInvalidCalibration))
	})
})

type fakeInfo struct{ fs.FileInfo }

var _ = Describe("Provenance", func() {
	files := map[string]string{
		"/proc/cpuinfo":      "processor\t: 0\nmodel name\t: Test CPU 3000\nprocessor\t: 1\nmodel name\t: Test CPU 3000\n",
		"/proc/loadavg":      "1.50 2.25 3.00 2/300 4242\n",
		"/sys/fs/cgroup/cpu": "",
	}
	sys := calibrate.System{
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
		Hostname: func() (string, error) { return "box-7", nil },
		Stat: func(p string) (fs.FileInfo, error) {
			if _, ok := files[p]; ok {
				return fakeInfo{}, nil
			}
			return nil, fs.ErrNotExist
		},
		NumCPU: func() int { return 2 },
		Commit: func(context.Context) string { return "" },
		Now:    func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600)) },
	}

	It("records the machine, commit, date, command, confinement and load", func() {
		p := sys.Provenance(context.Background(), "edgesim plan calibrate --out f", "cgroup v1: cpu 1, memory 1GiB", "0.50 0.60 0.70",
			[]string{"encoding 600Kbit@10fps"})
		Expect(p.Machine).To(Equal("box-7 (Test CPU 3000, 2 cores, cgroup v1)"))
		Expect(p.Commit).To(Equal("unknown"))
		Expect(p.Date).To(Equal(time.Date(2026, 3, 4, 4, 6, 7, 0, time.UTC)))
		Expect(p.Commands).To(Equal([]string{"edgesim plan calibrate --out f"}))
		Expect(p.Runs).To(Equal([]plan.CalibrationRun{{Command: "edgesim plan calibrate --out f", Date: p.Date, Commit: "unknown",
			Host:        plan.Host{Hostname: "box-7", CPUModel: "Test CPU 3000", Cores: 2, CgroupMode: "v1"},
			Confinement: "cgroup v1: cpu 1, memory 1GiB", LoadAverage: plan.LoadAverage{Before: "0.50 0.60 0.70", After: "1.50 2.25 3.00"},
			Measured: []string{"encoding 600Kbit@10fps"}}}))
	})

	It("tells cgroup v2 from v1 and a hybrid layout", func() {
		files["/sys/fs/cgroup/unified/cgroup.controllers"] = ""
		Expect(sys.Host().CgroupMode).To(Equal("hybrid"))
		files["/sys/fs/cgroup/cgroup.controllers"] = ""
		Expect(sys.Host().CgroupMode).To(Equal("v2"))
	})
})

var quickVideo = calibrate.Video{Width: 320, Height: 180, FPS: 10, Bitrate: units.MustParseBitRate("300Kbit"),
	Scene: scene.Config{Background: "indoor", People: 2, Seed: 1}, Duration: 3 * time.Second, KeyframeInterval: 10}

var _ = Describe("MeasureEncoding (real fakecam scene and libvpx)", func() {
	It("measures keyframe interval, frame sizes and the packet sizes of the real stack", func() {
		var last calibrate.Progress
		e, st, err := calibrate.MeasureEncoding(context.Background(), quickVideo, func(p calibrate.Progress) { last = p })
		Expect(err).NotTo(HaveOccurred())
		Expect(last).To(Equal(calibrate.Progress{Stage: "encoding 300Kbit@10fps", Done: 30, Total: 30}))
		Expect(st.Frames + st.Dropped).To(Equal(30))
		Expect(st.Keyframes).To(Equal(3))
		Expect(e.KeyframeInterval).To(Equal(10))
		Expect(e.Bitrate).To(Equal(quickVideo.Bitrate))
		Expect(e.FPS).To(Equal(10.0))
		// constant-bitrate rate control: the mean frame is near bitrate/fps
		Expect(st.MeanBitrate).To(BeNumerically("~", 300_000, 150_000))
		Expect(e.InterBytes.At(0)).To(BeNumerically(">", 0))
		// RFC 7741's VP8 descriptor with a 15-bit picture ID takes 4 of the
		// payload's bytes; per packet: that descriptor, RTP 12 + TWCC
		// extension 8, the AES-256-GCM tag 16, UDP 8, IPv4 20.
		Expect(e.PayloadBytes).To(Equal(fakecam.RTPMTU - 4))
		Expect(e.OverheadBytes).To(Equal(4 + 12 + 8 + 16 + 8 + 20))
		c := calibration("spec", nil, []plan.Encoding{e}, nil)
		Expect(c.Validate()).To(Succeed())
	})
})

var _ = Describe("MeasureClass (real libvpx decode and detector)", func() {
	spec := calibrate.ClassSpec{Workers: 2, InferenceFrames: 6, Models: []calibrate.Model{{Name: "default"}},
		Decode: []calibrate.Video{quickVideo}}

	It("records decode and service times per frame with every worker busy", func() {
		res, err := calibrate.MeasureClass(context.Background(), spec, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Samples).To(Equal(map[string]int{"decode 320x180@300Kbit": 30, "inference default": 6}))
		Expect(res.Decode).To(HaveLen(1))
		Expect(res.Decode[0].FrameSeconds.At(0)).To(BeNumerically(">", 0))
		Expect(res.Models).To(HaveLen(1))
		Expect(res.Models[0].Model).To(Equal("default"))
		// the embedded model takes milliseconds, not microseconds, per frame
		Expect(res.Models[0].ServiceSeconds.At(0)).To(BeNumerically(">", 1e-3))
		c := calibration("spec", []plan.Class{{Name: "c", CPU: 2000, Memory: 1 << 30, Workers: 2, Models: res.Models, Decode: res.Decode}}, nil, nil)
		Expect(c.Validate()).To(Succeed())
	})

	It("measures an embedded variant named by its version, as a scenario's variant: names it", func() {
		s := spec
		s.Models = []calibrate.Model{{Name: "v2-int8"}}
		res, err := calibrate.MeasureClass(context.Background(), s, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Samples).To(HaveKeyWithValue("inference v2-int8", 6))
		Expect(res.Models[0].Model).To(Equal("v2-int8"))
	})

	It("refuses a model name that is not the embedded model's", func() {
		s := spec
		s.Models = []calibrate.Model{{Name: "yolo"}}
		_, err := calibrate.MeasureClass(context.Background(), s, nil)
		Expect(err).To(MatchError(ContainSubstring(`model "yolo" is not the embedded model`)))
	})

	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=1")
		return cmd
	}

	It("measures in a child process it confines before sending the spec", func() {
		var confined int
		var stages []string
		res, err := calibrate.MeasureConfined(context.Background(), child(), func(pid int) error {
			confined = pid
			return nil
		}, spec, func(p calibrate.Progress) {
			if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
				stages = append(stages, p.Stage)
			}
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(confined).To(BeNumerically(">", 0))
		Expect(stages).To(Equal([]string{"encode for decode 320x180@300Kbit", "decode 320x180@300Kbit", "inference default"}))
		Expect(res.Samples).To(HaveKeyWithValue("inference default", 6))
	})

	It("stops the child and says why when it cannot be confined or fails", func() {
		_, err := calibrate.MeasureConfined(context.Background(), child(), func(int) error { return errors.New("no cgroup") }, spec, nil)
		Expect(err).To(MatchError(ContainSubstring("confine the measuring process: no cgroup")))
		s := spec
		s.Models = []calibrate.Model{{Name: "yolo"}}
		_, err = calibrate.MeasureConfined(context.Background(), child(), nil, s, nil)
		Expect(err).To(MatchError(ContainSubstring(`model "yolo" is not the embedded model`)))
	})
})

var _ = Describe("Failover", func() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cam := func(id, node string, recs ...reports.Reconnect) reports.Camera {
		return reports.Camera{ID: id, Frames: []reports.FrameSample{
			{Frame: 1, Capture: at(1), Answered: true, Node: node},
			{Frame: 2, Capture: at(20), Answered: true, Node: "n2"}}, Reconnects: recs}
	}
	run := &reports.Run{Provider: "local", Faults: []reports.Fault{
		{At: at(10), Kind: "partition", Target: "lan"},
		{At: at(15), Kind: "kill", Target: "n1"}},
		Cameras: []reports.Camera{
			cam("a", "n1", reports.Reconnect{Lost: at(5), Connected: at(6)}, reports.Reconnect{Lost: at(18.5), Connected: at(19)}),
			cam("b", "n1", reports.Reconnect{Lost: at(17), Connected: at(17.25)}),
			cam("c", "n2"),
			cam("d", "n1", reports.Reconnect{Lost: at(18)}),
		}}

	It("takes each camera the killed node served from the fault to noticing and on to reconnecting", func() {
		samples, notes := calibrate.FailoverSamples(run, "r1")
		Expect(samples).To(Equal([]calibrate.FailoverSample{
			{Run: "r1", Provider: "local", Fault: 1, Camera: "a", Detect: 3500 * time.Millisecond, Reconnect: 500 * time.Millisecond},
			{Run: "r1", Provider: "local", Fault: 1, Camera: "b", Detect: 2 * time.Second, Reconnect: 250 * time.Millisecond},
		}))
		Expect(notes).To(Equal([]string{"r1: camera d did not reconnect after kill n1"}))
		fo, err := calibrate.Failover(samples)
		Expect(err).NotTo(HaveOccurred())
		Expect(fo).To(HaveLen(1))
		Expect(fo[0].Provider).To(Equal("local"))
		Expect(fo[0].DetectSeconds.At(0)).To(Equal(2.0))
		Expect(fo[0].DetectSeconds.At(1)).To(Equal(3.5))
		Expect(fo[0].ReconnectSeconds.At(0.5)).To(Equal(0.375))
	})

	It("refuses runs without a failover", func() {
		_, err := calibrate.Failover(nil)
		Expect(err).To(MatchError(ContainSubstring("kill fault")))
	})
})

var _ = Describe("InSitu", func() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	// frame: latency 30 ms, of which decode 2, wait 1, inference 18 and
	// the access links 2 x 0.5: the stack's delay is 8 ms
	frame := func(no uint64, capture float64, infer float64) reports.FrameSample {
		return reports.FrameSample{Frame: no, Capture: at(capture), Answered: true, Node: "e1", Model: "det@v1",
			Latency: ms(12 + infer), Decode: ms(2), Wait: ms(1), Infer: ms(infer), InNode: ms(3.2 + infer)}
	}
	run := func() *reports.Run {
		return &reports.Run{
			Phases:     []reports.Phase{{Name: reports.PhaseWarmUp, Start: at(0), End: at(5)}, {Name: reports.PhaseRun, Start: at(5), End: at(60)}},
			LinkDelays: []reports.LinkDelay{{Link: "lan", Site: "s", Leg: reports.LegAccess, OneWay: ms(0.5)}, {Link: "wan", Site: "s", Leg: reports.LegBackhaul, OneWay: ms(40)}},
			Cameras: []reports.Camera{
				{ID: "c1", Site: "s", Placement: reports.PlacementEdge, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit"), Frames: []reports.FrameSample{
					frame(1, 1, 50), // warm-up
					frame(2, 6, 18), frame(3, 7, 20),
					{Frame: 4, Capture: at(8)},                                  // not answered
					{Frame: 5, Capture: at(9), Answered: true, Latency: ms(25)}, // no share reported
				}},
				{ID: "c2", Site: "s", Placement: reports.PlacementCloud, FPS: 10, Frames: []reports.FrameSample{frame(1, 6, 90)}},
				{ID: "m", Site: "s", Placement: reports.PlacementEdge, FPS: 10, Reference: true, Frames: []reports.FrameSample{frame(1, 6, 90)}},
			}}
	}

	It("takes the run phase's answered frames of edge cameras: inference, and the latency less the node's share and the access links both ways", func() {
		var s calibrate.InSituSamples
		notes, err := s.AddRun(run(), "r1", 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(notes).To(ConsistOf(ContainSubstring("1 answered frames left out: their node did not report its share")))
		Expect(s.Frames).To(Equal(2))
		Expect(s.Infer).To(Equal([]float64{0.018, 0.020}))
		st := calibrate.Stream{Bitrate: units.MustParseBitRate("600Kbit"), FPS: 10}
		Expect(s.Stack).To(HaveLen(1))
		Expect(s.Stack[st]).To(HaveLen(2))
		for _, v := range s.Stack[st] {
			Expect(v).To(BeNumerically("~", 0.008, 1e-9))
		}
		in, err := calibrate.InSitu(&s, "default")
		Expect(err).NotTo(HaveOccurred())
		Expect(in.Models).To(HaveLen(1))
		Expect(in.Models[0].Model).To(Equal("default"))
		Expect(in.Models[0].ServiceSeconds.At(0)).To(BeNumerically("~", 0.018, 1e-12))
		Expect(in.Models[0].ServiceSeconds.At(1)).To(BeNumerically("~", 0.020, 1e-12))
		Expect(in.Stack[0].FPS).To(Equal(10.0))
		Expect(in.Stack[0].Frames).To(Equal(2))
	})

	It("counts a frame faster than its share and links as no stack delay, and says so", func() {
		r := run()
		r.Cameras[0].Frames[1].Latency = ms(20) // less than decode + wait + inference + links
		var s calibrate.InSituSamples
		notes, err := s.AddRun(r, "r1", 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Stack[calibrate.Stream{Bitrate: units.MustParseBitRate("600Kbit"), FPS: 10}][0]).To(BeZero())
		Expect(notes).To(ContainElement(ContainSubstring("1 frames came back faster")))
	})

	It("keeps one stack table per camera stream, taking the given bit rate for cameras that recorded none", func() {
		r := run()
		c3 := r.Cameras[0]
		c3.ID, c3.FPS, c3.Bitrate = "c3", 15, 0
		r.Cameras = append(r.Cameras, c3)
		var s calibrate.InSituSamples
		_, err := s.AddRun(r, "r1", 0)
		Expect(err).To(MatchError(ContainSubstring("camera c3 has no frame rate or bit rate recorded")))
		s = calibrate.InSituSamples{}
		_, err = s.AddRun(r, "r1", units.MustParseBitRate("1Mbit"))
		Expect(err).NotTo(HaveOccurred())
		in, err := calibrate.InSitu(&s, "default")
		Expect(err).NotTo(HaveOccurred())
		Expect(in.Models[0].Frames).To(Equal(4))
		Expect(in.Stack).To(HaveLen(2))
		Expect(in.Stack[0].Bitrate).To(Equal(units.MustParseBitRate("600Kbit")))
		Expect(in.Stack[0].FPS).To(Equal(10.0))
		Expect(in.Stack[1].Bitrate).To(Equal(units.MustParseBitRate("1Mbit")))
		Expect(in.Stack[1].FPS).To(Equal(15.0))
		Expect(in.Stack[1].Frames).To(Equal(2))
	})

	It("takes no stack delay from a site's frames after a link fault there, whose delay is not the configured one", func() {
		r := run()
		r.Faults = []reports.Fault{
			{At: at(6.5), Kind: "degrade", Target: "lan"}, // the access link of site s
			{At: at(1), Kind: "kill", Target: "e1"},       // not a link fault
		}
		var s calibrate.InSituSamples
		notes, err := s.AddRun(r, "r1", 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Infer).To(HaveLen(2), "inference is not the links'")
		Expect(s.Stack[calibrate.Stream{Bitrate: units.MustParseBitRate("600Kbit"), FPS: 10}]).To(HaveLen(1), "the frame at 7 s is after the degrade")
		Expect(notes).To(ContainElement(ContainSubstring("1 frames give their inference time but no stack delay")))

		r.Faults = []reports.Fault{{At: at(5), Kind: "partition", Target: "s"}}
		s = calibrate.InSituSamples{}
		_, err = s.AddRun(r, "r1", 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Stack).To(BeEmpty())
		in, err := calibrate.InSitu(&s, "default")
		Expect(err).NotTo(HaveOccurred())
		Expect(in.Models).To(HaveLen(1))
		Expect(in.Stack).To(BeEmpty(), "the inference table alone")
	})

	It("refuses runs of two models, or without a frame to measure", func() {
		var s calibrate.InSituSamples
		_, err := s.AddRun(run(), "r1", 0)
		Expect(err).NotTo(HaveOccurred())
		r := run()
		r.Cameras[0].Frames[2].Model = "det@v2"
		_, err = s.AddRun(r, "r2", 0)
		Expect(err).NotTo(HaveOccurred())
		_, err = calibrate.InSitu(&s, "default")
		Expect(err).To(MatchError(ContainSubstring("2 models (det@v1, det@v2)")))

		_, err = calibrate.InSitu(&calibrate.InSituSamples{}, "default")
		Expect(err).To(MatchError(ContainSubstring("no answered frame of an edge-placed camera")))
	})
})
