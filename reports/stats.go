package reports

import (
	"math"
	"slices"
	"time"

	"github.com/edgesim/edgesim/reports/internal/text"

	"gonum.org/v1/gonum/stat"
)

// Distribution summarises a set of latencies. Percentiles are nearest-rank
// (the smallest sample at or above the requested fraction), so every
// reported value is a latency that really happened.
type Distribution struct {
	Count  int     `json:"count"`
	MinMs  float64 `json:"minMs"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
	// QuantilesMs holds p1..p100 (index i is p(i+1)) for the overall, site
	// and placement distributions, so any whole percentile stays exact
	// after report.json is read back.
	QuantilesMs []float64 `json:"quantilesMs,omitempty"`

	sorted []float64 // milliseconds, ascending; nil after a JSON round trip
}

// withQuantiles fills QuantilesMs.
func (d Distribution) withQuantiles() Distribution {
	if len(d.sorted) == 0 {
		return d
	}
	d.QuantilesMs = make([]float64, 100)
	for i := range d.QuantilesMs {
		d.QuantilesMs[i] = d.quantile(float64(i+1) / 100)
	}
	return d
}

// NewDistribution summarises the given latencies.
func NewDistribution(samples []time.Duration) Distribution {
	ms := make([]float64, len(samples))
	for i, s := range samples {
		ms[i] = durMs(s)
	}
	return newDistributionMs(ms)
}

func newDistributionMs(ms []float64) Distribution {
	d := Distribution{Count: len(ms)}
	if len(ms) == 0 {
		return d
	}
	d.sorted = slices.Clone(ms)
	slices.Sort(d.sorted)
	d.MinMs = d.sorted[0]
	d.MaxMs = d.sorted[len(d.sorted)-1]
	d.MeanMs = text.Round3(stat.Mean(d.sorted, nil))
	d.P50Ms = d.quantile(0.50)
	d.P90Ms = d.quantile(0.90)
	d.P95Ms = d.quantile(0.95)
	d.P99Ms = d.quantile(0.99)
	return d
}

func (d Distribution) quantile(q float64) float64 {
	return stat.Quantile(q, stat.Empirical, d.sorted, nil)
}

// Percentile returns the p-th percentile (0 < p <= 100), or 0 when there are
// no samples. A distribution read back from JSON knows only p50, p90, p95,
// p99 and p100, plus every whole percentile of the overall, site and
// placement distributions; any other value then returns -1: use
// [Distribution.PercentileOK] where that must not pass for a small latency.
func (d Distribution) Percentile(p float64) time.Duration {
	v, ok := d.PercentileOK(p)
	if !ok {
		return -1
	}
	return v
}

// PercentileOK is [Distribution.Percentile] that says whether the value is
// known (false only for a distribution read back from JSON).
func (d Distribution) PercentileOK(p float64) (time.Duration, bool) {
	ms := d.PercentileMs(p)
	if math.IsNaN(ms) {
		return 0, false
	}
	return time.Duration(math.Round(ms * float64(time.Millisecond))), true
}

// PercentileMs is [Distribution.Percentile] in milliseconds.
func (d Distribution) PercentileMs(p float64) float64 {
	if d.Count == 0 {
		return 0
	}
	if len(d.sorted) == 0 {
		if i := int(p); float64(i) == p && i >= 1 && i <= len(d.QuantilesMs) {
			return d.QuantilesMs[i-1]
		}
		switch p {
		case 50:
			return d.P50Ms
		case 90:
			return d.P90Ms
		case 95:
			return d.P95Ms
		case 99:
			return d.P99Ms
		case 100:
			return d.MaxMs
		}
		return math.NaN()
	}
	if p <= 0 {
		return d.MinMs
	}
	if p >= 100 {
		return d.MaxMs
	}
	return d.quantile(p / 100)
}

// CDF returns the empirical cumulative distribution as (latency ms,
// fraction) points, thinned to at most maxPoints.
func (d Distribution) CDF(maxPoints int) (xs, ys []float64) {
	n := len(d.sorted)
	if n == 0 {
		return nil, nil
	}
	step := 1
	if maxPoints > 0 && n > maxPoints {
		step = (n + maxPoints - 1) / maxPoints
	}
	for i := 0; i < n; i += step {
		xs = append(xs, d.sorted[i])
		ys = append(ys, float64(i+1)/float64(n))
	}
	if xs[len(xs)-1] != d.sorted[n-1] || ys[len(ys)-1] != 1 {
		xs = append(xs, d.sorted[n-1])
		ys = append(ys, 1)
	}
	return xs, ys
}

func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
