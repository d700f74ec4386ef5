package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://edgesim.dev/schemas/v1alpha1/scenario.schema.json"

// Value types written as text, with the pattern an editor can check.
var textSchemas = map[reflect.Type]map[string]any{
	reflect.TypeFor[units.Duration](): {
		"type": "string", "pattern": `^(0|-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`,
		"description": "A duration with its unit: 20ms, 1.5s, 2m30s. Bare numbers are rejected.",
		"examples":    []string{"20ms", "1.5s", "2m"},
	},
	reflect.TypeFor[units.BitRate](): {
		"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?\s*([kKmMgGtT]?bit(/s)?|[kKmMgGtT]?b/s|([kKMG]|[KMG]i)?B/s)$`,
		"description": "Bits per second as 800Kbit, 10Mbit, 1Gbit (optionally /s), or bytes per second as 12.5MB/s. The ambiguous mbps spelling is rejected.",
		"examples":    []string{"800Kbit", "10Mbit", "12.5MB/s"},
	},
	reflect.TypeFor[units.ByteSize](): {
		"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?\s*(B|[kKMG]B?|[KMG]i(B)?)$`,
		"description": "A size in bytes: 1500B, 100KB, 64KiB, 512Mi.",
		"examples":    []string{"100KB", "512Mi"},
	},
	reflect.TypeFor[units.Percent](): {
		"anyOf": []any{
			map[string]any{"type": "number", "minimum": 0, "maximum": 100},
			map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?\s*%?$`},
		},
		"description": "A percentage 0-100: 1.5% or 1.5 (a bare number is percent).",
	},
	reflect.TypeFor[units.MilliCPU](): {
		"anyOf": []any{
			map[string]any{"type": "number", "exclusiveMinimum": 0},
			map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?m?$`},
		},
		"description": "CPU: cores (2, 1.5) or millicores (500m).",
	},
	reflect.TypeFor[units.TimeOfDay](): {
		"type": "string", "pattern": `^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$`,
		"description": "24-hour time of day, HH:MM or HH:MM:SS.",
	},
	reflect.TypeFor[v1alpha1.QueueLimit](): {
		"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?\s*(B|[kKMG]B?|[KMG]i(B)?|packets?|pkts|p)$`,
		"description": "Queue limit in bytes (100KB) or packets (200packets).",
	},
	reflect.TypeFor[v1alpha1.Resolution](): {
		"type": "string", "pattern": `^[0-9]+x[0-9]+$`,
		"description": "Frame size WIDTHxHEIGHT, e.g. 640x360.",
	},
}

type schemaGen struct {
	defs map[string]any
}

// JSONSchema returns the JSON Schema (draft 2020-12) of a scenario file,
// generated from the v1alpha1 types, indented and newline-terminated. The
// committed copy is scenarios/scenario.schema.json.
func JSONSchema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	root := g.structSchema(reflect.TypeFor[v1alpha1.Scenario]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "edgesim scenario (" + v1alpha1.APIVersion + ")"
	root["description"] = "An edgesim scenario: tiers, links, workload, faults, SLOs and report. Units are explicit: 20ms, 10Mbit, 100KB, 1%."
	root["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		panic(fmt.Sprintf("scenarios: encoding the JSON Schema: %v", err)) // static data; cannot fail
	}
	return buf.Bytes()
}

func (g *schemaGen) typeSchema(t reflect.Type, f *reflect.StructField) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := textSchemas[t]; ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		return out
	}
	enum := ""
	if f != nil {
		enum = f.Tag.Get("enum")
	}
	switch t.Kind() {
	case reflect.Struct:
		name := t.Name()
		if _, done := g.defs[name]; !done {
			g.defs[name] = true // placeholder against recursion
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Slice:
		var item map[string]any
		if enum != "" && t.Elem().Kind() == reflect.String {
			item = map[string]any{"type": "string", "enum": strings.Split(enum, "|")}
		} else {
			item = g.typeSchema(t.Elem(), nil)
		}
		out := map[string]any{"type": "array", "items": item}
		if f != nil {
			if n, err := strconv.Atoi(f.Tag.Get("len")); err == nil {
				out["minItems"], out["maxItems"] = n, n
			}
		}
		return out
	case reflect.Map:
		out := map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), nil)}
		if f != nil && f.Tag.Get("keys") != "" {
			out["propertyNames"] = map[string]any{"pattern": f.Tag.Get("keys")}
		}
		return out
	case reflect.String:
		out := map[string]any{"type": "string"}
		if enum != "" {
			out["enum"] = strings.Split(enum, "|")
		}
		return out
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	panic("scenarios: no JSON Schema for " + t.String())
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var shorthand map[string]any
	for _, sf := range structFieldsWithType(t) {
		s := g.typeSchema(sf.field.Type, &sf.field)
		if doc := sf.field.Tag.Get("doc"); doc != "" {
			s["description"] = doc
		}
		props[sf.name] = s
		if sf.required {
			required = append(required, sf.name)
		}
		if sf.shorthand {
			shorthand = g.typeSchema(sf.field.Type, &sf.field)
		}
	}
	obj := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		obj["required"] = required
	}
	if shorthand != nil {
		return map[string]any{"anyOf": []any{obj, shorthand}}
	}
	return obj
}

type typedField struct {
	structField
	field reflect.StructField
}

func structFieldsWithType(t reflect.Type) []typedField {
	var out []typedField
	for _, f := range fieldsOf(t) {
		out = append(out, typedField{structField: f, field: t.FieldByIndex(f.index)})
	}
	return out
}
