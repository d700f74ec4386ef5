package render

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/units"
)

// The report is first laid out as a page of sections, tables and cells;
// Markdown and HTML only draw that page, so both say the same.

type page struct {
	Title    string
	Meta     []string
	Banners  []string
	Sections []section
}

type section struct {
	Heading string
	Sub     bool // a subsection (h3)
	Text    []string
	Tables  []table
	Plots   []reportkit.Named // HTML only
}

type table struct {
	Caption string
	Head    []string
	Rows    [][]cell
}

// Cell states, drawn as a word's colour (HTML) or a sign (Markdown).
const (
	stateMet  = "ok"
	stateFail = "ko"
	stateNA   = "na" // not exercised
)

type cell struct {
	Text  string
	Num   bool // right-aligned
	State string
}

func txt(s string) cell        { return cell{Text: s} }
func num(s string) cell        { return cell{Text: s, Num: true} }
func count(n int) cell         { return num(strconv.Itoa(n)) }
func met(ok bool) cell         { return stateCell(ok, "met", "not met") }
func seconds(v float64) string { return dur(time.Duration(v * float64(time.Second))) }

func spare(b bool) string {
	if b {
		return "with spare"
	}
	return "without"
}

func stateCell(ok bool, good, bad string) cell {
	if ok {
		return cell{Text: good, State: stateMet}
	}
	return cell{Text: bad, State: stateFail}
}

// dur renders a duration to four digits or so: "23.41ms", "231.4ms",
// "2.041s", "12.34s".
func dur(d time.Duration) string {
	r := 10 * time.Microsecond
	for lim := 100 * time.Millisecond; d >= lim && r < time.Second; lim *= 10 {
		r *= 10
	}
	return d.Round(r).String()
}

// keyHead and keyCells are a curve key's columns.
var keyHead = []string{"hardware", "model", "detect fps", "link", "placement", "nodes per site"}

func keyCells(k plan.CurveKey) []cell {
	return []cell{txt(k.Hardware), txt(k.Model), num(fps(k.DetectFPS)), txt(k.Link), txt(string(k.Placement)), count(k.NodesPerSite)}
}

