package importers

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// side is what Fogify applies on one side of a container: its uplink
// (egress) or its downlink (ingress) rules on one network.
type side struct {
	delay, deviation time.Duration
	correlation      float64 // percent, 0 if unset
	distribution     string
	drop             float64 // fraction 0..1
	rate             *units.BitRate
}

// fogify maps the x-fogify section of a Fogify docker-compose file.
//
// Fogify applies a network's uplink rules as each container sends and its
// downlink rules as each container receives, so a packet from A to B on
// the network gets A's uplink and then B's downlink: the one-way delay is
// the sum of both sides, the loss 1-(1-a)(1-b), the rate the slower of
// the two. "bidirectional" gives each side half the delay, deviation and
// drop (and the whole bandwidth), as Fogify's model does.
func (b *builder) fogify(in Input) {
	root, d := b.parse(in)
	if root == nil {
		return
	}
	fog := get(root, "x-fogify")
	if fog == nil {
		d.errorf(root, "x-fogify", "missing; this is not a Fogify file")
		return
	}
	if b.name == "" {
		b.name = strings.TrimSuffix(filepath.Base(in.Name), filepath.Ext(in.Name))
	}
	for _, k := range keys(fog) {
		switch k.Value {
		case "networks", "topology", "scenarios":
		case "nodes":
			b.notes = append(b.notes, d.note(k, "x-fogify.nodes", true, "dropped: node capabilities are not imported; size the sites with resources or hardware"))
		default:
			d.errorf(k, "x-fogify."+k.Value, "unknown x-fogify section")
		}
	}
	// Topology: which mapped endpoint is on which network.
	type member struct {
		label string
		ep    endpoint
	}
	byLabel := map[string]endpoint{}
	onNet := map[string][]member{}
	topo := get(fog, "topology")
	if topo == nil {
		d.errorf(fog, "x-fogify.topology", "missing; edgesim needs it to know who is on which network")
		return
	}
	for i, t := range topo.Content {
		field := fmt.Sprintf("x-fogify.topology[%d]", i)
		d.dropUnknown(t, field, &b.notes, "node", "service", "label", "replicas", "networks")
		label, service := str(get(t, "label")), str(get(t, "service"))
		if label == "" {
			label = service
		}
		ep, ok := b.fogifyEndpoint(label, service)
		if !ok {
			d.errorf(t, field, "no mapping for service %s (label %s); add --map label=%s:site:NAME (or :cloud, :cameras:NAME)", service, label, label)
			continue
		}
		byLabel[label] = ep
		if r := get(t, "replicas"); r != nil && str(r) != "1" {
			b.notes = append(b.notes, d.note(r, field+".replicas", false, "%s replicas of %s are one group %s; size it with the site's nodes or cameras", str(r), label, ep))
		}
		nets := get(t, "networks")
		if nets == nil {
			continue
		}
		for _, n := range nets.Content {
			name := str(n)
			if n.Kind == yaml.MappingNode {
				name = str(get(n, "name"))
			}
			onNet[name] = append(onNet[name], member{label, ep})
		}
	}
	if len(b.errs) > 0 {
		return
	}
	networks := map[string]*yaml.Node{}
	if nets := get(fog, "networks"); nets != nil {
		for i, n := range nets.Content {
			field := fmt.Sprintf("x-fogify.networks[%d]", i)
			name := str(get(n, "name"))
			networks[name] = n
			d.dropUnknown(n, field, &b.notes, "name", "uplink", "downlink", "bidirectional", "links", "subnet", "gateway")
			up, down, notes, ok := d.fogifySides(n, field)
			if !ok {
				continue
			}
			members := onNet[name]
			for x := 0; x < len(members); x++ {
				for y := x + 1; y < len(members); y++ {
					if members[x].ep == members[y].ep {
						continue
					}
					if kinds := members[x].ep.kind + members[y].ep.kind; kinds == "camerascloud" || kinds == "cloudcameras" {
						// Declaring that link would make the cameras stream
						// straight to the cloud instead of to their site.
						b.notes = append(b.notes, d.note(n, field, true, "dropped for %s and %s: in edgesim a cameras-cloud link means the cameras stream straight to the cloud, bypassing their site", members[x].label, members[y].label))
						continue
					}
					l, _, err := b.link(members[x].ep, members[y].ep)
					if err != nil {
						b.notes = append(b.notes, d.note(n, field, true, "dropped for %s and %s: %v", members[x].label, members[y].label, err))
						continue
					}
					if l.spec.Impairment != (v1alpha1.Impairment{}) || l.spec.Rate != nil {
						l.notes = append(l.notes, d.note(n, field, true, "network %s joins %s and %s again; the first network's rules are kept", name, l.a, l.b))
						continue
					}
					s, why := combine(up, down)
					ln := append([]Note{}, notes...)
					ln = append(ln, d.note(n, field, false, "network %s: %s <-> %s (%s <-> %s) get %s", name, members[x].label, members[y].label, l.a, l.b, why))
					if s.jitterApprox != "" {
						ln = append(ln, d.note(n, field+".latency", true, "%s", s.jitterApprox))
					}
					l.setStatic(s.shape, true, true, d.note(n, field, false, ""))
					l.notes = append(l.notes, ln...)
				}
			}
			if links := get(n, "links"); links != nil {
				b.fogifyPairs(d, links, field+".links", byLabel)
			}
		}
	}
	if sc := get(fog, "scenarios"); sc != nil {
		labels := map[string][]string{}
		for net, ms := range onNet {
			for _, m := range ms {
				labels[net] = append(labels[net], m.label)
			}
		}
		b.fogifyScenarios(d, sc, byLabel, networks, labels)
	}
}

