package reports

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// fmtMs renders milliseconds for people: "0.85ms", "230.3ms", "4.34s".
// Exact values stay in the machine-readable fields.
func fmtMs(ms float64) string {
	switch a := math.Abs(ms); {
	case a >= 1000:
		return strconv.FormatFloat(math.Round(ms/10)/100, 'f', -1, 64) + "s"
	case a >= 10:
		return strconv.FormatFloat(math.Round(ms*10)/10, 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(math.Round(ms*100)/100, 'f', -1, 64) + "ms"
}

func fmtDur(d time.Duration) string { return d.String() }

// FormatBitRate renders bits per second with a unit (bit/s, kbit/s,
// Mbit/s, Gbit/s).
func FormatBitRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

func pct(v float64) string { return strconv.FormatFloat(math.Round(v*10000)/100, 'f', -1, 64) + "%" }

func (a *analysis) slos() {
	spec := a.run.SLO
	a.res.SLOs = []SLOVerdict{}
	for _, s := range spec.Latency {
		a.res.SLOs = append(a.res.SLOs, a.latencySLO(s))
	}
	if spec.TimeToAlertMax > 0 {
		a.res.SLOs = append(a.res.SLOs, a.alertSLO(spec.TimeToAlertMax))
	}
	if spec.FailoverMax > 0 {
		a.res.SLOs = append(a.res.SLOs, a.failoverSLO(spec.FailoverMax))
	}
	if spec.UplinkMaxBitsPerSecond > 0 {
		a.res.SLOs = append(a.res.SLOs, a.uplinkSLO(spec.UplinkMaxBitsPerSecond))
	}
	if spec.RecallMin > 0 {
		a.res.SLOs = append(a.res.SLOs, a.accuracySLO("detection recall", spec.RecallMin, func(acc *Accuracy) float64 { return acc.Recall }))
	}
	if spec.PrecisionMin > 0 {
		a.res.SLOs = append(a.res.SLOs, a.accuracySLO("detection precision", spec.PrecisionMin, func(acc *Accuracy) float64 { return acc.Precision }))
	}
	if spec.AnsweredMin > 0 {
		a.res.SLOs = append(a.res.SLOs, a.answeredSLO(spec.AnsweredMin))
	}
}

// answeredSLO gates the share of expected answers delivered: with a
// detection rate below the camera rate, skipped frames are not failures.
func (a *analysis) answeredSLO(minV float64) SLOVerdict {
	fc := a.res.Frames
	v := SLOVerdict{Name: "frames answered", Unit: "ratio", ThresholdValue: minV, Threshold: ">= " + pct(minV),
		MeasuredValue: fc.OfExpected, Measured: pct(fc.OfExpected)}
	reduced := fc.Expected < float64(fc.Sent)
	if reduced {
		v.Threshold += " of expected"
	}
	v.Pass = fc.Sent > 0 && fc.OfExpected >= minV
	switch {
	case fc.Sent == 0:
		v.Measured, v.Reason = "no frames", "no frame was sent outside warm-up"
	case reduced:
		v.Reason = fmt.Sprintf("%d answers for %d frames sent; the detection rate calls for %s", fc.Answered, fc.Sent, strconv.FormatFloat(math.Round(fc.Expected), 'f', -1, 64))
	case v.Pass:
		v.Reason = fmt.Sprintf("%d of %d frames answered", fc.Answered, fc.Sent)
	default:
		v.Reason = fmt.Sprintf("%d of %d frames never got detections back", fc.Unanswered, fc.Sent)
	}
	return v
}

func (a *analysis) notExercised(v SLOVerdict, reason string) SLOVerdict {
	v.Measured = "not exercised"
	if a.run.Partial {
		v.Pass, v.Reason = false, reason+"; the run was interrupted before this could be judged"
		return v
	}
	v.Pass, v.Reason = true, reason
	a.warnf("SLO %q not exercised: %s", v.Name, reason)
	return v
}

func (a *analysis) latencySLO(s LatencySLO) SLOVerdict {
	scope, d := "all cameras", a.res.Latencies.Overall
	switch {
	case s.Site != "":
		scope, d = "site "+s.Site, findGroup(a.res.Latencies.Sites, s.Site)
	case s.Placement != "":
		scope, d = string(s.Placement)+" placement", findGroup(a.res.Latencies.Placements, string(s.Placement))
	}
	p := strconv.FormatFloat(s.Percentile, 'f', -1, 64)
	v := SLOVerdict{
		Name:           fmt.Sprintf("e2e latency p%s (%s)", p, scope),
		Unit:           "ms",
		ThresholdValue: durMs(s.Max),
		Threshold:      "<= " + fmtDur(s.Max),
	}
	if d.Count == 0 {
		v.Measured, v.Reason = "no samples", "no answered frame in "+scope
		return v
	}
	v.MeasuredValue = round3(d.PercentileMs(s.Percentile))
	v.Measured = fmtMs(v.MeasuredValue)
	v.Pass = v.MeasuredValue <= v.ThresholdValue
	if v.Pass {
		v.Reason = fmt.Sprintf("p%s over %d frames is within the bound", p, d.Count)
	} else {
		v.Reason = fmt.Sprintf("p%s over %d frames exceeds the bound by %s", p, d.Count, fmtMs(round3(v.MeasuredValue-v.ThresholdValue)))
	}
	return v
}

func findGroup(gs []LatencyGroup, name string) Distribution {
	for _, g := range gs {
		if g.Name == name {
			return g.Distribution
		}
	}
	return Distribution{}
}

func (a *analysis) alertSLO(limit time.Duration) SLOVerdict {
	v := SLOVerdict{Name: "time to alert (max)", Unit: "ms", ThresholdValue: durMs(limit), Threshold: "<= " + fmtDur(limit)}
	if len(a.res.TimeToAlert) == 0 {
		return a.notExercised(v, "the scenario scripts no events")
	}
	missing, late := 0, 0
	worst := 0.0
	for _, t := range a.res.TimeToAlert {
		if !t.Alerted {
			missing++
			continue
		}
		worst = max(worst, t.TimeToAlertMs)
		if t.TimeToAlertMs > v.ThresholdValue {
			late++
		}
	}
	v.MeasuredValue = round3(worst)
	v.Measured = fmtMs(v.MeasuredValue)
	if missing > 0 {
		v.Measured = fmt.Sprintf("%d of %d events without alert", missing, len(a.res.TimeToAlert))
	}
	v.Pass = missing == 0 && late == 0
	switch {
	case v.Pass:
		v.Reason = fmt.Sprintf("all %d events alerted in time", len(a.res.TimeToAlert))
	case missing > 0:
		v.Reason = fmt.Sprintf("%d of %d events never raised an alert at the cloud", missing, len(a.res.TimeToAlert))
		if late > 0 {
			v.Reason += fmt.Sprintf(", %d alerted late", late)
		}
	default:
		v.Reason = fmt.Sprintf("%d of %d events alerted late", late, len(a.res.TimeToAlert))
	}
	return v
}

// failoverSLOName names the failover gate's verdict.
const failoverSLOName = "failover gap (max)"

func (a *analysis) failoverSLO(limit time.Duration) SLOVerdict {
	v := SLOVerdict{Name: failoverSLOName, Unit: "ms", ThresholdValue: durMs(limit), Threshold: "<= " + fmtDur(limit)}
	if len(a.res.Failover) == 0 {
		return a.notExercised(v, "no fault affected a camera")
	}
	unrecovered, late, lost := 0, 0, 0
	worst := 0.0
	for _, g := range a.res.Failover {
		worst = max(worst, g.GapMs)
		lost += g.AnswersLost
		if !g.Recovered {
			unrecovered++
		} else if g.GapMs > v.ThresholdValue {
			late++
		}
	}
	v.MeasuredValue = round3(worst)
	v.Measured = fmtMs(v.MeasuredValue)
	v.Pass = unrecovered == 0 && late == 0
	p50 := fmtMs(round3(a.res.FailoverGaps().P50Ms))
	switch {
	case unrecovered > 0:
		v.Measured += " (not recovered)"
		v.Reason = fmt.Sprintf("%d of %d camera outages never recovered before the end of the run; gap p50 %s; %s lost", unrecovered, len(a.res.Failover), p50, plural(lost, "answer"))
	case late > 0:
		v.Reason = fmt.Sprintf("%d of %d camera outages lasted longer than the bound; gap p50 %s; %s lost", late, len(a.res.Failover), p50, plural(lost, "answer"))
	default:
		v.Reason = fmt.Sprintf("%s recovered in time; gap p50 %s; %s lost", plural(len(a.res.Failover), "camera outage"), p50, plural(lost, "answer"))
	}
	return v
}

func (a *analysis) uplinkSLO(limit float64) SLOVerdict {
	v := SLOVerdict{Name: "uplink bandwidth (mean, per link)", Unit: "bit/s", ThresholdValue: limit, Threshold: "<= " + FormatBitRate(limit)}
	worst, worstName, n := 0.0, "", 0
	for _, l := range a.res.Links {
		if !l.Uplink || l.Reference {
			continue
		}
		n++
		if l.MeanBitsPerS >= worst {
			worst, worstName = l.MeanBitsPerS, l.Link+" "+l.Direction
		}
	}
	if n == 0 {
		return a.notExercised(v, "no gated uplink (none marked, or only comparison links)")
	}
	v.MeasuredValue = worst
	v.Measured = FormatBitRate(worst)
	v.Pass = worst <= limit
	if v.Pass {
		v.Reason = fmt.Sprintf("busiest of %d uplinks is %s", n, worstName)
	} else {
		v.Reason = fmt.Sprintf("uplink %s exceeds the bound", worstName)
	}
	return v
}

func (a *analysis) accuracySLO(name string, minV float64, get func(*Accuracy) float64) SLOVerdict {
	v := SLOVerdict{Name: name + " (IoU " + strconv.FormatFloat(a.o.iou, 'f', -1, 64) + ")", Unit: "ratio",
		ThresholdValue: minV, Threshold: ">= " + pct(minV)}
	if a.res.Accuracy == nil {
		return a.notExercised(v, "no answered frame has ground truth")
	}
	v.MeasuredValue = get(a.res.Accuracy)
	v.Measured = pct(v.MeasuredValue)
	v.Pass = v.MeasuredValue >= minV
	if v.Pass {
		v.Reason = fmt.Sprintf("over %d scored frames", a.res.Accuracy.FramesScored)
	} else {
		v.Reason = fmt.Sprintf("below the bound over %d scored frames", a.res.Accuracy.FramesScored)
	}
	return v
}
