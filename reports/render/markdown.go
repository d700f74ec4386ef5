package render

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/internal/text"
	"github.com/edgesim/edgesim/units"
)

func verdictWord(v string) string {
	switch v {
	case reports.VerdictPass:
		return "✅ PASS"
	case reports.VerdictFail:
		return "❌ FAIL"
	case reports.VerdictPartial:
		return "⚠️ PARTIAL"
	}
	return v
}

func mdEsc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func runLength(ms float64) string {
	return (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond).String()
}

// WriteMarkdown writes report.md: the verdict, the SLO table and the key
// figures, compact enough for a pull-request comment.
func WriteMarkdown(w io.Writer, r *reports.Result) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }

	p("## edgesim %s: %s\n\n", mdEsc(r.Scenario), verdictWord(r.Verdict))
	if r.Partial {
		reason := r.PartialReason
		if reason == "" {
			reason = "interrupted"
		}
		p("> **PARTIAL RUN** (%s): the figures cover only what was collected.\n\n", mdEsc(reason))
	}
	for _, banner := range []string{r.LinksBanner(), r.Headroom.Banner()} {
		if banner != "" {
			p("> ⚠️ **%s**\n\n", mdEsc(banner))
		}
	}
	answered := text.Pct(r.Frames.Answer) + " answered"
	if r.Frames.Expected < float64(r.Frames.Sent) {
		answered += fmt.Sprintf(" (%s of the answers the detection rate calls for)", text.Pct(r.Frames.OfExpected))
	}
	p("seed %d · provider %s · %s · %s · %s, %s · %s\n\n",
		r.Seed, mdEsc(r.Provider), runLength(r.DurationMs), text.Plural(len(r.Cameras), "camera"), text.Plural(r.Frames.Sent, "frame"), answered, text.Plural(r.Alerts, "alert"))

	if len(r.SLOs) > 0 {
		table := func(whatIf bool) {
			p("| SLO | threshold | measured | result |\n|---|---|---|---|\n")
			for _, v := range r.SLOs {
				if v.WhatIf == whatIf {
					p("| %s | %s | %s | %s |\n", mdEsc(v.Name), mdEsc(v.Threshold), mdEsc(v.Measured), sloResult(v))
				}
			}
			p("\n")
		}
		table(false)
		if slices.ContainsFunc(r.SLOs, func(v reports.SLOVerdict) bool { return v.WhatIf }) {
			p("**What-if: the comparison mirror** (cameras streaming to the cloud, same thresholds, **not gated**)\n\n")
			table(true)
		}
	} else {
		p("No SLOs defined.\n\n")
	}

	p("**End-to-end latency** (ms)\n\n| scope | frames | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, d reports.Distribution) {
		if d.Count == 0 {
			p("| %s | 0 | – | – | – | – | – |\n", mdEsc(name))
			return
		}
		p("| %s | %d | %s | %s | %s | %s | %s |\n", mdEsc(name), d.Count, num(d.P50Ms), num(d.P90Ms), num(d.P95Ms), num(d.P99Ms), num(d.MaxMs))
	}
	row("all", r.Latencies.Overall)
	for _, g := range r.Latencies.Placements {
		row(g.Name+" placement", g.Distribution)
	}
	for _, g := range r.Latencies.Sites {
		row("site "+g.Name, g.Distribution)
	}
	for _, g := range r.Latencies.Models {
		row("model "+g.Name, g.Distribution)
	}
	p("\n")
	if len(r.Latencies.Breakdown) > 0 {
		p("**Where the latency went** (ms; answered frames whose node reported its share; each part's percentiles are its own and do not add up)\n\n| part | frames | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, g := range r.Latencies.Breakdown {
			row(g.Name, g.Distribution)
		}
		p("\n")
	}

	if len(r.TimeToAlert) > 0 {
		alerted, worst := 0, 0.0
		for _, t := range r.TimeToAlert {
			if t.Alerted {
				alerted++
				worst = max(worst, t.TimeToAlertMs)
			}
		}
		p("**Time to alert**: %d of %d scripted events alerted, worst %s\n\n", alerted, len(r.TimeToAlert), text.Ms(text.Round3(worst)))
		missing := 0
		for _, t := range r.TimeToAlert {
			if n := len(t.OtherAlerts); n > 0 {
				p("- %s %s in zone %s at +%s: %s for another object, not counted for the event\n",
					mdEsc(t.Camera), mdEsc(t.Kind), mdEsc(t.Zone), text.Offset(r.Start, t.Start), text.Plural(n, "alert"))
			}
		}
		for _, t := range r.TimeToAlert {
			if t.Alerted {
				continue
			}
			if missing++; missing > 5 {
				p("- … and %d more without alert\n", len(r.TimeToAlert)-alerted-5)
				break
			}
			label := ""
			if t.Label != "" {
				label = " (" + mdEsc(t.Label) + ")"
			}
			p("- no alert: %s %s in zone %s%s at +%s\n", mdEsc(t.Camera), mdEsc(t.Kind), mdEsc(t.Zone), label, text.Offset(r.Start, t.Start))
		}
		if missing > 0 {
			p("\n")
		}
	}
	if len(r.Failover) > 0 || len(r.FailoverSummaries) > 0 {
		writeBreakdowns(p, r)
	}
	if len(r.Failover) > 0 {
		p("| fault | camera | recovered by | gap | frames without answer | answers lost | answered in flight |\n|---|---|---|---:|---:|---:|---:|\n")
		for i, g := range r.Failover {
			if i == 10 {
				p("| … %d more | | | | | | |\n", len(r.Failover)-10)
				break
			}
			gap := text.Ms(text.Round3(g.GapMs))
			if !g.Recovered {
				gap += " (not recovered)"
			}
			cam := mdEsc(g.Camera)
			if g.Reference {
				cam += " (what-if)"
			}
			inFlight := strconv.Itoa(g.FramesInFlight)
			if g.FramesFromFaulted > 0 {
				inFlight += fmt.Sprintf(" (+%d from the faulted node)", g.FramesFromFaulted)
			}
			p("| %s %s @+%s | %s | %s | %s | %d | %d | %s |\n", mdEsc(g.FaultKind), mdEsc(g.Target), text.Offset(r.Start, g.FaultAt), cam,
				mdEsc(g.RecoveredBy), gap, g.FramesLost, g.AnswersLost, inFlight)
		}
		p("\n")
	}
	if len(r.Uplink) > 0 {
		p("**Uplink**: ")
		var parts []string
		for _, u := range r.Uplink {
			s := fmt.Sprintf("%s placement %s per camera (%s)", u.Placement, units.FormatMeasured(u.PerCameraBitsPerS), text.Plural(u.Cameras, "camera"))
			if u.VsEdge > 0 {
				s += fmt.Sprintf(", %.1fx edge", u.VsEdge)
			}
			parts = append(parts, s)
		}
		p("%s\n\n", strings.Join(parts, "; "))
	}
	if a := r.Accuracy; a != nil {
		precision := text.Pct(a.Precision)
		if a.Total().Detections == 0 {
			precision = "– (no detections)"
		}
		p("**Accuracy** (IoU %g, %d frames): mAP@0.5 %s · precision %s · recall %s", a.IoU, a.FramesScored, f3(a.MeanAP50), precision, text.Pct(a.Recall))
		for _, c := range a.Classes {
			p(" · %s AP %s", mdEsc(c.Label), f3(c.AP50))
		}
		p("\n\n")
		if len(r.AccuracyBy) > 0 {
			p("| scope | frames scored | precision | recall | mAP@0.5 |\n|---|---:|---:|---:|---:|\n")
			for _, g := range r.AccuracyBy {
				p("| %s %s | %d | %s | %s | %s |\n", g.Scope, mdEsc(g.Name), g.FramesScored, text.Pct(g.Precision), text.Pct(g.Recall), f3(g.MeanAP50))
			}
			p("\n")
		}
	}
	writeRolloutsMD(p, r)
	if h := r.Headroom.Summary(); h != "" {
		p("**Host headroom**: %s\n\n", mdEsc(h))
	}
	for _, c := range r.Clusters {
		p("**Cluster** %s\n\n", mdEsc(clusterLine(c)))
		if c.FailoverSettings != "" {
			p("**Failover settings** of %s: %s\n\n", mdEsc(c.Name), mdEsc(c.FailoverSettings))
		}
	}
	if len(r.Warnings) > 0 {
		p("**Warnings**\n\n")
		for _, w := range r.Warnings {
			p("- %s\n", mdEsc(w))
		}
		p("\n")
	}
	if len(r.Diagnostics) > 0 {
		p("**Diagnostics** (gathered when the run failed)\n\n")
		for _, d := range r.Diagnostics {
			p("<details><summary>%s</summary>\n\n```\n", mdEsc(d.Title))
			if d.Command != "" {
				p("$ %s\n", d.Command)
			}
			p("%s\n```\n\n</details>\n\n", strings.ReplaceAll(tail(d.Output, maxDiagnosticMD), "```", "` ` `"))
		}
	}
	return b.Flush()
}

