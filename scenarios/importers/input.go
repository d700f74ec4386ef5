package importers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/units"
)

// doc is a parsed YAML or JSON input with its file name, for errors and
// notes that name the line of a field.
type doc struct {
	b    *builder
	file string
}

func (b *builder) parse(in Input) (*yaml.Node, *doc) {
	docs, d := b.parseAll(in)
	if len(docs) > 1 {
		b.errorf(in.Name, docs[1].Line, "", "a second YAML document; this format is one document per file")
		return nil, d
	}
	if len(docs) == 0 {
		return nil, d
	}
	return docs[0], d
}

// parseAll returns the top-level mapping of every document of in.
func (b *builder) parseAll(in Input) ([]*yaml.Node, *doc) {
	d := &doc{b: b, file: in.Name}
	dec := yaml.NewDecoder(bytes.NewReader(in.Data))
	var out []*yaml.Node
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.errorf(in.Name, 0, "", "cannot parse: %v", err)
			return nil, d
		}
		if len(root.Content) == 0 {
			continue
		}
		if root.Content[0].Kind != yaml.MappingNode {
			b.errorf(in.Name, root.Content[0].Line, "", "expected a mapping at the top level")
			return nil, d
		}
		out = append(out, root.Content[0])
	}
	if len(out) == 0 {
		b.errorf(in.Name, 0, "", "empty file")
	}
	return out, d
}

func (d *doc) errorf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.b.errorf(d.file, line, field, format, args...)
}

func (d *doc) note(n *yaml.Node, field string, approx bool, format string, args ...any) Note {
	line := 0
	if n != nil {
		line = n.Line
	}
	return Note{File: d.file, Line: line, Field: field, Approximate: approx, Msg: fmt.Sprintf(format, args...)}
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// keys returns the keys of mapping m with their key nodes.
func keys(m *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, m.Content[i])
	}
	return out
}

// str returns the scalar value of n ("" for nil).
func str(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Value)
}

func (d *doc) duration(n *yaml.Node, field string) *units.Duration {
	if n == nil {
		return nil
	}
	v, err := units.ParseDuration(str(n))
	if err != nil || v < 0 {
		d.errorf(n, field, "%q is not a duration such as 10ms", str(n))
		return nil
	}
	return &v
}

// percent reads a percentage written as "25", "25%" or a number.
func (d *doc) percent(n *yaml.Node, field string) *units.Percent {
	if n == nil || str(n) == "" {
		return nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(str(n), "%"), 64)
	if err != nil || v < 0 || v > 100 || math.IsNaN(v) {
		d.errorf(n, field, "%q is not a percentage from 0 to 100", str(n))
		return nil
	}
	return pct(v)
}

// tcRates are tc's rate units (tc(8) "RATES"), matched without regard to
// case as tc does: "bit" units are bits per second, "bps" units are BYTES
// per second.
var tcRates = []struct {
	unit  string
	bits  float64 // bits per second per unit
	bytes bool
}{
	{"bit", 1, false}, {"kibit", 1024, false}, {"kbit", 1e3, false}, {"mibit", 1 << 20, false}, {"mbit", 1e6, false},
	{"gibit", 1 << 30, false}, {"gbit", 1e9, false}, {"tibit", 1 << 40, false}, {"tbit", 1e12, false},
	{"bps", 8, true}, {"kibps", 8 * 1024, true}, {"kbps", 8e3, true}, {"mibps", 8 << 20, true}, {"mbps", 8e6, true},
	{"gibps", 8 << 30, true}, {"gbps", 8e9, true}, {"tibps", 8 << 40, true}, {"tbps", 8e12, true},
}

// tcRate parses a rate with tc's units. It returns the rate and, for byte
// units, an explanation of the conversion.
func tcRate(s string) (units.BitRate, string, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, "", fmt.Errorf("%q is not a rate with tc's units (e.g. 1mbit, 100kbps)", s)
	}
	v, err := strconv.ParseFloat(t[:i], 64)
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	if err != nil || v <= 0 {
		return 0, "", fmt.Errorf("%q is not a positive rate", s)
	}
	for _, u := range tcRates {
		if u.unit == unit {
			bits := v * u.bits
			r := units.BitRate(math.Round(bits))
			if !u.bytes {
				return r, "", nil
			}
			return r, fmt.Sprintf("%q is in BYTES per second (tc's %q unit): %s B/s x 8 = %s", s, t[i:], strconv.FormatFloat(bits/8, 'f', -1, 64), r), nil
		}
	}
	return 0, "", fmt.Errorf("%q has unit %q, which is not one of tc's rate units (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps, ...)", s, t[i:])
}

// dropUnknown notes every key of mapping n that is not allowed as dropped.
func (d *doc) dropUnknown(n *yaml.Node, field string, notes *[]Note, allowed ...string) {
	for _, k := range keys(n) {
		if !slices.Contains(allowed, k.Value) {
			*notes = append(*notes, d.note(k, field+"."+k.Value, true, "dropped: not a field edgesim maps"))
		}
	}
}
