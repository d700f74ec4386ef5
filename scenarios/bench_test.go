package scenarios_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgesim/edgesim/scenarios"
)

// BenchmarkLoad measures decoding, validating and resolving scenarios.
//
//	go test -run '^$' -bench Load -benchmem ./scenarios/
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"examples/quickstart.yaml", "testdata/valid-full.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		base, _ := filepath.Abs(filepath.Dir(name))
		b.Run(filepath.Base(name), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := scenarios.Load(name, data, base); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("invalid-references.yaml", func(b *testing.B) {
		data, err := os.ReadFile("testdata/invalid-references.yaml")
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := scenarios.Load("x.yaml", data, "testdata"); err == nil {
				b.Fatal("expected problems")
			}
		}
	})
}

// BenchmarkJSONSchema measures generating the JSON Schema.
func BenchmarkJSONSchema(b *testing.B) {
	for b.Loop() {
		_ = scenarios.JSONSchema()
	}
}
