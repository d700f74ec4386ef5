package importers

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// chaosActions lists the sections each NetworkChaos action reads.
var chaosActions = map[string][]string{
	"netem":     {"delay", "loss", "duplicate", "corrupt", "rate"},
	"delay":     {"delay"},
	"loss":      {"loss"},
	"duplicate": {"duplicate"},
	"corrupt":   {"corrupt"},
	"bandwidth": {"bandwidth"},
	"partition": {},
}

var chaosSpecFields = []string{"action", "mode", "value", "selector", "direction", "target", "duration",
	"delay", "loss", "duplicate", "corrupt", "bandwidth", "rate", "externalTargets", "device"}

// chaosMesh maps one NetworkChaos object (Chaos Mesh 2.x,
// chaos-mesh.org/v1alpha1).
func (b *builder) chaosMesh(in Input) {
	docs, d := b.parseAll(in)
	for _, root := range docs {
		b.chaosObject(d, root)
	}
}

func (b *builder) chaosObject(d *doc, root *yaml.Node) {
	if k := get(root, "kind"); str(k) != "NetworkChaos" {
		d.errorf(k, "kind", "%q is not NetworkChaos; edgesim imports Chaos Mesh's NetworkChaos only", str(k))
		return
	}
	if b.name == "" {
		b.name = str(get(get(root, "metadata"), "name"))
	}
	spec := get(root, "spec")
	if spec == nil {
		d.errorf(root, "spec", "missing")
		return
	}
	var notes []Note
	actionNode := get(spec, "action")
	action := str(actionNode)
	used, ok := chaosActions[action]
	if !ok {
		d.errorf(actionNode, "spec.action", "unknown action %q; edgesim maps %s", action, strings.Join(slices.Sorted(maps.Keys(chaosActions)), ", "))
		return
	}
	for _, k := range keys(spec) {
		switch {
		case !slices.Contains(chaosSpecFields, k.Value):
			d.errorf(k, "spec."+k.Value, "unknown NetworkChaos field")
		case k.Value == "externalTargets":
			d.errorf(k, "spec.externalTargets", "traffic to addresses outside the cluster has no edgesim endpoint; name a target pod selector instead")
		case k.Value == "device":
			notes = append(notes, d.note(k, "spec.device", false, "dropped: edgesim impairs the link itself, not one interface"))
		case slices.Contains([]string{"delay", "loss", "duplicate", "corrupt", "bandwidth", "rate"}, k.Value) && !slices.Contains(used, k.Value):
			notes = append(notes, d.note(k, "spec."+k.Value, false, "dropped: Chaos Mesh ignores it for action %s too", action))
		}
	}

	from, ok := d.chaosSelector(get(spec, "selector"), "spec.selector", &notes)
	if !ok {
		return
	}
	if m := get(spec, "mode"); str(m) != "all" {
		notes = append(notes, d.note(m, "spec.mode", true, "mode %q picks some of the selected pods; edgesim impairs the whole group's link", str(m)))
	}
	var to endpoint
	if t := get(spec, "target"); t != nil {
		if to, ok = d.chaosSelector(get(t, "selector"), "spec.target.selector", &notes); !ok {
			return
		}
		if m := get(t, "mode"); m != nil && str(m) != "all" {
			notes = append(notes, d.note(m, "spec.target.mode", true, "mode %q picks some of the target pods; edgesim impairs the whole group's link", str(m)))
		}
	} else {
		if b.opts.To == "" {
			d.errorf(spec, "spec.target", "the experiment has no target, so its other end is unknown; give it with --to ENDPOINT (cloud, site:NAME or cameras:NAME)")
			return
		}
		to, _ = parseEndpoint(b.opts.To)
		notes = append(notes, d.note(spec, "spec.target", true, "no target: Chaos Mesh impairs all of the pods' traffic; here only the link to %s (--to)", to))
	}

	dirNode := get(spec, "direction")
	direction := str(dirNode)
	if direction == "" {
		direction = "to"
	}
	if !slices.Contains([]string{"to", "from", "both"}, direction) {
		d.errorf(dirNode, "spec.direction", "unknown direction %q; Chaos Mesh's are to, from and both", direction)
		return
	}
	sender, receiver := from, to
	if direction == "from" {
		sender, receiver = to, from
	}
	l, up, err := b.link(sender, receiver)
	if err != nil {
		d.errorf(spec, "spec.selector", "%v", err)
		return
	}
	both := direction == "both"

	s := d.chaosShape(spec, action, &notes)
	if len(d.b.errs) > 0 {
		return
	}
	durNode := get(spec, "duration")
	dirText := fmt.Sprintf("%s -> %s, the link's %s direction", sender, receiver, map[bool]string{true: "up", false: "down"}[up])
	if both {
		dirText = "both directions of " + l.spec.Name
	}
	if action == "partition" || durNode != nil {
		f := v1alpha1.Fault{At: dur(0), Target: v1alpha1.FaultTarget{Link: l.spec.Name}, Action: "degrade"}
		if durNode != nil {
			f.Duration = d.duration(durNode, "spec.duration")
		}
		when := "until the end of the run (the experiment has no duration)"
		if f.Duration != nil {
			when = "for " + f.Duration.String()
		}
		notes = append(notes, d.note(actionNode, "spec.action", false, "%s at 0s (Chaos Mesh starts when the object is applied; move at: to that time), %s, on %s", action, when, dirText))
		if action == "partition" {
			f.Action = "partition"
			if !both {
				notes = append(notes, d.note(dirNode, "spec.direction", true, "Chaos Mesh cuts only %s; an edgesim partition cuts both directions", dirText))
			}
		} else {
			if !both && s.impairment() != (v1alpha1.Impairment{}) {
				notes = append(notes, d.note(dirNode, "spec.direction", true, "a degrade fault sets delay, loss, duplicate and corrupt on both directions; Chaos Mesh impairs only %s", dirText))
			}
			f.Degrade = &v1alpha1.Degrade{Impairment: s.impairment(), Rate: degradeRate(s, up, both)}
		}
		b.addFault(f, notes)
		return
	}
	notes = append(notes, d.note(actionNode, "spec.action", false, "%s for the whole run (the experiment has no duration, so it lasts until deleted), on %s", action, dirText))
	l.setStatic(s, up, both, d.note(actionNode, "spec.action", false, ""))
	l.notes = append(l.notes, notes...)
}