func fps(v float64) string {
	if v == 0 {
		return "every frame"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// detectRate is "5 fps" or, for 0, "every frame".
func detectRate(k plan.CurveKey) string {
	if k.DetectFPS == 0 {
		return fps(0)
	}
	return fps(k.DetectFPS) + " fps"
}

// keyLabel names a curve key in a heading, e.g. "small-box · edgesim-det
// · 5 fps · link wan-4g · edge placement · 2 nodes per site".
func keyLabel(k plan.CurveKey) string {
	var parts []string
	if k.Hardware != "" { // empty in a plot's title: its lines are the classes
		parts = append(parts, k.Hardware)
	}
	parts = append(parts, k.Model, detectRate(k))
	if k.Link != "" {
		parts = append(parts, "link "+k.Link)
	}
	parts = append(parts, string(k.Placement)+" placement", plural(k.NodesPerSite, "node")+" per site")
	return strings.Join(parts, " · ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// kneeCell is a knee: 0 means there is none, for the reason none gives.
func kneeCell(n int, none string) cell {
	if n == 0 {
		return cell{Text: "none: " + cmp.Or(none, plan.KneeFails), State: stateFail}
	}
	return num(strconv.Itoa(n))
}

// checkCell is one objective's check: a check nothing exercised is "not
// exercised", never met.
func checkCell(c plan.Check) cell {
	v := strconv.FormatFloat(c.Value, 'g', 3, 64)
	switch {
	case !c.Exercised:
		return cell{Text: joinNote("not exercised", c.Note), State: stateNA}
	case c.Met:
		return cell{Text: "met (" + v + ")", State: stateMet}
	}
	return cell{Text: joinNote("failed ("+v+")", c.Note), State: stateFail}
}

func build(r *plan.CapacityReport, plots []reportkit.Named) page {
	pg := page{Title: "edgesim capacity report: " + r.Name}
	pg.Meta = append(pg.Meta, fmt.Sprintf("generated %s · seed %d · %s simulated per point · %s, %s",
		r.Generated.UTC().Format(time.RFC3339), r.Seed, r.Simulated, plural(r.Sites, "site"), plural(r.Cameras, "camera")))
	c := r.Calibration
	pr := c.Provenance
	pg.Meta = append(pg.Meta, fmt.Sprintf("calibration %s: measured on %s at commit %s, %s, by %s",
		c.Path, pr.Machine, pr.Commit, pr.Date.UTC().Format(time.RFC3339), strings.Join(pr.Commands, "; ")))
	if len(c.InSitu) > 0 {
		pg.Meta = append(pg.Meta, "measured in situ, inside running edgenodes of emulated runs, and drawn instead of the isolated measurements: "+
			strings.Join(c.InSitu, "; "))
	}
	if s := r.Shard; s != nil {
		pg.Banners = append(pg.Banners, fmt.Sprintf("Partial report of shard %d/%d: merge before reading. It holds only that slice of the sites.", s.Index, s.Count))
	}
	if c.TestFixture {
		pg.Banners = append(pg.Banners, "TEST-FIXTURE CALIBRATION: "+c.Path+" is hand-written for specs and was not measured. No figure in this report may size hardware.")
	}
	for _, w := range r.Warnings {
		pg.Banners = append(pg.Banners, "Warning: "+w)
	}

	obj := section{Heading: "Objectives"}
	if len(r.Objectives) == 0 {
		obj.Text = []string{"No objectives."}
	} else {
		t := table{Head: []string{"objective", "limit"}}
		for _, o := range r.Objectives {
			t.Rows = append(t.Rows, []cell{txt(o.Name), num(strconv.FormatFloat(o.Limit, 'g', -1, 64))})
		}
		obj.Tables = []table{t}
	}
	pg.Sections = append(pg.Sections, obj)
	for _, st := range r.Capacity {
		pg.Sections = append(pg.Sections, capacitySection(st))
	}
	pg.Sections = append(pg.Sections, section{Heading: "Curves", Text: []string{
		"Every swept point, per site type. An objective nothing exercised at a point (no answered frame, no expected alert) is not exercised, never met."}})
	for _, cv := range r.Curves {
		pg.Sections = append(pg.Sections, curveSection(cv, r.Objectives))
	}
	if len(plots) > 0 {
		pg.Sections = append(pg.Sections, section{Heading: "Plots", Plots: plots})
	}
	pg.Sections = append(pg.Sections, validationSection(r.Validation))
	st := r.Stats
	pg.Sections = append(pg.Sections, section{Heading: "Run", Text: []string{fmt.Sprintf(
		"%s simulated · %d events · %d packets · wall %s · CPU %.1f s · peak RSS %s",
		plural(st.Points, "point"), st.Events, st.Packets, st.Wall.Round(time.Millisecond), st.CPUSeconds, reportkit.Bytes(st.PeakRSSBytes))}})
	return pg
}

func capacitySection(st plan.SiteTypeCapacity) section {
	s := section{Heading: "Site type " + st.Type}
	knees := table{Caption: "Knee: the largest cameras per node that, with every smaller swept value, meets every objective",
		Head: append(slices.Clone(keyHead), "cameras per node")}
	for _, k := range st.Knees {
		knees.Rows = append(knees.Rows, append(keyCells(k.Key), kneeCell(k.CamerasPerNode, k.None)))
	}
	s.Tables = append(s.Tables, knees)
	up := table{Caption: "Uplink per site (WAN, site to cloud)", Head: append(slices.Clone(keyHead), "cameras per site", "mean", "max")}
	for _, u := range st.Uplink {
		up.Rows = append(up.Rows, append(keyCells(u.Key), count(u.CamerasPerSite), num(units.FormatMeasured(u.MeanBits)), num(units.FormatMeasured(u.MaxBits))))
	}
	s.Tables = append(s.Tables, up)
	if len(st.CloudTier) > 0 {
		ct := table{Caption: "Cloud tier for cloud placement: the smallest that meets every objective", Head: append(slices.Clone(keyHead), "cloud class", "nodes", "cameras", "result")}
		for _, c := range st.CloudTier {
			nodes := count(c.Nodes)
			if c.Nodes == 0 {
				nodes = cell{Text: "none: no swept size met the objectives", State: stateFail}
			}
			ct.Rows = append(ct.Rows, append(keyCells(c.Key), txt(c.Hardware), nodes, count(c.Cameras), met(c.Met)))
		}
		s.Tables = append(s.Tables, ct)
	}
	if len(st.NodeLoss) > 0 {
		nl := table{Caption: "Losing one edge node, without and with a spare", Head: append(slices.Clone(keyHead),
			"cameras per node", "spare", "cameras affected", "gap p50", "gap p95", "gap max", "unrecovered", "frames lost", "latency p95", "result")}
		for _, n := range st.NodeLoss {
			f := n.Failover
			nl.Rows = append(nl.Rows, append(keyCells(n.Key), count(n.CamerasPerNode), txt(spare(n.Spare)), count(f.Cameras),
				num(dur(f.GapP50)), num(dur(f.GapP95)), num(dur(f.GapMax)), count(f.Unrecovered), count(f.FramesLost), num(dur(n.LatencyP95)), met(n.Met)))
		}
		s.Tables = append(s.Tables, nl)
	}
	return s
}

// objectiveNames are the report's objectives, then any other a check names.
func objectiveNames(cv plan.Curve, objs []plan.Objective) []string {
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	for _, p := range cv.Points {
		for _, c := range p.Checks {
			if _, n, ok := strings.Cut(c.Objective, ": "); ok && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

func curveSection(cv plan.Curve, objs []plan.Objective) section {
	s := section{Heading: keyLabel(cv.Key), Sub: true}
	var knees []string
	for _, k := range cv.Knees {
		v := "none (" + cmp.Or(k.None, plan.KneeFails) + ")"
		if k.CamerasPerNode > 0 {
			v = plural(k.CamerasPerNode, "camera") + " per node"
		}
		knees = append(knees, k.Type+" "+v)
	}
	if len(knees) > 0 {
		s.Text = append(s.Text, "Knee: "+strings.Join(knees, "; ")+".")
	}
	names := objectiveNames(cv, objs)
	emulated := slices.ContainsFunc(cv.Points, func(p plan.CurvePoint) bool { return p.Emulated != nil })
	failover := slices.ContainsFunc(cv.Points, func(p plan.CurvePoint) bool { return p.Failover != nil })
	t := table{Head: []string{"cameras per node", "site type", "latency p50", "latency p95", "uplink mean per site", "dropped", "time to alert p95"}}
	t.Head = append(t.Head, names...)
	if failover {
		t.Head = append(t.Head, "failover gap p95 (unrecovered)")
	}
	if emulated {
		t.Head = append(t.Head, "emulated p50 / p95 / uplink")
	}
	for _, p := range cv.Points {
		for i, ty := range p.Types {
			row := []cell{count(p.CamerasPerNode), txt(ty.Type)}
			if ty.Frames.Answered > 0 {
				row = append(row, num(dur(ty.LatencyP50)), num(dur(ty.LatencyP95)))
			} else {
				row = append(row, num("– (no answer)"), num("–"))
			}
			row = append(row, num(units.FormatMeasured(ty.UplinkMeanBits)))
			if share, ok := ty.Frames.DroppedShare(); ok {
				row = append(row, num(strconv.FormatFloat(100*share, 'f', 2, 64)+"%"))
			} else {
				row = append(row, num("– (none sampled)"))
			}
			if ty.AlertsExpected > 0 {
				row = append(row, num(fmt.Sprintf("%s (%d of %d alerted)", dur(ty.TimeToAlertP95), ty.Alerted, ty.AlertsExpected)))
			} else {
				row = append(row, num("– (no event)"))
			}
			for _, n := range names {
				k := slices.IndexFunc(p.Checks, func(c plan.Check) bool { return c.Objective == ty.Type+": "+n })
				if k < 0 {
					row = append(row, txt("–"))
				} else {
					row = append(row, checkCell(p.Checks[k]))
				}
			}
			if failover {
				row = append(row, failoverCell(p.Failover))
			}
			if emulated {
				row = append(row, emulatedCell(p.Emulated, i))
			}
			t.Rows = append(t.Rows, row)
		}
	}
	s.Tables = []table{t}
	return s
}

func failoverCell(f *plan.FailoverSummary) cell {
	if f == nil || f.Cameras == 0 {
		return num("–")
	}
	return num(fmt.Sprintf("%s (%d of %d)", dur(f.GapP95), f.Unrecovered, f.Cameras))
}

// emulatedCell is the emulated figures of a point, on its first row only.
func emulatedCell(e *plan.EmulatedPoint, row int) cell {
	if e == nil || row > 0 {
		return num("–")
	}
	return num(fmt.Sprintf("%s / %s / %s", dur(e.LatencyP50), dur(e.LatencyP95), units.FormatMeasured(e.UplinkMeanBits)))
}

// noValidation is what a report without validation says instead.
const noValidation = "This report carries no validation: run `edgesim plan --validate PLAN.yaml`."

func validationSection(v *plan.Validation) section {
	s := section{Heading: "Validation against emulation"}
	if v == nil {
		s.Text = []string{noValidation}
		return s
	}
	s.Text = []string{fmt.Sprintf("Emulated on %s at commit %s, by %s.", v.Machine, v.Commit, strings.Join(v.Commands, "; "))}
	t := table{Head: []string{"scenario", "cameras per node", "site", "figure", "emulated", "simulated", "error", "target", "result"}}
	for _, row := range v.Rows {
		emu, sim, e := num(inUnit(row.Emulated, row.Unit)), num(inUnit(row.Simulated, row.Unit)), num(errorText(row.Error, row))
		if !row.Exercised {
			emu, sim, e = num("–"), num("–"), num("–")
		}
		site := row.Site
		if site == "" {
			site = "all"
		}
		t.Rows = append(t.Rows, []cell{txt(row.Scenario), count(row.CamerasPerNode), txt(site), txt(row.Figure), emu, sim, e, num(targetText(row)), validationResult(row)})
	}
	s.Tables = []table{t}
	return s
}

// inUnit renders a validation figure in its unit.
func inUnit(v float64, unit string) string {
	switch unit {
	case "s":
		return seconds(v)
	case "bytes":
		return reportkit.Bytes(uint64(max(v, 0)))
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit
}

func errorText(e float64, row plan.ValidationRow) string {
	if row.ErrorKind == plan.ErrorRelative {
		return strconv.FormatFloat(100*e, 'f', 1, 64) + "%"
	}
	return inUnit(e, row.Unit)
}

func targetText(row plan.ValidationRow) string {
	if row.Target == 0 {
		return "– (reported only)"
	}
	return "≤ " + errorText(row.Target, row)
}

func validationResult(row plan.ValidationRow) cell {
	note := ""
	if row.Note != "" {
		note = ": " + row.Note
	}
	switch {
	case !row.Exercised:
		return cell{Text: "not exercised" + note, State: stateNA}
	case row.Target == 0:
		return txt("reported" + note)
	}
	return stateCell(row.Met, "met"+note, "not met"+note)
}

func joinNote(s, note string) string {
	if note == "" {
		return s
	}
	return s + ": " + note
}
