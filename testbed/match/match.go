// Package match holds Gomega matchers for edgesim run results, for teams'
// own Ginkgo suites:
//
//	res, err := testbed.Run(ctx, sc, testbed.Options{Binaries: bins})
//	Expect(err).NotTo(HaveOccurred())
//	Expect(res).To(match.MeetSLOs())
//	Expect(res).To(match.HaveLatencyPercentile(95, BeNumerically("<", 300*time.Millisecond)))
//	Expect(res).To(match.AlertWithin(5 * time.Second))
//
// Every matcher takes a *testbed.Result or a *reports.Result, and its
// failure message says what was measured rather than dumping the result.
package match

import (
	"fmt"
	"strings"
	"time"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/testbed"
)

func result(actual any) (*reports.Result, error) {
	switch r := actual.(type) {
	case *testbed.Result:
		if r == nil || r.Report == nil {
			return nil, fmt.Errorf("the run produced no report")
		}
		return r.Report, nil
	case *reports.Result:
		if r == nil {
			return nil, fmt.Errorf("nil report")
		}
		return r, nil
	}
	return nil, fmt.Errorf("expected a *testbed.Result or *reports.Result, got\n%s", format.Object(actual, 1))
}

// check is a matcher over a result: fn says whether it holds and what was
// measured.
type check struct {
	want   string
	fn     func(*reports.Result) (ok bool, measured string, err error)
	detail string
}

func (c *check) Match(actual any) (bool, error) {
	r, err := result(actual)
	if err != nil {
		return false, err
	}
	ok, detail, err := c.fn(r)
	c.detail = detail
	return ok, err
}

func (c *check) FailureMessage(any) string {
	return fmt.Sprintf("Expected the run to %s, but:\n%s", c.want, c.detail)
}

func (c *check) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected the run not to %s, but it did:\n%s", c.want, c.detail)
}

// MeetSLOs succeeds when the run is complete and every SLO verdict passed;
// its failure message lists the failing SLOs with measured and limit.
func MeetSLOs() types.GomegaMatcher {
	return &check{want: "meet its SLOs", fn: func(r *reports.Result) (bool, string, error) {
		ok := !r.Partial && reports.ExitCode(r) == 0
		if ok {
			return true, "every SLO held", nil
		}
		return false, FailedSLOs(r), nil
	}}
}

// FailedSLOs lists the failing SLOs of a result, one per line.
func FailedSLOs(r *reports.Result) string {
	var b strings.Builder
	if r.Partial {
		fmt.Fprintf(&b, "the run is partial: %s\n", r.PartialReason)
	}
	for _, s := range r.SLOs {
		if !s.Pass {
			fmt.Fprintf(&b, "%s: measured %s, limit %s (%s)\n", s.Name, s.Measured, s.Threshold, s.Reason)
		}
	}
	return b.String()
}

// HaveLatencyPercentile applies m to the p-th percentile (0-100) of the
// end-to-end latency over every camera, as a time.Duration. Give a site,
// camera or placement name to narrow it.
func HaveLatencyPercentile(p float64, m types.GomegaMatcher, scope ...string) types.GomegaMatcher {
	name := ""
	if len(scope) > 0 {
		name = scope[0]
	}
	what := name
	if what == "" {
		what = "all cameras"
	}
	return &check{want: fmt.Sprintf("have an e2e latency p%g (%s) matching %T", p, what, m), fn: func(r *reports.Result) (bool, string, error) {
		d := r.Latency(name)
		if d.Count == 0 {
			return false, "", fmt.Errorf("no latency samples for %q", name)
		}
		v := d.Percentile(p)
		ok, err := m.Match(v)
		if err != nil {
			return false, "", err
		}
		msg := m.FailureMessage(v)
		if ok {
			msg = m.NegatedFailureMessage(v)
		}
		return ok, fmt.Sprintf("p%g over %d frames is %s\n%s", p, d.Count, v, msg), nil
	}}
}

// AlertWithin succeeds when every scripted event on the scenario's own
// cameras (not a comparison mirror's) raised an alert for its own object
// at the cloud within d of its start.
func AlertWithin(d time.Duration) types.GomegaMatcher {
	return &check{want: fmt.Sprintf("raise an alert for every scripted event within %s", d), fn: func(r *reports.Result) (bool, string, error) {
		if len(r.TimeToAlert) == 0 {
			return false, "", fmt.Errorf("the run had no scripted events to alert on")
		}
		var b strings.Builder
		ok := true
		for _, t := range r.TimeToAlert {
			if t.Reference {
				continue
			}
			took := time.Duration(t.TimeToAlertMs * float64(time.Millisecond))
			switch {
			case !t.Alerted:
				ok = false
				fmt.Fprintf(&b, "%s %s in %s on %s: no alert (%d alerts in the run)\n", t.Label, t.Kind, t.Zone, t.Camera, r.Alerts)
			case took > d:
				ok = false
				fmt.Fprintf(&b, "%s %s in %s on %s: alert after %s\n", t.Label, t.Kind, t.Zone, t.Camera, took)
			default:
				fmt.Fprintf(&b, "%s %s in %s on %s: alert after %s\n", t.Label, t.Kind, t.Zone, t.Camera, took)
			}
		}
		return ok, b.String(), nil
	}}
}

// FailOverWithin succeeds when every camera of the scenario's own (not a
// comparison mirror's) that a fault interrupted got detections again from
// a surviving node within d.
func FailOverWithin(d time.Duration) types.GomegaMatcher {
	return &check{want: fmt.Sprintf("fail over every interrupted camera within %s", d), fn: func(r *reports.Result) (bool, string, error) {
		if len(r.Failover) == 0 {
			return false, "", fmt.Errorf("the run had no failover to measure")
		}
		var b strings.Builder
		ok := true
		for _, g := range r.Failover {
			if g.Reference {
				continue
			}
			gap := time.Duration(g.GapMs * float64(time.Millisecond))
			if !g.Recovered || gap > d {
				ok = false
			}
			fmt.Fprintf(&b, "%s after %s %s: recovered=%t by %q, gap %s, %d frames lost, %d answered in flight\n",
				g.Camera, g.FaultKind, g.Target, g.Recovered, g.RecoveredBy, gap.Round(time.Millisecond), g.FramesLost, g.FramesInFlight)
		}
		return ok, b.String(), nil
	}}
}