func (b *builder) fogifyEndpoint(label, service string) (endpoint, bool) {
	for _, m := range b.opts.Map {
		if (m.Key == "label" && m.Value == label) || (m.Key == "service" && m.Value == service) {
			ep, _ := parseEndpoint(m.Endpoint)
			return ep, true
		}
	}
	return endpoint{}, false
}

// fogifySides reads a network's (or an action's) uplink and downlink, or
// its bidirectional rules halved on each side.
func (d *doc) fogifySides(n *yaml.Node, field string) (up, down side, notes []Note, ok bool) {
	upN, downN, biN := get(n, "uplink"), get(n, "downlink"), get(n, "bidirectional")
	switch {
	case upN != nil && downN != nil:
		up, ok = d.fogifySide(upN, field+".uplink", 1)
		down, ok2 := d.fogifySide(downN, field+".downlink", 1)
		return up, down, nil, ok && ok2
	case biN != nil:
		s, ok := d.fogifySide(biN, field+".bidirectional", 2)
		return s, s, []Note{d.note(biN, field+".bidirectional", false,
			"Fogify gives each side (sender's uplink, receiver's downlink) half of the delay, deviation and drop, and the whole bandwidth")}, ok
	case upN != nil || downN != nil:
		d.errorf(n, field, "gives only one of uplink and downlink; Fogify needs both, or bidirectional")
	}
	return side{}, side{}, nil, false
}

func (d *doc) fogifySide(n *yaml.Node, field string, div float64) (side, bool) {
	var s side
	before := len(d.b.errs)
	d.dropUnknown(n, field, &d.b.notes, "bandwidth", "latency", "drop")
	if lat := get(n, "latency"); lat != nil {
		d.dropUnknown(lat, field+".latency", &d.b.notes, "delay", "deviation", "correlation", "distribution")
		if v := d.duration(get(lat, "delay"), field+".latency.delay"); v != nil {
			s.delay = time.Duration(float64(*v) / div)
		}
		if v := d.duration(get(lat, "deviation"), field+".latency.deviation"); v != nil {
			s.deviation = time.Duration(float64(*v) / div)
		}
		if v := d.percent(get(lat, "correlation"), field+".latency.correlation"); v != nil {
			s.correlation = float64(*v)
		}
		s.distribution = str(get(lat, "distribution"))
		switch s.distribution {
		case "", "normal", "uniform", "pareto", "paretonormal":
		default:
			d.errorf(get(lat, "distribution"), field+".latency.distribution", "unknown distribution %q; netem's are normal, uniform, pareto, paretonormal", s.distribution)
		}
	}
	if v := d.percent(get(n, "drop"), field+".drop"); v != nil {
		s.drop = float64(*v) / 100 / div
	}
	if bw := get(n, "bandwidth"); bw != nil {
		r, why, err := tcRate(str(bw))
		if err != nil {
			d.errorf(bw, field+".bandwidth", "%v", err)
		} else {
			s.rate = &r
			if why != "" {
				d.b.notes = append(d.b.notes, d.note(bw, field+".bandwidth", false,
					"%s: Fogify hands it to tc's netem rate unchanged, so that is what Fogify ran (fogify#8); if you meant megabits, write Mbit", why))
			}
		}
	}
	return s, len(d.b.errs) == before
}

