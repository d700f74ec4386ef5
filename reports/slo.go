package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/reports/internal/text"
	"github.com/edgesim/edgesim/units"
)

func fmtDur(d time.Duration) string { return d.String() }

// sloScope is the set of cameras a set of verdicts is computed over: the
// scenario's own (gated) or the comparison mirror's (what-if, not gated).
type sloScope struct {
	whatIf bool
	cams   map[string]bool
	// latency names the camera scope of an unscoped latency gate.
	latency string
}

func (sc sloScope) name(n string) string {
	if sc.whatIf {
		return n + " [what-if]"
	}
	return n
}

func (a *analysis) slos() {
	a.res.SLOs = []SLOVerdict{}
	own := sloScope{cams: map[string]bool{}, latency: "all cameras"}
	mirror := sloScope{whatIf: true, cams: map[string]bool{}, latency: "mirror cameras"}
	for _, c := range a.run.Cameras {
		if c.Reference {
			mirror.cams[c.ID] = true
		} else {
			own.cams[c.ID] = true
		}
	}
	if len(mirror.cams) > 0 {
		own.latency = "scenario's cameras"
	}
	a.res.SLOs = append(a.res.SLOs, a.gates(own)...)
	if len(mirror.cams) > 0 {
		a.res.SLOs = append(a.res.SLOs, a.gates(mirror)...)
	}
}

// gates computes every verdict the SLO spec asks for over one scope.
func (a *analysis) gates(sc sloScope) []SLOVerdict {
	spec := a.run.SLO
	var out []SLOVerdict
	add := func(v SLOVerdict) {
		v.Name = sc.name(v.Name)
		v.WhatIf = sc.whatIf
		v.Gated = !sc.whatIf && !(v.NotExercised && spec.AllowNotExercised && !a.run.Partial)
		if v.NotExercised && !sc.whatIf {
			a.warnf("SLO %q not exercised: %s", v.Name, v.Reason)
		}
		out = append(out, v)
	}
	for _, s := range spec.Latency {
		if sc.whatIf && (s.Site != "" || s.Placement != "") {
			continue // scoped to the scenario's own site or placement
		}
		add(a.latencySLO(s, sc))
	}
	if spec.TimeToAlertMax > 0 {
		add(a.alertSLO(spec.TimeToAlertMax, sc))
	}
	if spec.FailoverMax > 0 {
		add(a.failoverSLO(spec.FailoverMax, sc))
	}
	if spec.UplinkMaxBitsPerSecond > 0 {
		add(a.uplinkSLO(spec.UplinkMaxBitsPerSecond, sc))
	}
	if spec.RecallMin > 0 {
		add(a.accuracySLO("detection recall", spec.RecallMin, sc, func(acc *Accuracy) float64 { return acc.Recall }))
	}
	if spec.PrecisionMin > 0 {
		add(a.accuracySLO("detection precision", spec.PrecisionMin, sc, func(acc *Accuracy) float64 { return acc.Precision }))
	}
	if spec.AnsweredMin > 0 {
		add(a.answeredSLO(spec.AnsweredMin, sc))
	}
	return out
}

// frameCounts counts the frames of a scope's cameras outside warm-up.
func (a *analysis) frameCounts(sc sloScope) FrameCounts {
	var fc FrameCounts
	for _, c := range a.run.Cameras {
		if !sc.cams[c.ID] {
			continue
		}
		for _, f := range c.Frames {
			if a.inWarmUp(f.Capture) {
				continue
			}
			fc.Sent++
			fc.Expected += answerRatio(c)
			if f.Answered {
				fc.Answered++
			} else {
				fc.Unanswered++
			}
		}
	}
	fc.Expected = text.Round3(fc.Expected)
	if fc.Expected > 0 {
		fc.OfExpected = round4(min(1, float64(fc.Answered)/fc.Expected))
	}
	return fc
}

