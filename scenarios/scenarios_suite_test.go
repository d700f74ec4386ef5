package scenarios_test

import (
	"flag"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// update rewrites the golden files and the committed JSON Schema:
//
//	go test ./scenarios/ -args -update
var update = flag.Bool("update", false, "rewrite testdata/*.golden and scenario.schema.json")

func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Scenarios Suite")
}
