// Package imgdiff compares decoded frames in fakecam's specs.
package imgdiff

import (
	"image"
	"math"
)

// MeanAbsDiff is the mean absolute difference of the luma of a and b over
// r (0 for an empty r).
func MeanAbsDiff(a, b *image.YCbCr, r image.Rectangle) float64 {
	sum, n := 0.0, 0.0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += math.Abs(float64(a.Y[y*a.YStride+x]) - float64(b.Y[y*b.YStride+x]))
			n++
		}
	}
	return sum / math.Max(n, 1)
}
