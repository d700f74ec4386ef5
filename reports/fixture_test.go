package reports_test

import (
	"fmt"
	"time"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/wire"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const fps = 5

// fixtureRun is a small, fully deterministic run: two sites, edge and
// cloud placement, a node kill with failover (the camera reconnects), two scripted events (one
// never alerted), ground truth, link counters.
func fixtureRun() *reports.Run {
	run := &reports.Run{
		Scenario: "two-sites",
		Seed:     42,
		Provider: "local",
		Duration: 30 * time.Second,
		Start:    t0,
		End:      at(38 * time.Second),
		Phases: []reports.Phase{
			{Name: reports.PhaseProvision, Start: t0, End: at(5 * time.Second)},
			{Name: reports.PhaseWarmUp, Start: at(5 * time.Second), End: at(7 * time.Second)},
			{Name: reports.PhaseRun, Start: at(7 * time.Second), End: at(37 * time.Second)},
			{Name: reports.PhaseTearDown, Start: at(37 * time.Second), End: at(38 * time.Second)},
		},
		LinkDelays: []reports.LinkDelay{
			{Link: "site-a-access", Site: "site-a", Leg: reports.LegAccess, OneWay: 10 * time.Millisecond},
			{Link: "site-b-access", Site: "site-b", Leg: reports.LegAccess, OneWay: 10 * time.Millisecond},
			{Link: "site-b-backhaul", Site: "site-b", Leg: reports.LegBackhaul, OneWay: 40 * time.Millisecond},
		},
		SLO: reports.SLOSpec{
			Latency: []reports.LatencySLO{
				{Percentile: 95, Max: 200 * time.Millisecond},
				{Percentile: 99, Max: 150 * time.Millisecond, Site: "site-b"},
				{Percentile: 95, Max: 100 * time.Millisecond, Placement: reports.PlacementEdge},
			},
			TimeToAlertMax:         10 * time.Second,
			FailoverMax:            3 * time.Second,
			UplinkMaxBitsPerSecond: 5e6,
			RecallMin:              0.5,
			AnsweredMin:            0.9,
		},
	}
	kill := at(20 * time.Second)
	cams := []struct {
		id, site string
		p        reports.Placement
		nodes    []string
		base     int
		spread   int
	}{
		{"cam-a1", "site-a", reports.PlacementEdge, []string{"edge-a-1", "edge-a-2"}, 35, 30},
		{"cam-a2", "site-a", reports.PlacementEdge, []string{"edge-a-2"}, 38, 25},
		{"cam-b1", "site-b", reports.PlacementCloud, []string{"cloud-1"}, 110, 70},
	}
	for _, c := range cams {
		cam := reports.Camera{ID: c.id, Site: c.site, Placement: c.p, Nodes: c.nodes, Width: 640, Height: 360}
		for i := range 32 * fps { // frames from +5s (warm-up) to +37s
			capture := at(5*time.Second + time.Duration(i)*time.Second/fps)
			f := reports.FrameSample{Frame: uint64(i), Capture: capture, Answered: true, Node: c.nodes[0],
				Latency: time.Duration(c.base+(i*7)%c.spread) * time.Millisecond}
			if c.id == "cam-a1" && !capture.Before(kill) {
				if capture.Before(kill.Add(1400 * time.Millisecond)) {
					f.Answered, f.Latency, f.Node = false, 0, ""
				} else {
					f.Node = "edge-a-2"
				}
			}
			if c.id == "cam-b1" && i%40 == 39 {
				f.Answered, f.Latency, f.Node = false, 0, ""
			}
			// One person walking, one parked vehicle.
			person := reports.Box{100 + i, 120, 140 + i, 220}
			vehicle := reports.Box{400, 250, 560, 330}
			truth := reports.TruthFrame{Frame: uint64(i), Objects: []reports.TruthObject{
				{TrackID: 1, Label: "person", Box: person},
				{TrackID: 2, Label: "vehicle", Box: vehicle},
			}}
			if f.Answered {
				if i%5 != 0 { // the person is missed on every fifth frame
					f.Detections = append(f.Detections, reports.Detection{Label: "person", Score: 0.6 + float32(i%4)/10, Box: reports.Box{102 + i, 118, 141 + i, 222}, Track: 1})
				}
				f.Detections = append(f.Detections, reports.Detection{Label: "vehicle", Score: 0.9, Box: reports.Box{398, 252, 560, 332}, Track: 2})
				if i%16 == 3 { // a false vehicle
					f.Detections = append(f.Detections, reports.Detection{Label: "vehicle", Score: 0.55, Box: reports.Box{10, 10, 60, 40}})
				}
			}
			cam.Frames = append(cam.Frames, f)
			cam.Truth = append(cam.Truth, truth)
		}
		if c.id == "cam-a1" { // noticed the dead node and connected to the other one
			cam.Reconnects = []reports.Reconnect{{Lost: kill.Add(600 * time.Millisecond), Connected: kill.Add(1300 * time.Millisecond),
				From: "edge-a-1", To: "edge-a-2"}}
		}
		cam.FramesSent = uint64(len(cam.Frames))
		run.Cameras = append(run.Cameras, cam)
	}
	run.Faults = []reports.Fault{{At: kill, Kind: "kill", Target: "edge-a-1", Detail: "SIGKILL edgenode"}}
	run.Events = []reports.ScriptedEvent{
		{Camera: "cam-a2", Kind: "loiter", Zone: "door", Label: "person", Start: at(10 * time.Second), End: at(25 * time.Second)},
		{Camera: "cam-b1", Kind: "enter", Zone: "gate", Label: "vehicle", Start: at(30 * time.Second), End: at(33 * time.Second)},
	}
	run.Alerts = []wire.Alert{
		{ID: "al-1", Node: "edge-a-2", Camera: "cam-a2", Zone: "door", Label: "person", Track: 1,
			Raised: at(16 * time.Second), Received: at(16*time.Second + 180*time.Millisecond)},
	}
	for _, l := range []struct {
		name, dir, site string
		uplink          bool
		rate            uint64 // bytes per second
	}{
		{"site-a-backhaul", "up", "site-a", true, 2_000},
		{"site-a-backhaul", "down", "site-a", false, 1_000},
		{"site-b-backhaul", "up", "site-b", true, 180_000},
		{"site-b-backhaul", "down", "site-b", false, 3_000},
	} {
		ls := reports.LinkSeries{Link: l.name, Direction: l.dir, Site: l.site, Uplink: l.uplink}
		var b, p uint64
		for s := 5; s <= 37; s++ {
			if s > 5 {
				r := l.rate
				if s%7 == 0 {
					r += r / 2
				}
				b += r
				p += r/1200 + 1
			}
			ls.Samples = append(ls.Samples, reports.CounterSample{At: at(time.Duration(s) * time.Second), Bytes: b, Packets: p})
		}
		ls.TotalBytes, ls.TotalPackets = b, p
		run.Links = append(run.Links, ls)
	}
	return run
}

func mustAnalyze(run *reports.Run, opts ...reports.Option) *reports.Result {
	r, err := reports.Analyze(run, opts...)
	if err != nil {
		panic(fmt.Sprintf("analyze fixture: %v", err))
	}
	return r
}
