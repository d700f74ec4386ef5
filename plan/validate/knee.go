package validate

import (
	"time"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/scenarios"
)

// Objectives are the scenario's SLOs that both sides measure: latency p50
// and p95 (other percentiles are not compared), time to alert (checked on
// the 95th percentile of each site's alerted events, every covered event
// alerted) and the uplink's mean rate per site. Recall, failover and
// answered-frames gates are the emulated report's, not the knee's.
func Objectives(sc *scenarios.Scenario) plan.Objectives {
	var o plan.Objectives
	for _, l := range sc.SLO.E2ELatency {
		switch l.Percentile {
		case 50:
			o.LatencyP50 = l.Max
		case 95:
			o.LatencyP95 = l.Max
		}
	}
	o.TimeToAlertP95 = sc.SLO.TimeToAlert
	o.UplinkMax = float64(sc.SLO.UplinkMax)
	return o
}

// Meets says whether one side's figures of a point meet every objective on
// every site. An objective nothing exercised is not met: a site without an
// answered frame fails its latency objectives, and a time-to-alert
// objective fails when no site expected an alert or one that did missed
// one. No objective at all is not met either.
func Meets(o plan.Objectives, f Figures, d time.Duration) bool {
	if o == (plan.Objectives{}) || len(f.Sites) == 0 {
		return false
	}
	alerts := 0
	for _, s := range f.Sites {
		if (o.LatencyP50 > 0 || o.LatencyP95 > 0) && s.Answered == 0 {
			return false
		}
		if o.LatencyP50 > 0 && s.LatencyP50 > o.LatencyP50 || o.LatencyP95 > 0 && s.LatencyP95 > o.LatencyP95 {
			return false
		}
		if o.UplinkMax > 0 && (!s.Uplink || s.UplinkBytes*8/d.Seconds() > o.UplinkMax) {
			return false
		}
		if o.TimeToAlertP95 > 0 && s.AlertsExpected > 0 {
			if s.Alerted < s.AlertsExpected || s.TimeToAlertP95 > o.TimeToAlertP95 {
				return false
			}
			alerts += s.AlertsExpected
		}
	}
	return o.TimeToAlertP95 == 0 || alerts > 0
}