// answeredSLO gates the share of expected answers delivered: with a
// detection rate below the camera rate, skipped frames are not failures.
func (a *analysis) answeredSLO(minV float64, sc sloScope) SLOVerdict {
	fc := a.frameCounts(sc)
	v := SLOVerdict{Name: "frames answered", Unit: "ratio", ThresholdValue: minV, Threshold: ">= " + text.Pct(minV),
		MeasuredValue: fc.OfExpected, Measured: text.Pct(fc.OfExpected)}
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

// notExercised marks a gate nothing in the run exercised: it did not pass.
func (a *analysis) notExercised(v SLOVerdict, reason string) SLOVerdict {
	v.Measured, v.Pass, v.NotExercised, v.Reason = "not exercised", false, true, reason
	if a.run.Partial {
		v.Reason += "; the run was interrupted before this could be judged"
	}
	return v
}

func (a *analysis) latencySLO(s LatencySLO, sc sloScope) SLOVerdict {
	scope := sc.latency
	in := func(c Camera) bool { return sc.cams[c.ID] }
	switch {
	case s.Site != "":
		scope, in = "site "+s.Site, func(c Camera) bool { return sc.cams[c.ID] && c.Site == s.Site }
	case s.Placement != "":
		scope, in = string(s.Placement)+" placement", func(c Camera) bool { return sc.cams[c.ID] && c.Placement == s.Placement }
	}
	var lat []time.Duration
	for _, c := range a.run.Cameras {
		if !in(c) {
			continue
		}
		for _, f := range c.Frames {
			if f.Answered && !a.inWarmUp(f.Capture) {
				lat = append(lat, f.Latency)
			}
		}
	}
	d := NewDistribution(lat)
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
	v.MeasuredValue = text.Round3(d.PercentileMs(s.Percentile))
	v.Measured = text.Ms(v.MeasuredValue)
	v.Pass = v.MeasuredValue <= v.ThresholdValue
	if v.Pass {
		v.Reason = fmt.Sprintf("p%s over %d frames is within the bound", p, d.Count)
	} else {
		v.Reason = fmt.Sprintf("p%s over %d frames exceeds the bound by %s", p, d.Count, text.Ms(text.Round3(v.MeasuredValue-v.ThresholdValue)))
	}
	return v
}

func (a *analysis) alertSLO(limit time.Duration, sc sloScope) SLOVerdict {
	v := SLOVerdict{Name: "time to alert (max)", Unit: "ms", ThresholdValue: durMs(limit), Threshold: "<= " + fmtDur(limit)}
	var timings []AlertTiming
	others := 0
	for _, t := range a.res.TimeToAlert {
		if sc.cams[t.Camera] {
			timings = append(timings, t)
			others += len(t.OtherAlerts)
		}
	}
	if len(timings) == 0 {
		return a.notExercised(v, "no scripted event on these cameras")
	}
	missing, late := 0, 0
	worst := 0.0
	for _, t := range timings {
		if !t.Alerted {
			missing++
			continue
		}
		worst = max(worst, t.TimeToAlertMs)
		if t.TimeToAlertMs > v.ThresholdValue {
			late++
		}
	}
	v.MeasuredValue = text.Round3(worst)
	v.Measured = text.Ms(v.MeasuredValue)
	if missing > 0 {
		v.Measured = fmt.Sprintf("%d of %d events without alert", missing, len(timings))
	}
	v.Pass = missing == 0 && late == 0
	switch {
	case v.Pass:
		v.Reason = fmt.Sprintf("all %d events alerted in time", len(timings))
	case missing > 0:
		v.Reason = fmt.Sprintf("%d of %d events never raised an alert at the cloud", missing, len(timings))
		if late > 0 {
			v.Reason += fmt.Sprintf(", %d alerted late", late)
		}
	default:
		v.Reason = fmt.Sprintf("%d of %d events alerted late", late, len(timings))
	}
	if others > 0 {
		v.Reason += fmt.Sprintf("; %s after the events started were for another object and did not count", text.Plural(others, "alert"))
	}
	return v
}

// FailoverSLOName names the failover gate's verdict.
const FailoverSLOName = "failover gap (max)"

func (a *analysis) failoverSLO(limit time.Duration, sc sloScope) SLOVerdict {
	v := SLOVerdict{Name: FailoverSLOName, Unit: "ms", ThresholdValue: durMs(limit), Threshold: "<= " + fmtDur(limit)}
	var failed []string
	for i, f := range a.run.Faults {
		if f.Failed != "" {
			failed = append(failed, fmt.Sprintf("fault %d (%s %s): %s", i, f.Kind, f.Target, f.Failed))
		}
	}
	var gaps []FailoverGap
	for _, g := range a.res.Failover {
		if sc.cams[g.Camera] {
			gaps = append(gaps, g)
		}
	}
	if len(failed) > 0 {
		v.Measured = "injection failed"
		v.Reason = fmt.Sprintf("%d of %d faults could not be injected, so their failover was never tested: %s",
			len(failed), len(a.run.Faults), strings.Join(failed, "; "))
		return v
	}
	if len(gaps) == 0 {
		return a.notExercised(v, "no fault affected a camera (a kill of a node that served none exercises nothing)")
	}
	unrecovered, late, lost := 0, 0, 0
	ms := make([]float64, 0, len(gaps))
	for _, g := range gaps {
		ms = append(ms, g.GapMs)
		lost += g.AnswersLost
		if !g.Recovered {
			unrecovered++
		} else if g.GapMs > v.ThresholdValue {
			late++
		}
	}
	d := newDistributionMs(ms)
	v.MeasuredValue = text.Round3(d.MaxMs)
	v.Measured = text.Ms(v.MeasuredValue)
	v.Pass = unrecovered == 0 && late == 0
	p50 := text.Ms(text.Round3(d.P50Ms))
	switch {
	case unrecovered > 0:
		v.Measured += " (not recovered)"
		v.Reason = fmt.Sprintf("%d of %d camera outages never recovered before the end of the run; gap p50 %s; %s lost", unrecovered, len(gaps), p50, text.Plural(lost, "answer"))
	case late > 0:
		v.Reason = fmt.Sprintf("%d of %d camera outages lasted longer than the bound; gap p50 %s; %s lost", late, len(gaps), p50, text.Plural(lost, "answer"))
	default:
		v.Reason = fmt.Sprintf("%s recovered in time; gap p50 %s; %s lost", text.Plural(len(gaps), "camera outage"), p50, text.Plural(lost, "answer"))
	}
	return v
}

func (a *analysis) uplinkSLO(limit float64, sc sloScope) SLOVerdict {
	v := SLOVerdict{Name: "uplink bandwidth (mean, per link)", Unit: "bit/s", ThresholdValue: limit, Threshold: "<= " + units.FormatMeasured(limit)}
	if why := a.run.LinksNotEmulated; why != "" {
		return a.notExercised(v, "the links were not emulated: "+why)
	}
	worst, worstName, n := 0.0, "", 0
	for _, l := range a.res.Links {
		if !l.Uplink || l.Reference != sc.whatIf {
			continue
		}
		n++
		if l.MeanBitsPerS >= worst {
			worst, worstName = l.MeanBitsPerS, l.Link+" "+l.Direction
		}
	}
	if n == 0 {
		return a.notExercised(v, "no uplink of these cameras is marked")
	}
	v.MeasuredValue = worst
	v.Measured = units.FormatMeasured(worst)
	v.Pass = worst <= limit
	if v.Pass {
		v.Reason = fmt.Sprintf("busiest of %d uplinks is %s", n, worstName)
	} else {
		v.Reason = fmt.Sprintf("uplink %s exceeds the bound", worstName)
	}
	return v
}

func (a *analysis) accuracySLO(name string, minV float64, sc sloScope, get func(*Accuracy) float64) SLOVerdict {
	v := SLOVerdict{Name: name + " (IoU " + strconv.FormatFloat(a.o.iou, 'f', -1, 64) + ")", Unit: "ratio",
		ThresholdValue: minV, Threshold: ">= " + text.Pct(minV)}
	acc := a.acc[sc.whatIf]
	if acc == nil {
		return a.notExercised(v, "no answered frame of these cameras has ground truth")
	}
	v.MeasuredValue = get(acc)
	v.Measured = text.Pct(v.MeasuredValue)
	v.Pass = v.MeasuredValue >= minV
	if v.Pass {
		v.Reason = fmt.Sprintf("over %d scored frames", acc.FramesScored)
	} else {
		v.Reason = fmt.Sprintf("below the bound over %d scored frames", acc.FramesScored)
	}
	return v
}
