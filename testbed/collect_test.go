package testbed_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/wire"
)

// jsonLines encodes each value as one JSON line, as the camera and the
// cloud write them.
func jsonLines(vs ...any) []byte {
	var b []byte
	for _, v := range vs {
		line, err := json.Marshal(v)
		Expect(err).NotTo(HaveOccurred())
		b = append(append(b, line...), '\n')
	}
	return b
}

var _ = Describe("reading what the workloads wrote", func() {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	It("turns a camera's sample lines into the report's frames, detections and ground truth", func() {
		capture := t0.Local() // capture times are read as local times
		dir := GinkgoT().TempDir()
		host := filepath.Join(dir, "site-a-cams")
		Expect(os.MkdirAll(host, 0o755)).To(Succeed())
		answered := wire.LatencyLine{Frame: 1, RTP: 3000, CaptureUS: t0.UnixMicro(), Sent: true, Answered: true, LatencyMS: 31.5,
			Node: "site-a-edge-1", Model: "m@1", InferMS: 9, DecodeMS: 2.5, WaitMS: 1.25, NodeMS: 13,
			Detections: []wire.Detection{{Label: "person", Score: 0.93, Box: [4]int{412, 120, 468, 298}, Track: 7}}}
		lost := wire.LatencyLine{Frame: 2, RTP: 6000, CaptureUS: t0.Add(40 * time.Millisecond).UnixMicro(), Sent: true}
		lat := append(jsonLines(answered, lost), []byte(`{"frame":3,"rtp":90`)...) // cut short by a kill
		Expect(os.WriteFile(filepath.Join(host, "latency-cam-1.jsonl"), lat, 0o644)).To(Succeed())
		truth := wire.GroundTruthLine{Frame: 1, RTP: 3000, CaptureUS: t0.UnixMicro(), Width: 640, Height: 360,
			Objects: []wire.GroundTruthObject{{Track: 1, Label: "person", Box: [4]int{410, 118, 470, 300}, Occlusion: 0.25}}}
		Expect(os.WriteFile(filepath.Join(host, "groundtruth-cam-1.jsonl"), jsonLines(truth), 0o644)).To(Succeed())
		summary := fakecam.Summary{Cameras: []fakecam.Stats{{Camera: "cam-1", FramesCaptured: 2,
			Reconnects: []fakecam.Reconnect{{At: t0.Add(time.Second), From: "a", To: "b", TookMS: 700}}}}}
		Expect(os.WriteFile(filepath.Join(host, "summary.json"), jsonLines(summary), 0o644)).To(Succeed())

		plan := &testbed.Plan{Scenario: &scenarios.Scenario{}, Cameras: []testbed.Camera{{ID: "cam-1", Site: "site-a", ReportSite: "site-a",
			Host: "site-a-cams", Placement: scenarios.PlacementEdge, Group: scenarios.CameraGroup{Width: 640, Height: 360, FPS: 25}}}}
		cams, events, err := testbed.CollectCameras(plan, dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(BeEmpty())
		Expect(cams).To(HaveLen(1))
		c := cams[0]
		Expect(c.Frames).To(Equal([]reports.FrameSample{
			{Frame: 1, Capture: capture, Answered: true, Latency: 31500 * time.Microsecond, Node: "site-a-edge-1", Model: "m@1",
				Decode: 2500 * time.Microsecond, Wait: 1250 * time.Microsecond, Infer: 9 * time.Millisecond, InNode: 13 * time.Millisecond,
				Detections: []reports.Detection{{Label: "person", Score: 0.93, Box: reports.Box{412, 120, 468, 298}, Track: 7}}},
			{Frame: 2, Capture: capture.Add(40 * time.Millisecond)},
		}))
		Expect(c.Nodes).To(Equal([]string{"site-a-edge-1"}))
		Expect(c.Truth).To(Equal([]reports.TruthFrame{{Frame: 1, Objects: []reports.TruthObject{
			{TrackID: 1, Label: "person", Box: reports.Box{410, 118, 470, 300}, Occlusion: 0.25}}}}))
		Expect(c.FramesSent).To(Equal(uint64(2)))
		Expect(c.Reconnects).To(Equal([]reports.Reconnect{{Lost: t0.Add(time.Second), Connected: t0.Add(1700 * time.Millisecond), From: "a", To: "b"}}))
	})

	It("keeps each alert of the cloud's alerts file once, with what ties it to the ground truth", func() {
		a := wire.Alert{ID: "x1", Node: "site-a-edge-1", Camera: "cam-1", Zone: "door", Label: "person", Rule: "loiter",
			Track: 7, Frame: 1234, FirstSeen: t0, Raised: t0.Add(10 * time.Second), DwellMS: 10000, Received: t0.Add(10200 * time.Millisecond)}
		b := a
		b.ID, b.Track = "x2", 8
		file := append(jsonLines(a, a, b), []byte(`{"id":"x3","node":`)...) // a duplicate, and a line torn by a kill
		Expect(testbed.ParseAlerts(file)).To(Equal([]wire.Alert{a, b}))
	})

	It("keeps the alerts of a replica whose file follows one torn by a kill", func() {
		a := wire.Alert{ID: "x1", Node: "site-a-edge-1", Camera: "cam-1", Raised: t0}
		b, c := a, a
		b.ID, c.ID = "x2", "x3"
		// the kind provider concatenates the cloud replicas' files
		replica1 := append(jsonLines(a, b), []byte(`{"id":"x9","node":`)...)
		replica2 := jsonLines(b, c)
		Expect(testbed.ParseAlerts(append(replica1, replica2...))).To(Equal([]wire.Alert{a, b, c}))
	})
})
