package testbed_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports/render"
	"github.com/edgesim/edgesim/testbed"
)

func TestTestbed(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testbed")
}

// writeReports renders every report format into the run's directory, as
// cmd/edgesim does (testbed.Options.Report).
func writeReports(ctx context.Context, res *testbed.Result) error {
	return render.WriteAll(ctx, res.Dir, res.Report, nil)
}
