package testbed

import (
	"github.com/edgesim/edgesim/testbed/provider"

	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/runtime/alert"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/wire"
)

func readJSONL[T any](path string, fn func(T)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			// A line cut short by a kill is the only expected damage.
			continue
		}
		fn(v)
	}
	return sc.Err()
}

// collectCameras reads every camera's samples and ground truth, and turns
// the scripted events the ground truth marks into absolute event windows,
// each with the ground-truth track of the object it scripts.
func collectCameras(plan *Plan, dir string) ([]reports.Camera, []reports.ScriptedEvent, error) {
	var cams []reports.Camera
	var events []reports.ScriptedEvent
	var errs []error
	summaries := fleetSummaries(dir)
	for _, c := range plan.Cameras {
		out := filepath.Join(dir, c.Host)
		cam := reports.Camera{ID: c.ID, Site: c.ReportSite, Placement: reports.Placement(c.Placement), Width: c.Group.Width, Height: c.Group.Height,
			Bitrate: c.Group.Bitrate, FPS: c.Group.FPS, DetectFPS: plan.Scenario.Workload.DetectFPS, Reference: c.Mirror}
		nodes := map[string]bool{}
		err := readJSONL(filepath.Join(out, "latency-"+c.ID+".jsonl"), func(l wire.LatencyLine) {
			fs := reports.FrameSample{Frame: l.Frame, Capture: time.UnixMicro(l.CaptureUS), Answered: l.Answered, Node: l.Node, Model: l.Model}
			if l.Answered {
				fs.Latency = msDuration(l.LatencyMS)
				fs.Decode, fs.Wait, fs.Infer, fs.InNode = msDuration(l.DecodeMS), msDuration(l.WaitMS), msDuration(l.InferMS), msDuration(l.NodeMS)
				for _, d := range l.Detections {
					fs.Detections = append(fs.Detections, reports.Detection{Label: d.Label, Score: d.Score, Track: d.Track, Box: reports.Box(d.Box)})
				}
				if l.Node != "" && !nodes[l.Node] {
					nodes[l.Node] = true
					cam.Nodes = append(cam.Nodes, l.Node)
				}
			}
			cam.Frames = append(cam.Frames, fs)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("camera %s: %w", c.ID, err))
		}
		cam.FramesSent = summaries[c.ID].Captured
		cam.Reconnects = summaries[c.ID].Reconnects
		scripted := provider.SceneEvents(plan, c)
		open := map[int]*reports.ScriptedEvent{} // by index into scripted
		err = readJSONL(filepath.Join(out, "groundtruth-"+c.ID+".jsonl"), func(t wire.GroundTruthLine) {
			tf := reports.TruthFrame{Frame: t.Frame}
			for _, o := range t.Objects {
				tf.Objects = append(tf.Objects, reports.TruthObject{TrackID: o.Track, Label: o.Label, Box: reports.Box(o.Box), Occlusion: o.Occlusion})
			}
			cam.Truth = append(cam.Truth, tf)
			at := time.UnixMicro(t.CaptureUS)
			pts := time.Duration(math.Round(t.PTSMS * float64(time.Millisecond)))
			active := map[int]bool{}
			for _, name := range t.Events {
				i := activeEvent(scripted, name, pts)
				if i < 0 {
					continue
				}
				active[i] = true
				if ev, ok := open[i]; ok {
					ev.End = at
					continue
				}
				e := scripted[i]
				open[i] = &reports.ScriptedEvent{Camera: c.ID, Kind: e.Kind, Zone: e.Zone, Label: e.Label,
					Track: scene.EventTrackID(i), Start: at, End: at}
			}
			for i, ev := range open {
				if !active[i] {
					events = append(events, *ev)
					delete(open, i)
				}
			}
		})
		for _, ev := range open {
			events = append(events, *ev)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("camera %s ground truth: %w", c.ID, err))
		}
		cams = append(cams, cam)
	}
	sort.SliceStable(events, func(i, j int) bool {
		return events[i].Start.Before(events[j].Start) || events[i].Start.Equal(events[j].Start) && events[i].Camera < events[j].Camera
	})
	return cams, events, errors.Join(errs...)
}

// activeEvent finds the scripted event a ground-truth line names
// ("kind:zone") at a presentation time: the one whose window holds it.
// -1 when none does (a ground truth from another scenario).
func activeEvent(scripted []scene.Event, name string, pts time.Duration) int {
	for i, e := range scripted {
		if e.Kind+":"+e.Zone == name && pts >= e.Start && pts < e.End {
			return i
		}
	}
	return -1
}

// fleetSummary is what the fleets' summary.json files say about one camera.
type fleetSummary struct {
	Captured   uint64
	Reconnects []reports.Reconnect
}