// chaosSelector maps a pod selector to an endpoint through the --map
// entries of its labelSelectors.
func (d *doc) chaosSelector(sel *yaml.Node, field string, notes *[]Note) (endpoint, bool) {
	if sel == nil {
		d.errorf(nil, field, "missing; edgesim needs labelSelectors to map the pods to a site or the cloud")
		return endpoint{}, false
	}
	labels := get(sel, "labelSelectors")
	if labels == nil || len(labels.Content) == 0 {
		d.errorf(sel, field+".labelSelectors", "missing; edgesim maps pods to endpoints by their labels (--map KEY=VALUE:ENDPOINT)")
		return endpoint{}, false
	}
	var found []string
	var missing []string
	for i := 0; i+1 < len(labels.Content); i += 2 {
		k, v := labels.Content[i].Value, labels.Content[i+1].Value
		hit := false
		for _, m := range d.b.opts.Map {
			if m.Key == k && m.Value == v {
				hit = true
				if !slices.Contains(found, m.Endpoint) {
					found = append(found, m.Endpoint)
				}
			}
		}
		if !hit {
			missing = append(missing, k+"="+v)
		}
	}
	switch len(found) {
	case 0:
		d.errorf(labels, field+".labelSelectors", "no mapping for %s; add --map %s:site:NAME (or :cloud, :cameras:NAME)", strings.Join(missing, ", "), missing[0])
		return endpoint{}, false
	case 1:
	default:
		d.errorf(labels, field+".labelSelectors", "the labels map to several endpoints (%s); a selector must map to one", strings.Join(found, ", "))
		return endpoint{}, false
	}
	for _, k := range keys(sel) {
		switch k.Value {
		case "labelSelectors":
		case "namespaces":
			*notes = append(*notes, d.note(k, field+".namespaces", false, "dropped: edgesim's groups are not namespaced"))
		default:
			*notes = append(*notes, d.note(k, field+"."+k.Value, true, "dropped: it narrows the pods further; edgesim impairs the whole group"))
		}
	}
	e, _ := parseEndpoint(found[0])
	return e, true
}

