package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/vp8"
	"github.com/edgesim/edgesim/wire"
)

// The arm64 equivalence spec: the same frames, streamed over WHIP into the
// amd64 edgenode and into the arm64 edgenode running under qemu-user, get
// the same answers. It needs what `go tool task cross-deps` installs (the
// cross toolchain, arm64 libvpx, qemu-user); leave it out elsewhere with
// -ginkgo.label-filter='!arm64'.

const (
	// equivFrames frames of equivFPS are compared; the camera streams two
	// more, so that the last compared frames are answered before it stops.
	// A frame every 1.5 s leaves qemu time for each (edgenode keeps one
	// waiting frame per stream: a slower node would answer fewer) and stays
	// under the tracker's 2 s idle limit (track.DefaultMaxIdle), which a
	// longer gap would make a matter of timing jitter.
	equivFrames, equivFPS = 6, 2.0 / 3
	// boxTolerance and scoreTolerance are how far the two architectures'
	// float arithmetic may move a box corner (pixels) and a score.
	boxTolerance, scoreTolerance = 2, 0.02
)

// equivRun is what a camera got back from one edgenode.
type equivRun struct {
	answers map[uint64][]wire.Detection // by frame
	inferMS []float64
	// alertsFile is the node's JSONL file of the alerts it raised; the node
	// raises them after it answered the frame.
	alertsFile string
}

// alerts are the compared camera's alerts so far, without what depends on
// the run's clocks.
func (r equivRun) alerts() []alertKey {
	var ks []alertKey
	for _, a := range readJSONL[wire.Alert](r.alertsFile) {
		if a.Camera == "cam-1" {
			ks = append(ks, alertKey{a.Camera, a.Zone, a.Label, a.Rule, a.Track, a.Frame})
		}
	}
	return ks
}

// equivIVF renders equivFrames frames of a scene with a person loitering in
// a zone and encodes each as a keyframe, so the stream is the same bytes
// for both nodes and a keyframe request changes nothing. The scene moves at
// its own rate (sc.FPS), the clip plays at equivFPS: slow enough for qemu,
// with objects moving little enough between frames for the tracker.
func equivIVF(dir string, sc scene.Config) string {
	GinkgoHelper()
	s, err := scene.New(sc)
	Expect(err).NotTo(HaveOccurred())
	enc, err := vp8.NewEncoder(vp8.Config{Width: sc.Width, Height: sc.Height, FPS: sc.FPS, Bitrate: 600_000, KeyframeInterval: 1})
	Expect(err).NotTo(HaveOccurred())
	defer enc.Close()
	var frames [][]byte
	for i := range equivFrames {
		data, _, err := enc.Encode(s.Render(i).Image, int64(i))
		Expect(err).NotTo(HaveOccurred())
		frames = append(frames, data)
	}
	var buf bytes.Buffer
	Expect(fakecam.WriteIVF(&buf, sc.Width, sc.Height, equivFPS, frames)).To(Succeed())
	path := filepath.Join(dir, "clip.ivf")
	Expect(os.WriteFile(path, buf.Bytes(), 0o644)).To(Succeed())
	return path
}

// runEquiv starts edgenode (cmd, e.g. qemu-aarch64 and the binary), streams
// the clip into it from a fakecam and returns the answers and alerts.
func runEquiv(ctx SpecContext, name string, cmd []string, ivf, rules string) equivRun {
	GinkgoHelper()
	dir := filepath.Join(GinkgoT().TempDir(), name)
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	alerts := filepath.Join(dir, "alerts.jsonl")
	args := append(slices.Clone(cmd), "serve", "--listen", "127.0.0.1:0", "--node-id", name, "--mode", "cloud",
		"--rules", rules, "--alerts-file", alerts, "--detect-fps", "0", "--workers", "1", "--max-frame-age", "60s",
		"--ice-interface", "lo", "--ice-loopback", "--no-mdns")
	sess, err := gexec.Start(exec.CommandContext(ctx, args[0], args[1:]...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { sess.Terminate().Wait(20 * time.Second) })
	Eventually(sess.Out).WithTimeout(2 * time.Minute).Should(gbytes.Say(`listening on (\S+)\n`))
	addr := regexp.MustCompile(`listening on (\S+)\n`).FindSubmatch(sess.Out.Contents())[1]
	whip := fmt.Sprintf("http://%s/whip", addr)

	// A first inference under qemu translates the detector's code and takes
	// seconds: a warm-up camera pays for it, on a stream of its own (the
	// tracker and the dwell timers are per stream).
	warm, err := fakecam.NewCamera(fakecam.Config{ID: "warm-up", IVF: ivf, Bitrate: 600_000, Endpoints: []string{whip}})
	Expect(err).NotTo(HaveOccurred())
	warmCtx, stopWarm := context.WithCancel(ctx)
	warmDone := make(chan error, 1)
	go func() { warmDone <- warm.Run(warmCtx) }()
	Eventually(func() uint64 { return warm.Stats().FramesAnswered }).WithContext(ctx).WithTimeout(2 * time.Minute).Should(BeNumerically(">=", 1))
	stopWarm()
	Expect(<-warmDone).To(Succeed())

	cam, err := fakecam.NewCamera(fakecam.Config{ID: "cam-1", IVF: ivf, Bitrate: 600_000, Endpoints: []string{whip},
		Duration: time.Duration(float64(equivFrames+2) / equivFPS * float64(time.Second))},
		fakecam.WithOutputDir(dir), fakecam.WithAnswerTimeout(time.Minute))
	Expect(err).NotTo(HaveOccurred())
	Expect(cam.Run(ctx)).To(Succeed())
	Expect(cam.Stats().FramesSkipped).To(BeZero(), "a skipped tick would shift the clip against the frame numbers")

	run := equivRun{answers: map[uint64][]wire.Detection{}}
	for _, l := range readJSONL[wire.LatencyLine](filepath.Join(dir, "latency-cam-1.jsonl")) {
		if l.Answered && l.Frame < equivFrames {
			run.answers[l.Frame] = sortedDetections(l.Detections)
			run.inferMS = append(run.inferMS, l.InferMS)
		}
	}
	Expect(run.answers).To(HaveLen(equivFrames), "%s answers every compared frame", name)
	run.alertsFile = alerts
	return run
}

func sortedDetections(ds []wire.Detection) []wire.Detection {
	ds = slices.Clone(ds)
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].Label != ds[j].Label {
			return ds[i].Label < ds[j].Label
		}
		return slices.Compare(ds[i].Box[:], ds[j].Box[:]) < 0
	})
	return ds
}