type combined struct {
	shape
	jitterApprox string
}

// combine is one direction through the sender's uplink side a and the
// receiver's downlink side b.
func combine(a, b side) (combined, string) {
	var c combined
	var why []string
	delay := a.delay + b.delay
	if delay > 0 {
		c.delay = dur(delay.Round(time.Microsecond))
		why = append(why, fmt.Sprintf("delay %s + %s = %s", units.Duration(a.delay), units.Duration(b.delay), units.Duration(delay)))
	}
	jitter := a.deviation
	corr, dist := a.correlation, a.distribution
	switch {
	case a.deviation > 0 && b.deviation > 0:
		jitter = time.Duration(math.Sqrt(float64(a.deviation)*float64(a.deviation) + float64(b.deviation)*float64(b.deviation)))
		why = append(why, fmt.Sprintf("deviation sqrt(%s^2 + %s^2) = %s (two independent normal draws add as one)", units.Duration(a.deviation), units.Duration(b.deviation), units.Duration(jitter.Round(time.Microsecond))))
		if (a.distribution != "" && a.distribution != "normal") || (b.distribution != "" && b.distribution != "normal") || a.correlation > 0 || b.correlation > 0 {
			c.jitterApprox = "both sides draw a deviation and they are not both uncorrelated normal; their sum is approximated by one draw of the root-sum-square deviation"
		}
		if a.distribution != b.distribution && b.distribution != "" {
			dist = b.distribution
		}
		if b.correlation > corr {
			corr = b.correlation
		}
	case b.deviation > 0:
		jitter, corr, dist = b.deviation, b.correlation, b.distribution
	}
	if jitter > 0 {
		c.jitter = dur(jitter.Round(time.Microsecond))
		if dist == "" {
			dist = "normal"
		}
		c.distribution = dist
		if corr > 0 {
			c.correlation = pct(corr)
		}
	}
	if loss := 1 - (1-a.drop)*(1-b.drop); loss > 0 {
		v := math.Round(loss*100*1e6) / 1e6
		c.loss = pct(v)
		why = append(why, fmt.Sprintf("loss 1-(1-%g%%)(1-%g%%) = %g%%", a.drop*100, b.drop*100, v))
	}
	switch {
	case a.rate != nil && b.rate != nil:
		r := min(*a.rate, *b.rate)
		c.rate = &r
		why = append(why, fmt.Sprintf("rate min(%s, %s) = %s", a.rate, b.rate, r))
	case a.rate != nil:
		c.rate = a.rate
	case b.rate != nil:
		c.rate = b.rate
	}
	return c, strings.Join(why, ", ")
}

// fogifyPairs maps a network's per-pair links.
func (b *builder) fogifyPairs(d *doc, links *yaml.Node, field string, byLabel map[string]endpoint) {
	for i, p := range links.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		d.dropUnknown(p, f, &b.notes, "from_node", "to_node", "bidirectional", "properties")
		fromL, toL := str(get(p, "from_node")), str(get(p, "to_node"))
		from, ok1 := byLabel[fromL]
		to, ok2 := byLabel[toL]
		if !ok1 || !ok2 {
			d.errorf(p, f, "from_node %q and to_node %q must both be topology labels with a --map", fromL, toL)
			continue
		}
		props := get(p, "properties")
		bidi := strings.EqualFold(str(get(p, "bidirectional")), "true")
		div := 1.0
		if bidi {
			div = 2
		}
		s, ok := d.fogifySide(props, f+".properties", div)
		if !ok {
			continue
		}
		l, up, err := b.link(from, to)
		if err != nil {
			d.errorf(p, f, "%v", err)
			continue
		}
		var c combined
		var why string
		if bidi {
			c, why = combine(s, s)
		} else {
			c, why = combine(s, side{})
		}
		l.notes = append(l.notes, d.note(p, f, true, "assumed: the pair's rules replace the network's for %s -> %s%s: %s",
			fromL, toL, map[bool]string{true: " and back, each side taking half as for bidirectional networks", false: ""}[bidi], why))
		l.setStatic(c.shape, up, bidi, d.note(p, f, false, ""))
	}
}

