package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"time"

	"github.com/edgesim/edgesim/fakecam/internal/imgdiff"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/cli"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/whiptest"
	"github.com/edgesim/edgesim/wire"
)

func runCLI(ctx context.Context, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := cli.NewCommand(&out, &errOut)
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(ctx)
	return out.String() + errOut.String(), err
}

func readGT(path string) map[uint64]wire.GroundTruthLine {
	GinkgoHelper()
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	out := map[uint64]wire.GroundTruthLine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l wire.GroundTruthLine
		Expect(json.Unmarshal(sc.Bytes(), &l)).To(Succeed())
		out[l.Frame] = l
	}
	return out
}

var _ = Describe("edgesim fakecam", func() {
	It("streams 4 cameras to a WHIP receiver whose decoded frames match the ground truth positions", func(ctx SpecContext) {
		srv, err := whiptest.New(whiptest.Options{KeepImages: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
		dir := GinkgoT().TempDir()
		out, err := runCLI(ctx, "--whip", srv.URL, "--cameras", "4", "--scene", "night", "--resolution", "320x180",
			"--fps", "10", "--bitrate", "600kbit", "--duration", "3s", "--out", dir, "--seed", "5", "--progress", "1s")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("CAMERA"))
		Expect(out).To(MatchRegexp(`cam-4\s+\d+`))

		var sum fakecam.Summary
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &sum)).To(Succeed())
		Expect(sum.Cameras).To(HaveLen(4))

		gts := map[string]map[uint64]wire.GroundTruthLine{}
		backgrounds := map[string]*scene.Scene{}
		for _, s := range sum.Cameras {
			Expect(s.FramesCaptured+s.FramesSkipped).To(BeNumerically("~", 30, 2), s.Camera)
			Expect(s.FramesAnswered).To(BeNumerically(">=", 10), s.Camera)
			gts[s.Camera] = readGT(filepath.Join(dir, "groundtruth-"+s.Camera+".jsonl"))
			bg, err := scene.New(scene.Config{Width: 320, Height: 180, FPS: 10, Background: "street", Night: true, Seed: 5, CameraID: s.Camera})
			Expect(err).NotTo(HaveOccurred())
			backgrounds[s.Camera] = bg
		}
		checked := map[string]int{}
		for _, f := range srv.Frames() {
			gt, ok := gts[f.Camera][f.Frame]
			Expect(ok).To(BeTrue())
			if f.Frame < 5 {
				continue
			}
			back := backgrounds[f.Camera].Render(int(f.Frame)).Image
			for _, o := range gt.Objects {
				r := image.Rect(o.Box[0], o.Box[1], o.Box[2], o.Box[3])
				if o.Occlusion > 0.2 || r.Dx()*r.Dy() < 400 {
					continue
				}
				// night: dark and low in contrast, but the object is there
				Expect(imgdiff.MeanAbsDiff(f.Image, back, r)).To(BeNumerically(">", 4), "%s frame %d object %v", f.Camera, f.Frame, r)
				checked[f.Camera]++
			}
		}
		Expect(checked).To(HaveLen(4))
		Expect(srv.Deletes()).To(Equal(4))
	}, SpecTimeout(60*time.Second))

	It("takes cameras from a JSON file and the token from the environment as the testbed gives them, and stops cleanly when interrupted", func(ctx SpecContext) {
		srv, err := whiptest.New(whiptest.Options{Token: "run-token"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
		dir := GinkgoT().TempDir()
		cfgs := []fakecam.Config{{
			ID: "site-a-cam-1",
			Scene: scene.Config{Width: 320, Height: 180, FPS: 10, Background: "parking", Seed: 3, CameraID: "site-a-cam-1",
				People: 2, Vehicles: 1, Zones: []scene.Zone{{Name: "bay", Rect: [4]float64{0.1, 0.5, 0.6, 0.95}}},
				Events: []scene.Event{{Kind: scene.EventVehicleStop, Zone: "bay", Start: time.Second, End: 30 * time.Second}}},
			Bitrate:   500_000,
			Endpoints: []string{srv.URL},
		}}
		b, err := json.MarshalIndent(cfgs, "", "  ")
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(dir, "cams.json")
		Expect(os.WriteFile(path, b, 0o644)).To(Succeed())
		GinkgoT().Setenv(fakecam.TokenEnv, "run-token")
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		var out string
		go func() {
			var err error
			out, err = runCLI(runCtx, "--config", path, "--out", dir, "--quiet")
			done <- err
		}()
		Eventually(func() int { return len(srv.Frames()) }).WithTimeout(10 * time.Second).Should(BeNumerically(">", 15))
		cancel() // what SIGTERM does through the command's context
		Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
		Expect(out).To(BeEmpty(), "--quiet")
		Expect(srv.Deletes()).To(Equal(1))
		gt := readGT(filepath.Join(dir, "groundtruth-site-a-cam-1.jsonl"))
		Expect(gt[15].Events).To(Equal([]string{"vehicle_stop:bay"}))
		_, err = os.Stat(filepath.Join(dir, "summary.json"))
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(60*time.Second))

	It("explains what is wrong with the flags or the config file", func(ctx SpecContext) {
		_, err := runCLI(ctx)
		Expect(err).To(MatchError(ContainSubstring("--whip URL")))
		_, err = runCLI(ctx, "--whip", "http://127.0.0.1:1/whip", "--resolution", "big")
		Expect(err).To(MatchError(ContainSubstring("WIDTHxHEIGHT")))
		_, err = runCLI(ctx, "--whip", "http://127.0.0.1:1/whip", "--bitrate", "5mbps")
		Expect(err).To(MatchError(ContainSubstring("ambiguous")))
		path := filepath.Join(GinkgoT().TempDir(), "bad.json")
		Expect(os.WriteFile(path, []byte(`[{"id": "c", "colour": "red"}]`), 0o644)).To(Succeed())
		_, err = runCLI(ctx, "--config", path)
		Expect(err).To(MatchError(ContainSubstring(`unknown field "colour"`)))
		Expect(os.WriteFile(path, []byte(`{"cameras": [{"id": "c", "endpoints": ["http://127.0.0.1:1/whip"], "bitrate": "800Kbit", "duration": "ten",
			"scene": {"width": 320, "height": 180, "fps": 10}}]}`), 0o644)).To(Succeed())
		_, err = runCLI(ctx, "--config", path)
		Expect(err).To(MatchError(ContainSubstring(`duration "ten"`)))
	})
})