// fleetSummaries reads each camera's own frame counter (to check the
// samples against) and its reconnects from the fleets' summary.json files.
func fleetSummaries(dir string) map[string]fleetSummary {
	out := map[string]fleetSummary{}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "summary.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var s fakecam.Summary
		if json.Unmarshal(b, &s) != nil {
			continue
		}
		for _, c := range s.Cameras {
			sum := fleetSummary{Captured: c.FramesCaptured}
			for _, r := range c.Reconnects {
				rc := reports.Reconnect{Lost: r.At, From: r.From, To: r.To}
				if r.To != "" {
					rc.Connected = r.At.Add(time.Duration(r.TookMS * float64(time.Millisecond)))
				}
				sum.Reconnects = append(sum.Reconnects, rc)
			}
			out[c.Camera] = sum
		}
	}
	return out
}

// parseAlerts reads the cloud tier's alerts files (the replicas' may be
// concatenated), each id once, past lines torn by a killed cloud node.
func parseAlerts(b []byte) []wire.Alert { return alert.ReadAlerts(b) }

func sloSpec(sc *scenarios.Scenario) reports.SLOSpec {
	s := reports.SLOSpec{
		TimeToAlertMax:         sc.SLO.TimeToAlert,
		FailoverMax:            sc.SLO.FailoverMax,
		UplinkMaxBitsPerSecond: sc.SLO.UplinkMax.BitsPerSecond(),
		RecallMin:              sc.SLO.RecallMin.Fraction(),
		AllowNotExercised:      sc.SLO.AllowNotExercised,
	}
	for _, l := range sc.SLO.E2ELatency {
		s.Latency = append(s.Latency, reports.LatencySLO{Percentile: l.Percentile, Max: l.Max})
	}
	return s
}

func linkDelays(plan *Plan) []reports.LinkDelay {
	var out []reports.LinkDelay
	for _, l := range plan.Links {
		if l.Leg == "" {
			continue
		}
		d := l.Up.Delay
		if l.Down.Delay < d {
			d = l.Down.Delay
		}
		leg := reports.LegAccess
		if l.Leg == "backhaul" {
			leg = reports.LegBackhaul
		}
		out = append(out, reports.LinkDelay{Link: l.Name, Site: l.Site, Leg: leg, OneWay: d})
	}
	return out
}

// tailer follows the cameras' latency files during a run for the progress
// display.
type tailer struct {
	dir     string
	mu      sync.Mutex
	offsets map[string]int64
	last    map[string]time.Time // per camera file: last answered frame seen
	served  map[string]string    // per camera: the edgenode of its last answer
	recent  []time.Duration      // latencies, bounded
	cams    map[string]*cameraCounts
}

// cameraCounts is what the tailer read of one camera so far.
type cameraCounts struct {
	frames, answered uint64
	answering        bool // an answer in the 2 s before the last poll
	latency          latencyCounts
}

func newTailer(dir string) *tailer {
	return &tailer{dir: dir, offsets: map[string]int64{}, last: map[string]time.Time{}, served: map[string]string{}, cams: map[string]*cameraCounts{}}
}

// counts returns, per camera id, what the tailer read so far.
func (t *tailer) counts() map[string]cameraCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]cameraCounts, len(t.cams))
	for id, c := range t.cams {
		cc := *c
		cc.latency.buckets = slices.Clone(c.latency.buckets)
		out[id] = cc
	}
	return out
}

// servedBy returns, per camera, the edgenode id of its last answer seen.
func (t *tailer) servedBy() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.served)
}

// poll reads what the cameras appended and returns how many answered in
// the last 2 s and the p95 of recent latencies.
func (t *tailer) poll(now time.Time) (answering int, p95 time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(t.dir, "*", "latency-*.jsonl"))
	for _, f := range files {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "latency-"), ".jsonl")
		cam := t.cams[id]
		if cam == nil {
			cam = &cameraCounts{}
			t.cams[id] = cam
		}
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		if _, err := fh.Seek(t.offsets[f], io.SeekStart); err == nil {
			b, _ := io.ReadAll(fh)
			if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
				t.offsets[f] += int64(i + 1)
				for _, line := range bytes.Split(b[:i], []byte("\n")) {
					var l wire.LatencyLine
					if json.Unmarshal(line, &l) != nil {
						continue
					}
					cam.frames++
					if l.Answered {
						t.last[f] = now
						if l.Node != "" {
							t.served[id] = l.Node
						}
						lat := time.Duration(l.LatencyMS * float64(time.Millisecond))
						t.recent = append(t.recent, lat)
						cam.answered++
						cam.latency.observe(lat)
					}
				}
			}
		}
		_ = fh.Close()
		cam.answering = now.Sub(t.last[f]) <= 2*time.Second
		if cam.answering {
			answering++
		}
	}
	if n := len(t.recent); n > 4096 {
		t.recent = append(t.recent[:0], t.recent[n-4096:]...)
	}
	if len(t.recent) > 0 {
		p95 = reports.NewDistribution(t.recent).Percentile(95)
	}
	return answering, p95
}

// msDuration is a wire figure in milliseconds as a duration.
func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
