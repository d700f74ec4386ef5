package importers

import (
	"math"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

var linkShapeFields = []string{"Latency", "Jitter", "Bandwidth", "Filter", "Loss", "Corrupt", "CorruptCorr",
	"Reorder", "ReorderCorr", "Duplicate", "DuplicateCorr"}

// testground maps a Testground network LinkShape (sdk-go network package),
// alone or as the Default of a network Config, as JSON. The shape applies
// to the instance's outbound traffic: --from -> --to.
func (b *builder) testground(in Input) {
	root, d := b.parse(in)
	if root == nil {
		return
	}
	shapeNode, field := root, ""
	if def := get(root, "Default"); def != nil {
		shapeNode, field = def, "Default."
		for _, k := range keys(root) {
			switch k.Value {
			case "Default", "Network", "Enable", "CallbackState", "CallbackTarget":
			case "Rules":
				if r := get(root, "Rules"); r != nil && len(r.Content) > 0 {
					d.errorf(k, "Rules", "per-subnet rules have no edgesim endpoint; import each rule's LinkShape on its own with --from/--to")
				}
			default:
				b.notes = append(b.notes, d.note(k, k.Value, true, "dropped: edgesim has no equivalent"))
			}
		}
	}
	if b.opts.From == "" || b.opts.To == "" {
		d.errorf(shapeNode, "LinkShape", "a LinkShape does not say which link it shapes; give --from ENDPOINT (the instance) and --to ENDPOINT (its peer)")
		return
	}
	from, _ := parseEndpoint(b.opts.From)
	to, _ := parseEndpoint(b.opts.To)
	var notes []Note
	num := func(k string) (float64, *yaml.Node) {
		n := get(shapeNode, k)
		if n == nil {
			return 0, nil
		}
		v, err := strconv.ParseFloat(str(n), 64)
		if err != nil || v < 0 || math.IsNaN(v) {
			d.errorf(n, field+k, "%q is not a non-negative number", str(n))
			return 0, n
		}
		return v, n
	}
	for _, k := range keys(shapeNode) {
		if !slices.Contains(linkShapeFields, k.Value) {
			d.errorf(k, field+k.Value, "unknown LinkShape field; Testground's are %v", linkShapeFields)
		}
	}
	var s shape
	if v, n := num("Latency"); v > 0 {
		s.delay = dur(time.Duration(v))
		notes = append(notes, d.note(n, field+"Latency", false, "%g ns (Go's time.Duration in JSON) = %s", v, s.delay))
	}
	if v, n := num("Jitter"); v > 0 {
		s.jitter = dur(time.Duration(v))
		s.distribution = "normal"
		notes = append(notes, d.note(n, field+"Jitter", false, "%g ns = %s, normal as netem's default", v, s.jitter))
	}
	if v, n := num("Bandwidth"); v > 0 {
		r := units.BitRate(math.Round(v * 8))
		s.rate = &r
		notes = append(notes, d.note(n, field+"Bandwidth", false, "Testground's Bandwidth is in BYTES per second: %g B/s x 8 = %s", v, r))
	}
	probability := func(k, corr string) *v1alpha1.Probability {
		v, n := num(k)
		if v == 0 {
			return nil
		}
		if v > 100 {
			d.errorf(n, field+k, "%g is above 100%%", v)
		}
		p := &v1alpha1.Probability{Percent: pct(v)}
		if c, _ := num(corr); c > 0 {
			p.Correlation = pct(c)
		}
		return p
	}
	if p := probability("Loss", ""); p != nil {
		s.loss = p.Percent
	}
	s.corrupt = probability("Corrupt", "CorruptCorr")
	s.duplicate = probability("Duplicate", "DuplicateCorr")
	if p := probability("Reorder", "ReorderCorr"); p != nil {
		if s.delay == nil {
			notes = append(notes, d.note(get(shapeNode, "Reorder"), field+"Reorder", true, "dropped: reordering needs a Latency (netem sends the reordered packets without it)"))
		} else {
			s.reorder = &v1alpha1.Reorder{Percent: p.Percent, Correlation: p.Correlation}
		}
	}
	if len(b.errs) > 0 {
		return
	}
	l, up, err := b.link(from, to)
	if err != nil {
		d.errorf(shapeNode, "--from/--to", "%v", err)
		return
	}
	if v, n := num("Filter"); v != 0 {
		// Filter: 0 Accept, 1 Reject, 2 Drop.
		notes = append(notes, d.note(n, field+"Filter", v == 1, "Filter %g drops all traffic %s -> %s: a partition for the whole run%s", v, from, to,
			map[bool]string{true: " (Reject also answers with ICMP, edgesim drops silently; and it cuts both directions)", false: " (it cuts both directions)"}[v == 1]))
		if v == 2 {
			notes[len(notes)-1].Approximate = true
		}
		b.addFault(v1alpha1.Fault{At: dur(0), Action: "partition", Target: v1alpha1.FaultTarget{Link: l.spec.Name}}, nil)
	}
	notes = append(notes, d.note(shapeNode, field+"LinkShape", false, "shapes %s -> %s (the instance's outbound traffic), the link's %s direction, for the whole run", from, to,
		map[bool]string{true: "up", false: "down"}[up]))
	l.setStatic(s, up, false, d.note(shapeNode, field+"LinkShape", false, ""))
	l.notes = append(l.notes, notes...)
}
