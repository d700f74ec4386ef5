package plan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
)

// Placement says where detection runs.
type Placement string

// Placements.
const (
	PlacementEdge  Placement = "edge"  // on the site's edge nodes; video stays on the site LAN
	PlacementCloud Placement = "cloud" // on the cloud tier; video crosses the site's WAN uplink
)

// Fleet is one simulation: sites with cameras and edge nodes, the links of
// each site, the cloud tier, the detection workload and a fault timeline.
type Fleet struct {
	Seed     int64
	Duration time.Duration
	// Provider selects the failover timings of the calibration (local,
	// kind); needed only when a node is killed.
	Provider  string
	Model     string
	Placement Placement
	// DetectFPS is the inference rate per camera (0 = every frame), as
	// edgenode's --detect-fps.
	DetectFPS float64
	// MaxAge drops frames older than this when a worker gets to them
	// (default the runtime's 1 s); QueueDepth bounds the streams waiting
	// for a worker per node (default the runtime's 16).
	MaxAge     time.Duration
	QueueDepth int
	// DetectionBytes is the size on the link of one frame's answer to the
	// camera; AlertBytes of one alert sent to the cloud. Defaults 300, 600.
	DetectionBytes, AlertBytes int
	Alerts                     []AlertRule
	Cloud                      Cloud
	Sites                      []Site
	Faults                     []Fault
}

// Cloud is the cloud tier.
type Cloud struct {
	Nodes int
	Class string
}

// ModelOf is the model site s runs in edge placement.
func (f *Fleet) ModelOf(s Site) string { return cmp.Or(s.Model, f.Model) }

// ModelLabel names the fleet's model in figures: Fleet.Model, or when
// sites run models of their own every model, sorted, joined by "+".
func (f *Fleet) ModelLabel() string {
	if f.Placement == PlacementCloud || len(f.Sites) == 0 {
		return f.Model
	}
	var names []string
	for _, s := range f.Sites {
		names = append(names, f.ModelOf(s))
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), "+")
}

// Site is one edge site.
type Site struct {
	Name string
	// Type groups sites in the figures (e.g. "store"); default Name.
	Type  string
	Nodes int
	Class string
	// Model is the site's own model (the calibration's name for it), when
	// it differs from the fleet's (a scenario's sites[].workload.model);
	// "" runs Fleet.Model. Used in edge placement only.
	Model   string
	Cameras []CameraGroup
	// LANUp/LANDown carry the cameras' traffic to and from the site's edge
	// nodes; WANUp/WANDown connect the site to the cloud.
	LANUp, LANDown, WANUp, WANDown netem.LinkConfig
}

// CameraGroup is a number of identical cameras.
type CameraGroup struct {
	Name          string
	Count         int
	Width, Height int
	FPS           float64
	Bitrate       units.BitRate
	Zones         []Zone
	Events        []Event
	// Luma is the mean luma (0..255) of the group's scene, by which
	// edgenode judges night for rules limited to a time window
	// (AlertRule.NightOnly, below rules.NightLuma is night); 0 is dark.
	Luma float64
}

// Zone is a named, normalised rectangle x0, y0, x1, y1.
type Zone struct {
	Name string
	Rect [4]float64
}

// Event is a scripted object in a zone from Start to End, seen by every
// camera of its group. Time to alert counts from Start. The object stands
// in the zone from In to Out (a vehicle that stops drives in before Start
// and out after End); both zero: from Start to End.
type Event struct {
	Zone, Label string
	Start, End  time.Duration
	In, Out     time.Duration
}

// presence is when the event's object stands in its zone.
func (e Event) presence() (in, out time.Duration) {
	if e.In == 0 && e.Out == 0 {
		return e.Start, e.End
	}
	return e.In, e.Out
}

// AlertRule raises an alert when an object of Label stays in Zone for
// Dwell; a NightOnly rule only in frames edgenode judges as night (see
// CameraGroup.Luma), as the testbed runs a rule with a time window.
type AlertRule struct {
	Zone, Label string
	Dwell       time.Duration
	NightOnly   bool
}

