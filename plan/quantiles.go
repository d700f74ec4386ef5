package plan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Point is one row of an empirical quantile table: the value at or below
// which a share Q (0..1) of the measurements fell.
type Point struct {
	Q float64 `json:"q" yaml:"q"`
	V float64 `json:"v" yaml:"v"`
}

// Quantiles is an empirical distribution given by its quantile table,
// from Q=0 (the smallest measurement) to Q=1 (the largest). Draws
// interpolate linearly between rows, so they never leave the measured
// range: the simulator does not extrapolate.
type Quantiles []Point

// validate names the first problem of q, located at field.
func (q Quantiles) validate(field string) error {
	if len(q) < 2 {
		return fmt.Errorf("%s: need at least two rows (q: 0 and q: 1)", field)
	}
	if q[0].Q != 0 || q[len(q)-1].Q != 1 {
		return fmt.Errorf("%s: the table must start at q: 0 and end at q: 1", field)
	}
	for i, p := range q {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) || p.V < 0 {
			return fmt.Errorf("%s[%d].v: %v must be a finite value >= 0", field, i, p.V)
		}
		if i > 0 && (p.Q <= q[i-1].Q || p.V < q[i-1].V) {
			return fmt.Errorf("%s[%d]: q must increase strictly and v must not decrease", field, i)
		}
	}
	return nil
}

// At returns the value at quantile u in [0, 1].
func (q Quantiles) At(u float64) float64 {
	i := sort.Search(len(q), func(i int) bool { return q[i].Q >= u })
	if i == 0 {
		return q[0].V
	}
	if i == len(q) {
		return q[len(q)-1].V
	}
	a, b := q[i-1], q[i]
	return a.V + (b.V-a.V)*(u-a.Q)/(b.Q-a.Q)
}

// Draw returns one value drawn from the distribution.
func (q Quantiles) Draw(r *rand.Rand) float64 { return q.At(r.Float64()) }

// Mean is the mean of the piecewise-linear distribution.
func (q Quantiles) Mean() float64 {
	var m float64
	for i := 1; i < len(q); i++ {
		m += (q[i].Q - q[i-1].Q) * (q[i].V + q[i-1].V) / 2
	}
	return m
}
