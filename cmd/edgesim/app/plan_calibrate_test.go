package app_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/units"
)

var _ = Describe("edgesim plan calibrate", func() {
	It("says what to give when there is nothing to measure", func(ctx SpecContext) {
		out := filepath.Join(GinkgoT().TempDir(), "c.yaml")
		code, _, stderr := run(ctx, "plan", "calibrate", "--out", out)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("nothing to measure: give --class"))
		code, _, stderr = run(ctx, "plan", "calibrate", "--out", out, "--fps", "10")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("give --bitrate too"))
		code, _, stderr = run(ctx, "plan", "calibrate", "--out", out, "--class", "box", "--model", "default")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("class box is not in " + out + " yet: give its --cpu and --memory"))
		_, err := os.Stat(out)
		Expect(os.IsNotExist(err)).To(BeTrue(), "nothing written")
	})

	It("teaches its three measurements with examples", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "plan", "calibrate", "--help")
		Expect(code).To(Equal(0))
		for _, s := range []string{"--class vm-2core --cpu 2 --memory 1Gi", "--failover-from", "--unconfined", "--fps 10"} {
			Expect(stdout).To(ContainSubstring(s))
		}
		Expect(stdout).NotTo(ContainSubstring("--child"))
	})

	It("measures encoded sizes, then adds failovers from a run to the same file", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		out := filepath.Join(dir, "c.yaml")
		code, stdout, stderr := run(ctx, "plan", "calibrate", "--out", out, "--resolution", "320x180",
			"--bitrate", "300Kbit", "--fps", "10", "--duration", "2s")
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(ContainSubstring("encoding 300Kbit@10fps: 20 frames"))

		t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		run1 := &reports.Run{Scenario: "s", Provider: "local", Start: t0, End: t0.Add(time.Minute),
			Faults: []reports.Fault{{At: t0.Add(15 * time.Second), Kind: "kill", Target: "n1"}},
			Cameras: []reports.Camera{{ID: "cam", Frames: []reports.FrameSample{{Frame: 1, Capture: t0, Answered: true, Node: "n1"}},
				Reconnects: []reports.Reconnect{{Lost: t0.Add(18 * time.Second), Connected: t0.Add(18500 * time.Millisecond)}}}}}
		f, err := os.Create(filepath.Join(dir, "samples.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(reports.WriteSamples(f, run1)).To(Succeed())
		Expect(f.Close()).To(Succeed())
		code, stdout, stderr = run(ctx, "plan", "calibrate", "--out", out, "--failover-from", dir)
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(ContainSubstring("failover on local: 1 camera failovers; detect p50 3.00 s"))

		c, err := plan.LoadCalibration(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Encoding).To(HaveLen(1))
		Expect(c.Failover).To(HaveLen(1))
		Expect(c.Failover[0].ReconnectSeconds.At(0.5)).To(BeNumerically("~", 0.5, 1e-9))
		Expect(c.Provenance.Commands).To(Equal([]string{
			"edgesim plan calibrate --bitrate 300Kbit --duration 2s --fps 10 --out " + out + " --resolution 320x180",
			"edgesim plan calibrate --failover-from " + dir + " --out " + out}))
		Expect(c.Provenance.Runs[1].Measured).To(Equal([]string{"failover local"}))
		b, err := os.ReadFile(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(HavePrefix("# Calibration of edgesim's fleet simulator"))
		Expect(string(b)).To(ContainSubstring("#     edgesim plan calibrate --failover-from " + dir))
	})

	It("adds a class's in-situ tables from a run's answered frames, for a class the file holds", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		out := filepath.Join(dir, "c.yaml")
		t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
		var frames []reports.FrameSample
		for i := range 20 {
			frames = append(frames, reports.FrameSample{Frame: uint64(i), Capture: t0.Add(time.Duration(i) * 100 * time.Millisecond),
				Answered: true, Node: "e1", Model: "det@v1", Latency: ms(30), Decode: ms(2), Wait: ms(1), Infer: ms(18), InNode: ms(21.5)})
		}
		run1 := &reports.Run{Scenario: "s", Provider: "local", Start: t0, End: t0.Add(time.Minute),
			LinkDelays: []reports.LinkDelay{{Link: "lan", Site: "s", Leg: reports.LegAccess, OneWay: ms(0.5)}},
			Cameras:    []reports.Camera{{ID: "cam", Site: "s", Placement: reports.PlacementEdge, FPS: 10, Bitrate: units.MustParseBitRate("600Kbit"), Frames: frames}}}
		f, err := os.Create(filepath.Join(dir, "samples.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(reports.WriteSamples(f, run1)).To(Succeed())
		Expect(f.Close()).To(Succeed())
		args := []string{"plan", "calibrate", "--out", out, "--in-situ-from", dir, "--class", "box", "--model", "default"}

		code, _, stderr := run(ctx, args...)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("class box is not in " + out + ": measure it first"))
		code, _, stderr = run(ctx, append(args[:len(args)-2:len(args)-2], "--fps", "10")...)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("--in-situ-from needs --class"))

		date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		base := &plan.Calibration{APIVersion: plan.CalibrationAPIVersion, Kind: plan.CalibrationKind,
			Provenance: plan.Provenance{Machine: "m", Commit: "c", Date: date, Commands: []string{"measured box"}},
			Classes: []plan.Class{{Name: "box", CPU: 1000, Memory: 1 << 30, Workers: 1,
				Models: []plan.ModelCost{{Model: "default", ServiceSeconds: plan.Quantiles{{Q: 0, V: 0.01}, {Q: 1, V: 0.01}}}}}}}
		b, err := base.Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(out, b, 0o644)).To(Succeed())
		code, stdout, stderr := run(ctx, args...)
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(ContainSubstring("in situ on box: 20 frames (models as the nodes named them: det@v1); inference default p50 18.0 ms"))
		Expect(stdout).To(ContainSubstring("in situ on box: stack at 600Kbit@10fps: 20 frames, p50 8.0 ms"))
		c, err := plan.LoadCalibration(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Classes[0].Models).To(Equal(base.Classes[0].Models), "the isolated measurement stays")
		svc, err := c.Inference("box", "default")
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Busy.At(0.5)).To(BeNumerically("~", 0.018, 1e-9))
		Expect(c.Provenance.Runs[len(c.Provenance.Runs)-1].Measured).To(Equal([]string{
			"class box in situ model default", "class box in situ stack 600Kbit@10fps"}))
	})
})
