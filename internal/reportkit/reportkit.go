// Package reportkit holds what edgesim's two report renderers share: a
// run's report (reports/render) and the capacity report (plan/render).
// Plots are gonum/plot figures inlined as SVG, with their legend drawn by
// the page in its own font; pages share one style; files are written
// atomically.
//
// It links gonum/plot: only renderers may import it, never the testbed.
package reportkit

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// A plot's usual size on a page.
const (
	Width  = 9 * vg.Inch
	Height = 3.6 * vg.Inch
)

// Legend is one entry of a figure's legend, drawn by the HTML page next to
// the plot, in the page's font, so labels never overflow whatever font the
// viewer has.
type Legend struct {
	Name   string
	Color  string // CSS colour
	Dashed bool
	Symbol string // drawn instead of a line swatch when set
}

// Figure is a plot and its legend.
type Figure struct {
	Plot   *plot.Plot
	Legend []Legend
}

// NewFigure is an empty plot with a grid, its title and axis labels.
func NewFigure(title, x, y string) *Figure {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return &Figure{Plot: p}
}

// CSSColor is c as a CSS "#rrggbb".
func CSSColor(c color.Color) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}

// AddLine draws a line in the i-th default colour (dashed once the colours
// run out, or when asked), with a dot per point when points is set and
// the line is short enough, and adds it to the legend.
func (f *Figure) AddLine(i int, name string, xs, ys []float64, points, dashed bool) error {
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
	dashed = dashed || i >= len(plotutil.DefaultColors)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	f.Plot.Add(l)
	f.Legend = append(f.Legend, Legend{Name: name, Color: CSSColor(l.Color), Dashed: dashed})
	if points && len(xy) <= 400 {
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		s.Color = l.Color
		s.Radius = vg.Points(1.5)
		s.Shape = draw.CircleGlyph{}
		f.Plot.Add(s)
	}
	return nil
}

// SVG renders a plot as an inline <svg> element (no XML prelude).
func SVG(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
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

// Named is a rendered figure as a page shows it (FigureTemplate).
type Named struct {
	Title  string
	SVG    template.HTML
	Legend []Legend
}

// Render renders the figure at the given size under a title.
func (f *Figure) Render(title string, w, h vg.Length) (Named, error) {
	svg, err := SVG(f.Plot, w, h)
	if err != nil {
		return Named{}, fmt.Errorf("plot %s: %w", title, err)
	}
	return Named{Title: title, SVG: svg, Legend: f.Legend}, nil
}

// FigureTemplate defines the html/template "figure", which shows a Named.
const FigureTemplate = `
{{- define "figure"}}
<figure><figcaption>{{.Title}}</figcaption>
{{.SVG}}
{{- if .Legend}}
<ul class="legend">{{range .Legend}}<li>{{if .Symbol}}<span class="sym" style="color:{{.Color}}">{{.Symbol}}</span>{{else}}<span class="swatch{{if .Dashed}} dashed{{end}}" style="border-color:{{.Color}}"></span>{{end}}{{.Name}}</li>{{end}}</ul>
{{- end}}
</figure>
{{- end}}`

// Style is the reports' common CSS: page, headings, warning banner,
// tables (td.n numbers, tr.bad rows, .ok and .ko results), figures and
// their legends, warnings and the footer.
const Style = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;margin:0;background:#f5f6f8;color:#1d2330;line-height:1.4}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}
h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #d6dae1;padding-bottom:4px}
h3{font-size:1.05em;margin:18px 0 4px}
.meta{color:#5a6270;font-size:.95em}
.banner{background:#fff3cd;border:2px solid #d98200;color:#6b4200;padding:10px 14px;border-radius:6px;margin:14px 0;font-weight:600}
table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0 10px;font-size:.92em}
th,td{border:1px solid #d6dae1;padding:4px 8px;text-align:left}
th{background:#eceff3}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fdecea}
.ok{color:#1f8a3b;font-weight:700}.ko{color:#c62828;font-weight:700}
figure{background:#fff;border:1px solid #d6dae1;border-radius:6px;margin:10px 0;padding:8px}
figure svg{width:100%;height:auto;display:block}
figcaption{font-weight:600;margin-bottom:4px}
ul.legend{list-style:none;margin:4px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:.9em}
.swatch{display:inline-block;width:26px;border-top:3px solid;vertical-align:middle;margin-right:6px}
.swatch.dashed{border-top-style:dashed}
.sym{display:inline-block;width:26px;text-align:center;font-weight:700;margin-right:6px}
ul.warn li{color:#6b4200}
footer{color:#5a6270;font-size:.85em;margin-top:30px}
`

// Bytes renders a byte count for people: "512 B", "3.5 KiB", "1.20 MiB".
func Bytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory and a rename, so a reader never sees half a file; on
// error nothing half-written is left.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(name, 0o644); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