// sloResult is a verdict's result cell: a gated failure or unexercised
// gate in bold, a what-if's or an allowed one's plainly.
func sloResult(v reports.SLOVerdict) string {
	switch {
	case v.Pass:
		return "✅ pass"
	case v.NotExercised && v.Gated:
		return "❌ **not exercised**: " + mdEsc(v.Reason)
	case v.NotExercised && v.WhatIf:
		return "➖ not exercised: " + mdEsc(v.Reason)
	case v.NotExercised:
		return "➖ not exercised (allowed by the scenario): " + mdEsc(v.Reason)
	case v.Gated:
		return "❌ **fail**: " + mdEsc(v.Reason)
	}
	return "❌ fail (what-if, not gated): " + mdEsc(v.Reason)
}

// maxDiagnosticMD bounds each diagnostic's output in report.md (the end
// is kept); report.json and report.html have it whole.
const maxDiagnosticMD = 4000

// tail is the last n bytes of s, marked as cut when it was longer.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[… %d bytes cut]\n%s", len(s)-n, s[len(s)-n:])
}

// maxBreakdowns bounds the faults broken down in report.md; report.json
// has them all.
const maxBreakdowns = 5

// writeBreakdowns writes the failover headline and, per fault, the table
// of its steps.
func writeBreakdowns(p func(string, ...any), r *reports.Result) {
	p("**Failover**")
	if d := r.FailoverGaps(); d.Count > 0 {
		p(": gap p50 %s, max %s over %s", text.Ms(text.Round3(d.P50Ms)), text.Ms(text.Round3(d.MaxMs)), text.Plural(d.Count, "camera outage"))
	}
	p("\n\n")
	if len(r.FailoverSummaries) == 0 {
		return
	}
	p("Step times are since the fault; a camera step gives the median over the cameras it was seen for and, in brackets, the latest.\n\n")
	for i, s := range r.FailoverSummaries {
		if i == maxBreakdowns {
			p("… and %d more faults (see report.json)\n\n", len(r.FailoverSummaries)-maxBreakdowns)
			break
		}
		p("*%s*: %s", mdEsc(s.Title(r.Start)), mdEsc(summaryHeadline(s)))
		p("\n\n| step | since fault | cameras | note |\n|---|---:|---:|---|\n")
		for k, st := range s.Steps {
			note := stepNote(s.Steps, k)
			if note != "" {
				note += " "
			}
			p("| %s | %s | %d | %s|\n", st.Name, stepTime(st), st.Cameras, note)
		}
		p("\n")
	}
}

func num(v float64) string { return fmt.Sprintf("%.1f", v) }

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }
