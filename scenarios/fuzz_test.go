package scenarios_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgesim/edgesim/scenarios"
)

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic or
// hang, and must either return a usable scenario or a non-empty ErrorList of
// located problems.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 60s ./scenarios/
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "examples/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("spec: &a [*a]"))
	f.Add([]byte("{apiVersion: edgesim.dev/v1alpha1, kind: Scenario, metadata: {name: x}, spec: {duration: 1s, sites: [{name: a}]}}"))
	base, err := filepath.Abs("testdata")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenarios.Load("fuzz.yaml", data, base)
		if err != nil {
			var list scenarios.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			for _, e := range list {
				if e.Msg == "" || e.File != "fuzz.yaml" || e.Line < 0 || e.Col < 0 {
					t.Fatalf("malformed problem %+v", e)
				}
			}
			if s != nil {
				t.Fatal("a scenario was returned with an error")
			}
			return
		}
		if s == nil || s.Duration <= 0 || len(s.Sites) == 0 || len(s.Cloud.Nodes) == 0 {
			t.Fatalf("valid scenario is incomplete: %+v", s)
		}
		for _, l := range s.Links {
			for _, d := range []scenarios.Direction{l.Up, l.Down} {
				if d.Delay < 0 || d.Jitter < 0 || d.Rate < 0 {
					t.Fatalf("link %s has a negative value: %+v", l.Name, d)
				}
			}
		}
	})
}
