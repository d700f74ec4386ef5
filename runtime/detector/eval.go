package detector

import (
	"context"
	"fmt"
	"sort"
)

// EvalScoreFloor is the score threshold used to collect detections for
// average precision: low, so the precision-recall curve is complete.
const EvalScoreFloor = 0.05

// ClassResult holds the figures of one class.
type ClassResult struct {
	AP        float64 `json:"ap50"`      // average precision at IoU 0.5, all-point interpolation
	GT        int     `json:"gt"`        // ground-truth objects counted (not ignored)
	TP        int     `json:"tp"`        // true positives at the operating threshold
	FP        int     `json:"fp"`        // false positives at the operating threshold
	Precision float64 `json:"precision"` // at the operating threshold
	Recall    float64 `json:"recall"`    // at the operating threshold
}

// Evaluation is the accuracy of a detector on a set of images.
type Evaluation struct {
	Images    int                    `json:"images"`
	Threshold float32                `json:"threshold"`
	Classes   map[string]ClassResult `json:"classes"`
	MAP       float64                `json:"map50"`     // mean of the classes' AP (classes without ground truth left out)
	Precision float64                `json:"precision"` // all classes, at the operating threshold
	Recall    float64                `json:"recall"`    // all classes, at the operating threshold
}

type scored struct {
	score float32
	tp    bool
}

// Evaluator accumulates detections and ground truth image by image and
// computes AP@0.5 per class, mAP, and precision/recall at a threshold.
// A detection matches the unmatched ground-truth box of its class with the
// highest IoU >= 0.5; a detection that only overlaps an ignored box that
// much is neither a true nor a false positive.
type Evaluator struct {
	classes   []string
	threshold float32
	images    int
	dets      map[string][]scored
	gt        map[string]int
}

// NewEvaluator returns an empty evaluator for classes at the operating threshold.
func NewEvaluator(classes []string, threshold float32) *Evaluator {
	e := &Evaluator{classes: classes, threshold: threshold, dets: map[string][]scored{}, gt: map[string]int{}}
	return e
}

// Add records one image: what the detector found and the ground truth.
func (e *Evaluator) Add(dets []Detection, truth []Box) {
	e.images++
	for _, c := range e.classes {
		var gts, ign []Box
		for _, b := range truth {
			if b.Label != c {
				continue
			}
			if b.Ignore {
				ign = append(ign, b)
			} else {
				gts = append(gts, b)
			}
		}
		e.gt[c] += len(gts)
		var ds []Detection
		for _, d := range dets {
			if d.Label == c {
				ds = append(ds, d)
			}
		}
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].Score > ds[j].Score })
		used := make([]bool, len(gts))
		for _, d := range ds {
			best, bi := 0.5, -1
			for i, g := range gts {
				if used[i] {
					continue
				}
				if v := IoU(d.Box, g.Rect); v >= best {
					best, bi = v, i
				}
			}
			if bi >= 0 {
				used[bi] = true
				e.dets[c] = append(e.dets[c], scored{d.Score, true})
				continue
			}
			ignored := false
			for _, g := range ign {
				if IoU(d.Box, g.Rect) >= 0.5 {
					ignored = true
					break
				}
			}
			if !ignored {
				e.dets[c] = append(e.dets[c], scored{d.Score, false})
			}
		}
	}
}

// Result computes the figures so far.
func (e *Evaluator) Result() Evaluation {
	ev := Evaluation{Images: e.images, Threshold: e.threshold, Classes: map[string]ClassResult{}}
	var sumAP float64
	var nAP, tp, fp, gt int
	for _, c := range e.classes {
		ds := append([]scored(nil), e.dets[c]...)
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].score > ds[j].score })
		cr := ClassResult{GT: e.gt[c]}
		cr.AP = averagePrecision(ds, cr.GT)
		for _, d := range ds {
			if d.score < e.threshold {
				break
			}
			if d.tp {
				cr.TP++
			} else {
				cr.FP++
			}
		}
		cr.Precision = ratio(cr.TP, cr.TP+cr.FP)
		cr.Recall = ratio(cr.TP, cr.GT)
		if cr.GT > 0 {
			sumAP += cr.AP
			nAP++
		}
		tp += cr.TP
		fp += cr.FP
		gt += cr.GT
		ev.Classes[c] = cr
	}
	if nAP > 0 {
		ev.MAP = sumAP / float64(nAP)
	}
	ev.Precision = ratio(tp, tp+fp)
	ev.Recall = ratio(tp, gt)
	return ev
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// averagePrecision is the area under the interpolated precision-recall
// curve (all points, as in PASCAL VOC 2010+ and COCO's per-threshold AP).
func averagePrecision(ds []scored, ngt int) float64 {
	if ngt == 0 || len(ds) == 0 {
		return 0
	}
	prec := make([]float64, len(ds))
	rec := make([]float64, len(ds))
	tp := 0
	for i, d := range ds {
		if d.tp {
			tp++
		}
		prec[i] = float64(tp) / float64(i+1)
		rec[i] = float64(tp) / float64(ngt)
	}
	for i := len(prec) - 2; i >= 0; i-- {
		prec[i] = max(prec[i], prec[i+1])
	}
	ap, prevR := 0.0, 0.0
	for i := range ds {
		if rec[i] > prevR {
			ap += (rec[i] - prevR) * prec[i]
			prevR = rec[i]
		}
	}
	return ap
}

// EvaluateModel runs m over samples first..first+n-1 of src on workers
// goroutines (one Runner each) and returns the evaluation of all samples
// under "all" and of each tag (e.g. "night", "day") under its name.
func EvaluateModel(ctx context.Context, m *Model, src Source, first, n, workers int) (map[string]Evaluation, error) {
	if n < 1 || workers < 1 {
		return nil, fmt.Errorf("%w: evaluation needs at least one sample and one worker", ErrBadInput)
	}
	type result struct {
		dets []Detection
		s    Sample
	}
	results := make([]result, n)
	runners := make([]*Runner, 0, workers)
	defer func() {
		for _, r := range runners {
			r.Close()
		}
	}()
	for range workers {
		r, err := m.NewRunner(WithThreshold(EvalScoreFloor))
		if err != nil {
			return nil, err
		}
		runners = append(runners, r)
	}
	err := inParallel(ctx, n, workers, func(ctx context.Context, w, i int) error {
		s, err := src.Sample(ctx, first+i)
		if err == nil {
			var d []Detection
			if d, err = runners[w].Detect(s.Image); err == nil {
				s.Image = nil
				results[i] = result{d, s}
				return nil
			}
		}
		return fmt.Errorf("detector: evaluation sample %d: %w", first+i, err)
	})
	if err != nil {
		return nil, err
	}
	evs := map[string]*Evaluator{"all": NewEvaluator(m.Manifest.Classes, m.Manifest.Threshold)}
	for _, r := range results {
		evs["all"].Add(r.dets, r.s.Boxes)
		for _, t := range r.s.Tags {
			if evs[t] == nil {
				evs[t] = NewEvaluator(m.Manifest.Classes, m.Manifest.Threshold)
			}
			evs[t].Add(r.dets, r.s.Boxes)
		}
	}
	out := map[string]Evaluation{}
	for k, e := range evs {
		out[k] = e.Result()
	}
	return out, nil
}