// FaultAction is what a fault does.
type FaultAction string

// Fault actions: the scenario timeline's, with its meaning.
const (
	FaultKill        = FaultAction(scenarios.FaultKill)
	FaultRestart     = FaultAction(scenarios.FaultRestart)
	FaultPause       = FaultAction(scenarios.FaultPause)
	FaultPartition   = FaultAction(scenarios.FaultPartition)
	FaultDegrade     = FaultAction(scenarios.FaultDegrade)
	FaultTraceSwitch = FaultAction(scenarios.FaultTraceSwitch)
)

// Link names of a site for partitions.
const (
	LinkLAN = "lan"
	LinkWAN = "wan"
)

// Fault is one entry of the timeline, with the scenario's meaning (the
// testbed's timeline): kill ends a node for the rest of the run; restart
// kills it and starts it again Duration later (work lost, cameras fail
// over as from a kill); pause freezes an edge node from At for Duration
// (0 = to the end): its queue holds, nothing is decoded or inferred, what
// arrives waits, and cameras that notice (the calibrated detect time) fail
// over as from a kill; partition
// drops every packet of both directions of a link from At for Duration
// (0 = to the end); degrade moves a link's directions to Up and Down over
// Ramp from At (netem.Model.Ramp) and puts back the site's link settings
// at once after Duration (0 = never); traceSwitch replaces the capacity
// trace of the directions whose Up or Down has a Trace from At on.
type Fault struct {
	At     time.Duration
	Action FaultAction
	// Node names a node for kill and restart: "<site>-edge-<n>" or
	// "cloud-<n>" (1-based).
	Node string
	// Site and Link (lan or wan) name the link of a link fault.
	Site, Link string
	Duration   time.Duration
	// Up and Down are a degrade's complete new settings, or a
	// traceSwitch's new traces; Ramp is a degrade's ramp.
	Up, Down netem.LinkConfig
	Ramp     time.Duration
}

func (f *Fleet) withDefaults() Fleet {
	g := *f
	if g.MaxAge == 0 {
		g.MaxAge = time.Second
	}
	if g.QueueDepth == 0 {
		g.QueueDepth = 16
	}
	if g.DetectionBytes == 0 {
		g.DetectionBytes = 300
	}
	if g.AlertBytes == 0 {
		g.AlertBytes = 600
	}
	if g.Provider == "" {
		g.Provider = "local"
	}
	return g
}

