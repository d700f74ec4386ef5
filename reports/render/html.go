package render

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/internal/text"
	"github.com/edgesim/edgesim/units"
)

type htmlData struct {
	R          *reports.Result
	Plots      []reportkit.Named
	Breakdowns []breakdownView
	Rollouts   []rolloutView
}

var htmlFuncs = template.FuncMap{
	"ms":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":      f3,
	"pct":     text.Pct,
	"rate":    units.FormatMeasured,
	"upper":   strings.ToUpper,
	"float":   func(n int) float64 { return float64(n) },
	"length":  runLength,
	"cluster": clusterLine,
	"off": func(start, t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		if d := text.Offset(start, t); d < 0 {
			return d.String()
		}
		return "+" + text.Offset(start, t).String()
	},
	"utc": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"whatifs": func(r *reports.Result) bool {
		return slices.ContainsFunc(r.SLOs, func(v reports.SLOVerdict) bool { return v.WhatIf })
	},
	"bytes":  reportkit.Bytes,
	"gap":    func(ms float64) string { return text.Ms(text.Round3(ms)) },
	"plural": text.Plural,
	"reconnected": func(g reports.FailoverGap) string {
		for _, st := range g.Steps {
			if st.Name == reports.StepReconnected {
				return text.SinceFault(text.Round3(st.SinceFaultMs))
			}
		}
		return "–"
	},
}

var htmlTmpl = template.Must(template.Must(template.New("report").Funcs(htmlFuncs).Parse(htmlSource)).Parse(rolloutHTML))

