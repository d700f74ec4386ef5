package reports_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/render"
)

// FuzzSamples feeds arbitrary samples files through the whole pipeline:
// decoding either fails cleanly or the run is analysed, or rejected with
// ErrInvalidRun, and every format renders without panicking.
func FuzzSamples(f *testing.F) {
	var buf bytes.Buffer
	if err := reports.WriteSamples(&buf, fixtureRun()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schemaVersion":"edgesim.dev/samples/v1","scenario":"x","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:01Z","cameras":[{"id":"c","placement":"edge","frames":[{"frame":1,"capture":"2026-01-01T00:00:00.5Z","answered":true,"latencyNs":-5}]}],"faults":[{"at":"2026-01-01T00:00:00Z","kind":"kill","target":"c"}],"slo":{"latency":[{"percentile":100,"maxNs":1}]}}`))
	f.Add([]byte(`{"schemaVersion":"edgesim.dev/samples/v1","scenario":"k","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","cameras":[{"id":"c","placement":"edge","nodes":["n"],"frames":[{"frame":1,"capture":"2026-01-01T00:00:01Z","answered":true,"latencyNs":5},{"frame":2,"capture":"2026-01-01T00:00:30Z","answered":true,"latencyNs":5}],"reconnects":[{"lost":"2026-01-01T00:00:11Z","connected":"2026-01-01T00:00:20Z"},{"lost":"2026-01-01T00:00:40Z"}]}],"faults":[{"at":"2026-01-01T00:00:10Z","kind":"kill","target":"n"}],"clusterEvents":[{"at":"2026-01-01T00:00:15Z","kind":"NodeNotReady","node":"n"},{"at":"2026-01-01T00:00:16Z","kind":"PodDeleted","node":"n","pod":"p1","workload":"w"},{"at":"2026-01-01T00:00:17Z","kind":"PodScheduled","node":"m","pod":"p2","workload":"w"},{"at":"2026-01-01T00:00:25Z","kind":"PodReady","node":"m","pod":"p2","workload":"w"},{"kind":"Bogus","node":"n"}],"slo":{"failoverMaxNs":30000000000}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := reports.ReadSamples(bytes.NewReader(data))
		if err != nil {
			return
		}
		res, err := reports.Analyze(run)
		if err != nil {
			return
		}
		for _, format := range render.AllFormats() {
			if err := render.Render(context.Background(), io.Discard, res, format); err != nil {
				t.Fatalf("render %s: %v", format, err)
			}
		}
	})
}