// Validate collects every problem of f with its field path.
func (f *Fleet) Validate() error {
	var errs []string
	addf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if f.Duration <= 0 {
		addf("duration: must be positive")
	}
	if f.Model == "" {
		addf("model: required")
	}
	switch f.Placement {
	case PlacementEdge:
	case PlacementCloud:
		if f.Cloud.Nodes < 1 || f.Cloud.Class == "" {
			addf("cloud: cloud placement needs nodes >= 1 and a class")
		}
	default:
		addf("placement: %q: use edge or cloud", f.Placement)
	}
	if f.DetectFPS < 0 || f.MaxAge < 0 || f.QueueDepth < 0 || f.DetectionBytes < 0 || f.AlertBytes < 0 {
		addf("detectFps, maxAge, queueDepth, detectionBytes, alertBytes: must not be negative")
	}
	if f.DetectionBytes > maxPacket || f.AlertBytes > maxPacket {
		addf("detectionBytes, alertBytes: at most %d (one packet)", maxPacket)
	}
	names := map[string]bool{}
	for i, s := range f.Sites {
		p := fmt.Sprintf("sites[%d]", i)
		if s.Name == "" || names[s.Name] {
			addf("%s.name: required and unique", p)
		}
		names[s.Name] = true
		if f.Placement == PlacementEdge && (s.Nodes < 1 || s.Class == "") {
			addf("%s: edge placement needs nodes >= 1 and a class", p)
		}
		for _, l := range []struct {
			n string
			c netem.LinkConfig
		}{{"lanUp", s.LANUp}, {"lanDown", s.LANDown}, {"wanUp", s.WANUp}, {"wanDown", s.WANDown}} {
			if err := l.c.Validate(); err != nil {
				addf("%s.%s: %v", p, l.n, err)
			}
		}
		for j, g := range s.Cameras {
			gp := fmt.Sprintf("%s.cameras[%d]", p, j)
			if g.Count < 0 || g.Width <= 0 || g.Height <= 0 || g.FPS <= 0 || g.Bitrate <= 0 {
				addf("%s: count must not be negative; width, height, fps and bitrate must be positive", gp)
			}
			zones := map[string]bool{}
			for _, z := range g.Zones {
				zones[z.Name] = true
			}
			for k, e := range g.Events {
				if !zones[e.Zone] || e.Label == "" || e.End < e.Start {
					addf("%s.events[%d]: needs a zone of the group, a label and end >= start", gp, k)
				}
			}
		}
	}
	for i, a := range f.Alerts {
		if a.Zone == "" || a.Label == "" || a.Dwell < 0 {
			addf("alerts[%d]: needs zone, label and a dwell >= 0", i)
		}
	}
	nodeFaults := map[string]int{}
	for i, ft := range f.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		if ft.At < 0 || ft.Duration < 0 {
			addf("%s: at and duration must not be negative", p)
		}
		switch ft.Action {
		case FaultKill, FaultRestart, FaultPause:
			si, _, err := f.parseNode(ft.Node)
			if err != nil {
				addf("%s.node: %v", p, err)
			} else if si < 0 && ft.Action == FaultPause {
				addf("%s.node: %s: the simulator models pauses of edge nodes only", p, ft.Node)
			}
			if nodeFaults[ft.Node]++; nodeFaults[ft.Node] == 2 {
				addf("%s.node: %s is killed, restarted or paused twice: the simulator takes one of them per node", p, ft.Node)
			}
		case FaultPartition, FaultDegrade, FaultTraceSwitch:
			if !names[ft.Site] || (ft.Link != LinkLAN && ft.Link != LinkWAN) {
				addf("%s: %s needs a site of the fleet and link lan or wan", p, ft.Action)
			}
			if ft.Ramp < 0 {
				addf("%s.ramp: must not be negative", p)
			}
			if ft.Action == FaultTraceSwitch && ft.Up.Trace == nil && ft.Down.Trace == nil {
				addf("%s: traceSwitch needs a trace for up or down", p)
			}
			if ft.Action == FaultDegrade {
				for _, c := range []netem.LinkConfig{ft.Up, ft.Down} {
					if err := c.Validate(); err != nil {
						addf("%s: %v", p, err)
					}
				}
			}
		default:
			addf("%s.action: %q: use kill, restart, pause, partition, degrade or traceSwitch", p, ft.Action)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalidFleet, strings.Join(errs, "\n  "))
	}
	return nil
}

// ErrInvalidFleet is wrapped by every fleet validation error.
var ErrInvalidFleet = errors.New("plan: invalid fleet")

// parseNode resolves a node name to its site index (-1 = cloud) and node
// index.
func (f *Fleet) parseNode(name string) (site, node int, err error) {
	var n int
	if _, e := fmt.Sscanf(name, "cloud-%d", &n); e == nil && strings.HasPrefix(name, "cloud-") {
		if n < 1 || n > f.Cloud.Nodes {
			return 0, 0, fmt.Errorf("%q: the cloud has %d nodes", name, f.Cloud.Nodes)
		}
		return -1, n - 1, nil
	}
	for i, s := range f.Sites {
		pre := s.Name + "-edge-"
		if rest, ok := strings.CutPrefix(name, pre); ok {
			if _, e := fmt.Sscanf(rest, "%d", &n); e == nil && n >= 1 && n <= s.Nodes {
				return i, n - 1, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("%q: no such node (use <site>-edge-<n> or cloud-<n>)", name)
}
