package reports_test

import (
	"bytes"
	"context"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
)

// twoModelRun: site a's camera is answered by model v2 on all 20 frames
// (10 ms each, every person found); site b's camera by v2 on frames 0-9
// (10 ms, every person found) and by v2-int8 on frames 10-19 (30 ms, the
// person found on the even frames only). So v2 answered 30 frames, all
// right; v2-int8 10 frames, recall 5/10, precision 5/5, AP 0.5.
func twoModelRun() *reports.Run {
	run := &reports.Run{Scenario: "two-models", Start: t0, End: at(10 * time.Second)}
	person := reports.Box{100, 100, 150, 200}
	for _, site := range []string{"a", "b"} {
		cam := reports.Camera{ID: site + "-cam", Site: site, Placement: reports.PlacementEdge, FPS: 2}
		for i := range 20 {
			f := reports.FrameSample{Frame: uint64(i), Capture: at(time.Duration(i) * 500 * time.Millisecond), Answered: true,
				Latency: 10 * time.Millisecond, Node: site + "-edge-1", Model: "edgesim-det@v2"}
			found := true
			if site == "b" && i >= 10 {
				f.Latency, f.Model, found = 30*time.Millisecond, "edgesim-det@v2-int8", i%2 == 0
			}
			if found {
				f.Detections = []reports.Detection{{Label: "person", Score: 0.9, Box: person}}
			}
			cam.Frames = append(cam.Frames, f)
			cam.Truth = append(cam.Truth, reports.TruthFrame{Frame: uint64(i), Objects: []reports.TruthObject{{TrackID: 1, Label: "person", Box: person}}})
		}
		run.Cameras = append(run.Cameras, cam)
	}
	return run
}

var _ = Describe("Per-model breakdown", func() {
	It("splits latency by the model that answered each frame", func() {
		r := mustAnalyze(twoModelRun())
		Expect(r.Latencies.Models).To(HaveLen(2))
		v2, int8 := r.Latencies.Models[0], r.Latencies.Models[1]
		Expect([]string{v2.Name, int8.Name}).To(Equal([]string{"edgesim-det@v2", "edgesim-det@v2-int8"}))
		Expect([]int{v2.Count, int8.Count}).To(Equal([]int{30, 10}))
		Expect([]float64{v2.P50Ms, v2.MaxMs, int8.P50Ms, int8.MaxMs}).To(Equal([]float64{10, 10, 30, 30}))
		Expect(r.Latency("edgesim-det@v2-int8").Count).To(Equal(10))
	})

	It("scores each model on the frames it answered", func() {
		r := mustAnalyze(twoModelRun())
		var byModel []reports.AccuracyGroup
		for _, g := range r.AccuracyBy {
			if g.Scope == "model" {
				byModel = append(byModel, g)
			}
		}
		Expect(byModel).To(Equal([]reports.AccuracyGroup{
			{Scope: "model", Name: "edgesim-det@v2", FramesScored: 30, MeanAP50: 1, Precision: 1, Recall: 1},
			{Scope: "model", Name: "edgesim-det@v2-int8", FramesScored: 10, MeanAP50: 0.5, Precision: 1, Recall: 0.5},
		}))
		Expect(r.Accuracy.Recall).To(Equal(0.875), "35 of 40 overall")
	})

	It("groups answers that named no model, and has no breakdown when one model answered the scenario's cameras", func() {
		run := twoModelRun()
		run.Cameras[1].Frames[19].Model = ""
		r := mustAnalyze(run)
		Expect(r.Latencies.Models).To(HaveLen(3))
		Expect(r.Latencies.Models[0].Name).To(Equal(reports.NoModel))
		Expect(r.Latencies.Models[0].Count).To(Equal(1))

		run = twoModelRun()
		mirror := run.Cameras[0]
		mirror.ID, mirror.Site, mirror.Placement, mirror.Reference = "a-cam-via-cloud", "a-via-cloud", reports.PlacementCloud, true
		mirror.Frames = slices.Clone(mirror.Frames)
		for i := range mirror.Frames {
			mirror.Frames[i].Model, mirror.Frames[i].Latency = "edgesim-det@v2-int8", time.Second
		}
		run.Cameras = []reports.Camera{run.Cameras[0], mirror}
		r = mustAnalyze(run)
		Expect(r.Latencies.Models).To(BeEmpty(), "the mirror's model is not the scenario's")
		Expect(slices.ContainsFunc(r.AccuracyBy, func(g reports.AccuracyGroup) bool { return g.Scope == "model" })).To(BeFalse())
	})

	It("shows the per-model rows in the Markdown and HTML reports", func() {
		r := mustAnalyze(twoModelRun())
		var md, html bytes.Buffer
		Expect(render.Render(context.Background(), &md, r, render.FormatMarkdown)).To(Succeed())
		Expect(md.String()).To(And(
			ContainSubstring("| model edgesim-det@v2-int8 | 10 | 30.0 |"),
			ContainSubstring("| model edgesim-det@v2-int8 | 10 | 100% | 50% | 0.500 |"),
		))
		Expect(render.Render(context.Background(), &html, r, render.FormatHTML)).To(Succeed())
		Expect(html.String()).To(And(ContainSubstring("<td>model edgesim-det@v2-int8</td>"), ContainSubstring("<td>model edgesim-det@v2-int8</td><td class=\"n\">10</td>")))
	})
})
