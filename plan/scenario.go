package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/scenarios"
)

// FromScenario builds the fleet a loaded (defaulted and validated) scenario
// describes. Nodes of a named hardware class take the calibration's class
// of that name (their cpu and memory must agree), other nodes the class
// whose cpu and memory equal their resources (cpu 0 and memory 0, the
// "unlimited" class, for nodes without resources). A site's LAN is its cameras-to-site link
// and its WAN its site-to-cloud link (ideal when the scenario has none),
// with their profiles, parameters and traces as netem takes them. Scripted
// events become per-camera groups (a group splits where its cameras see
// different events). Alert rules with a time window are night-only rules
// judged by the scenes' luma, as the testbed runs them; link faults change
// the netem models as the testbed's timeline does.
//
// What the simulator does not model is an error naming it, never dropped
// silently: pauses of cloud nodes, alert rules limited to some of the
// sites whose cameras have their zone, links joining cameras to the cloud
// directly, and sites whose nodes differ in resources.
func FromScenario(sc *scenarios.Scenario, cal *Calibration) (*Fleet, error) {
	if cal == nil {
		return nil, fmt.Errorf("plan: no calibration: pass one made by %s", CalibrateCommand)
	}
	f := &Fleet{Seed: sc.Seed, Duration: sc.Duration, Provider: string(sc.Provider), Model: sc.Workload.Model.Name,
		Placement: Placement(sc.Workload.Placement), DetectFPS: sc.Workload.DetectFPS}
	if f.Placement == "" {
		f.Placement = PlacementEdge
	}
	var err error
	f.Cloud.Nodes = len(sc.Cloud.Nodes)
	// The cloud's class is drawn from only when it runs detection: in edge
	// placement it receives alerts, which cost nothing in the model.
	if f.Placement == PlacementCloud && len(sc.Cloud.Nodes) > 0 {
		if f.Cloud.Class, err = classOf(cal, "cloud", sc.Cloud.Nodes); err != nil {
			return nil, err
		}
	}
	zoneSites := map[string][]string{} // zone -> sites whose cameras have it
	windows := slices.ContainsFunc(sc.Workload.Alerts, func(r scenarios.AlertRule) bool { return r.Window != nil })
	for _, s := range sc.Sites {
		site := Site{Name: s.Name, Nodes: len(s.Nodes)}
		if m := sc.SiteModel(s.Name); m.Name != sc.Workload.Model.Name {
			site.Model = m.Name
		}
		if site.Class, err = classOf(cal, "site "+s.Name, s.Nodes); err != nil {
			return nil, err
		}
		for _, g := range s.Cameras {
			groups, err := cameraGroups(sc, g)
			if err != nil {
				return nil, err
			}
			if windows {
				luma, err := sceneLuma(sc, g)
				if err != nil {
					return nil, err
				}
				for i := range groups {
					groups[i].Luma = luma
				}
			}
			site.Cameras = append(site.Cameras, groups...)
			for _, z := range g.Zones {
				if !slices.Contains(zoneSites[z.Name], s.Name) {
					zoneSites[z.Name] = append(zoneSites[z.Name], s.Name)
				}
			}
		}
		if site.LANUp, site.LANDown, err = linkBetween(sc.Links, "cameras:"+s.Name, "site:"+s.Name); err != nil {
			return nil, err
		}
		if site.WANUp, site.WANDown, err = linkBetween(sc.Links, "site:"+s.Name, "cloud"); err != nil {
			return nil, err
		}
		f.Sites = append(f.Sites, site)
	}
	for _, l := range sc.Links {
		if l.A.Kind == scenarios.EndpointCameras && l.B.Kind == scenarios.EndpointCloud ||
			l.B.Kind == scenarios.EndpointCameras && l.A.Kind == scenarios.EndpointCloud {
			return nil, fmt.Errorf("plan: link %s joins cameras to the cloud directly: the simulator models a site's LAN "+
				"(cameras:<site> to site:<site>) and WAN (site:<site> to cloud); describe the path as those two links", l.Name)
		}
	}
	for _, r := range sc.Workload.Alerts {
		if have := zoneSites[r.Zone]; len(r.Sites) > 0 && !sameSet(r.Sites, have) {
			return nil, fmt.Errorf("plan: alert rule %s applies to sites %s but zone %s is on sites %s: the simulator applies a rule to every site with its zone",
				r.Name, strings.Join(r.Sites, ", "), r.Zone, strings.Join(have, ", "))
		}
		for _, label := range r.Labels {
			f.Alerts = append(f.Alerts, AlertRule{Zone: r.Zone, Label: label, Dwell: r.Dwell, NightOnly: r.Window != nil})
		}
	}
	for _, ft := range sc.Faults {
		got, err := faults(sc, ft)
		if err != nil {
			return nil, err
		}
		f.Faults = append(f.Faults, got...)
	}
	return f, f.Validate()
}

