package render

import (
	"image/color"
	"strings"
	"time"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/plan"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// latencyObjective is the objective the latency plots draw as the SLO line.
const latencyObjective = "latency p95 (s)"

var sloColor = color.RGBA{R: 200, G: 30, B: 30, A: 255}

// plots draws, per group of curves that differ only in hardware class,
// p95 latency against cameras per node, and once for the report the
// uplink per site against cameras per site.
func plots(r *plan.CapacityReport) ([]reportkit.Named, error) {
	var out []reportkit.Named
	types := typeNames(r)
	var groups []plan.CurveKey
	byGroup := map[plan.CurveKey][]plan.Curve{}
	for _, cv := range r.Curves {
		g := cv.Key
		g.Hardware = ""
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], cv)
	}
	for _, g := range groups {
		f, err := latencyPlot(byGroup[g], types, r.Objectives)
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		title := "p95 latency against cameras per node, per hardware class: " + keyLabel(g)
		n, err := f.Render(title, reportkit.Width, reportkit.Height)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	f, err := uplinkPlot(r.Curves, types)
	if err != nil || f == nil {
		return out, err
	}
	n, err := f.Render("Uplink per site against cameras per site, edge and cloud placement", reportkit.Width, reportkit.Height)
	return append(out, n), err
}

// typeNames are the site types of the curves, in order.
func typeNames(r *plan.CapacityReport) []string {
	var out []string
	seen := map[string]bool{}
	for _, cv := range r.Curves {
		for _, p := range cv.Points {
			for _, t := range p.Types {
				if !seen[t.Type] {
					seen[t.Type] = true
					out = append(out, t.Type)
				}
			}
		}
	}
	return out
}

// series is one site type's figure along a curve; a point with no answered
// frame has no latency and is left out.
func series(cv plan.Curve, typ string, x func(plan.CurvePoint, plan.TypeResult) float64, y func(plan.TypeResult) (float64, bool)) (xs, ys []float64) {
	for _, p := range cv.Points {
		for _, t := range p.Types {
			if v, ok := y(t); t.Type == typ && ok {
				xs, ys = append(xs, x(p, t)), append(ys, v)
			}
		}
	}
	return xs, ys
}

// emulated draws a curve's emulated points as triangles in the curve's
// colour, over the simulated line.
func emulated(f *reportkit.Figure, i int, name string, cv plan.Curve, x func(plan.CurvePoint) float64, y func(*plan.EmulatedPoint) float64) error {
	var xy plotter.XYs
	for _, p := range cv.Points {
		if p.Emulated != nil {
			xy = append(xy, plotter.XY{X: x(p), Y: y(p.Emulated)})
		}
	}
	if len(xy) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	s.Color = plotutil.Color(i)
	s.Shape = draw.TriangleGlyph{}
	s.Radius = vg.Points(4)
	f.Plot.Add(s)
	f.Legend = append(f.Legend, reportkit.Legend{Name: name + ": emulated", Color: reportkit.CSSColor(s.Color), Symbol: "▲"})
	return nil
}

func latencyPlot(curves []plan.Curve, types []string, objs []plan.Objective) (*reportkit.Figure, error) {
	f := reportkit.NewFigure("", "cameras per node", "p95 latency (ms)")
	perNode := func(p plan.CurvePoint, _ plan.TypeResult) float64 { return float64(p.CamerasPerNode) }
	p95 := func(t plan.TypeResult) (float64, bool) { return ms(t.LatencyP95), t.Frames.Answered > 0 }
	i, xmin, xmax := 0, 0.0, 0.0
	for _, cv := range curves {
		first := i
		for _, typ := range types {
			xs, ys := series(cv, typ, perNode, p95)
			if len(xs) == 0 {
				continue
			}
			if i == 0 || xs[0] < xmin {
				xmin = xs[0]
			}
			xmax = max(xmax, xs[len(xs)-1])
			name := cv.Key.Hardware
			if len(types) > 1 {
				name += ", " + typ
			}
			if err := f.AddLine(i, name, xs, ys, true, false); err != nil {
				return nil, err
			}
			i++
		}
		err := emulated(f, first, cv.Key.Hardware, cv, func(p plan.CurvePoint) float64 { return float64(p.CamerasPerNode) },
			func(e *plan.EmulatedPoint) float64 { return ms(e.LatencyP95) })
		if err != nil {
			return nil, err
		}
	}
	if i == 0 {
		return nil, nil
	}
	f.Plot.Y.Min = 0
	for _, o := range objs {
		if o.Name != latencyObjective {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: o.Limit * 1000}, {X: xmax, Y: o.Limit * 1000}})
		if err != nil {
			return nil, err
		}
		l.Color = sloColor
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		f.Plot.Add(l)
		f.Plot.Y.Max = max(f.Plot.Y.Max, o.Limit*1000*1.1)
		f.Legend = append(f.Legend, reportkit.Legend{Name: sloLabel(o), Color: reportkit.CSSColor(sloColor), Dashed: true})
	}
	return f, nil
}

