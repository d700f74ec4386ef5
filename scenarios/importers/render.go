package importers

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

const (
	defaultDuration = 60 * time.Second
	// recovery is the run time kept after the last timed fault ends, so
	// that the run shows the recovery too.
	recovery = 30 * time.Second
)

var badName = regexp.MustCompile(`[^a-z0-9-]+`)

func scenarioName(s string) string {
	s = strings.Trim(badName.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		return "imported"
	}
	return s
}

func (b *builder) render(format string, inputs []Input) (*Result, error) {
	name := scenarioName(firstNonEmpty(b.opts.Name, b.name))
	var durNote string
	duration := b.opts.Duration
	switch {
	case b.duration > 0 && duration == 0:
		duration = b.duration + recovery
		durNote = fmt.Sprintf("the last timed impairment ends at %s; %s more show the recovery", units.Duration(b.duration), units.Duration(recovery))
	case duration == 0:
		duration = defaultDuration
		durNote = "the input has no overall duration; set the run's length (--duration)"
	case duration <= b.duration:
		return nil, scenarios.ErrorList{{Path: "--duration", Msg: fmt.Sprintf("%s is too short: the imported faults run until %s", units.Duration(duration), units.Duration(b.duration))}}
	}

	var notes []Note
	notes = append(notes, b.notes...)
	head := []string{
		fmt.Sprintf("Imported by `edgesim import %s` from %s.", format, names(inputs)),
		"Comments say how each value was converted; APPROXIMATE marks a change of meaning.",
		"Check it with `edgesim validate FILE`.",
	}
	head = append(head, noteLines(b.notes)...)

	spec := &yaml.Node{Kind: yaml.MappingNode}
	addPair(spec, "duration", scalar(units.Duration(duration).String()), durNote)
	sites := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range b.sites {
		site := &yaml.Node{Kind: yaml.MappingNode}
		addPair(site, "name", scalar(s), "")
		cams := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		cams.Content = append(cams.Content, mapping("count", "1"))
		addPair(site, "cameras", cams, "")
		sites.Content = append(sites.Content, site)
	}
	if len(sites.Content) > 0 {
		sites.Content[0].HeadComment = comment([]string{"a placeholder fleet (one edge node and one camera per site): describe yours"})
	}
	addPair(spec, "sites", sites, "")

	links := &yaml.Node{Kind: yaml.SequenceNode}
	for _, key := range b.linkOrder {
		l := b.links[key]
		n, err := encode(l.spec)
		if err != nil {
			return nil, err
		}
		lines := noteLines(l.notes)
		if l.spec.Profile == "" {
			lines = append(lines, "no profile: only what the input asks for (add profile: lan for a switched LAN underneath)")
		}
		n.HeadComment = comment(lines)
		links.Content = append(links.Content, n)
		notes = append(notes, l.notes...)
	}
	addPair(spec, "links", links, "")

	if len(b.faults) > 0 {
		faults := &yaml.Node{Kind: yaml.SequenceNode}
		for _, f := range b.faults {
			n, err := encode(f.spec)
			if err != nil {
				return nil, err
			}
			n.HeadComment = comment(noteLines(f.notes))
			faults.Content = append(faults.Content, n)
			notes = append(notes, f.notes...)
		}
		addPair(spec, "faults", faults, "")
	}

	doc := &yaml.Node{Kind: yaml.MappingNode}
	addPair(doc, "apiVersion", scalar(v1alpha1.APIVersion), "")
	addPair(doc, "kind", scalar(v1alpha1.Kind), "")
	meta := &yaml.Node{Kind: yaml.MappingNode}
	addPair(meta, "name", scalar(name), "")
	addPair(meta, "description", scalar("imported from "+format+": "+names(inputs)), "")
	addPair(doc, "metadata", meta, "")
	addPair(doc, "spec", spec, "")
	doc.HeadComment = comment(head)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return &Result{YAML: buf.Bytes(), Notes: sortedNotes(notes)}, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func comment(lines []string) string {
	var out []string
	for _, l := range lines {
		out = append(out, "# "+l)
	}
	return strings.Join(out, "\n")
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func mapping(kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for i := 0; i+1 < len(kv); i += 2 {
		addPair(m, kv[i], &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: kv[i+1]}, "")
	}
	return m
}

func addPair(m *yaml.Node, key string, v *yaml.Node, note string) {
	k := scalar(key)
	if note != "" {
		k.HeadComment = comment([]string{note})
	}
	m.Content = append(m.Content, k, v)
}

// encode turns a v1alpha1 value into a node without the unset fields.
func encode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	prune(&n)
	flowBetween(&n)
	return &n, nil
}

// prune drops null, empty and false values from mappings, recursively.
func prune(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode:
		var kept []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !prune(n.Content[i+1]) {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
		return len(kept) == 0
	case yaml.SequenceNode:
		for _, c := range n.Content {
			prune(c)
		}
		return len(n.Content) == 0
	case yaml.ScalarNode:
		return n.Tag == "!!null" || (n.Tag == "!!str" && n.Value == "") || (n.Tag == "!!bool" && n.Value == "false")
	}
	return false
}

func flowBetween(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "between" {
			n.Content[i+1].Style = yaml.FlowStyle
		}
		if v := n.Content[i+1]; v.Kind == yaml.MappingNode && len(v.Content) <= 6 && allScalars(v) {
			v.Style = yaml.FlowStyle
		} else {
			flowBetween(v)
		}
	}
}

func allScalars(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

func noteLines(notes []Note) []string {
	var out []string
	for _, n := range sortedNotes(notes) {
		out = append(out, n.String())
	}
	return out
}