// readJSONL reads a JSONL file of T (none when it does not exist yet).
func readJSONL[T any](path string) []T {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	var out []T
	for dec := json.NewDecoder(bytes.NewReader(b)); dec.More(); {
		var v T
		Expect(dec.Decode(&v)).To(Succeed())
		out = append(out, v)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// alertKey is an alert without what depends on the clocks of the run.
type alertKey struct {
	Camera, Zone, Label, Rule string
	Track                     int
	Frame                     uint64
}

var _ = Describe("edgenode on arm64", Label("arm64", "slow"), func() {
	It("answers the same frames with the same detections and alerts as on amd64, run under qemu-user", func(ctx SpecContext) {
		qemu, err := exec.LookPath("qemu-aarch64")
		Expect(err).NotTo(HaveOccurred(), "needs qemu-user: sudo go tool task cross-deps (or leave the arm64 specs out: -ginkgo.label-filter='!arm64')")
		amd, err := gexec.Build("github.com/edgesim/edgesim/cmd/edgenode")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gexec.CleanupBuildArtifacts)
		armDir := GinkgoT().TempDir()
		start := time.Now()
		out, err := exec.CommandContext(ctx, "bash", "../../../hack/cross.sh", "build", armDir, "edgenode").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		AddReportEntry("arm64 cross-build (go build cache as found)", time.Since(start).Round(time.Second).String())

		dir := GinkgoT().TempDir()
		zone := scene.Zone{Name: "entrance", Rect: [4]float64{0.3, 0.45, 0.7, 1}}
		ivf := equivIVF(dir, scene.Config{Width: 320, Height: 180, FPS: 2, Background: scene.BackgroundStreet, Seed: 7,
			CameraID: "cam-1", People: 2, Zones: []scene.Zone{zone},
			Events: []scene.Event{{Kind: scene.EventLoiter, Zone: zone.Name, Start: 0, End: time.Hour}}})
		rules := filepath.Join(dir, "rules.yaml")
		Expect(os.WriteFile(rules, []byte(fmt.Sprintf("zones: [{name: %s, rect: [%g, %g, %g, %g]}]\n"+
			"rules: [{name: loiter, zone: %s, label: person, dwell: 2500ms}]\n",
			zone.Name, zone.Rect[0], zone.Rect[1], zone.Rect[2], zone.Rect[3], zone.Name)), 0o644)).To(Succeed())

		want := runEquiv(ctx, "amd64", []string{amd}, ivf, rules)
		got := runEquiv(ctx, "arm64", []string{qemu, filepath.Join(armDir, "edgenode")}, ivf, rules)

		found, maxBox, maxScore := 0, 0, 0.0
		for f := range uint64(equivFrames) {
			w, g := want.answers[f], got.answers[f]
			fmt.Fprintf(GinkgoWriter, "frame %d\n  amd64 %v\n  arm64 %v\n", f, w, g)
			Expect(g).To(HaveLen(len(w)), "frame %d: amd64 %v, arm64 %v", f, w, g)
			for i := range w {
				Expect(g[i].Label).To(Equal(w[i].Label), "frame %d", f)
				Expect(g[i].Track).To(Equal(w[i].Track), "frame %d", f)
				Expect(float64(g[i].Score)).To(BeNumerically("~", float64(w[i].Score), scoreTolerance), "frame %d", f)
				maxScore = max(maxScore, math.Abs(float64(g[i].Score-w[i].Score)))
				for k := range 4 {
					maxBox = max(maxBox, abs(g[i].Box[k]-w[i].Box[k]))
					Expect(g[i].Box[k]).To(BeNumerically("~", w[i].Box[k], boxTolerance), "frame %d box %v vs %v", f, g[i].Box, w[i].Box)
				}
			}
			found += len(w)
		}
		Expect(found).To(BeNumerically(">", 0), "the frames hold objects the detector finds")
		wantAlerts := want.alerts()
		Eventually(got.alerts).WithTimeout(10 * time.Second).Should(Equal(wantAlerts))
		Expect(wantAlerts).NotTo(BeEmpty(), "the loitering alert is raised: without one the comparison of alerts would prove nothing")
		AddReportEntry("compared", fmt.Sprintf("%d frames, %d detections, %d alerts; largest difference: box %d px, score %.1e",
			equivFrames, found, len(wantAlerts), maxBox, maxScore))
		// Emulated: qemu translates every arm64 instruction, so this says
		// nothing about an arm64 CPU. Calibrate on one (docs/hardware.md).
		AddReportEntry("median infer_ms", fmt.Sprintf("amd64 %.1f, arm64 under qemu-user %.1f (emulated, not an arm64 CPU figure)",
			median(want.inferMS), median(got.inferMS)))
	}, NodeTimeout(20*time.Minute))
})
