package plan

import (
	"math"
	"slices"
	"time"
)

// Histogram counts durations in logarithmic buckets 1 % wide from 1 µs to
// about 30 minutes, so quantiles carry at most 0.5 % relative error. Counts
// are integers, so merging histograms in any order gives the same result.
type Histogram struct {
	Counts []uint64 `json:"-"`
	N      uint64   `json:"n"`
}

const (
	histBase    = 1.01
	histMin     = float64(time.Microsecond)
	histBuckets = 2150
)

var histLogBase = math.Log(histBase)

func (h *Histogram) Add(d time.Duration) {
	if h.Counts == nil {
		h.Counts = make([]uint64, histBuckets)
	}
	i := 0
	if v := float64(d); v > histMin {
		i = int(math.Log(v/histMin)/histLogBase) + 1
		if i >= histBuckets {
			i = histBuckets - 1
		}
	}
	h.Counts[i]++
	h.N++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.N == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = make([]uint64, histBuckets)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
}

func (h *Histogram) clone() Histogram {
	return Histogram{Counts: slices.Clone(h.Counts), N: h.N}
}

// Quantile returns the p-quantile (0 < p <= 1): the geometric middle of
// the bucket holding the ceil(p·N)-th smallest value; 0 when empty.
func (h *Histogram) Quantile(p float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(h.N)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return time.Duration(histMin)
			}
			lo := histMin * math.Pow(histBase, float64(i-1))
			return time.Duration(lo * math.Sqrt(histBase))
		}
	}
	return 0
}