// WriteHTML writes report.html: one self-contained page (inline CSS and
// SVG plots, no external assets).
func WriteHTML(w io.Writer, r *reports.Result) error {
	ps, err := plots(r)
	if err != nil {
		return err
	}
	bs, err := breakdownViews(r)
	if err != nil {
		return err
	}
	return htmlTmpl.Execute(w, htmlData{R: r, Plots: ps, Breakdowns: bs, Rollouts: rolloutViews(r)})
}

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>edgesim report: {{.R.Scenario}} ({{.R.Verdict}})</title>
<style>
` + reportkit.Style + `.badge{display:inline-block;padding:4px 12px;border-radius:14px;font-weight:700;color:#fff;margin-left:8px;font-size:.8em;vertical-align:middle}
.pass{background:#1f8a3b}.fail{background:#c62828}.partial{background:#d98200}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #d6dae1;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:1.3em}
.card span{color:#5a6270;font-size:.85em}
</style>
</head>
<body>
<main>
{{- $r := .R}}
<h1>edgesim: {{$r.Scenario}} <span class="badge {{$r.Verdict}}">{{upper $r.Verdict}}</span></h1>
<div class="meta">seed {{$r.Seed}} · provider {{$r.Provider}} · {{utc $r.Start}} → {{utc $r.End}} ({{length $r.DurationMs}})</div>
{{- if $r.Partial}}
<div class="banner">PARTIAL RUN{{if $r.PartialReason}} ({{$r.PartialReason}}){{end}}: the run was interrupted; every figure covers only what was collected.</div>
{{- end}}
{{- with $r.LinksBanner}}
<div class="banner" id="links-not-emulated">{{.}}</div>
{{- end}}
{{- with $r.Headroom.Banner}}
<div class="banner" id="host-saturated">{{.}}</div>
{{- end}}
{{- with $r.Headroom.Summary}}
<div class="meta">host headroom: {{.}}</div>
{{- end}}

<div class="cards">
<div class="card"><b>{{len $r.Cameras}}</b><span>cameras</span></div>
<div class="card"><b>{{$r.Frames.Sent}}</b><span>frames sent</span></div>
{{- if lt $r.Frames.Expected (float $r.Frames.Sent)}}
<div class="card"><b>{{pct $r.Frames.OfExpected}}</b><span>of expected answers ({{pct $r.Frames.Answer}} of frames)</span></div>
{{- else}}
<div class="card"><b>{{pct $r.Frames.Answer}}</b><span>answered</span></div>
{{- end}}
<div class="card"><b>{{if $r.Latencies.Overall.Count}}{{ms $r.Latencies.Overall.P95Ms}} ms{{else}}–{{end}}</b><span>p95 latency</span></div>
<div class="card"><b>{{$r.Alerts}}</b><span>alerts at cloud</span></div>
{{- with $r.Accuracy}}<div class="card"><b>{{f3 .MeanAP50}}</b><span>mAP@0.5</span></div>{{end}}
{{- with $r.FailoverGaps}}{{if .Count}}<div class="card"><b>{{gap .P50Ms}}</b><span>failover p50</span></div>{{end}}{{end}}
</div>

<h2>SLOs</h2>
{{- define "slorow"}}<tr{{if and .Gated (not .Pass)}} class="bad"{{end}}><td>{{.Name}}</td><td>{{.Threshold}}</td><td>{{.Measured}}</td><td>{{if .Pass}}<span class="ok">pass</span>{{else if .NotExercised}}{{if .Gated}}<span class="ko">NOT EXERCISED</span>{{else}}not exercised{{if not .WhatIf}} (allowed){{end}}{{end}}{{else if .Gated}}<span class="ko">FAIL</span>{{else}}fail{{end}}</td><td>{{.Reason}}</td></tr>{{end}}
{{- if $r.SLOs}}
<p class="meta">Gated: these decide the verdict and the exit code. A gate nothing exercised did not pass.</p>
<table>
<tr><th>SLO</th><th>threshold</th><th>measured</th><th>result</th><th>reason</th></tr>
{{- range $r.SLOs}}{{if not .WhatIf}}
{{template "slorow" .}}{{end}}{{end}}
</table>
{{- if whatifs $r}}
<h3>What-if: the comparison mirror (not gated)</h3>
<p class="meta">The same thresholds applied to the mirror whose cameras stream to the cloud. Shown for comparison; they do not decide the verdict.</p>
<table>
<tr><th>SLO</th><th>threshold</th><th>measured</th><th>result</th><th>reason</th></tr>
{{- range $r.SLOs}}{{if .WhatIf}}
{{template "slorow" .}}{{end}}{{end}}
</table>
{{- end}}
{{- else}}<p>No SLOs defined.</p>{{end}}
{{template "rollouts" .Rollouts}}

{{- if $r.Warnings}}
<h2>Warnings</h2>
<ul class="warn">{{range $r.Warnings}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
{{- if $r.Diagnostics}}
<h2>Diagnostics</h2>
<p class="meta">Gathered when the run failed.</p>
{{- range $r.Diagnostics}}
<details><summary>{{.Title}}</summary><pre>{{if .Command}}$ {{.Command}}
{{end}}{{.Output}}</pre></details>
{{- end}}
{{- end}}

<h2>End-to-end latency</h2>
<p class="meta">Capture timestamp to detections back at the camera, one clock. Answered frames only{{if $r.Latencies.WarmUp}}; warm-up frames ({{$r.Frames.WarmUp}}) excluded{{end}}.</p>
<table>
<tr><th>scope</th><th>frames</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>min ms</th><th>max ms</th></tr>
{{- define "latrow"}}<td class="n">{{.Count}}</td>{{if .Count}}<td class="n">{{ms .P50Ms}}</td><td class="n">{{ms .P90Ms}}</td><td class="n">{{ms .P95Ms}}</td><td class="n">{{ms .P99Ms}}</td><td class="n">{{ms .MinMs}}</td><td class="n">{{ms .MaxMs}}</td>{{else}}<td class="n">–</td><td class="n">–</td><td class="n">–</td><td class="n">–</td><td class="n">–</td><td class="n">–</td>{{end}}{{end}}
<tr><td><b>all</b></td>{{template "latrow" $r.Latencies.Overall}}</tr>
{{- range $r.Latencies.Placements}}<tr><td>{{.Name}} placement</td>{{template "latrow" .Distribution}}</tr>{{end}}
{{- range $r.Latencies.Sites}}<tr><td>site {{.Name}}</td>{{template "latrow" .Distribution}}</tr>{{end}}
{{- range $r.Latencies.Models}}<tr><td>model {{.Name}}</td>{{template "latrow" .Distribution}}</tr>{{end}}
{{- range $r.Latencies.Cameras}}<tr><td>camera {{.Name}}</td>{{template "latrow" .Distribution}}</tr>{{end}}
{{- with $r.Latencies.WarmUp}}<tr><td><i>warm-up</i></td>{{template "latrow" .}}</tr>{{end}}
</table>
{{- if $r.Latencies.Breakdown}}
<h3>Where the latency went</h3>
<p class="meta">Answered frames whose node reported its share. Each part's percentiles are its own: they do not add up to the latency's.</p>
<table>
<tr><th>part</th><th>frames</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>min ms</th><th>max ms</th></tr>
{{- range $r.Latencies.Breakdown}}<tr><td>{{.Name}}</td>{{template "latrow" .Distribution}}</tr>{{end}}
</table>
{{- end}}` + reportkit.FigureTemplate + `
{{- range .Plots}}{{template "figure" .}}{{end}}

{{- if $r.TimeToAlert}}
<h2>Time to alert</h2>
<table>
<p class="meta">Only an alert for the event's own object (ground-truth track) counts; alerts for anyone else are counted apart.</p>
<table>
<tr><th>camera</th><th>event</th><th>zone</th><th>label</th><th>start</th><th>end</th><th>alert at cloud</th><th>time to alert</th><th>alerts for others</th></tr>
{{- range $r.TimeToAlert}}
<tr{{if and (not .Alerted) (not .Reference)}} class="bad"{{end}}><td>{{.Camera}}{{if .Reference}} <i>(what-if)</i>{{end}}</td><td>{{.Kind}}</td><td>{{.Zone}}</td><td>{{.Label}}</td><td>{{off $r.Start .Start}}</td><td>{{off $r.Start .End}}</td><td>{{if .Alerted}}{{off $r.Start .AlertAt}}{{else}}<span class="ko">none</span>{{end}}</td><td class="n">{{if .Alerted}}{{ms .TimeToAlertMs}} ms{{else}}–{{end}}</td><td class="n">{{len .OtherAlerts}}</td></tr>
{{- end}}
</table>
{{- end}}

{{- with $r.Accuracy}}
<h2>Detection accuracy</h2>
<p class="meta">Against the scene generator's ground truth, IoU ≥ {{.IoU}}, greedy matching by score, {{.FramesScored}} answered frames scored.</p>
<table>
<tr><th>class</th><th>ground truth</th><th>detections</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th><th>AP@0.5</th></tr>
{{- range .Classes}}
<tr><td>{{.Label}}</td><td class="n">{{.GroundTruth}}</td><td class="n">{{.Detections}}</td><td class="n">{{.TruePositives}}</td><td class="n">{{.FalsePositives}}</td><td class="n">{{.FalseNegatives}}</td><td class="n">{{if .Detections}}{{pct .Precision}}{{else}}–{{end}}</td><td class="n">{{pct .Recall}}</td><td class="n">{{f3 .AP50}}</td></tr>
{{- end}}
{{- with .Total}}
<tr><td><b>all</b></td><td class="n">{{.GroundTruth}}</td><td class="n">{{.Detections}}</td><td class="n">{{.TruePositives}}</td><td class="n">{{.FalsePositives}}</td><td class="n">{{.FalseNegatives}}</td><td class="n"><b>{{if .Detections}}{{pct .Precision}}{{else}}–{{end}}</b></td><td class="n"><b>{{pct .Recall}}</b></td><td class="n"><b>{{f3 .AP50}}</b> (mAP)</td></tr>
{{- end}}
</table>
{{- end}}
{{- if $r.AccuracyBy}}
<table>
<tr><th>scope</th><th>frames scored</th><th>precision</th><th>recall</th><th>mAP@0.5</th></tr>
{{- range $r.AccuracyBy}}
<tr><td>{{.Scope}} {{.Name}}</td><td class="n">{{.FramesScored}}</td><td class="n">{{pct .Precision}}</td><td class="n">{{pct .Recall}}</td><td class="n">{{f3 .MeanAP50}}</td></tr>
{{- end}}
</table>
{{- end}}

{{- if $r.Links}}
<h2>Bandwidth</h2>
<table>
<tr><th>link</th><th>direction</th><th>site</th><th>bytes</th><th>packets</th><th>dropped</th><th>mean</th><th>peak</th></tr>
{{- range $r.Links}}
<tr><td>{{.Link}}{{if .Uplink}} <i>(uplink{{if .Reference}}, comparison only{{end}})</i>{{end}}</td><td>{{.Direction}}</td><td>{{.Site}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{.Packets}}</td><td class="n">{{.Dropped}}</td><td class="n">{{rate .MeanBitsPerS}}</td><td class="n">{{rate .PeakBitsPerS}}</td></tr>
{{- end}}
</table>
{{- if $r.Uplink}}
<table>
<tr><th>placement</th><th>sites</th><th>cameras</th><th>uplink bytes</th><th>mean uplink</th><th>per camera</th><th>vs edge</th></tr>
{{- range $r.Uplink}}
<tr><td>{{.Placement}}</td><td>{{range $i, $s := .Sites}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td class="n">{{.Cameras}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{rate .MeanBitsPerS}}</td><td class="n">{{rate .PerCameraBitsPerS}}</td><td class="n">{{if .VsEdge}}{{printf "%.1f" .VsEdge}}×{{end}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- end}}

{{- if or $r.Failover $r.FailoverSummaries}}
<h2>Failover</h2>
{{- with $r.FailoverGaps}}{{if .Count}}
<p class="meta">Gap p50 {{gap .P50Ms}}, max {{gap .MaxMs}} over {{plural .Count "camera outage"}} of the scenario's cameras: fault time to the first answer for a frame captured after the fault took effect, from a node the fault did not take down. Answers in flight or from the faulted node are counted apart.{{if $.Breakdowns}} Step times are since the fault; a camera step gives the median over the cameras it was seen for and, in brackets, the latest.{{end}}</p>
{{- end}}{{end}}
{{- range $.Breakdowns}}
<h3>{{.Title}}</h3>
<p class="meta">{{.Headline}}</p>
<table>
<tr><th>step</th><th>since fault</th><th>cameras</th><th>note</th></tr>
{{- range .Rows}}
<tr><td>{{.Name}}</td><td class="n">{{.Time}}</td><td class="n">{{.Cameras}}</td><td>{{.Note}}</td></tr>
{{- end}}
</table>
{{- with .Plot}}{{template "figure" .}}{{end}}
{{- end}}
{{- end}}
{{- if $r.Failover}}
<table>
<tr><th>fault</th><th>at</th><th>camera</th><th>recovered by</th><th>reconnected</th><th>gap</th><th>frames without answer</th><th>answers lost</th><th>answered in flight</th><th>answered by the faulted node</th></tr>
{{- range $r.Failover}}
<tr{{if not .Recovered}} class="bad"{{end}}><td>{{.FaultKind}} {{.Target}}</td><td>{{off $r.Start .FaultAt}}</td><td>{{.Camera}}{{if .Reference}} <i>(what-if)</i>{{end}}</td><td>{{if .Recovered}}{{.RecoveredBy}}{{else}}<span class="ko">not recovered</span>{{end}}</td><td class="n">{{reconnected .}}</td><td class="n">{{ms .GapMs}} ms</td><td class="n">{{.FramesLost}}</td><td class="n">{{.AnswersLost}}</td><td class="n">{{.FramesInFlight}}</td><td class="n">{{.FramesFromFaulted}}</td></tr>
{{- end}}
</table>
{{- end}}

{{- if or $r.Faults $r.ObservedFaults}}
<h2>Fault timeline</h2>
<table>
<tr><th>at</th><th>kind</th><th>target</th><th>detail</th><th>source</th></tr>
{{- range $r.Faults}}<tr{{if .Failed}} class="bad"{{end}}><td>{{off $r.Start .At}}</td><td>{{.Kind}}</td><td>{{.Target}}</td><td>{{.Detail}}</td><td>{{if .Failed}}<span class="ko">injection failed</span>{{else}}injected{{end}}</td></tr>{{end}}
{{- range $r.ObservedFaults}}<tr class="bad"><td>{{off $r.Start .At}}</td><td>{{.Kind}}</td><td>{{.Target}}</td><td>{{.Detail}}</td><td>observed</td></tr>{{end}}
</table>
{{- end}}

<h2>Cameras</h2>
<table>
<tr><th>camera</th><th>site</th><th>placement</th><th>served by</th><th>frames</th><th>answered</th></tr>
{{- range $r.Cameras}}
<tr><td>{{.ID}}{{if .Reference}} <i>(comparison mirror)</i>{{end}}</td><td>{{.Site}}</td><td>{{.Placement}}</td><td>{{range $i, $n := .Nodes}}{{if $i}}, {{end}}{{$n}}{{end}}</td><td class="n">{{.Sent}}</td><td class="n">{{.Answered}}</td></tr>
{{- end}}
</table>

{{- if $r.Phases}}
<h2>Phases</h2>
<table>
<tr><th>phase</th><th>start</th><th>duration</th><th>frames captured</th></tr>
{{- range $r.Phases}}<tr><td>{{.Name}}</td><td>{{off $r.Start .Start}}</td><td class="n">{{length .DurationMs}}</td><td class="n">{{.Frames}}</td></tr>{{end}}
</table>
{{- end}}

{{- if $r.Clusters}}
<h2>Clusters</h2>
{{- range $r.Clusters}}
<p>{{cluster .}}</p>
{{- with .FailoverSettings}}<p>Failover settings: {{.}}</p>{{end}}
{{- end}}
{{- end}}

<footer>{{$r.SchemaVersion}} · generated by edgesim</footer>
</main>
</body>
</html>
`
