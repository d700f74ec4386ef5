package calibrate

import (
	"fmt"
	"math"
	"slices"

	"github.com/edgesim/edgesim/plan"
)

// DefaultLevels are the quantile levels a calibration table records: 0,
// 0.05, ..., 0.95, 0.99 and 1.
var DefaultLevels = func() []float64 {
	l := []float64{0}
	for i := 1; i < 20; i++ {
		l = append(l, float64(i)/20)
	}
	return append(l, 0.99, 1)
}()

// Table turns samples into an empirical quantile table at levels (which
// must start at 0, end at 1 and increase). Each value is the sample
// quantile with linear interpolation between order statistics (Hyndman
// and Fan's type 7: q 0 is the smallest sample, q 1 the largest).
func Table(samples []float64, levels []float64) (plan.Quantiles, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("calibrate: no samples to make a quantile table of")
	}
	if len(levels) < 2 || levels[0] != 0 || levels[len(levels)-1] != 1 {
		return nil, fmt.Errorf("calibrate: quantile levels must start at 0 and end at 1, got %v", levels)
	}
	s := slices.Clone(samples)
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("calibrate: sample %v is not a finite value >= 0", v)
		}
	}
	slices.Sort(s)
	q := make(plan.Quantiles, len(levels))
	for i, l := range levels {
		if i > 0 && l <= levels[i-1] {
			return nil, fmt.Errorf("calibrate: quantile levels must increase, got %v", levels)
		}
		h := l * float64(len(s)-1)
		lo := int(math.Floor(h))
		v := s[lo]
		if lo+1 < len(s) {
			v += (h - float64(lo)) * (s[lo+1] - s[lo])
		}
		q[i] = plan.Point{Q: l, V: v}
	}
	return q, nil
}
