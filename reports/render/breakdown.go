package render

import (
	"fmt"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/internal/text"
)

// breakdownView is one fault's breakdown as report.html shows it.
type breakdownView struct {
	Title    string
	Headline string
	Rows     []breakdownRow
	Plot     *reportkit.Named
}

type breakdownRow struct {
	Name, Time, Note string
	Cameras          int
}

// breakdownViews prepares the first maxBreakdowns faults' breakdowns, with
// a timeline plot when a fault has more than one step.
func breakdownViews(r *reports.Result) ([]breakdownView, error) {
	var out []breakdownView
	for i, s := range r.FailoverSummaries {
		if i == maxBreakdowns {
			break
		}
		v := breakdownView{Title: s.Title(r.Start), Headline: summaryHeadline(s)}
		for k, st := range s.Steps {
			v.Rows = append(v.Rows, breakdownRow{Name: st.Name, Time: stepTime(st), Note: stepNote(s.Steps, k), Cameras: st.Cameras})
		}
		if len(s.Steps) > 1 {
			f, err := stepsPlot(r, s)
			if err != nil {
				return nil, fmt.Errorf("plot failover steps of fault %d: %w", s.Fault, err)
			}
			n, err := f.Render("Failover steps after "+v.Title, plotW, stepsPlotHeight(len(s.Steps)))
			if err != nil {
				return nil, err
			}
			v.Plot = &n
		}
		out = append(out, v)
	}
	return out, nil
}

// stepNote says which earlier step of the chain a step came before, e.g.
// "before node NotReady" for a camera that reconnected to a surviving
// replica before its node was declared NotReady; "" when in order.
func stepNote(steps []reports.FailoverStepSummary, i int) string {
	for _, st := range steps[:i] {
		if st.SinceFaultMs > steps[i].SinceFaultMs {
			return "before " + st.Name
		}
	}
	return ""
}

// summaryHeadline gives a summary's cameras and gaps, e.g. "2 cameras, gap
// p50 4.05s, max 57.05s, 610 frames without answer".
func summaryHeadline(s reports.FailoverSummary) string {
	h := text.Plural(len(s.Cameras), "camera")
	if len(s.Cameras) > 0 {
		h += fmt.Sprintf(", gap p50 %s, max %s, %s without answer", text.Ms(s.GapP50Ms), text.Ms(s.GapMaxMs), text.Plural(s.FramesLost, "frame"))
		if n := len(s.Cameras) - s.Recovered; n > 0 {
			h += fmt.Sprintf(", %d not recovered", n)
		}
	}
	return h
}

// stepTime is a step's time since the fault: "+3s", or "+3s (max +56s)"
// when the cameras differ.
func stepTime(st reports.FailoverStepSummary) string {
	if st.MaxSinceFaultMs != st.SinceFaultMs {
		return fmt.Sprintf("%s (max %s)", text.SinceFault(st.SinceFaultMs), text.SinceFault(st.MaxSinceFaultMs))
	}
	return text.SinceFault(st.SinceFaultMs)
}
