package scenarios

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pos is a position in the source file.
type pos struct{ line, col int }

// maxNodes bounds the work on one document, so that alias expansion
// ("billion laughs") cannot blow up.
const maxNodes = 200000

// decoder decodes a yaml.Node tree into the external Go types, strictly:
// unknown or duplicate fields, wrong kinds and malformed values are all
// collected with their position and path instead of stopping at the first.
type decoder struct {
	file   string
	errs   ErrorList
	pos    map[string]pos  // field path -> position of its value
	bad    map[string]bool // field paths whose value could not be decoded
	nodes  int
	budget bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: map[string]pos{}, bad: map[string]bool{}}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &FieldError{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	d.bad[path] = true
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads exactly one YAML document.
func (d *decoder) parse(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML parser must never take the process down on bad input.
		if r := recover(); r != nil {
			d.errs = append(d.errs, &FieldError{File: d.file, Msg: fmt.Sprintf("YAML parser failed: %v", r)})
			root = nil
		}
	}()
	// yaml.Unmarshal, not yaml.NewDecoder: the streaming decoder of
	// yaml.v3 v3.0.1 can spin forever on some malformed input (found by
	// FuzzDecode); Unmarshal reads the first document only.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.syntaxError(err)
		return nil
	}
	if doc.Kind == 0 {
		d.errs = append(d.errs, &FieldError{File: d.file, Msg: "the file is empty; start from `edgesim schema` or scenarios/examples/quickstart.yaml"})
		return nil
	}
	if line := secondDocument(data); line > 0 {
		d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Col: 1,
			Msg: "a scenario file holds one YAML document; remove the second one (after ---) or put it in its own file"})
	}
	if len(doc.Content) == 0 {
		d.errs = append(d.errs, &FieldError{File: d.file, Msg: "the file is empty"})
		return nil
	}
	return doc.Content[0]
}

// secondDocument returns the line of a document marker ("---" or "...")
// that follows content, or 0.
func secondDocument(data []byte) int {
	content := false
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		isMarker := line == "---" || strings.HasPrefix(line, "--- ") || line == "..." || strings.HasPrefix(line, "... ")
		switch {
		case isMarker && content:
			return i + 1
		case isMarker, strings.TrimSpace(line) == "", strings.HasPrefix(strings.TrimSpace(line), "#"), strings.HasPrefix(line, "%"):
		default:
			content = true
		}
	}
	return 0
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	fe := &FieldError{File: d.file, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = "YAML syntax: " + m[2]
	}
	d.errs = append(d.errs, fe)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlNodeType        = reflect.TypeFor[yaml.Node]()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.nodes++
	if d.nodes > maxNodes {
		if !d.budget {
			d.budget = true
			d.errorf(n, path, "document too large or aliases expand too much (over %d nodes)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.errorf(n, path, "unknown alias")
			return
		}
		d.decode(n.Alias, v, path)
		return
	}
	if _, seen := d.pos[path]; !seen {
		d.pos[path] = pos{n.Line, n.Column}
	}
	if v.Type() == yamlNodeType {
		v.Set(reflect.ValueOf(*n)) // kept raw for the caller to read
		return
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	if v.Kind() == reflect.Pointer {
		if isNull {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		// decode records the position already; undo the double count.
		d.nodes--
		return
	}
	if isNull {
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a single value, got %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.errorf(n, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping (key: value), got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errorf(k, path, "keys must be plain strings")
				continue
			}
			if seen[k.Value] {
				d.errorf(k, join(path, k.Value), "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, ev, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.errorf(n, path, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.errorf(n, path, "expected an integer, got %s", kindName(n))
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.errorf(n, path, "expected a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "unsupported field type %s", v.Type())
	}
}

// peerSynonyms maps the words of tools users already know (tc netem, Chaos
// Mesh, Fogify, Kubernetes) to edgesim's field names, for better hints than
// spelling distance gives.
var peerSynonyms = map[string]struct{ field, why string }{
	"latency":     {"delay", "netem and Chaos Mesh call it latency"},
	"deviation":   {"jitter", "Fogify calls it deviation"},
	"bandwidth":   {"rate", "Chaos Mesh and Fogify call it bandwidth"},
	"drop":        {"loss", "Fogify calls it drop"},
	"uplink":      {"up", "Fogify calls it uplink"},
	"downlink":    {"down", "Fogify calls it downlink"},
	"limit":       {"queue", "tc calls the queue size limit"},
	"buffer":      {"burst", "tc tbf calls the bucket size buffer"},
	"replicas":    {"nodes", "a site's node count"},
	"framerate":   {"fps", "frames per second"},
	"ratelimit":   {"rate", "bandwidth per direction"},
	"gemodel":     {"gilbertElliott", "netem's loss gemodel"},
	"state":       {"markov4", "netem's 4-state loss state model"},
	"duplication": {"duplicate", "netem's duplicate"},
	"corruption":  {"corrupt", "netem's corrupt"},
	"reordering":  {"reorder", "netem's reorder"},
	"time":        {"at", "when the fault or event starts"},
	"start":       {"at", "when the fault or event starts"},
	"kind":        {"action", "what the fault does"},
	"type":        {"action", "what the fault does"},
	"percentiles": {"e2eLatency", "latency percentiles, e.g. {p95: 300ms}"},
	"latencyslo":  {"e2eLatency", "latency percentiles, e.g. {p95: 300ms}"},
	"output":      {"dir", "the report directory"},
	"outputdir":   {"dir", "the report directory"},
}

// structField is one YAML key of a struct, following inline embedding.
type structField struct {
	name      string
	index     []int
	required  bool
	shorthand bool
}

func fieldsOf(t reflect.Type) []structField {
	var out []structField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			for _, sub := range fieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		es := f.Tag.Get("es")
		out = append(out, structField{
			name:      name,
			index:     []int{i},
			required:  strings.Contains(es, "required"),
			shorthand: strings.Contains(es, "shorthand"),
		})
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	fields := fieldsOf(v.Type())
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode {
			for _, f := range fields {
				if f.shorthand {
					d.decode(n, v.FieldByIndex(f.index), join(path, f.name))
					return
				}
			}
		}
		d.errorf(n, path, "expected a mapping (key: value), got %s", kindName(n))
		return
	}
	names := make([]string, len(fields))
	byName := map[string]structField{}
	for i, f := range fields {
		names[i] = f.name
		byName[f.name] = f
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain strings")
			continue
		}
		if k.Value == "<<" {
			d.errorf(k, path, "merge keys (<<) are not supported; repeat the fields or use a link profile")
			continue
		}
		f, ok := byName[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if syn, ok := peerSynonyms[strings.ToLower(k.Value)]; ok && slices.Contains(names, syn.field) {
				msg += fmt.Sprintf("; did you mean %q? (%s)", syn.field, syn.why)
			} else if m := didYouMean(k.Value, names); m != "" {
				msg += fmt.Sprintf("; did you mean %q?", m)
			} else {
				msg += "; known fields: " + strings.Join(names, ", ")
			}
			d.errorf(k, join(path, k.Value), "%s", msg)
			continue
		}
		if seen[k.Value] {
			d.errorf(k, join(path, k.Value), "field %q appears twice; keep one", k.Value)
			continue
		}
		seen[k.Value] = true
		if f.required && val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			d.errorf(val, join(path, k.Value), "required field %q has no value", k.Value)
			continue
		}
		d.decode(val, v.FieldByIndex(f.index), join(path, k.Value))
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			d.errorf(n, join(path, f.name), "required field %q is missing", f.name)
		}
	}
}