// sloLabel names the SLO line, e.g. "SLO: latency p95 ≤ 800ms".
func sloLabel(o plan.Objective) string {
	return "SLO: latency p95 ≤ " + seconds(o.Limit)
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// uplinkPlot draws each curve's mean uplink per site against cameras per
// site, one line per curve and site type; cloud placement dashed.
func uplinkPlot(curves []plan.Curve, types []string) (*reportkit.Figure, error) {
	hi := 0.0
	for _, cv := range curves {
		for _, p := range cv.Points {
			for _, t := range p.Types {
				hi = max(hi, t.UplinkMeanBits)
			}
		}
	}
	if hi == 0 {
		return nil, nil
	}
	unit, div := "Mbit/s", 1e6
	if hi < 1e6 {
		unit, div = "kbit/s", 1e3
	}
	f := reportkit.NewFigure("", "cameras per site", "mean uplink per site ("+unit+")")
	vary := varying(curves)
	perSite := func(_ plan.CurvePoint, t plan.TypeResult) float64 {
		return float64(t.Cameras) / float64(max(t.Sites, 1))
	}
	up := func(t plan.TypeResult) (float64, bool) { return t.UplinkMeanBits / div, true }
	i := 0
	for _, cv := range curves {
		first := i
		name := vary(cv.Key)
		for _, typ := range types {
			xs, ys := series(cv, typ, perSite, up)
			if len(xs) == 0 {
				continue
			}
			n := name
			if len(types) > 1 {
				n += ", " + typ
			}
			if err := f.AddLine(i, n, xs, ys, true, cv.Key.Placement == plan.PlacementCloud); err != nil {
				return nil, err
			}
			i++
		}
		err := emulated(f, first, name, cv, func(p plan.CurvePoint) float64 { return float64(p.CamerasPerNode * cv.Key.NodesPerSite) },
			func(e *plan.EmulatedPoint) float64 { return e.UplinkMeanBits / div })
		if err != nil {
			return nil, err
		}
	}
	f.Plot.Y.Min, f.Plot.X.Min = 0, 0
	return f, nil
}

// varying names a curve key by the dimensions in which the curves differ,
// and always by its placement.
func varying(curves []plan.Curve) func(plan.CurveKey) string {
	dims := []func(plan.CurveKey) string{
		func(k plan.CurveKey) string { return string(k.Placement) },
		func(k plan.CurveKey) string { return k.Hardware },
		func(k plan.CurveKey) string { return k.Model },
		detectRate,
		func(k plan.CurveKey) string { return "link " + k.Link },
		func(k plan.CurveKey) string { return plural(k.NodesPerSite, "node") + " per site" },
	}
	used := []func(plan.CurveKey) string{dims[0]}
	for _, d := range dims[1:] {
		for _, cv := range curves {
			if d(cv.Key) != d(curves[0].Key) {
				used = append(used, d)
				break
			}
		}
	}
	return func(k plan.CurveKey) string {
		var parts []string
		for _, d := range used {
			parts = append(parts, d(k))
		}
		return strings.Join(parts, ", ")
	}
}
