package provider

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/edgesim/edgesim/internal/naming"
	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
	"github.com/edgesim/edgesim/wire"
)

// Role is what a testbed node does.
type Role string

// Node roles.
const (
	RoleCloud  Role = "cloud"  // cloud edgenode: alert receiver, cloud-placement inference
	RoleEdge   Role = "edge"   // a site's edgenode
	RoleCamera Role = "camera" // a site's camera host running the fakecam fleet
)

// CloudViaSuffix names the mirror of a site whose cameras stream to the
// cloud, so that one run shows edge and cloud placement side by side.
const CloudViaSuffix = "-via-cloud"

// Node is one host of the testbed.
type Node struct {
	Name  string
	Role  Role
	Site  string // "" for cloud nodes
	Group string // netem group: "cloud", "site:<s>", "cameras:<s>"
	// Placement of the cameras on a camera host.
	Placement scenarios.Placement
	Resources scenarios.Resources
}

// EngineHost is the node's netem host name: its name, shortened with
// naming.Fit when longer than netem allows (a mirror's camera host of a
// site with a long name).
func (n Node) EngineHost() string { return naming.Fit(n.Name, netem.MaxHostName) }

// Link is one emulated link between two groups, both directions resolved
// into netem's terms.
type Link struct {
	Name     string // as in the scenario (or derived for a mirror)
	A, B     string // netem groups; Up is A->B
	Up, Down netem.LinkConfig
	Site     string
	Leg      string // "access" (cameras<->edge) or "backhaul" (edge<->cloud)
	// Uplink is set when Up carries a site's traffic toward the cloud.
	Uplink    bool
	Placement scenarios.Placement
	// Mirror marks the links of a cloud-placement mirror: reported for the
	// comparison, not gated by the scenario's SLOs.
	Mirror bool
	// Via names the scenario links a composed link stands for (cameras to
	// the cloud across the access link and the backhaul); faults aimed at
	// either reach it too.
	Via []string
	via []scenarios.Link
}

