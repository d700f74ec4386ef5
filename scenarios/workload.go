package scenarios

import (
	"fmt"
	"math"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

func (c *converter) workload(in *v1alpha1.Workload, s *Scenario) Workload {
	out := Workload{Model: Model{Name: "default"}, Placement: PlacementEdge, DetectFPS: 5}
	if in == nil {
		return out
	}
	p := "spec.workload"
	if in.Model != nil {
		out.Model = c.model(p+".model", in.Model)
	}
	if in.Placement != "" && c.enum(p+".placement", in.Placement, []string{"edge", "cloud"}) {
		out.Placement = Placement(in.Placement)
	}
	if in.DetectFPS != nil {
		out.DetectFPS = *in.DetectFPS
		if out.DetectFPS <= 0 || out.DetectFPS > 60 {
			c.errorf(p+".detectFPS", "must be above 0 and at most 60, got %g", out.DetectFPS)
		}
	}
	if in.Threshold != nil {
		out.Threshold = *in.Threshold
		if out.Threshold <= 0 || out.Threshold >= 1 {
			c.errorf(p+".threshold", "must be between 0 and 1 (exclusive), got %g", out.Threshold)
		}
	}
	zonesBySite := map[string]map[string]bool{}
	allZones := map[string]bool{}
	for _, site := range s.Sites {
		zonesBySite[site.Name] = map[string]bool{}
		for _, g := range site.Cameras {
			for _, z := range g.Zones {
				zonesBySite[site.Name][z.Name] = true
				allZones[z.Name] = true
			}
		}
	}
	names := map[string]bool{}
	for i, r := range in.Alerts {
		rp := fmt.Sprintf("%s.alerts[%d]", p, i)
		rule := AlertRule{Name: r.Name, Zone: r.Zone, Labels: r.Labels, Dwell: dur(r.Dwell, 0)}
		if len(rule.Labels) == 0 {
			rule.Labels = []string{"person"}
		}
		for j, l := range r.Labels {
			c.enum(fmt.Sprintf("%s.labels[%d]", rp, j), l, []string{"person", "vehicle"})
		}
		if rule.Name == "" {
			rule.Name = r.Zone + "-" + strings.Join(rule.Labels, "-")
		} else {
			c.checkName(rp+".name", rule.Name, "rule name", 40)
		}
		if names[rule.Name] {
			c.errorf(rp+".name", "rule name %q is used twice", rule.Name)
		}
		names[rule.Name] = true
		if rule.Dwell < 0 {
			c.errorf(rp+".dwell", "must not be negative")
		}
		if tw := r.TimeOfDay; tw != nil && tw.From != nil && tw.To != nil {
			rule.Window = &TimeWindow{From: *tw.From, To: *tw.To}
			if s.Duration > 0 && !windowOverlaps(*rule.Window, s.StartTime, 0, s.Duration) {
				c.errorf(rp+".timeOfDay", "the rule is never active: the run covers %s-%s and the window is %s-%s; set spec.startTime (e.g. %q)",
					s.StartTime, units.TimeOfDay((s.StartTime.Since()+s.Duration)%(24*time.Hour)), tw.From, tw.To, tw.From.String())
			}
		}
		for j, site := range r.Sites {
			if _, ok := zonesBySite[site]; !ok {
				c.errorf(fmt.Sprintf("%s.sites[%d]", rp, j), "site %q is not defined%s", site, hint(site, slices.Sorted(mapKeys(zonesBySite))))
				continue
			}
			if r.Zone != "" && !zonesBySite[site][r.Zone] {
				c.errorf(fmt.Sprintf("%s.sites[%d]", rp, j), "site %q has no camera group with zone %q", site, r.Zone)
				continue
			}
			rule.Sites = append(rule.Sites, site)
		}
		if r.Zone != "" {
			if !allZones[r.Zone] {
				c.errorf(rp+".zone", "zone %q is not defined by any camera group%s", r.Zone, hint(r.Zone, slices.Sorted(mapKeys(allZones))))
			} else if len(r.Sites) == 0 {
				for _, site := range s.Sites {
					if zonesBySite[site.Name][r.Zone] {
						rule.Sites = append(rule.Sites, site.Name)
					}
				}
			}
		}
		out.Alerts = append(out.Alerts, rule)
	}
	return out
}

// model resolves and loads a workload.model (at field path p): a variant
// is a model embedded in edgenode, a path a directory relative to the
// scenario file. Either must load as edgenode would load it (the manifest
// matching the weights); a model that would not is an error here, not a
// node that fails to start.
func (c *converter) model(p string, m *v1alpha1.Model) Model {
	out := Model{Name: "default", Variant: m.Variant}
	switch {
	case m.Path != "" && m.Variant != "":
		c.errorf(p+".variant", "give either variant (a model embedded in edgenode) or path (a model directory), not both")
		return out
	case m.Variant != "":
		def, err := detector.Default()
		if err != nil {
			c.errorf(p+".variant", "%v", err)
			return out
		}
		dir := path.Join(def.Manifest.Name, m.Variant)
		var versions []string
		for _, e := range detector.Embedded() {
			if n, v, _ := strings.Cut(e, "/"); n == def.Manifest.Name {
				versions = append(versions, v)
			}
		}
		if !slices.Contains(versions, m.Variant) {
			c.errorf(p+".variant", "edgenode embeds no %s variant %q: give the version of an embedded one, or path: a model directory%s",
				def.Manifest.Name, m.Variant, hint(m.Variant, versions))
			return out
		}
		if dir != path.Join(def.Manifest.Name, def.Manifest.Version) {
			out.Embedded, out.Name = dir, m.Variant
		}
	case m.Path != "":
		out.Path = c.path(m.Path)
	}
	if m.Name != "" {
		out.Name = m.Name
	}
	if out.Ref() == "" {
		return out
	}
	if _, err := detector.LoadOrDefault(out.Ref()); err != nil {
		field := p + ".path"
		if m.Variant != "" {
			field = p + ".variant"
		}
		c.errorf(field, "the model does not load: %v", err)
	}
	return out
}

// siteModels gives every site its model: its own workload.model, or the
// scenario's. A site's own model needs placement edge.
func (c *converter) siteModels(in []v1alpha1.Site, s *Scenario) {
	for i := range s.Sites {
		if i >= len(in) || in[i].Workload == nil || in[i].Workload.Model == nil {
			continue
		}
		p := fmt.Sprintf("spec.sites[%d].workload.model", i)
		if s.Workload.Placement == PlacementCloud {
			c.errorf(p, "with placement cloud the cloud nodes run detection with spec.workload.model; a site's own model needs placement edge")
			continue
		}
		m := c.model(p, in[i].Workload.Model)
		s.Sites[i].Model = &m
	}
}

var (
	nodeActions = []string{"kill", "restart", "pause"}
	linkActions = []string{"partition", "degrade", "traceSwitch"}
)

func (c *converter) faults(in []v1alpha1.Fault, s *Scenario) []Fault {
	var out []Fault
	prevAt := time.Duration(-1)
	names := map[string]bool{}
	for i, f := range in {
		p := fmt.Sprintf("spec.faults[%d]", i)
		fault := Fault{Name: f.Name, Action: FaultAction(f.Action), Duration: dur(f.Duration, 0)}
		if fault.Name == "" {
			fault.Name = fmt.Sprintf("%s-%d", f.Action, i+1)
		} else {
			c.checkName(p+".name", fault.Name, "fault name", 40)
		}
		if names[fault.Name] {
			c.errorf(p+".name", "fault name %q is used twice", fault.Name)
		}
		names[fault.Name] = true
		switch {
		case f.At != nil && f.After != nil:
			c.errorf(p+".after", "set either at (from the start) or after (from the previous fault), not both")
		case f.At != nil:
			fault.At = f.At.Std()
		case f.After != nil:
			if prevAt < 0 {
				c.errorf(p+".after", "the first fault has no previous fault; use at")
			}
			fault.At = max(prevAt, 0) + f.After.Std()
		default:
			c.errorf(p+".at", "set when the fault happens: at (from the start) or after (from the previous fault)")
		}
		switch {
		case fault.At < 0 || (f.After != nil && f.After.Std() < 0):
			c.errorf(p+".at", "must not be negative")
		case s.Duration > 0 && fault.At >= s.Duration:
			c.errorf(p+".at", "the fault at %s is not before the end of the run (%s)", fault.At, s.Duration)
		}
		prevAt = fault.At
		if fault.Duration < 0 {
			c.errorf(p+".duration", "must not be negative")
		}
		if f.Action != "" && c.enum(p+".action", f.Action, append(slices.Clone(nodeActions), linkActions...)) {
			if fault.Action == FaultRestart && f.Duration == nil {
				fault.Duration = 5 * time.Second
			}
			if f.Duration != nil && fault.Action == FaultKill {
				c.errorf(p+".duration", "a killed node stays down; use action restart to bring it back after a duration")
			}
			if f.Duration != nil && fault.Action == FaultTraceSwitch {
				c.errorf(p+".duration", "a trace switch is permanent; add another traceSwitch later to switch back")
			}
			fault.Target = c.faultTarget(p+".target", f, s)
		}
		if f.Degrade != nil && fault.Action != FaultDegrade {
			c.errorf(p+".degrade", "only used with action degrade")
		}
		if f.Trace != nil && fault.Action != FaultTraceSwitch {
			c.errorf(p+".trace", "only used with action traceSwitch")
		}
		if fault.Action == FaultDegrade {
			if f.Degrade == nil {
				c.errorf(p+".degrade", "action degrade needs the new settings, e.g. degrade: {ramp: 10s, delay: 400ms, loss: 5%%}")
			} else {
				fault.Degrade = c.degrade(p+".degrade", *f.Degrade, fault.Target.Links, s)
			}
		}
		if fault.Action == FaultTraceSwitch {
			if f.Trace == nil {
				c.errorf(p+".trace", "action traceSwitch needs trace: {up: FILE, down: FILE}")
			} else {
				ts := &TraceSwitch{Once: f.Trace.Once}
				if f.Trace.Up == "" && f.Trace.Down == "" {
					c.errorf(p+".trace", "set up, down or both to Mahimahi trace files")
				}
				if f.Trace.Up != "" {
					ts.Up = c.tracePath(p+".trace.up", f.Trace.Up)
				}
				if f.Trace.Down != "" {
					ts.Down = c.tracePath(p+".trace.down", f.Trace.Down)
				}
				fault.Trace = ts
			}
		}
		out = append(out, fault)
	}
	c.nodeFaultOverlaps(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// nodeFaultOverlaps refuses two node faults (kill, restart, pause) whose
// times overlap on one node: a restart during another restart or a pause
// would leave an edgenode the testbed no longer tracks. faults are in the
// order of spec.faults.
func (c *converter) nodeFaultOverlaps(faults []Fault) {
	end := func(f Fault) time.Duration {
		if f.Action == FaultKill || f.Duration == 0 {
			return math.MaxInt64 // down (or paused) until the end of the run
		}
		return f.At + f.Duration
	}
	span := func(f Fault) string {
		if e := end(f); e != math.MaxInt64 {
			return fmt.Sprintf("%s to %s", f.At, e)
		}
		return fmt.Sprintf("%s to the end of the run", f.At)
	}
	for j, b := range faults {
		if !slices.Contains(nodeActions, string(b.Action)) {
			continue
		}
		for i, a := range faults[:j] {
			if !slices.Contains(nodeActions, string(a.Action)) || a.At >= end(b) || b.At >= end(a) {
				continue
			}
			for _, n := range b.Target.Nodes {
				if slices.Contains(a.Target.Nodes, n) {
					c.errorf(fmt.Sprintf("spec.faults[%d]", j), "%s of node %s (%s) overlaps spec.faults[%d], %s of it (%s); faults on one node must not overlap: start this one after the other ends", b.Action, n, span(b), i, a.Action, span(a))
					break
				}
			}
		}
	}
}

func (c *converter) faultTarget(p string, f v1alpha1.Fault, s *Scenario) FaultTarget {
	t := FaultTarget{Node: f.Target.Node, Site: f.Target.Site, Link: f.Target.Link}
	set := 0
	for _, v := range []string{t.Node, t.Site, t.Link} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		c.errorf(p, "set exactly one of node, site or link")
		return t
	}
	action := f.Action
	nodeLevel := slices.Contains(nodeActions, action)
	var nodeNames, siteNames, linkNames []string
	for _, n := range s.Nodes() {
		nodeNames = append(nodeNames, n.Name)
	}
	for _, site := range s.Sites {
		siteNames = append(siteNames, site.Name)
	}
	for _, l := range s.Links {
		linkNames = append(linkNames, l.Name)
	}
	switch {
	case t.Node != "":
		if !nodeLevel {
			c.errorf(p+".node", "%s acts on links; target a link or a site", action)
		} else if !slices.Contains(nodeNames, t.Node) {
			c.errorf(p+".node", "node %q does not exist%s", t.Node, hint(t.Node, nodeNames))
		} else {
			t.Nodes = []string{t.Node}
		}
	case t.Site != "":
		if !slices.Contains(siteNames, t.Site) {
			c.errorf(p+".site", "site %q is not defined%s", t.Site, hint(t.Site, siteNames))
			break
		}
		if action == string(FaultTraceSwitch) {
			c.errorf(p+".site", "traceSwitch targets one link; name it with link")
			break
		}
		for _, site := range s.Sites {
			if site.Name != t.Site {
				continue
			}
			if nodeLevel {
				for _, n := range site.Nodes {
					t.Nodes = append(t.Nodes, n.Name)
				}
			}
		}
		if !nodeLevel {
			// The site's links to the rest of the fleet (cloud, other
			// sites); its own camera network stays up, as in a WAN outage.
			for _, l := range s.Links {
				if (l.A.Site == t.Site) != (l.B.Site == t.Site) {
					t.Links = append(t.Links, l.Name)
				}
			}
			if len(t.Links) == 0 {
				c.errorf(p+".site", "site %q has no links to the rest of the fleet", t.Site)
			}
		}
	case t.Link != "":
		if nodeLevel {
			c.errorf(p+".link", "%s acts on nodes; target a node or a site", action)
		} else if !slices.Contains(linkNames, t.Link) {
			c.errorf(p+".link", "link %q does not exist%s", t.Link, hint(t.Link, linkNames))
		} else {
			t.Links = []string{t.Link}
		}
	}
	return t
}

func (c *converter) degrade(p string, in v1alpha1.Degrade, links []string, s *Scenario) *Degradation {
	out := &Degradation{Ramp: dur(in.Ramp, 0)}
	if out.Ramp < 0 {
		c.errorf(p+".ramp", "must not be negative")
	}
	if reflect.ValueOf(in.Impairment).IsZero() && in.Rate == nil {
		c.errorf(p, "set at least one new value: delay, jitter, loss, rate, ...")
	}
	for _, name := range links {
		l, _ := s.Link(name)
		before := len(c.d.errs)
		spec := c.applyLink(p, l.LinkSpec, in.Impairment, in.Rate, nil, nil, nil)
		out.Links = append(out.Links, LinkChange{Link: name, To: spec})
		if len(c.d.errs) > before {
			break // the same problems would repeat for every link
		}
	}
	return out
}

var percentileRe = regexp.MustCompile(`^p(\d+(\.\d+)?)$`)

// percentiles checks a map of latency percentiles (p50: 150ms, ...) at
// field path p and returns them sorted by percentile.
func (c *converter) percentiles(p string, in map[string]units.Duration) []LatencyObjective {
	var out []LatencyObjective
	for _, k := range slices.Sorted(mapKeys(in)) {
		v := in[k]
		m := percentileRe.FindStringSubmatch(k)
		if m == nil {
			c.errorf(p+"."+k, "%q is not a percentile; write p50, p95, p99 or p99.9", k)
			continue
		}
		pc, _ := strconv.ParseFloat(m[1], 64)
		if pc <= 0 || pc > 100 {
			c.errorf(p+"."+k, "percentile %g is outside (0, 100]", pc)
			continue
		}
		if v.Std() <= 0 {
			c.errorf(p+"."+k, "must be positive")
		}
		out = append(out, LatencyObjective{Percentile: pc, Max: v.Std()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Percentile < out[j].Percentile })
	for i := 1; i < len(out); i++ {
		if out[i].Max < out[i-1].Max {
			c.errorf(p, "p%g (%s) is below p%g (%s); a higher percentile cannot be faster",
				out[i].Percentile, out[i].Max, out[i-1].Percentile, out[i-1].Max)
		}
	}
	return out
}

func (c *converter) slo(in *v1alpha1.SLO, s *Scenario) SLO {
	var out SLO
	if in == nil {
		return out
	}
	p := "spec.slo"
	out.E2ELatency = c.percentiles(p+".e2eLatency", in.E2ELatency)
	out.TimeToAlert = dur(in.TimeToAlert, 0)
	if in.TimeToAlert != nil {
		if out.TimeToAlert <= 0 {
			c.errorf(p+".timeToAlert", "must be positive")
		}
		if len(s.Workload.Alerts) == 0 {
			c.errorf(p+".timeToAlert", "needs at least one alert rule in spec.workload.alerts")
		}
		hasEvent, matched := false, false
		for _, site := range s.Sites {
			for _, g := range site.Cameras {
				for _, ev := range g.Events {
					hasEvent = true
					matched = matched || eventRaisesAlert(site.Name, ev, s)
				}
			}
		}
		switch {
		case !hasEvent:
			c.errorf(p+".timeToAlert", "needs a scripted event (cameras[].events) to time the alert from")
		case len(s.Workload.Alerts) > 0 && !matched:
			c.errorf(p+".timeToAlert", "no scripted event can raise an alert: no event's zone, label and site match an alert rule active at that time of day")
		}
	}
	out.FailoverMax = dur(in.FailoverMax, 0)
	if in.FailoverMax != nil {
		if out.FailoverMax <= 0 {
			c.errorf(p+".failoverMax", "must be positive")
		}
		if len(s.Faults) == 0 {
			c.errorf(p+".failoverMax", "needs at least one fault in spec.faults to fail over from")
		}
	}
	if in.UplinkMax != nil {
		out.UplinkMax = *in.UplinkMax
		if out.UplinkMax <= 0 {
			c.errorf(p+".uplinkMax", "must be positive")
		}
	}
	if in.RecallMin != nil {
		out.RecallMin = *in.RecallMin
	}
	if in.AllowNotExercised != nil {
		out.AllowNotExercised = *in.AllowNotExercised
		if out.AllowNotExercised && len(out.E2ELatency) == 0 && out.TimeToAlert == 0 && out.FailoverMax == 0 && out.UplinkMax == 0 && out.RecallMin == 0 {
			c.errorf(p+".allowNotExercised", "there is no gate to allow: set an SLO in this block, or remove allowNotExercised")
		}
	}
	return out
}

// eventRaisesAlert reports whether some alert rule covers the event's zone,
// label and site and is active (time of day) at some point of the event.
func eventRaisesAlert(site string, ev Event, s *Scenario) bool {
	for _, r := range s.Workload.Alerts {
		if r.Zone != ev.Zone || !slices.Contains(r.Labels, ev.Label) || !slices.Contains(r.Sites, site) {
			continue
		}
		if r.Window == nil || windowOverlaps(*r.Window, s.StartTime, ev.Start, ev.End) {
			return true
		}
	}
	return false
}

// windowOverlaps reports whether the daily window w is active at any time of
// the run interval [from, to) when the run starts at start.
func windowOverlaps(w TimeWindow, start units.TimeOfDay, from, to time.Duration) bool {
	const day = 24 * time.Hour
	if to-from >= day {
		return true
	}
	// Check every window boundary inside the interval, and its start.
	at := func(d time.Duration) units.TimeOfDay {
		return units.TimeOfDay(((start.Since()+d)%day + day) % day)
	}
	if at(from).Within(w.From, w.To) {
		return true
	}
	for _, edge := range []units.TimeOfDay{w.From, w.To} {
		offset := (edge.Since() - at(from).Since() + day) % day
		if from+offset < to && at(from+offset).Within(w.From, w.To) {
			return true
		}
	}
	return false
}

// ReportFormats lists the report formats.
func ReportFormats() []string { return []string{"json", "html", "markdown", "junit"} }

func (c *converter) report(in *v1alpha1.Report, name string) Report {
	out := Report{Formats: ReportFormats(), Dir: filepath.Join("edgesim-report", name)}
	if in == nil {
		return out
	}
	if len(in.Formats) > 0 {
		out.Formats = nil
		for i, f := range in.Formats {
			fp := fmt.Sprintf("spec.report.formats[%d]", i)
			if !c.enum(fp, f, ReportFormats()) {
				continue
			}
			if slices.Contains(out.Formats, f) {
				c.errorf(fp, "%q is listed twice", f)
				continue
			}
			out.Formats = append(out.Formats, f)
		}
	}
	if in.Dir != "" {
		out.Dir, _ = c.inTree("spec.report.dir", in.Dir, "report directory")
	}
	return out
}