func (d *doc) chaosShape(spec *yaml.Node, action string, notes *[]Note) shape {
	var s shape
	used := chaosActions[action]
	if slices.Contains(used, "delay") {
		if n := get(spec, "delay"); n != nil {
			d.dropUnknown(n, "spec.delay", notes, "latency", "jitter", "correlation", "reorder")
			d.dropUnknown(get(n, "reorder"), "spec.delay.reorder", notes, "reorder", "correlation", "gap")
			s.delay = d.duration(get(n, "latency"), "spec.delay.latency")
			s.jitter = d.duration(get(n, "jitter"), "spec.delay.jitter")
			s.correlation = d.percent(get(n, "correlation"), "spec.delay.correlation")
			if s.jitter != nil && *s.jitter > 0 {
				s.distribution = "normal"
				*notes = append(*notes, d.note(get(n, "jitter"), "spec.delay.jitter", false, "netem's default distribution for jitter is normal, as here"))
			}
			if r := get(n, "reorder"); r != nil {
				s.reorder = &v1alpha1.Reorder{Percent: d.percent(get(r, "reorder"), "spec.delay.reorder.reorder"),
					Correlation: d.percent(get(r, "correlation"), "spec.delay.reorder.correlation")}
				if g := get(r, "gap"); g != nil {
					v, err := strconv.Atoi(str(g))
					if err != nil || v < 0 {
						d.errorf(g, "spec.delay.reorder.gap", "%q is not a packet count", str(g))
					}
					s.reorder.Gap = &v
				}
			}
		}
	}
	prob := func(section, key string) *v1alpha1.Probability {
		n := get(spec, section)
		if n == nil || !slices.Contains(used, section) {
			return nil
		}
		d.dropUnknown(n, "spec."+section, notes, key, "correlation")
		p := d.percent(get(n, key), "spec."+section+"."+key)
		if p == nil {
			d.errorf(n, "spec."+section+"."+key, "missing")
			return nil
		}
		return &v1alpha1.Probability{Percent: p, Correlation: d.percent(get(n, "correlation"), "spec."+section+".correlation")}
	}
	if p := prob("loss", "loss"); p != nil {
		s.loss, s.lossCorr = p.Percent, p.Correlation
	}
	s.duplicate = prob("duplicate", "duplicate")
	s.corrupt = prob("corrupt", "corrupt")
	if n := get(spec, "rate"); n != nil && slices.Contains(used, "rate") {
		s.rate = d.rate(get(n, "rate"), "spec.rate.rate", "Chaos Mesh", notes)
	}
	if n := get(spec, "bandwidth"); n != nil && action == "bandwidth" {
		d.dropUnknown(n, "spec.bandwidth", notes, "rate", "limit", "buffer", "peakrate", "minburst")
		s.rate = d.rate(get(n, "rate"), "spec.bandwidth.rate", "Chaos Mesh", notes)
		if lim := get(n, "limit"); lim != nil {
			v, err := strconv.ParseUint(str(lim), 10, 63)
			if err != nil || v == 0 {
				d.errorf(lim, "spec.bandwidth.limit", "%q is not a number of bytes", str(lim))
			} else {
				s.queue = &v1alpha1.QueueLimit{Bytes: units.ByteSize(v)}
				*notes = append(*notes, d.note(lim, "spec.bandwidth.limit", false, "%d bytes that may wait in tbf's queue = rate.queue %s", v, s.queue))
			}
		}
		if buf := get(n, "buffer"); buf != nil {
			v, err := strconv.ParseUint(str(buf), 10, 63)
			switch {
			case err != nil || v == 0:
				d.errorf(buf, "spec.bandwidth.buffer", "%q is not a number of bytes", str(buf))
			case v < 1500:
				s.burst = ptr(units.ByteSize(1500))
				*notes = append(*notes, d.note(buf, "spec.bandwidth.buffer", true, "a %d-byte bucket cannot send a full 1500-byte packet; edgesim's smallest burst is 1500B", v))
			default:
				s.burst = ptr(units.ByteSize(v))
				*notes = append(*notes, d.note(buf, "spec.bandwidth.buffer", false, "tbf's bucket of %d bytes = rate.burst %s", v, s.burst))
			}
		}
		for _, k := range []string{"peakrate", "minburst"} {
			if v := get(n, k); v != nil {
				*notes = append(*notes, d.note(v, "spec.bandwidth."+k, true, "dropped: edgesim's token bucket has no peak rate"))
			}
		}
	}
	return s
}

// rate reads a tc-style rate and notes the byte conversion.
func (d *doc) rate(n *yaml.Node, field, tool string, notes *[]Note) *units.BitRate {
	if n == nil {
		d.errorf(nil, field, "missing")
		return nil
	}
	r, why, err := tcRate(str(n))
	if err != nil {
		d.errorf(n, field, "%v", err)
		return nil
	}
	if why != "" {
		*notes = append(*notes, d.note(n, field, false, "%s: %s hands it to tc, which reads %s", why, tool, "\"bps\" as bytes per second"))
	}
	return &r
}