// spec returns the composed link's behaviour with one of the links it
// stands for changed to to.
func (l Link) spec(changed string, to scenarios.LinkSpec) scenarios.LinkSpec {
	parts := make([]scenarios.LinkSpec, len(l.via))
	for i, v := range l.via {
		parts[i] = v.LinkSpec
		if v.Name == changed {
			parts[i] = to
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return scenarios.LinkSpec{Up: compose(parts[0].Up, parts[1].Up), Down: compose(parts[0].Down, parts[1].Down)}
}

// Degraded returns the link as it is while the scenario link changed has
// the behaviour to (changed is the link itself or one of the links it
// stands for).
func (l Link) Degraded(changed string, to scenarios.LinkSpec) (Link, error) {
	spec := to
	if len(l.via) > 0 {
		spec = l.spec(changed, to)
	}
	return planLink(scenarios.Link{Name: l.Name, LinkSpec: spec}, "", l.Site, l.Leg)
}

// Camera is one synthetic camera and where it streams.
type Camera struct {
	ID string
	// SceneID is the scenario's id of the camera whose scene it shows:
	// ID itself, or the camera a mirror camera copies.
	SceneID string
	Site    string // the scenario site (also for its cloud mirror)
	// ReportSite is the site name in reports: the site, or the name of its
	// cloud-placement mirror.
	ReportSite string
	Host       string // camera host node
	Group      scenarios.CameraGroup
	Placement  scenarios.Placement
	// Endpoints are the edgenodes in failover order.
	Endpoints []string
	// Mirror marks a camera of a cloud-placement mirror: reported beside
	// the scenario's SLO gates as a what-if, not gated.
	Mirror bool
}

// Plan is a scenario translated into hosts, links and cameras; providers
// build it, whatever they are made of.
type Plan struct {
	Scenario *scenarios.Scenario
	Nodes    []Node
	Links    []Link
	Cameras  []Camera
}

// Node returns the node named name.
func (p *Plan) Node(name string) (Node, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// NodesOf returns the nodes with the given role, in plan order.
func (p *Plan) NodesOf(role Role) []Node {
	var out []Node
	for _, n := range p.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// CamerasOn returns the cameras of a camera host.
func (p *Plan) CamerasOn(host string) []Camera {
	var out []Camera
	for _, c := range p.Cameras {
		if c.Host == host {
			out = append(out, c)
		}
	}
	return out
}

// LinksNamed returns the plan links derived from the scenario link name:
// the link itself and the composed links that cross it.
func (p *Plan) LinksNamed(name string) []Link {
	var out []Link
	for _, l := range p.Links {
		if l.Name == name || slices.Contains(l.Via, name) {
			out = append(out, l)
		}
	}
	return out
}

// NewPlan translates a validated scenario. With compare set, every site
// also gets a mirror whose cameras stream the same scenes to the cloud over
// the site's access and backhaul links, so that one run reports edge and
// cloud placement side by side.
func NewPlan(sc *scenarios.Scenario, compare bool) (*Plan, error) {
	p := &Plan{Scenario: sc}
	for _, n := range sc.Cloud.Nodes {
		p.Nodes = append(p.Nodes, Node{Name: n.Name, Role: RoleCloud, Group: "cloud", Resources: n.Resources})
	}
	if len(sc.Cloud.Nodes) == 0 {
		return nil, fmt.Errorf("testbed: scenario %q has no cloud node: alerts need one", sc.Name)
	}
	links := map[string]scenarios.Link{} // by "kind:site" pair
	// Cameras spread over the edge nodes of their site by their index in
	// it, and with cloud placement over the cloud nodes by their index in
	// the fleet (the comparison's mirrors counted apart): the fleet
	// simulator's assignment (plan's sessions).
	cloudCams := map[string]int{}
	for _, l := range sc.Links {
		links[l.A.String()+"|"+l.B.String()] = l
	}
	for _, site := range sc.Sites {
		for _, n := range site.Nodes {
			p.Nodes = append(p.Nodes, Node{Name: n.Name, Role: RoleEdge, Site: site.Name, Group: "site:" + site.Name, Resources: n.Resources})
		}
		placements := []scenarios.Placement{sc.Workload.Placement}
		if compare && sc.Workload.Placement != scenarios.PlacementCloud { // a cloud placement is its own comparison
			placements = []scenarios.Placement{scenarios.PlacementEdge, scenarios.PlacementCloud}
		}
		access, hasAccess := findLink(links, "cameras:"+site.Name, "site:"+site.Name)
		backhaul, hasBackhaul := findLink(links, "site:"+site.Name, "cloud")
		for _, placement := range placements {
			host, group, suffix := site.Name+"-cams", "cameras:"+site.Name, ""
			if compare && placement == scenarios.PlacementCloud {
				suffix = CloudViaSuffix
				host, group = site.Name+suffix+"-cams", "cameras:"+site.Name+suffix
			}
			p.Nodes = append(p.Nodes, Node{Name: host, Role: RoleCamera, Site: site.Name, Group: group, Placement: placement})
			var endpoints []string
			switch placement {
			case scenarios.PlacementEdge:
				// Cameras spread over the site's edge nodes; the others
				// follow as failover targets, then the cloud.
				for _, n := range site.Nodes {
					endpoints = append(endpoints, n.Name)
				}
				if hasAccess {
					l, err := planLink(access, suffix, site.Name, "access")
					if err != nil {
						return nil, err
					}
					l.A, l.Placement = group, placement
					p.Links = append(p.Links, l)
				}
			case scenarios.PlacementCloud:
				// The cameras' path to the cloud crosses the access link and
				// the backhaul: emulated as one link whose settings compose
				// both (delays add, losses compound, the slower rate wins).
				l, err := cloudPath(access, hasAccess, backhaul, hasBackhaul, site.Name)
				if err != nil {
					return nil, err
				}
				l.Name += suffix
				l.A, l.Placement = group, placement
				l.Site, l.Mirror = site.Name+suffix, suffix != ""
				p.Links = append(p.Links, l)
			}
			if placement == scenarios.PlacementCloud || len(endpoints) == 0 {
				endpoints = nil
			}
			for _, n := range sc.Cloud.Nodes {
				endpoints = append(endpoints, n.Name)
			}
			k := 0 // the camera's index in its site
			for _, g := range site.Cameras {
				for _, id := range g.CameraIDs {
					eps := endpoints
					switch {
					case placement == scenarios.PlacementEdge && len(site.Nodes) > 0:
						eps = rotate(endpoints, len(site.Nodes), k)
					case placement == scenarios.PlacementCloud:
						eps = rotate(endpoints, len(endpoints), cloudCams[suffix])
						cloudCams[suffix]++
					}
					k++
					p.Cameras = append(p.Cameras, Camera{ID: naming.Fit(id+suffix, wire.MaxCameraID), SceneID: id, Site: site.Name, ReportSite: site.Name + suffix, Host: host, Group: g, Placement: placement, Endpoints: eps, Mirror: suffix != ""})
				}
			}
		}
		if hasBackhaul {
			l, err := planLink(backhaul, "", site.Name, "backhaul")
			if err != nil {
				return nil, err
			}
			l.Uplink, l.Placement = true, scenarios.PlacementEdge
			p.Links = append(p.Links, l)
		}
	}
	// Links the per-site rules above did not place (site<->site, and any
	// other pair) are applied as written.
	placed := map[string]bool{}
	for _, l := range p.Links {
		placed[l.Name] = true
	}
	for _, l := range sc.Links {
		if placed[l.Name] {
			continue
		}
		pl, err := planLink(l, "", l.A.Site, "")
		if err != nil {
			return nil, err
		}
		p.Links = append(p.Links, pl)
	}
	sort.SliceStable(p.Links, func(i, j int) bool { return p.Links[i].Name < p.Links[j].Name })
	return p, nil
}

func findLink(links map[string]scenarios.Link, a, b string) (scenarios.Link, bool) {
	if l, ok := links[a+"|"+b]; ok {
		return l, true
	}
	if l, ok := links[b+"|"+a]; ok {
		// Put it the right way round: Up toward b.
		l.A, l.B = l.B, l.A
		l.Up, l.Down = l.Down, l.Up
		return l, true
	}
	return scenarios.Link{}, false
}

// rotate puts the (i mod n)-th of the first n endpoints first, keeping the
// rest in order, so cameras spread over a site's edge nodes or the cloud's.
func rotate(eps []string, n, i int) []string {
	k := i % n
	out := make([]string, 0, len(eps))
	out = append(out, eps[k:n]...)
	out = append(out, eps[:k]...)
	return append(out, eps[n:]...)
}

func planLink(l scenarios.Link, suffix, site, leg string) (Link, error) {
	up, err := linkconf.Netem(l.Up)
	if err != nil {
		return Link{}, fmt.Errorf("link %s up: %w", l.Name, err)
	}
	down, err := linkconf.Netem(l.Down)
	if err != nil {
		return Link{}, fmt.Errorf("link %s down: %w", l.Name, err)
	}
	return Link{Name: l.Name + suffix, A: l.A.String(), B: l.B.String(), Up: up, Down: down, Site: site, Leg: leg}, nil
}

// cloudPath is the link of a site's cameras streaming to the cloud: the
// access link and the backhaul in series, composed into one.
func cloudPath(access scenarios.Link, hasAccess bool, backhaul scenarios.Link, hasBackhaul bool, site string) (Link, error) {
	var via []scenarios.Link
	if hasAccess {
		via = append(via, access)
	}
	if hasBackhaul {
		via = append(via, backhaul)
	}
	l := Link{via: via}
	for _, v := range via {
		l.Via = append(l.Via, v.Name)
	}
	pl, err := planLink(scenarios.Link{Name: site + "-cameras-to-cloud", LinkSpec: l.spec("", scenarios.LinkSpec{})}, "", site, "backhaul")
	if err != nil {
		return Link{}, err
	}
	pl.B, pl.Uplink, pl.Via, pl.via = "cloud", true, l.Via, via
	return pl, nil
}

// compose approximates two links in series by one: delays and jitter
// variances add, independent losses compound, the slower rate and its queue
// apply, and a trace (the bottleneck a scenario names explicitly) wins over
// a plain rate.
func compose(a, b scenarios.Direction) scenarios.Direction {
	out := b
	out.Delay = a.Delay + b.Delay
	out.Jitter = time.Duration(math.Sqrt(float64(a.Jitter)*float64(a.Jitter) + float64(b.Jitter)*float64(b.Jitter)))
	if a.Loss.Model == scenarios.LossBernoulli && (b.Loss.Model == scenarios.LossBernoulli || b.Loss.Model == scenarios.LossNone) {
		pa, pb := a.Loss.Percent.Fraction(), b.Loss.Percent.Fraction()
		out.Loss.Model = scenarios.LossBernoulli
		out.Loss.Percent = units.Percent(100 * (1 - (1-pa)*(1-pb)))
	} else if b.Loss.Model == scenarios.LossNone {
		out.Loss = a.Loss
	}
	if b.Trace == "" && a.Trace != "" {
		out.Trace, out.TraceOnce = a.Trace, a.TraceOnce
	}
	if out.Trace == "" && a.Rate > 0 && (b.Rate == 0 || a.Rate < b.Rate) {
		out.Rate, out.Queue, out.QueueDiscipline, out.Burst = a.Rate, a.Queue, a.QueueDiscipline, a.Burst
	}
	return out
}
