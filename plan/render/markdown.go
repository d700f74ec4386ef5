package render

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/edgesim/edgesim/plan"
)

// Markdown writes report.md: every table of the report, without the plots
// (report.html has them).
func Markdown(w io.Writer, r *plan.CapacityReport) error {
	pg := build(r, nil)
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# %s\n\n", mdEsc(pg.Title))
	for _, m := range pg.Meta {
		p("%s\n\n", mdEsc(m))
	}
	for _, s := range pg.Banners {
		p("> ⚠️ **%s**\n\n", mdEsc(s))
	}
	for _, s := range pg.Sections {
		if s.Sub {
			p("### %s\n\n", mdEsc(s.Heading))
		} else {
			p("## %s\n\n", mdEsc(s.Heading))
		}
		for _, t := range s.Text {
			p("%s\n\n", t)
		}
		for _, t := range s.Tables {
			if t.Caption != "" {
				p("**%s**\n\n", mdEsc(t.Caption))
			}
			if len(t.Rows) == 0 {
				p("None.\n\n")
				continue
			}
			p("| %s |\n|", strings.Join(t.Head, " | "))
			for i := range t.Head {
				if t.Rows[0][i].Num {
					p("---:|")
				} else {
					p("---|")
				}
			}
			p("\n")
			for _, row := range t.Rows {
				for _, c := range row {
					p("| %s%s ", mdSign[c.State], mdEsc(c.Text))
				}
				p("|\n")
			}
			p("\n")
		}
	}
	p("The plots are in report.html.\n")
	return b.Flush()
}

var mdSign = map[string]string{stateMet: "✅ ", stateFail: "❌ ", stateNA: "➖ "}

func mdEsc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
