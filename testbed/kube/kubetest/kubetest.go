// Package kubetest helps specs read rendered manifests: the suites of the
// Kubernetes layer and of the providers built on it use it.
package kubetest

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// Docs decodes a rendered stream into generic documents keyed by
// "Kind/name".
func Docs(b []byte) map[string]map[string]any {
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		out[d["kind"].(string)+"/"+d["metadata"].(map[string]any)["name"].(string)] = d
	}
	return out
}

// Dig follows path (map keys and list indexes) into a decoded document.
func Dig(d any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			d = d.(map[string]any)[k]
		case int:
			d = d.([]any)[k]
		}
	}
	return d
}
