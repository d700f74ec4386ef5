// Package match holds Gomega matchers for edgesim run results, for teams'
// own Ginkgo suites:
//
//	res, err := testbed.Run(ctx, sc, testbed.Options{Binaries: bins})
//	Expect(err).NotTo(HaveOccurred())
//	Expect(res).To(match.MeetSLOs())
//	Expect(res).To(match.HaveLatencyPercentile(95, BeNumerically("<", 300*time.Millisecond)))
//	Expect(res).To(match.AlertWithin(5 * time.Second))
//
// Every matcher takes a *testbed.Result or a *reports.Result.
package match

import (
	"fmt"
	"strings"
	"time"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/gcustom"
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

// MeetSLOs succeeds when the run is complete and every SLO verdict passed;
// its failure message lists the failing SLOs with measured and limit.
func MeetSLOs() types.GomegaMatcher { return &sloMatcher{} }

type sloMatcher struct{ r *reports.Result }

func (m *sloMatcher) Match(actual any) (bool, error) {
	r, err := result(actual)
	if err != nil {
		return false, err
	}
	m.r = r
	return !r.Partial && reports.ExitCode(r) == 0, nil
}

func (m *sloMatcher) FailureMessage(any) string {
	return "Expected the run to meet its SLOs, but:\n" + FailedSLOs(m.r)
}

func (m *sloMatcher) NegatedFailureMessage(any) string {
	return "Expected the run not to meet its SLOs, but every SLO held"
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
	return gcustom.MakeMatcher(func(actual any) (bool, error) {
		r, err := result(actual)
		if err != nil {
			return false, err
		}
		d := r.Latency(name)
		if d.Count == 0 {
			return false, fmt.Errorf("no latency samples for %q", name)
		}
		return m.Match(d.Percentile(p))
	}).WithMessage(fmt.Sprintf("have an e2e latency p%g (%s) matching %v", p, scopeName(name), m))
}

func scopeName(s string) string {
	if s == "" {
		return "all cameras"
	}
	return s
}

// AlertWithin succeeds when every scripted event raised an alert at the
// cloud within d of its start.
func AlertWithin(d time.Duration) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(actual any) (bool, error) {
		r, err := result(actual)
		if err != nil {
			return false, err
		}
		if len(r.TimeToAlert) == 0 {
			return false, fmt.Errorf("the run had no scripted events to alert on")
		}
		for _, t := range r.TimeToAlert {
			if !t.Alerted || time.Duration(t.TimeToAlertMs*float64(time.Millisecond)) > d {
				return false, nil
			}
		}
		return true, nil
	}).WithMessage(fmt.Sprintf("raise an alert for every scripted event within %s", d))
}

// FailOverWithin succeeds when every camera a fault interrupted got
// detections again within d.
func FailOverWithin(d time.Duration) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(actual any) (bool, error) {
		r, err := result(actual)
		if err != nil {
			return false, err
		}
		if len(r.Failover) == 0 {
			return false, fmt.Errorf("the run had no failover to measure")
		}
		for _, g := range r.Failover {
			if !g.Recovered || time.Duration(g.GapMs*float64(time.Millisecond)) > d {
				return false, nil
			}
		}
		return true, nil
	}).WithMessage(fmt.Sprintf("fail over every interrupted camera within %s", d))
}
