package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

const (
	plotW = 9 * vg.Inch
	plotH = 3.6 * vg.Inch
)

var faultColor = color.RGBA{R: 200, G: 30, B: 30, A: 255}

// svgOf renders a plot as an inline <svg> element (no XML prelude).
func svgOf(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return "", err
	}
	s := buf.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	// The SVG is produced by gonum/plot from numbers and our own labels,
	// which it escapes; it is safe to inline.
	return template.HTML(s), nil //nolint:gosec
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, i int, name string, xs, ys []float64, points bool) error {
	xy := make(plotter.XYs, len(xs))
	for k := range xs {
		xy[k].X, xy[k].Y = xs[k], ys[k]
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	l.Dashes = plotutil.Dashes(i / 7)
	p.Add(l)
	p.Legend.Add(name, l)
	if points && len(xy) <= 400 {
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		s.Color = l.Color
		s.Radius = vg.Points(1.5)
		s.Shape = draw.CircleGlyph{}
		p.Add(s)
	}
	return nil
}

// addFaultMarkers draws a dashed vertical line per fault, labelled with the
// fault kind; call it after the data so the y range is known.
func addFaultMarkers(p *plot.Plot, r *Result) error {
	if len(r.Faults) == 0 {
		return nil
	}
	ymin, ymax := p.Y.Min, p.Y.Max
	if ymax <= ymin {
		ymax = ymin + 1
	}
	var lxy plotter.XYs
	var labels []string
	for i, f := range r.Faults {
		x := f.At.Sub(r.Start).Seconds()
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: ymin}, {X: x, Y: ymax}})
		if err != nil {
			return err
		}
		l.Color = faultColor
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		l.Width = vg.Points(1)
		p.Add(l)
		if i == 0 {
			p.Legend.Add("fault", l)
		}
		lxy = append(lxy, plotter.XY{X: x, Y: ymax})
		labels = append(labels, " "+f.Kind+" "+f.Target)
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: lxy, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Color = faultColor
		lab.TextStyle[i].YAlign = -1
	}
	p.Add(lab)
	return nil
}

type namedPlot struct {
	Title string
	SVG   template.HTML
}

// plots renders every plot the data allows; an empty slice means no data.
func plots(r *Result) ([]namedPlot, error) {
	var out []namedPlot
	add := func(title string, p *plot.Plot, h vg.Length, err error) error {
		if err != nil {
			return fmt.Errorf("plot %s: %w", title, err)
		}
		if p == nil {
			return nil
		}
		svg, err := svgOf(p, plotW, h)
		if err != nil {
			return fmt.Errorf("plot %s: %w", title, err)
		}
		out = append(out, namedPlot{Title: title, SVG: svg})
		return nil
	}
	p, err := cdfPlot(r)
	if err := add("Latency CDF", p, plotH, err); err != nil {
		return nil, err
	}
	p, err = timelinePlot(r)
	if err := add("Latency over time", p, plotH, err); err != nil {
		return nil, err
	}
	p, err = bandwidthPlot(r)
	if err := add("Bandwidth", p, plotH, err); err != nil {
		return nil, err
	}
	p, err = failoverPlot(r)
	if err := add("Failover gaps", p, plotH, err); err != nil {
		return nil, err
	}
	return out, nil
}

func cdfPlot(r *Result) (*plot.Plot, error) {
	type g struct {
		name string
		d    Distribution
	}
	var gs []g
	for _, s := range r.Latencies.Sites {
		gs = append(gs, g{"site " + s.Name, s.Distribution})
	}
	if len(r.Latencies.Placements) > 1 {
		for _, s := range r.Latencies.Placements {
			gs = append(gs, g{s.Name + " placement", s.Distribution})
		}
	}
	p := newPlot("End-to-end latency CDF (capture to detections at the camera)", "latency (ms)", "fraction of answered frames")
	n := 0
	for i, x := range gs {
		xs, ys := x.d.CDF(500)
		if len(xs) == 0 {
			continue
		}
		if err := addLine(p, i, fmt.Sprintf("%s (p95 %s)", x.name, fmtMs(x.d.P95Ms)), xs, ys, false); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = false
	return p, nil
}

func timelinePlot(r *Result) (*plot.Plot, error) {
	if len(r.LatencyTimeline) == 0 {
		return nil, nil
	}
	p := newPlot("Latency over time, p95 per site and bucket", "time since start (s)", "p95 latency (ms)")
	var sites []string
	bySite := map[string][]LatencyBucket{}
	for _, b := range r.LatencyTimeline {
		if b.Count == 0 {
			continue
		}
		if _, ok := bySite[b.Site]; !ok {
			sites = append(sites, b.Site)
		}
		bySite[b.Site] = append(bySite[b.Site], b)
	}
	if len(sites) == 0 {
		return nil, nil
	}
	for i, s := range sites {
		var xs, ys []float64
		for _, b := range bySite[s] {
			xs = append(xs, b.OffsetS)
			ys = append(ys, b.P95Ms)
		}
		if err := addLine(p, i, "site "+s, xs, ys, true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	p.X.Min = 0
	if err := addFaultMarkers(p, r); err != nil {
		return nil, err
	}
	p.Legend.Left = true
	return p, nil
}

func bandwidthPlot(r *Result) (*plot.Plot, error) {
	p := newPlot("Bandwidth per link and direction (counted by the link emulator)", "time since start (s)", "Mbit/s")
	n := 0
	for i, l := range r.Links {
		if len(l.SeriesOffsetS) == 0 {
			continue
		}
		ys := make([]float64, len(l.SeriesBitsPerS))
		for k, v := range l.SeriesBitsPerS {
			ys[k] = v / 1e6
		}
		name := l.Link + " " + l.Direction
		if l.Uplink {
			name += " (uplink)"
		}
		if err := addLine(p, i, name, l.SeriesOffsetS, ys, false); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	p.Y.Min = 0
	p.X.Min = 0
	if err := addFaultMarkers(p, r); err != nil {
		return nil, err
	}
	p.Legend.Left = true
	return p, nil
}

func failoverPlot(r *Result) (*plot.Plot, error) {
	if len(r.Failover) == 0 {
		return nil, nil
	}
	p := newPlot("Failover gap per camera and fault (fault to first answered frame)", "", "gap (ms)")
	vals := make(plotter.Values, len(r.Failover))
	names := make([]string, len(r.Failover))
	for i, g := range r.Failover {
		vals[i] = g.GapMs
		names[i] = fmt.Sprintf("%s\n%s %s", g.Camera, g.FaultKind, g.Target)
		if !g.Recovered {
			names[i] += " (lost)"
		}
	}
	w := vg.Points(min(40, max(6, 500/float64(len(vals)))))
	bars, err := plotter.NewBarChart(vals, w)
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	if len(names) <= 24 {
		p.NominalX(names...)
	}
	p.Y.Min = 0
	return p, nil
}
