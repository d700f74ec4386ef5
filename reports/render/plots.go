package render

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/reports/internal/text"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

const (
	plotW = reportkit.Width
	plotH = reportkit.Height
)

var faultColor = color.RGBA{R: 200, G: 30, B: 30, A: 255}

// figure is a shared figure with the run report's fault markers.
type figure struct{ *reportkit.Figure }

func newFigure(title, x, y string) *figure { return &figure{reportkit.NewFigure(title, x, y)} }

var observedColor = color.RGBA{R: 230, G: 120, B: 0, A: 255}

// addFaultMarkers draws a dashed vertical line per injected (red) and
// observed (orange) fault, labelled with kind and target; call it after
// the data so the y range is known.
func (f *figure) addFaultMarkers(r *reports.Result) error {
	var injected, observed []marker
	for _, fl := range r.Faults {
		injected = append(injected, marker{fl.At.Sub(r.Start).Seconds(), fl.Kind + " " + fl.Target})
	}
	for _, fl := range r.ObservedFaults {
		observed = append(observed, marker{fl.At.Sub(r.Start).Seconds(), fl.Kind + " " + fl.Target})
	}
	if err := f.markers(injected, faultColor, "injected fault"); err != nil {
		return err
	}
	return f.markers(observed, observedColor, "observed fault")
}

type marker struct {
	x     float64
	label string
}

func (f *figure) markers(ms []marker, c color.Color, legend string) error {
	if len(ms) == 0 {
		return nil
	}
	p := f.Plot
	ymin, ymax := p.Y.Min, p.Y.Max
	if ymax <= ymin {
		ymax = ymin + 1
	}
	var lxy plotter.XYs
	var labels []string
	for _, m := range ms {
		l, err := plotter.NewLine(plotter.XYs{{X: m.x, Y: ymin}, {X: m.x, Y: ymax}})
		if err != nil {
			return err
		}
		l.Color = c
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		l.Width = vg.Points(1)
		p.Add(l)
		lxy = append(lxy, plotter.XY{X: m.x, Y: ymax})
		labels = append(labels, " "+m.label)
	}
	f.Legend = append(f.Legend, reportkit.Legend{Name: legend, Color: reportkit.CSSColor(c), Dashed: true})
	if len(ms) > 12 {
		return nil // too many labels to read; the table lists them
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: lxy, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Color = c
		lab.TextStyle[i].YAlign = -1
	}
	p.Add(lab)
	return nil
}

