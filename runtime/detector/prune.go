package detector

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// PruneCriterion names how Prune ranks channels.
const PruneCriterion = "l1-norm of the filter (Li et al. 2017): a layer keeps the output channels whose 3x3 filters have the largest sum of |w|"

// Prune removes whole output channels of the backbone: layer i keeps
// keep[i] of its channels, those whose filters have the largest L1 norm
// (PruneCriterion), in their original order. The next layer's (or the
// heads') input channels are cut to match, so the pruned network really
// computes less. The result is float32, untrained after the cut: fine-tune
// it (Train) before use.
func Prune(m *Model, keep []int) (*Model, error) {
	if m.IsInt8() {
		return nil, fmt.Errorf("%w: %s is int8; prune its float32 parent", ErrBadInput, m.Manifest.ID())
	}
	man := m.Manifest
	if len(keep) != len(man.Backbone) {
		return nil, fmt.Errorf("%w: %d channel counts given, the backbone has %d layers", ErrBadInput, len(keep), len(man.Backbone))
	}
	man.Backbone = slices.Clone(man.Backbone)
	ws := make([][]float32, len(m.weights))
	var prevKept []int // input channels kept (nil: all 3 input planes)
	for i, l := range man.Backbone {
		if keep[i] < 1 || keep[i] > l.Out {
			return nil, fmt.Errorf("%w: layer %s: keep %d of %d channels (give 1..%d)", ErrBadInput, l.Name, keep[i], l.Out, l.Out)
		}
		w := m.weights[2*i]
		t := man.Tensors[2*i]
		in, kk := t.Shape[1], t.Shape[2]*t.Shape[3]
		w = sliceInputs(w, l.Out, in, kk, prevKept)
		nin := in
		if prevKept != nil {
			nin = len(prevKept)
		}
		kept := topL1(w, l.Out, nin*kk, keep[i])
		ws[2*i] = sliceRows(w, nin*kk, kept)
		ws[2*i+1] = sliceRows(m.weights[2*i+1], 1, kept)
		man.Backbone[i].Out = keep[i]
		prevKept = kept
	}
	k := 2 * len(man.Backbone)
	last := man.Tensors[k].Shape[1]
	for j := k; j < k+4; j += 2 {
		out := man.Tensors[j].Shape[0]
		ws[j] = sliceInputs(m.weights[j], out, last, 1, prevKept)
		ws[j+1] = slices.Clone(m.weights[j+1])
	}
	man.Tensors = man.expectedTensors()
	man.Evaluation, man.EvalData = nil, ""
	if err := man.Validate(); err != nil {
		return nil, err
	}
	return &Model{Manifest: man, weights: ws}, nil
}

// topL1 returns the indices (ascending) of the n rows of w (rows of size
// per) with the largest L1 norm; ties keep the lower index.
func topL1(w []float32, rows, per, n int) []int {
	norms := make([]float64, rows)
	for r := 0; r < rows; r++ {
		for _, v := range w[r*per : (r+1)*per] {
			norms[r] += math.Abs(float64(v))
		}
	}
	idx := make([]int, rows)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return norms[idx[a]] > norms[idx[b]] })
	kept := slices.Clone(idx[:n])
	slices.Sort(kept)
	return kept
}

// sliceRows keeps the rows (of size per) listed in kept.
func sliceRows(w []float32, per int, kept []int) []float32 {
	out := make([]float32, 0, len(kept)*per)
	for _, r := range kept {
		out = append(out, w[r*per:(r+1)*per]...)
	}
	return out
}

// sliceInputs keeps the input channels listed in kept (all when nil) of an
// (out, in, kk) weight tensor.
func sliceInputs(w []float32, out, in, kk int, kept []int) []float32 {
	if kept == nil {
		return slices.Clone(w)
	}
	res := make([]float32, 0, out*len(kept)*kk)
	for o := 0; o < out; o++ {
		for _, c := range kept {
			res = append(res, w[(o*in+c)*kk:(o*in+c+1)*kk]...)
		}
	}
	return res
}