// classOf is the calibrated class of a site's (or the cloud's) nodes.
func classOf(cal *Calibration, where string, nodes []scenarios.Node) (string, error) {
	if len(nodes) == 0 {
		return "", nil
	}
	r := nodes[0].Resources
	for _, n := range nodes[1:] {
		if n.Resources != r {
			return "", fmt.Errorf("plan: %s mixes node resources (%s and %s): the simulator takes one hardware class per site", where, nodes[0].Name, n.Name)
		}
	}
	if r.Class != "" {
		c, err := cal.Class(r.Class)
		if err != nil {
			return "", &MissingCalibrationError{
				What:    fmt.Sprintf("hardware class %s (cpu %s, memory %s: the nodes of %s)", r.Class, r.CPU, r.Memory, where),
				Command: fmt.Sprintf("%s --class %s --cpu %s --memory %s", CalibrateCommand, r.Class, r.CPU, r.Memory),
			}
		}
		if c.CPU != r.CPU || c.Memory != r.Memory {
			return "", fmt.Errorf("plan: hardware class %s of %s has cpu %s and memory %s in the scenario but cpu %s and memory %s in the calibration: "+
				"measure the scenario's class again (%s --class %s --cpu %s --memory %s) or give it the calibrated resources",
				r.Class, where, r.CPU, r.Memory, c.CPU, c.Memory, CalibrateCommand, r.Class, r.CPU, r.Memory)
		}
		return c.Name, nil
	}
	for _, c := range cal.Classes {
		if c.CPU == r.CPU && c.Memory == r.Memory {
			return c.Name, nil
		}
	}
	if r.CPU == 0 && r.Memory == 0 {
		return "", &MissingCalibrationError{
			What:    fmt.Sprintf("a hardware class for nodes without resources, unlimited: the whole machine (the nodes of %s)", where),
			Command: fmt.Sprintf("%s --class unlimited --cpu 0 --memory 0B", CalibrateCommand),
		}
	}
	return "", &MissingCalibrationError{
		What:    fmt.Sprintf("a hardware class with cpu %s and memory %s (the nodes of %s)", r.CPU, r.Memory, where),
		Command: fmt.Sprintf("%s --cpu %s --memory %s", CalibrateCommand, r.CPU, r.Memory),
	}
}

// sceneLuma is the mean luma of the first frame of a camera group's scene
// (its first camera's, as the testbed's fakecam renders it), judged as
// edgenode judges a decoded frame.
func sceneLuma(sc *scenarios.Scenario, g scenarios.CameraGroup) (float64, error) {
	cfg := scene.Config{Width: g.Width, Height: g.Height, FPS: g.FPS, Background: g.Scene.Background, Night: g.Scene.Night,
		Seed: sc.Seed, People: g.Scene.People, Vehicles: g.Scene.Vehicles}
	if len(g.CameraIDs) > 0 {
		cfg.CameraID = g.CameraIDs[0]
	}
	s, err := scene.New(cfg)
	if err != nil {
		return 0, fmt.Errorf("plan: cameras %s: %w", g.Name, err)
	}
	return rules.MeanLuma(s.Render(0).Image), nil
}

// cameraGroups splits a scenario camera group by the events its cameras
// see (an event without cameras is seen by all of them).
func cameraGroups(sc *scenarios.Scenario, g scenarios.CameraGroup) ([]CameraGroup, error) {
	var out []CameraGroup
	key := map[string]int{}
	for _, id := range g.CameraIDs {
		var evs []Event
		var seen []scenarios.Event
		var k strings.Builder
		for i, e := range g.Events {
			if len(e.Cameras) == 0 || slices.Contains(e.Cameras, id) {
				evs = append(evs, Event{Zone: e.Zone, Label: e.Label, Start: e.Start, End: e.End})
				seen = append(seen, e)
				fmt.Fprintf(&k, "%d,", i)
			}
		}
		if i, ok := key[k.String()]; ok {
			out[i].Count++
			continue
		}
		if err := presence(sc, g, id, seen, evs); err != nil {
			return nil, err
		}
		key[k.String()] = len(out)
		cg := CameraGroup{Name: g.Name, Count: 1, Width: g.Width, Height: g.Height, FPS: g.FPS, Bitrate: g.Bitrate, Events: evs}
		if len(key) > 1 {
			cg.Name = fmt.Sprintf("%s-%d", g.Name, len(out)+1)
		}
		for _, z := range g.Zones {
			cg.Zones = append(cg.Zones, Zone{Name: z.Name, Rect: z.Rect})
		}
		out = append(out, cg)
	}
	return out, nil
}

// presence sets when each scripted object of camera id's scene stands in
// its zone (evs[i].In, Out), from fakecam's own track of it: the frames of
// the camera's scene (the testbed's configuration, without the random
// people and vehicles) whose ground truth has the object's bottom-centre
// in the zone, as edgenode's rules judge. A person entering crosses the
// zone's edge at the event's start; a vehicle that stops drives in before
// it, and out after its end.
func presence(sc *scenarios.Scenario, g scenarios.CameraGroup, id string, seen []scenarios.Event, evs []Event) error {
	if len(seen) == 0 {
		return nil
	}
	cfg := scene.Config{Width: g.Width, Height: g.Height, FPS: g.FPS, Background: g.Scene.Background, Night: g.Scene.Night,
		Seed: sc.Seed, CameraID: id}
	for _, z := range g.Zones {
		cfg.Zones = append(cfg.Zones, scene.Zone{Name: z.Name, Rect: z.Rect})
	}
	for _, e := range seen {
		cfg.Events = append(cfg.Events, scene.Event{Kind: e.Kind, Zone: e.Zone, Label: e.Label,
			Start: sc.Warmup + e.Start, End: sc.Warmup + e.End})
	}
	s, err := scene.New(cfg)
	if err != nil {
		return fmt.Errorf("plan: cameras %s: %w", g.Name, err)
	}
	const margin = 30 * time.Second // longer than any approach across the frame
	for i, e := range cfg.Events {
		first, last := -1, -1
		for k := s.IndexAt(max(0, e.Start-margin)); k <= s.IndexAt(e.End+margin); k++ {
			for _, o := range s.GroundTruth(k).Objects {
				if o.TrackID == scene.EventTrackID(i) && slices.Contains(o.Zones, e.Zone) {
					if first < 0 {
						first = k
					}
					last = k
				}
			}
		}
		if first < 0 {
			return fmt.Errorf("plan: cameras %s: the object of event %d (%s in %s) never stands in its zone in fakecam's scene", g.Name, i, e.Kind, e.Zone)
		}
		evs[i].In, evs[i].Out = s.PTS(first)-sc.Warmup, s.PTS(last+1)-sc.Warmup
	}
	return nil
}

// linkBetween is the link from a to b (the scenario lists the lower tier
// first: up is toward b), ideal when there is none.
func linkBetween(links []scenarios.Link, a, b string) (up, down netem.LinkConfig, err error) {
	for _, l := range links {
		if l.A.String() != a || l.B.String() != b {
			continue
		}
		if up, err = linkconf.Netem(l.Up); err != nil {
			return up, down, fmt.Errorf("plan: link %s: %w", l.Name, err)
		}
		if down, err = linkconf.Netem(l.Down); err != nil {
			return up, down, fmt.Errorf("plan: link %s: %w", l.Name, err)
		}
		return up, down, nil
	}
	return up, down, nil
}