// fogifyScenarios maps the timed network actions to degrade faults.
func (b *builder) fogifyScenarios(d *doc, sc *yaml.Node, byLabel map[string]endpoint, networks map[string]*yaml.Node, onNet map[string][]string) {
	for i, s := range sc.Content {
		if i > 0 {
			b.notes = append(b.notes, d.note(s, fmt.Sprintf("x-fogify.scenarios[%d]", i), true, "dropped: edgesim runs one timeline; import the other scenarios separately"))
			continue
		}
		actions := get(s, "actions")
		if actions == nil {
			continue
		}
		for j, a := range actions.Content {
			f := fmt.Sprintf("x-fogify.scenarios[%d].actions[%d]", i, j)
			d.dropUnknown(a, f, &b.notes, "time", "instance_type", "instances", "action")
			act := get(a, "action")
			typ := str(get(act, "type"))
			if typ != "network" {
				b.notes = append(b.notes, d.note(a, f+".action.type", true, "dropped: %q actions are not network impairments (edgesim's node faults are kill, restart and pause)", typ))
				continue
			}
			secs, err := strconv.ParseFloat(str(get(a, "time")), 64)
			if err != nil || secs < 0 {
				d.errorf(get(a, "time"), f+".time", "%q is not a number of seconds", str(get(a, "time")))
				continue
			}
			label := str(get(a, "instance_type"))
			ep, ok := byLabel[label]
			if !ok {
				d.errorf(a, f+".instance_type", "%q is not a topology label with a --map", label)
				continue
			}
			params := get(act, "parameters")
			netName := str(get(params, "network"))
			netN, ok := networks[netName]
			if !ok {
				d.errorf(params, f+".action.parameters.network", "network %q is not in x-fogify.networks", netName)
				continue
			}
			newUp, newDown, _, ok := d.fogifySides(params, f+".action.parameters")
			if !ok {
				continue
			}
			keep := len(b.notes) // the network's own notes are already written
			up, down, _, _ := d.fogifySides(netN, "")
			b.notes = b.notes[:keep]
			if n := get(a, "instances"); n != nil {
				b.notes = append(b.notes, d.note(n, f+".instances", true, "Fogify changes %s of the %s instances; edgesim changes the whole group's links", str(n), label))
			}
			for _, peer := range onNet[netName] {
				pe := byLabel[peer]
				if pe == ep {
					continue
				}
				l, isUp, err := b.link(ep, pe)
				if err != nil {
					continue
				}
				// ep sends through its new uplink into the peer's old downlink;
				// the peer sends through its old uplink into ep's new downlink.
				out, why1 := combine(newUp, down)
				back, why2 := combine(up, newDown)
				var notes []Note
				notes = append(notes, d.note(a, f, false, "at %gs %s changes its rules on %s until the end: %s -> %s %s; %s -> %s %s", secs, label, netName, label, peer, why1, peer, label, why2))
				if out.impairment() != back.impairment() {
					notes = append(notes, d.note(a, f, true, "the two directions differ and a degrade sets both; both get the %s -> %s values", label, peer))
				}
				r := out.rate
				rate := (*v1alpha1.Rate)(nil)
				if r != nil || back.rate != nil {
					rate = &v1alpha1.Rate{}
					if isUp {
						rate.Up, rate.Down = out.rate, back.rate
					} else {
						rate.Up, rate.Down = back.rate, out.rate
					}
				}
				b.addFault(v1alpha1.Fault{At: dur(time.Duration(secs * float64(time.Second))), Action: "degrade",
					Target:  v1alpha1.FaultTarget{Link: l.spec.Name},
					Degrade: &v1alpha1.Degrade{Impairment: out.impairment(), Rate: rate}}, notes)
			}
		}
	}
}