// plots renders every plot the data allows; an empty slice means no data.
func plots(r *reports.Result) ([]reportkit.Named, error) {
	var out []reportkit.Named
	add := func(title string, f *figure, h vg.Length, err error) error {
		if err != nil {
			return fmt.Errorf("plot %s: %w", title, err)
		}
		if f == nil {
			return nil
		}
		if title == "Failover gaps" {
			h = plotH * 3 / 4
		}
		n, err := f.Render(title, plotW, h)
		out = append(out, n)
		return err
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

func cdfPlot(r *reports.Result) (*figure, error) {
	type g struct {
		name   string
		d      reports.Distribution
		dashed bool
	}
	var gs []g
	for _, s := range r.Latencies.Sites {
		gs = append(gs, g{"site " + s.Name, s.Distribution, false})
	}
	if len(r.Latencies.Placements) > 1 {
		for _, s := range r.Latencies.Placements {
			gs = append(gs, g{s.Name + " placement", s.Distribution, true})
		}
	}
	f := newFigure("End-to-end latency CDF (capture to detections at the camera)", "latency (ms)", "fraction of answered frames")
	n := 0
	for i, x := range gs {
		xs, ys := x.d.CDF(500)
		if len(xs) == 0 {
			continue
		}
		if err := f.AddLine(i, fmt.Sprintf("%s (p95 %s)", x.name, text.Ms(x.d.P95Ms)), xs, ys, false, x.dashed); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	f.Plot.Y.Min, f.Plot.Y.Max = 0, 1
	return f, nil
}

// timelinePlot draws each site's p95 per bucket; the line breaks where a
// bucket had no answered frame, and buckets with unanswered frames get a
// cross on the time axis.
func timelinePlot(r *reports.Result) (*figure, error) {
	var sites []string
	bySite := map[string][]reports.LatencyBucket{}
	for _, b := range r.LatencyTimeline {
		if _, ok := bySite[b.Site]; !ok {
			sites = append(sites, b.Site)
		}
		bySite[b.Site] = append(bySite[b.Site], b)
	}
	answered := false
	for _, b := range r.LatencyTimeline {
		answered = answered || b.Count > 0
	}
	if !answered {
		return nil, nil
	}
	width := r.LatencyTimelineBucketS
	f := newFigure("Latency over time, p95 per site and time bucket", "time since start (s)", "p95 latency (ms)")
	for i, s := range sites {
		var segs [][2][]float64
		var cur [2][]float64
		var missX []float64
		last := math.Inf(-1)
		for _, b := range bySite[s] {
			if b.Expected-float64(b.Count) >= 1 { // at least one answer short
				missX = append(missX, b.OffsetS+width/2)
			}
			if b.Count == 0 || (width > 0 && b.OffsetS-last > width*1.5) {
				if len(cur[0]) > 0 {
					segs = append(segs, cur)
				}
				cur = [2][]float64{}
			}
			if b.Count == 0 {
				continue
			}
			cur[0] = append(cur[0], b.OffsetS+width/2)
			cur[1] = append(cur[1], b.P95Ms)
			last = b.OffsetS
		}
		if len(cur[0]) > 0 {
			segs = append(segs, cur)
		}
		for k, seg := range segs {
			if err := f.AddLine(i, "site "+s, seg[0], seg[1], true, false); err != nil {
				return nil, err
			}
			if k > 0 {
				f.Legend = f.Legend[:len(f.Legend)-1] // one legend entry per site
			}
		}
		if len(missX) > 0 {
			xy := make(plotter.XYs, len(missX))
			for k, x := range missX {
				xy[k].X = x
			}
			sc, err := plotter.NewScatter(xy)
			if err != nil {
				return nil, err
			}
			sc.Color = plotutil.Color(i)
			sc.Shape = draw.CrossGlyph{}
			sc.Radius = vg.Points(4)
			f.Plot.Add(sc)
			f.Legend = append(f.Legend, reportkit.Legend{Name: "site " + s + ": answers missing in bucket", Color: reportkit.CSSColor(sc.Color), Symbol: "×"})
		}
	}
	f.Plot.Y.Min, f.Plot.X.Min = 0, 0
	if err := f.addFaultMarkers(r); err != nil {
		return nil, err
	}
	return f, nil
}

// bandwidthPlot shows every link direction's rate over time; when rates
// differ by more than 30x (edge vs cloud uplinks) the axis is logarithmic
// so the small ones stay visible.
func bandwidthPlot(r *reports.Result) (*figure, error) {
	lo, hi := math.Inf(1), 0.0
	for _, l := range r.Links {
		for _, v := range l.SeriesBitsPerS {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi == 0 {
		return nil, nil
	}
	logScale := hi/lo > 30
	unit, div := "Mbit/s", 1e6
	if logScale || hi < 1e6 {
		unit, div = "kbit/s", 1e3
	}
	title := "Bandwidth per link and direction (counted by the link emulator)"
	if logScale {
		title += ", log scale"
	}
	f := newFigure(title, "time since start (s)", unit)
	floor := 0.0
	if logScale {
		floor = math.Pow10(int(math.Floor(math.Log10(lo / div))))
		f.Plot.Y.Scale = plot.LogScale{}
		f.Plot.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, l := range r.Links {
		if len(l.SeriesOffsetS) == 0 {
			continue
		}
		xs, ys := thin(l.SeriesOffsetS, l.SeriesBitsPerS, maxSeriesPoints)
		for k, v := range ys {
			ys[k] = max(v/div, floor)
		}
		name := l.Link + " " + l.Direction
		if l.Uplink {
			name += " (uplink)"
		}
		if l.Reference {
			name += " (comparison)"
		}
		if err := f.AddLine(i, name, xs, ys, false, false); err != nil {
			return nil, err
		}
	}
	f.Plot.X.Min = 0
	if logScale {
		f.Plot.Y.Min = floor
	} else {
		f.Plot.Y.Min = 0
	}
	if err := f.addFaultMarkers(r); err != nil {
		return nil, err
	}
	return f, nil
}

const maxSeriesPoints = 600

// thin averages consecutive points so a series has at most n points,
// keeping the plots of long runs small.
func thin(xs, ys []float64, n int) ([]float64, []float64) {
	if len(xs) <= n {
		return xs, slices.Clone(ys)
	}
	k := (len(xs) + n - 1) / n
	var ox, oy []float64
	for i := 0; i < len(xs); i += k {
		j := min(i+k, len(xs))
		sum := 0.0
		for _, v := range ys[i:j] {
			sum += v
		}
		ox = append(ox, xs[j-1])
		oy = append(oy, sum/float64(j-i))
	}
	return ox, oy
}

func failoverPlot(r *reports.Result) (*figure, error) {
	if len(r.Failover) == 0 {
		return nil, nil
	}
	f := newFigure("Failover gap per camera and fault (fault to first answered frame)", "", "gap (ms)")
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
	bars.Color = plotutil.Color(1)
	bars.LineStyle.Width = 0
	f.Plot.Add(bars)
	if len(names) <= 24 {
		f.Plot.NominalX(names...)
	}
	f.Plot.X.Min, f.Plot.X.Max = -0.6, float64(len(vals))-0.4 // room for the outer labels
	f.Plot.Y.Min = 0
	return f, nil
}

func stepsPlotHeight(steps int) vg.Length { return vg.Inch + vg.Length(steps)*0.32*vg.Inch }

// isClusterStep tells the node and pod steps (one time per fault) from
// the camera steps (one time per camera).
func isClusterStep(name string) bool {
	return name != reports.StepReconnected && name != reports.StepFlowing
}

// stepsPlot draws one fault's failover as a timeline: a bar from the
// fault to each step's median time, the chain's first step on top, and a
// dot per camera for the camera steps. Each bar is named by a label above
// it, inside the plot, so a wider font in the browser cannot clip it.
func stepsPlot(r *reports.Result, s reports.FailoverSummary) (*figure, error) {
	f := newFigure("", "seconds since the fault", "")
	n := len(s.Steps)
	y := func(k int) float64 { return float64(n - 1 - k) }
	clusterColor, cameraColor := plotutil.Color(0), plotutil.Color(1)
	var cluster, camera bool
	var dots, at plotter.XYs
	var labels []string
	xMax := 0.0
	for k, st := range s.Steps {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: y(k)}, {X: st.SinceFaultMs / 1000, Y: y(k)}})
		if err != nil {
			return nil, err
		}
		l.Width = vg.Points(6)
		l.Color = cameraColor
		if isClusterStep(st.Name) {
			l.Color, cluster = clusterColor, true
		} else {
			camera = true
		}
		f.Plot.Add(l)
		xMax = max(xMax, st.MaxSinceFaultMs/1000)
		at = append(at, plotter.XY{X: 0, Y: y(k) + 0.14})
		labels = append(labels, st.Name+"  "+stepTime(st))
		if isClusterStep(st.Name) {
			continue
		}
		for _, g := range r.Failover {
			if g.Fault != s.Fault {
				continue
			}
			for _, gs := range g.Steps {
				if gs.Name == st.Name {
					dots = append(dots, plotter.XY{X: gs.SinceFaultMs / 1000, Y: y(k)})
				}
			}
		}
	}
	if cluster {
		f.Legend = append(f.Legend, reportkit.Legend{Name: "node or pod step", Color: reportkit.CSSColor(clusterColor)})
	}
	if camera {
		f.Legend = append(f.Legend, reportkit.Legend{Name: "camera step, median over cameras", Color: reportkit.CSSColor(cameraColor)})
	}
	if len(dots) > 0 {
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return nil, err
		}
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(2.5)
		sc.Color = color.Black
		f.Plot.Add(sc)
		f.Legend = append(f.Legend, reportkit.Legend{Name: "one camera", Color: "#000000", Symbol: "•"})
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: at, Labels: labels})
	if err != nil {
		return nil, err
	}
	f.Plot.Add(lab)
	f.Plot.HideY()
	f.Plot.X.Min, f.Plot.X.Max = 0, max(xMax*1.04, 0.001)
	f.Plot.Y.Min, f.Plot.Y.Max = -0.5, float64(n)-0.3
	return f, nil
}
