package render

import (
	"fmt"
	"strings"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/internal/text"
)

// rolloutView is one rollout as both the Markdown and the HTML report show
// it: a heading, summary lines and tables of plain cells.
type rolloutView struct {
	Title  string
	Lines  []string
	Tables []cellTable
}

type cellTable struct {
	Caption string
	Head    []string
	Rows    [][]string
}

func rolloutViews(r *reports.Result) []rolloutView {
	var out []rolloutView
	for _, ro := range r.Rollouts {
		v := rolloutView{Title: fmt.Sprintf("Rollout %s: %s (%s), %s", ro.Name, ro.Model, ro.Strategy, strings.ToUpper(ro.Outcome))}
		if ro.Reason != "" {
			v.Lines = append(v.Lines, "Why: "+ro.Reason)
		}
		total := "did not end"
		if ro.TotalMs > 0 {
			total = text.Ms(text.Round3(ro.TotalMs))
		}
		v.Lines = append(v.Lines, fmt.Sprintf("Total rollout time %s; planned %s = pauses %s + gate windows %s + transfers at the links' rates %s (batches judged: %d)",
			total, text.Ms(text.Round3(ro.PlannedMs)), text.Ms(text.Round3(ro.PausesMs)), text.Ms(text.Round3(ro.WindowsMs)),
			text.Ms(text.Round3(ro.TransferMs)), len(ro.Decisions)))
		sites := cellTable{Caption: "Per site", Head: []string{"site", "batch", "nodes", "status", "bytes shipped", "delivery", "at link rate",
			"frames in swaps", "answers missing in swaps", "longest answer gap", "p95 before", "p95 after", "recall before", "recall after"}}
		for _, s := range ro.Sites {
			after95, afterRecall := "–", "–"
			if s.After != nil {
				after95, afterRecall = p95(*s.After), recall(*s.After)
			}
			sites.Rows = append(sites.Rows, []string{s.Site, fmt.Sprint(s.Batch), fmt.Sprint(s.Nodes), s.Status, reportBytes(s.BytesShipped),
				text.Ms(text.Round3(s.DeliveryMs)), text.Ms(text.Round3(s.ExpectedTransferMs)), fmt.Sprint(s.SwapFrames), fmt.Sprint(s.SwapUnanswered), text.Ms(text.Round3(s.LongestGapMs)),
				p95(s.Before), after95, recall(s.Before), afterRecall})
		}
		v.Tables = append(v.Tables, sites)
		if len(ro.Decisions) > 0 {
			gates := cellTable{Caption: "Gate decisions", Head: []string{"window", "frames", "verdict", "checks"}}
			for _, d := range ro.Decisions {
				var checks []string
				for _, c := range d.Checks {
					res := "ok"
					switch {
					case c.NotExercised:
						res = "NOT EXERCISED"
					case !c.Pass:
						res = "MISSED"
					}
					checks = append(checks, fmt.Sprintf("%s %s (limit %s) %s", c.Name, c.Measured, c.Limit, res))
				}
				gates.Rows = append(gates.Rows, []string{"+" + text.Offset(r.Start, d.Figures.From).String() + " to +" + text.Offset(r.Start, d.Figures.To).String(),
					fmt.Sprintf("%d (%d answered)", d.Figures.Frames, d.Figures.Answered), d.Verdict, strings.Join(checks, "; ")})
			}
			v.Tables = append(v.Tables, gates)
		}
		timeline := cellTable{Caption: "Timeline", Head: []string{"at", "site", "node", "event", "detail"}}
		for _, e := range ro.Events {
			detail := e.Detail
			if e.Bytes > 0 {
				detail = strings.TrimPrefix(detail+", "+reportBytes(e.Bytes), ", ")
			}
			timeline.Rows = append(timeline.Rows, []string{"+" + text.Offset(r.Start, e.At).String(), e.Site, e.Node, e.Kind, detail})
		}
		v.Tables = append(v.Tables, timeline)
		out = append(out, v)
	}
	return out
}

func reportBytes(n int64) string { return fmt.Sprintf("%d B", n) }

func p95(f reports.GateFigures) string {
	if f.Latency.Count == 0 {
		return "–"
	}
	return num(f.Latency.P95Ms) + " ms"
}

func recall(f reports.GateFigures) string {
	if f.TruthObjects == 0 {
		return "–"
	}
	return text.Pct(f.Recall)
}

// writeRolloutsMD writes the rollout section of report.md.
func writeRolloutsMD(p func(string, ...any), r *reports.Result) {
	for _, v := range rolloutViews(r) {
		p("**%s**\n\n", mdEsc(v.Title))
		for _, l := range v.Lines {
			p("%s\n\n", mdEsc(l))
		}
		for _, t := range v.Tables {
			p("%s\n\n| %s |\n|%s\n", mdEsc(t.Caption), strings.Join(t.Head, " | "), strings.Repeat("---|", len(t.Head)))
			for _, row := range t.Rows {
				cells := make([]string, len(row))
				for i, c := range row {
					cells[i] = mdEsc(c)
				}
				p("| %s |\n", strings.Join(cells, " | "))
			}
			p("\n")
		}
	}
}

const rolloutHTML = `{{- define "rollouts"}}{{range .}}
<h2>{{.Title}}</h2>
{{- range .Lines}}
<p>{{.}}</p>{{end}}
{{- range .Tables}}
<h3>{{.Caption}}</h3>
<table>
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{- range .Rows}}
<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}
</table>{{end}}{{end}}{{end}}`
