package detector

import (
	"image"
	"sort"
)

// Detection is one object found in an image.
type Detection struct {
	Label string
	Score float32
	Box   image.Rectangle // pixel coordinates of the input image
}

// IoU is the intersection over union of two rectangles (0 when either is empty).
func IoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	ua := float64(a.Dx()*a.Dy()) + float64(b.Dx()*b.Dy()) - ia
	if ua <= 0 {
		return 0
	}
	return ia / ua
}

// NMS applies greedy non-maximum suppression per label: detections are taken
// in decreasing score order and any later detection of the same label whose
// IoU with a kept one exceeds iou is dropped. The input is not modified; the
// result is sorted by decreasing score.
func NMS(dets []Detection, iou float64) []Detection {
	sorted := make([]Detection, len(dets))
	copy(sorted, dets)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Score > sorted[j].Score })
	kept := make([]Detection, 0, len(sorted))
	for _, d := range sorted {
		ok := true
		for _, k := range kept {
			if k.Label == d.Label && IoU(k.Box, d.Box) > iou {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, d)
		}
	}
	return kept
}