// faults translates one timeline entry.
func faults(sc *scenarios.Scenario, ft scenarios.Fault) ([]Fault, error) {
	switch ft.Action {
	case scenarios.FaultKill, scenarios.FaultRestart, scenarios.FaultPause:
		nodes := ft.Target.Nodes
		if len(nodes) == 0 {
			nodes = []string{ft.Target.Node}
		}
		var out []Fault
		for _, n := range nodes {
			g := Fault{At: ft.At, Action: FaultKill, Node: n}
			if ft.Action != scenarios.FaultKill {
				g.Action, g.Duration = FaultAction(ft.Action), ft.Duration
			}
			out = append(out, g)
		}
		return out, nil
	case scenarios.FaultPartition:
		var out []Fault
		for _, name := range targetLinks(ft) {
			site, kind, err := linkRole(sc, name)
			if err != nil {
				return nil, fmt.Errorf("plan: fault %s: %w", ft.Name, err)
			}
			out = append(out, Fault{At: ft.At, Action: FaultPartition, Site: site, Link: kind, Duration: ft.Duration})
		}
		return out, nil
	case scenarios.FaultDegrade:
		if ft.Degrade == nil {
			return nil, nil // as the testbed: nothing to change
		}
		var out []Fault
		for _, ch := range ft.Degrade.Links {
			site, kind, err := linkRole(sc, ch.Link)
			if err != nil {
				return nil, fmt.Errorf("plan: fault %s: %w", ft.Name, err)
			}
			g := Fault{At: ft.At, Action: FaultDegrade, Site: site, Link: kind, Duration: ft.Duration, Ramp: ft.Degrade.Ramp}
			if g.Up, err = linkconf.Netem(ch.To.Up); err == nil {
				g.Down, err = linkconf.Netem(ch.To.Down)
			}
			if err != nil {
				return nil, fmt.Errorf("plan: fault %s: link %s: %w", ft.Name, ch.Link, err)
			}
			out = append(out, g)
		}
		return out, nil
	case scenarios.FaultTraceSwitch:
		if ft.Trace == nil {
			return nil, nil
		}
		g := Fault{At: ft.At, Action: FaultTraceSwitch}
		up := scenarios.Direction{Trace: ft.Trace.Up, TraceOnce: ft.Trace.Once}
		down := scenarios.Direction{Trace: ft.Trace.Down, TraceOnce: ft.Trace.Once}
		var err error
		if g.Up, err = linkconf.Netem(up); err == nil {
			g.Down, err = linkconf.Netem(down)
		}
		if err != nil {
			return nil, fmt.Errorf("plan: fault %s: %w", ft.Name, err)
		}
		var out []Fault
		for _, name := range targetLinks(ft) {
			if g.Site, g.Link, err = linkRole(sc, name); err != nil {
				return nil, fmt.Errorf("plan: fault %s: %w", ft.Name, err)
			}
			out = append(out, g)
		}
		return out, nil
	}
	return nil, fmt.Errorf("plan: fault %s: the simulator does not model %s faults yet (it models kill, restart, pause, partition, degrade and traceSwitch)", ft.Name, ft.Action)
}

// targetLinks are the scenario links a link fault targets.
func targetLinks(ft scenarios.Fault) []string {
	if len(ft.Target.Links) == 0 {
		return []string{ft.Target.Link}
	}
	return ft.Target.Links
}

// linkRole says which site's LAN or WAN a scenario link is.
func linkRole(sc *scenarios.Scenario, name string) (site, kind string, err error) {
	for _, l := range sc.Links {
		if l.Name != name {
			continue
		}
		ends := map[scenarios.EndpointKind]scenarios.Endpoint{l.A.Kind: l.A, l.B.Kind: l.B}
		if c, ok := ends[scenarios.EndpointCameras]; ok && ends[scenarios.EndpointSite].Site == c.Site {
			return c.Site, LinkLAN, nil
		}
		if s, ok := ends[scenarios.EndpointSite]; ok {
			if _, ok := ends[scenarios.EndpointCloud]; ok {
				return s.Site, LinkWAN, nil
			}
		}
		return "", "", fmt.Errorf("link %s is neither a site's LAN nor its WAN", name)
	}
	return "", "", fmt.Errorf("no link named %s", name)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
