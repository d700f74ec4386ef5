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

// EvaluateDetections matches detections to ground truth per class, greedily
// by descending score: each detection takes the unmatched object of its
// class with the highest IoU >= iou in the same frame (a true positive),
// else it is a false positive. Objects whose occlusion is at least
// ignoreOcclusion (when > 0) are not required: detections matching them are
// neither true nor false positives. AP is the area under the
// all-point-interpolated precision/recall curve (PASCAL VOC 2010+).
func EvaluateDetections(frames []ScoredFrame, iou, ignoreOcclusion float64) Accuracy {
	return summarise(matchDetections(frames, iou, ignoreOcclusion), iou, len(frames), nil)
}

// classMatch is the outcome of matching one class over every frame.
type classMatch struct {
	label     string
	gtByFrame []int32   // required objects of the class per frame
	dets      []evalDet // by descending score
}

type evalDet struct {
	score   float32
	frame   int32
	index   int32
	tp      bool
	ignored bool // matched a heavily occluded object
}

// matchDetections matches every class once. Matching is per frame and a
// frame's detections are visited in the same (score) order whatever other
// frames are evaluated with it, so the flags hold for any subset of frames:
// summarise can score sites and placements without matching again.
func matchDetections(frames []ScoredFrame, iou, ignoreOcclusion float64) []classMatch {
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
	// matched[first[f]+i] says whether object i of frame f is taken.
	first := make([]int, len(frames)+1)
	for fi, f := range frames {
		first[fi+1] = first[fi] + len(f.Truth)
	}
	matched := make([]bool, first[len(frames)])
	out := make([]classMatch, 0, len(labels))
	for _, label := range labels {
		clear(matched)
		out = append(out, matchClass(frames, label, iou, ignoreOcclusion, first, matched))
	}
	return out
}

func matchClass(frames []ScoredFrame, label string, iou, ignoreOcclusion float64, first []int, matched []bool) classMatch {
	cm := classMatch{label: label, gtByFrame: make([]int32, len(frames))}
	ignored := func(o TruthObject) bool { return ignoreOcclusion > 0 && o.Occlusion >= ignoreOcclusion }
	for fi, f := range frames {
		for _, o := range f.Truth {
			if o.Label == label && !ignored(o) {
				cm.gtByFrame[fi]++
			}
		}
		for di, d := range f.Detections {
			if d.Label == label {
				cm.dets = append(cm.dets, evalDet{score: d.Score, frame: int32(fi), index: int32(di)})
			}
		}
	}
	// Highest score first; ties in frame and detection order, so the
	// result does not depend on the sort algorithm.
	slices.SortFunc(cm.dets, func(a, b evalDet) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.frame, b.frame), cmp.Compare(a.index, b.index))
	})
	for k := range cm.dets {
		d := &cm.dets[k]
		f := frames[d.frame]
		box := f.Detections[d.index].Box
		base := first[d.frame]
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
			d.tp = true
		case bestIgnored >= 0:
			matched[base+bestIgnored] = true
			d.ignored = true
		}
	}
	return cm
}

// summarise scores the frames include accepts (all when nil).
func summarise(cms []classMatch, iou float64, framesScored int, include func(frame int32) bool) Accuracy {
	acc := Accuracy{IoU: iou, FramesScored: framesScored}
	var totTP, totFP, totGT, apClasses int
	var apSum float64
	n := 0
	for _, cm := range cms {
		n = max(n, len(cm.dets))
	}
	precisions := make([]float64, 0, n)
	recalls := make([]float64, 0, n)
	for _, cm := range cms {
		c := ClassAccuracy{Label: cm.label}
		for fi, n := range cm.gtByFrame {
			if include == nil || include(int32(fi)) {
				c.GroundTruth += int(n)
			}
		}
		precisions, recalls = precisions[:0], recalls[:0]
		tp, fp := 0, 0
		for _, d := range cm.dets {
			if d.ignored || (include != nil && !include(d.frame)) {
				continue
			}
			if d.tp {
				tp++
			} else {
				fp++
			}
			precisions = append(precisions, float64(tp)/float64(tp+fp))
			recalls = append(recalls, safeDiv(float64(tp), float64(c.GroundTruth)))
		}
		if include != nil && c.GroundTruth == 0 && tp+fp == 0 {
			continue // the class does not occur in these frames
		}
		c.Detections = tp + fp
		c.TruePositives, c.FalsePositives = tp, fp
		c.FalseNegatives = c.GroundTruth - tp
		c.Precision = ratio(tp, tp+fp)
		c.Recall = ratio(tp, c.GroundTruth)
		if c.GroundTruth > 0 {
			c.AP50 = round4(allPointAP(recalls, precisions))
			apSum += c.AP50
			apClasses++
		}
		acc.Classes = append(acc.Classes, c)
		totTP += tp
		totFP += fp
		totGT += c.GroundTruth
	}
	if apClasses > 0 {
		acc.MeanAP50 = round4(apSum / float64(apClasses))
	}
	acc.Precision = ratio(totTP, totTP+totFP)
	acc.Recall = ratio(totTP, totGT)
	return acc
}

// allPointAP integrates the precision envelope (the best precision at this
// or any higher recall) over recall. It overwrites precisions.
func allPointAP(recalls, precisions []float64) float64 {
	for i := len(precisions) - 2; i >= 0; i-- {
		precisions[i] = max(precisions[i], precisions[i+1])
	}
	ap, prev := 0.0, 0.0
	for i, r := range recalls {
		ap += (r - prev) * precisions[i]
		prev = r
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

// Total sums the classes into one row (Precision, Recall and AP50 are the
// pooled precision and recall and the mean AP).
func (a Accuracy) Total() ClassAccuracy {
	t := ClassAccuracy{Label: "all", Precision: a.Precision, Recall: a.Recall, AP50: a.MeanAP50}
	for _, c := range a.Classes {
		t.GroundTruth += c.GroundTruth
		t.Detections += c.Detections
		t.TruePositives += c.TruePositives
		t.FalsePositives += c.FalsePositives
		t.FalseNegatives += c.FalseNegatives
	}
	return t
}
