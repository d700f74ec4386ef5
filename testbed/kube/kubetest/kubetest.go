// Package kubetest helps specs read rendered manifests: the suites of the
// Kubernetes layer and of the providers built on it use it.
package kubetest

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Plan is the plan of an embedded example scenario; it panics when the
// example does not load, which fails the spec that asked.
func Plan(example string, compare bool) *provider.Plan {
	sc, err := scenarios.Example(example)
	if err != nil {
		panic(fmt.Sprintf("example %s: %v", example, err))
	}
	p, err := provider.NewPlan(sc, compare)
	if err != nil {
		panic(fmt.Sprintf("plan of example %s: %v", example, err))
	}
	return p
}

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
