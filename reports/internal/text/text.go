// Package text holds the number and time wording that the analysis (its
// verdict reasons) and the renderers (reports/render) share, so a figure
// reads the same in report.json, report.md and report.html.
package text

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Ms renders milliseconds for people: "0.85ms", "230.3ms", "4.34s".
// Exact values stay in the machine-readable fields.
func Ms(ms float64) string {
	switch a := math.Abs(ms); {
	case a >= 1000:
		return strconv.FormatFloat(math.Round(ms/10)/100, 'f', -1, 64) + "s"
	case a >= 10:
		return strconv.FormatFloat(math.Round(ms*10)/10, 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(math.Round(ms*100)/100, 'f', -1, 64) + "ms"
}

// Pct renders a fraction as a percentage with at most two decimals.
func Pct(v float64) string {
	return strconv.FormatFloat(math.Round(v*10000)/100, 'f', -1, 64) + "%"
}

// Round3 rounds to three decimals.
func Round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Plural is "1 camera", "2 cameras".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Offset is t's time since start, to the millisecond.
func Offset(start, t time.Time) time.Duration { return t.Sub(start).Round(time.Millisecond) }

// SinceFault renders a time since a fault, e.g. "+1.44s".
func SinceFault(ms float64) string {
	if ms < 0 {
		return Ms(ms)
	}
	return "+" + Ms(ms)
}
