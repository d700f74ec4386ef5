package importers

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// containerlab maps `containerlab tools netem set` command lines, one per
// line (blank lines and # comments are skipped). Each impairs the egress
// of one node's interface: the node (--map node=NAME:ENDPOINT, or
// NAME/IFACE for one interface) -> its peer (--to).
func (b *builder) containerlab(in Input) {
	sc := bufio.NewScanner(bytes.NewReader(in.Data))
	lineNo := 0
	seen := map[string]int{}
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b.clabLine(in.Name, lineNo, line, seen)
	}
}

func (b *builder) clabLine(file string, lineNo int, line string, seen map[string]int) {
	fields := strings.Fields(strings.NewReplacer(`"`, "", `'`, "", `\`, "").Replace(line))
	if len(fields) > 0 && fields[0] == "sudo" {
		fields = fields[1:]
	}
	if len(fields) < 4 || (fields[0] != "containerlab" && fields[0] != "clab") || fields[1] != "tools" || fields[2] != "netem" || fields[3] != "set" {
		b.errorf(file, lineNo, "", "not a `containerlab tools netem set` command line")
		return
	}
	flags := map[string]string{}
	args := fields[4:]
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "-") {
			b.errorf(file, lineNo, name, "unexpected argument")
			return
		}
		if long, ok := map[string]string{"-n": "node", "-i": "interface", "-t": "topo"}[name]; ok {
			name = long
		} else if n, ok := strings.CutPrefix(name, "--"); ok {
			name = n
		} else {
			b.errorf(file, lineNo, name, "unknown flag of containerlab tools netem set")
			return
		}
		if !hasVal {
			if i+1 >= len(args) {
				b.errorf(file, lineNo, "--"+name, "needs a value")
				return
			}
			i++
			val = args[i]
		}
		if !slices.Contains([]string{"node", "interface", "topo", "delay", "jitter", "loss", "rate", "corruption"}, name) {
			b.errorf(file, lineNo, "--"+name, "unknown flag of containerlab tools netem set")
			return
		}
		flags[name] = val
	}
	node, iface := flags["node"], flags["interface"]
	if node == "" || iface == "" {
		b.errorf(file, lineNo, "--node/--interface", "both are needed to know which link is impaired")
		return
	}
	var sender string
	for _, m := range b.opts.Map {
		if m.Key == "node" && (m.Value == node+"/"+iface || (m.Value == node && sender == "")) {
			sender = m.Endpoint
		}
	}
	if sender == "" {
		b.errorf(file, lineNo, "--node", "no mapping for node %s; add --map node=%s:site:NAME (or node=%s/%s:... for this interface only)", node, node, node, iface)
		return
	}
	peer := b.opts.To
	if peer == "" || peer == sender {
		// With exactly two mapped endpoints, each node's peer is the other.
		var eps []string
		for _, m := range b.opts.Map {
			if m.Key == "node" && !slices.Contains(eps, m.Endpoint) {
				eps = append(eps, m.Endpoint)
			}
		}
		peer = ""
		if len(eps) == 2 {
			peer = eps[0]
			if peer == sender {
				peer = eps[1]
			}
		}
	}
	if peer == "" {
		b.errorf(file, lineNo, "--interface", "the peer of %s %s is not in the command line; give it with --to ENDPOINT", node, iface)
		return
	}
	from, _ := parseEndpoint(sender)
	to, _ := parseEndpoint(peer)
	note := func(field string, approx bool, format string, args ...any) Note {
		return Note{File: file, Line: lineNo, Field: field, Approximate: approx, Msg: fmt.Sprintf(format, args...)}
	}
	var notes []Note
	var s shape
	dur := func(k string) *units.Duration {
		v, ok := flags[k]
		if !ok {
			return nil
		}
		x, err := units.ParseDuration(v)
		if err != nil || x < 0 {
			b.errorf(file, lineNo, "--"+k, "%q is not a duration such as 10ms", v)
			return nil
		}
		return &x
	}
	percent := func(k string) *units.Percent {
		v, ok := flags[k]
		if !ok {
			return nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 || x > 100 {
			b.errorf(file, lineNo, "--"+k, "%q is not a percentage from 0 to 100", v)
			return nil
		}
		return pct(x)
	}
	s.delay, s.jitter = dur("delay"), dur("jitter")
	if s.jitter != nil && *s.jitter > 0 {
		s.distribution = "normal"
	}
	s.loss = percent("loss")
	if p := percent("corruption"); p != nil {
		s.corrupt = &v1alpha1.Probability{Percent: p}
	}
	if v, ok := flags["rate"]; ok {
		k, err := strconv.ParseUint(v, 10, 40)
		if err != nil {
			b.errorf(file, lineNo, "--rate", "%q is not a whole number of kbit/s", v)
			return
		}
		if k > 0 {
			r := units.BitRate(k) * units.Kbit
			s.rate = &r
			notes = append(notes, note("--rate", false, "%d is in kbit/s (1 kbit = 1000 bit): %s", k, r))
		}
	}
	if _, ok := flags["topo"]; ok {
		notes = append(notes, note("--topo", false, "dropped: only locates the lab"))
	}
	if len(b.errs) > 0 {
		return
	}
	l, up, err := b.link(from, to)
	if err != nil {
		b.errorf(file, lineNo, "--node", "%v", err)
		return
	}
	key := fmt.Sprintf("%s|%v", l.spec.Name, up)
	if prev, ok := seen[key]; ok {
		notes = append(notes, note("--node", false, "replaces line %d's settings for the same direction, as netem set replaces the interface's qdisc", prev))
	}
	seen[key] = lineNo
	if up { // netem set replaces the direction's settings
		l.spec.Up = nil
	} else {
		l.spec.Down = nil
	}
	if r := l.spec.Rate; r != nil {
		// netem set replaces the direction's settings, rate included.
		if up {
			r.Up = nil
		} else {
			r.Down = nil
		}
		if r.Up == nil && r.Down == nil && r.Both == nil {
			l.spec.Rate = nil
		}
	}
	notes = append(notes, note("--interface", false, "%s %s egress: %s -> %s, the link's %s direction, for the whole run", node, iface, from, to,
		map[bool]string{true: "up", false: "down"}[up]))
	l.setStatic(s, up, false, note("--node", false, ""))
	l.notes = append(l.notes, notes...)
}
