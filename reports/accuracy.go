package reports

import (
	"cmp"
	"slices"
)

// ScoredFrame pairs one frame's ground truth with the detections returned
// for it.
type ScoredFrame struct {
	Truth      []TruthObject
	Detections []Detection
}

// ClassAccuracy is the detector's accuracy for one class.
type ClassAccuracy struct {
	Label          string  `json:"label"`
	GroundTruth    int     `json:"groundTruth"` // objects scored (not counting ignored, heavily occluded ones)
	Detections     int     `json:"detections"`
	TruePositives  int     `json:"truePositives"`
	FalsePositives int     `json:"falsePositives"`
	FalseNegatives int     `json:"falseNegatives"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	AP50           float64 `json:"ap50"`
}

// Accuracy is the detector's accuracy against the generator's ground truth.
type Accuracy struct {
	IoU          float64         `json:"iou"`
	FramesScored int             `json:"framesScored"`
	Classes      []ClassAccuracy `json:"classes"`
	// MeanAP50 averages AP over the classes that have ground truth;
	// Precision and Recall pool all classes.
	MeanAP50  float64 `json:"meanAP50"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// IoU is the intersection over union of two boxes (0 when either is empty).
func IoU(a, b Box) float64 {
	ra, rb := a.Rect(), b.Rect()
	in := ra.Intersect(rb)
	if in.Empty() {
		return 0
	}
	inter := float64(in.Dx() * in.Dy())
	union := float64(ra.Dx()*ra.Dy()+rb.Dx()*rb.Dy()) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

type scoredDet struct {
	score        float32
	frame, index int32
}

// EvaluateDetections matches detections to ground truth per class, greedily
// by descending score: each detection takes the unmatched object of its
// class with the highest IoU >= iou in the same frame (a true positive),
// else it is a false positive. Objects whose occlusion is at least
// ignoreOcclusion (when > 0) are not required: detections matching them are
// neither true nor false positives. AP is the area under the
// all-point-interpolated precision/recall curve (PASCAL VOC 2010+).
func EvaluateDetections(frames []ScoredFrame, iou, ignoreOcclusion float64) Accuracy {
	acc := Accuracy{IoU: iou, FramesScored: len(frames)}
	labelSet := map[string]bool{}
	for _, f := range frames {
		for _, o := range f.Truth {
			labelSet[o.Label] = true
		}
		for _, d := range f.Detections {
			labelSet[d.Label] = true
		}
	}
	labels := make([]string, 0, len(labelSet))
	for l := range labelSet {
		labels = append(labels, l)
	}
	slices.Sort(labels)

	var totTP, totFP, totGT, apClasses int
	var apSum float64
	for _, label := range labels {
		c := evaluateClass(frames, label, iou, ignoreOcclusion)
		acc.Classes = append(acc.Classes, c)
		totTP += c.TruePositives
		totFP += c.FalsePositives
		totGT += c.GroundTruth
		if c.GroundTruth > 0 {
			apSum += c.AP50
			apClasses++
		}
	}
	if apClasses > 0 {
		acc.MeanAP50 = round4(apSum / float64(apClasses))
	}
	acc.Precision = ratio(totTP, totTP+totFP)
	acc.Recall = ratio(totTP, totGT)
	return acc
}

func evaluateClass(frames []ScoredFrame, label string, iou, ignoreOcclusion float64) ClassAccuracy {
	c := ClassAccuracy{Label: label}
	ignored := func(o TruthObject) bool { return ignoreOcclusion > 0 && o.Occlusion >= ignoreOcclusion }
	var dets []scoredDet
	// matched[first[f]+i] says whether object i of frame f is taken.
	first := make([]int, len(frames)+1)
	for fi, f := range frames {
		first[fi+1] = first[fi] + len(f.Truth)
		for _, o := range f.Truth {
			if o.Label == label && !ignored(o) {
				c.GroundTruth++
			}
		}
		for di, d := range f.Detections {
			if d.Label == label {
				dets = append(dets, scoredDet{score: d.Score, frame: int32(fi), index: int32(di)})
			}
		}
	}
	matched := make([]bool, first[len(frames)])
	// Highest score first; ties in frame and detection order, so the
	// result does not depend on the sort algorithm.
	slices.SortFunc(dets, func(a, b scoredDet) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.frame, b.frame), cmp.Compare(a.index, b.index))
	})

	precisions := make([]float64, 0, len(dets))
	recalls := make([]float64, 0, len(dets))
	tp, fp := 0, 0
	for _, sd := range dets {
		f := frames[sd.frame]
		box := f.Detections[sd.index].Box
		base := first[sd.frame]
		best, bestIoU := -1, iou
		bestIgnored, bestIgnoredIoU := -1, iou
		for oi, o := range f.Truth {
			if o.Label != label || matched[base+oi] {
				continue
			}
			v := IoU(box, o.Box)
			if ignored(o) {
				if v >= bestIgnoredIoU {
					bestIgnored, bestIgnoredIoU = oi, v
				}
				continue
			}
			if v >= bestIoU {
				best, bestIoU = oi, v
			}
		}
		switch {
		case best >= 0:
			matched[base+best] = true
			tp++
		case bestIgnored >= 0:
			matched[base+bestIgnored] = true
			continue // neither true nor false positive
		default:
			fp++
		}
		c.Detections++
		precisions = append(precisions, float64(tp)/float64(tp+fp))
		recalls = append(recalls, safeDiv(float64(tp), float64(c.GroundTruth)))
	}
	c.TruePositives, c.FalsePositives = tp, fp
	c.FalseNegatives = c.GroundTruth - tp
	c.Precision = ratio(tp, tp+fp)
	c.Recall = ratio(tp, c.GroundTruth)
	if c.GroundTruth > 0 {
		c.AP50 = round4(allPointAP(recalls, precisions))
	}
	return c
}

// allPointAP integrates the precision envelope over recall.
func allPointAP(recalls, precisions []float64) float64 {
	n := len(recalls)
	if n == 0 {
		return 0
	}
	mrec := make([]float64, n+2)
	mpre := make([]float64, n+2)
	copy(mrec[1:], recalls)
	copy(mpre[1:], precisions)
	mrec[n+1] = 1
	for i := n; i >= 0; i-- {
		mpre[i] = max(mpre[i], mpre[i+1])
	}
	ap := 0.0
	for i := 1; i <= n+1; i++ {
		ap += (mrec[i] - mrec[i-1]) * mpre[i]
	}
	return ap
}

func ratio(a, b int) float64 { return round4(safeDiv(float64(a), float64(b))) }

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func round4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }
