package detector

import (
	"context"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Box is one ground-truth object of a training or evaluation sample.
type Box struct {
	Label string
	Rect  image.Rectangle // pixel coordinates of the sample image
	// Ignore marks objects a detector is neither rewarded nor penalised
	// for (heavily occluded, cut by the frame edge, too small).
	Ignore bool
}

// Sample is an image with its ground truth.
type Sample struct {
	Image image.Image
	Boxes []Box
	Tags  []string // free-form, e.g. "night"; used to split evaluation figures
}

// Source yields samples by index. The same index must give the same sample
// every time (so training is reproducible), and Sample must be safe for
// concurrent use.
type Source interface {
	Sample(ctx context.Context, index int) (Sample, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, index int) (Sample, error)

// Sample calls f.
func (f SourceFunc) Sample(ctx context.Context, index int) (Sample, error) { return f(ctx, index) }

// Progress is reported after every training step.
type Progress struct {
	Step, Steps int
	Loss        float64 // total loss of this step's batch
	HeatLoss    float64
	BoxLoss     float64
	LearnRate   float64
	Elapsed     time.Duration
}

type trainSettings struct {
	steps     int
	batch     int
	lr        float64
	warmup    int
	workers   int
	flip      bool
	boxWeight float64
	offset    int
	progress  func(Progress)
	clock     func() time.Time
	ckEvery   int
	ckFn      func(step int, m *Model) error
	teacher   *Model
	kdWeight  float64
}

// WithTeacher distils teacher into the model being trained: besides the
// ground-truth losses, every cell's class score is pulled towards the
// teacher's probability on the same (flipped) input by a binary cross
// entropy with soft targets, weighted by weight and normalised like the
// heat-map loss (by the number of positive cells). The teacher runs on
// gorgonia (float32) or the int8 kernels, one Runner per data worker.
func WithTeacher(teacher *Model, weight float64) TrainOption {
	return func(s *trainSettings) { s.teacher, s.kdWeight = teacher, weight }
}

// TrainOption configures Train.
type TrainOption func(*trainSettings)

// WithSteps sets the number of optimiser steps (default 1000).
func WithSteps(n int) TrainOption { return func(s *trainSettings) { s.steps = n } }

// WithBatchSize sets the number of samples per step (default 16).
func WithBatchSize(n int) TrainOption { return func(s *trainSettings) { s.batch = n } }

// WithLearnRate sets Adam's peak learning rate (default 2e-3); it warms up
// linearly over the first 5% of steps and then decays on a cosine to 5%.
func WithLearnRate(lr float64) TrainOption { return func(s *trainSettings) { s.lr = lr } }

// WithWorkers sets how many goroutines prepare samples ahead (default 2).
func WithWorkers(n int) TrainOption { return func(s *trainSettings) { s.workers = n } }

// WithFlip enables random horizontal flips (default on), drawn from the training seed.
func WithFlip(on bool) TrainOption { return func(s *trainSettings) { s.flip = on } }

// WithSampleOffset makes step s use source indices offset+s*batch.. (default 0).
func WithSampleOffset(off int) TrainOption { return func(s *trainSettings) { s.offset = off } }

// WithProgress registers a callback called after every step.
func WithProgress(fn func(Progress)) TrainOption { return func(s *trainSettings) { s.progress = fn } }

// WithCheckpoint calls fn with a snapshot of the model every n steps (for
// saving checkpoints or evaluating while training goes on). An error from
// fn stops training.
func WithCheckpoint(n int, fn func(step int, m *Model) error) TrainOption {
	return func(s *trainSettings) { s.ckEvery, s.ckFn = n, fn }
}

// WithTrainClock injects the clock used for Progress.Elapsed.
func WithTrainClock(now func() time.Time) TrainOption {
	return func(s *trainSettings) { s.clock = now }
}

// TrainResult summarises a training run.
type TrainResult struct {
	Steps     int
	FinalLoss float64 // mean loss of the last 5% of steps
	FirstLoss float64 // mean loss of the first 5% of steps
	Duration  time.Duration
}

// Train optimises a copy of m on samples from src and returns the trained
// model; m itself is not modified. Randomness (flips) comes from
// m.Manifest.TrainingSeed, so the same model, source and options give the
// same weights.
func Train(ctx context.Context, m *Model, src Source, opts ...TrainOption) (*Model, TrainResult, error) {
	st := trainSettings{steps: 1000, batch: 16, lr: 2e-3, workers: 2, flip: true, boxWeight: 1, clock: time.Now}
	for _, o := range opts {
		o(&st)
	}
	if st.steps < 1 || st.batch < 1 || st.workers < 1 || !(st.lr > 0) {
		return nil, TrainResult{}, fmt.Errorf("%w: steps, batch size and workers must be >= 1 and the learn rate > 0", ErrBadInput)
	}
	if m.IsInt8() {
		return nil, TrainResult{}, fmt.Errorf("%w: %s is an int8 model; train or fine-tune its float32 parent", ErrBadInput, m.Manifest.ID())
	}
	if t := st.teacher; t != nil {
		tm := &t.Manifest
		if tm.InputWidth != m.Manifest.InputWidth || tm.InputHeight != m.Manifest.InputHeight || !slices.Equal(tm.Classes, m.Manifest.Classes) || tm.Stride() != m.Manifest.Stride() {
			return nil, TrainResult{}, fmt.Errorf("%w: teacher %s must have the student's input size, classes and output grid", ErrBadInput, tm.ID())
		}
		if !(st.kdWeight > 0) {
			return nil, TrainResult{}, fmt.Errorf("%w: distillation weight must be > 0", ErrBadInput)
		}
	}
	st.warmup = max(1, st.steps/20)
	man := m.Manifest
	ws := make([][]float32, len(m.weights))
	for i := range m.weights {
		ws[i] = append([]float32(nil), m.weights[i]...)
	}
	n, err := buildNet(&man, st.batch, ws, false)
	if err != nil {
		return nil, TrainResult{}, err
	}
	lg, err := buildLoss(n, &man, st.batch, st.boxWeight, st.teacher != nil)
	if err != nil {
		return nil, TrainResult{}, err
	}
	if _, err := G.Grad(lg.loss, n.params...); err != nil {
		return nil, TrainResult{}, fmt.Errorf("detector: gradient: %w", err)
	}
	vm := G.NewTapeMachine(n.g, G.BindDualValues(n.params...))
	defer vm.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := prefetch(ctx, &man, src, st)

	adam := newAdam(ws)
	start := st.clock()
	var res TrainResult
	window := max(1, st.steps/20)
	var firstSum, lastSum float64
	for step := 0; step < st.steps; step++ {
		var bt *batch
		select {
		case <-ctx.Done():
			return nil, res, ctx.Err()
		case bt = <-batches:
		}
		if bt.err != nil {
			return nil, res, bt.err
		}
		copy(n.input(), bt.x)
		lg.fill(bt)
		if err := vm.RunAll(); err != nil {
			return nil, res, fmt.Errorf("detector: training step %d: %w", step, err)
		}
		loss := scalar(lg.loss)
		hl, bl := scalar(lg.heatLoss), scalar(lg.boxLoss)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, res, fmt.Errorf("detector: training diverged at step %d (loss %v); lower --lr", step, loss)
		}
		lr := schedule(st, step)
		grads := make([][]float32, len(n.params))
		for i, p := range n.params {
			gv, err := p.Grad()
			if err != nil {
				return nil, res, fmt.Errorf("detector: gradient of %s: %w", p.Name(), err)
			}
			grads[i] = gv.Data().([]float32)
		}
		adam.step(ws, grads, lr)
		for _, g := range grads {
			clear(g) // the tape machine accumulates into the gradient
		}
		vm.Reset()
		if step < window {
			firstSum += loss
		}
		if step >= st.steps-window {
			lastSum += loss
		}
		if st.ckFn != nil && st.ckEvery > 0 && (step+1)%st.ckEvery == 0 && step+1 < st.steps {
			snap := make([][]float32, len(ws))
			for i := range ws {
				snap[i] = append([]float32(nil), ws[i]...)
			}
			if err := st.ckFn(step+1, &Model{Manifest: man, weights: snap}); err != nil {
				return nil, res, fmt.Errorf("detector: checkpoint at step %d: %w", step+1, err)
			}
		}
		if st.progress != nil {
			st.progress(Progress{Step: step + 1, Steps: st.steps, Loss: loss, HeatLoss: hl, BoxLoss: bl, LearnRate: lr, Elapsed: st.clock().Sub(start)})
		}
	}
	res = TrainResult{Steps: st.steps, FirstLoss: firstSum / float64(window), FinalLoss: lastSum / float64(window), Duration: st.clock().Sub(start)}
	out := &Model{Manifest: man, weights: ws}
	out.Manifest.Training.Steps = st.steps
	out.Manifest.Training.BatchSize = st.batch
	out.Manifest.Training.LearnRate = st.lr
	out.Manifest.Training.FinalLoss = res.FinalLoss
	return out, res, nil
}

func scalar(n *G.Node) float64 {
	switch v := n.Value().Data().(type) {
	case float32:
		return float64(v)
	case []float32:
		return float64(v[0])
	}
	return math.NaN()
}

func schedule(st trainSettings, step int) float64 {
	if step < st.warmup {
		return st.lr * float64(step+1) / float64(st.warmup)
	}
	p := float64(step-st.warmup) / float64(max(1, st.steps-st.warmup))
	return st.lr * (0.05 + 0.95*0.5*(1+math.Cos(math.Pi*p)))
}

// adam is Adam with bias correction applied to float32 slices in place.
type adam struct {
	m, v [][]float32
	t    int
}

func newAdam(ws [][]float32) *adam {
	a := &adam{}
	for _, w := range ws {
		a.m = append(a.m, make([]float32, len(w)))
		a.v = append(a.v, make([]float32, len(w)))
	}
	return a
}

func (a *adam) step(ws, gs [][]float32, lr float64) {
	const b1, b2, eps, clip = 0.9, 0.999, 1e-8, 5.0
	a.t++
	c1 := 1 - math.Pow(b1, float64(a.t))
	c2 := 1 - math.Pow(b2, float64(a.t))
	step := float32(lr * math.Sqrt(c2) / c1)
	for i, w := range ws {
		m, v, g := a.m[i], a.v[i], gs[i]
		for j := range w {
			gj := min(max(g[j], -clip), clip)
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			w[j] -= step * m[j] / (float32(math.Sqrt(float64(v[j]))) + eps)
		}
	}
}

// lossGraph holds the target inputs and loss nodes added to a net.
type lossGraph struct {
	y, wp, wn, r, mask      *G.Node
	loss, heatLoss, boxLoss *G.Node
	yv, wpv, wnv, rv, maskv []float32
	// distillation: teacher probabilities and per-cell weights
	tp, wk   *G.Node
	tpv, wkv []float32
}

func buildLoss(n *net, man *Manifest, b int, boxWeight float64, distill bool) (*lossGraph, error) {
	gw, gh := man.GridSize()
	c := len(man.Classes)
	mk := func(name string, ch int) (*G.Node, []float32) {
		v := tensor.New(tensor.WithShape(b, ch, gh, gw), tensor.Of(tensor.Float32))
		return G.NewTensor(n.g, tensor.Float32, 4, G.WithShape(b, ch, gh, gw), G.WithName(name), G.WithValue(v)), v.Data().([]float32)
	}
	lg := &lossGraph{}
	lg.y, lg.yv = mk("y", c)
	lg.wp, lg.wpv = mk("wp", c)
	lg.wn, lg.wnv = mk("wn", c)
	lg.r, lg.rv = mk("r", 4)
	lg.mask, lg.maskv = mk("mask", 4)
	if distill {
		lg.tp, lg.tpv = mk("teacher", c)
		lg.wk, lg.wkv = mk("kdweight", c)
	}
	must := func(x *G.Node, err error) *G.Node {
		if err != nil {
			panic(err)
		}
		return x
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("detector: build loss: %v", r)
			}
		}()
		z := n.heat
		nz := must(G.Neg(z))
		p := must(G.Sigmoid(z))
		q := must(G.Sigmoid(nz))
		// focal loss (CenterNet): positives (1-p)^2 * -log p, negatives (1-T)^4 * p^2 * -log(1-p)
		pos := must(G.HadamardProd(must(G.HadamardProd(lg.wp, must(G.Square(q)))), must(G.Softplus(nz))))
		neg := must(G.HadamardProd(must(G.HadamardProd(lg.wn, must(G.Square(p)))), must(G.Softplus(z))))
		lg.heatLoss = must(G.Sum(must(G.Add(pos, neg))))
		diff := must(G.Abs(must(G.Sub(n.box, lg.r))))
		lg.boxLoss = must(G.Sum(must(G.HadamardProd(lg.mask, diff))))
		lg.loss = must(G.Add(lg.heatLoss, must(G.Mul(lg.boxLoss, G.NewConstant(float32(boxWeight))))))
		if distill {
			// BCE with the teacher's probability t as target, up to a
			// constant: softplus(z) - t z
			kd := must(G.Sub(must(G.Softplus(z)), must(G.HadamardProd(lg.tp, z))))
			lg.loss = must(G.Add(lg.loss, must(G.Sum(must(G.HadamardProd(lg.wk, kd))))))
		}
	}()
	return lg, err
}

func (lg *lossGraph) fill(bt *batch) {
	copy(lg.yv, bt.y)
	copy(lg.wpv, bt.wp)
	copy(lg.wnv, bt.wn)
	copy(lg.rv, bt.r)
	copy(lg.maskv, bt.mask)
	if lg.tp != nil {
		copy(lg.tpv, bt.t)
		copy(lg.wkv, bt.wk)
	}
}

// batch is one prepared training batch.
type batch struct {
	x, y, wp, wn, r, mask []float32
	t, wk                 []float32 // distillation only
	err                   error
}

// prefetch prepares batches in order on st.workers goroutines.
func prefetch(ctx context.Context, man *Manifest, src Source, st trainSettings) <-chan *batch {
	out := make(chan *batch, 2)
	type job struct {
		step int
		res  chan *batch
	}
	jobs := make(chan job, st.workers)
	queue := make(chan chan *batch, st.workers+1)
	var wg sync.WaitGroup
	for w := 0; w < st.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var teacher *Runner
			var terr error
			if st.teacher != nil {
				if teacher, terr = st.teacher.NewRunner(); terr == nil {
					defer teacher.Close()
				}
			}
			for j := range jobs {
				if terr != nil {
					j.res <- &batch{err: fmt.Errorf("detector: teacher: %w", terr)}
					continue
				}
				j.res <- makeBatch(ctx, man, src, st, j.step, teacher)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for s := 0; s < st.steps; s++ {
			res := make(chan *batch, 1)
			select {
			case <-ctx.Done():
				return
			case queue <- res:
			}
			select {
			case <-ctx.Done():
				return
			case jobs <- job{s, res}:
			}
		}
		close(queue)
	}()
	go func() {
		defer wg.Wait()
		for res := range queue {
			select {
			case <-ctx.Done():
				return
			case b := <-res:
				select {
				case <-ctx.Done():
					return
				case out <- b:
				}
			}
		}
	}()
	return out
}

func makeBatch(ctx context.Context, man *Manifest, src Source, st trainSettings, step int, teacher *Runner) *batch {
	gw, gh := man.GridSize()
	c := len(man.Classes)
	in := 3 * man.InputWidth * man.InputHeight
	cells := gw * gh
	bt := &batch{
		x: make([]float32, st.batch*in), y: make([]float32, st.batch*c*cells),
		wp: make([]float32, st.batch*c*cells), wn: make([]float32, st.batch*c*cells),
		r: make([]float32, st.batch*4*cells), mask: make([]float32, st.batch*4*cells),
	}
	if teacher != nil {
		bt.t, bt.wk = make([]float32, st.batch*c*cells), make([]float32, st.batch*c*cells)
	}
	npos := 0
	for b := 0; b < st.batch; b++ {
		idx := st.offset + step*st.batch + b
		s, err := src.Sample(ctx, idx)
		if err != nil {
			bt.err = fmt.Errorf("detector: training sample %d: %w", idx, err)
			return bt
		}
		if s.Image == nil {
			bt.err = fmt.Errorf("%w: training sample %d has no image", ErrBadInput, idx)
			return bt
		}
		if err := preprocess(s.Image, man.InputWidth, man.InputHeight, bt.x[b*in:(b+1)*in]); err != nil {
			bt.err = err
			return bt
		}
		rng := rand.New(rand.NewPCG(uint64(man.TrainingSeed), uint64(idx)))
		flip := st.flip && rng.IntN(2) == 1
		if flip {
			flipX(bt.x[b*in:(b+1)*in], man.InputWidth, man.InputHeight)
		}
		if teacher != nil {
			heat, _, err := teacher.forwardInput(bt.x[b*in : (b+1)*in])
			if err != nil {
				bt.err = fmt.Errorf("detector: teacher on sample %d: %w", idx, err)
				return bt
			}
			t := bt.t[b*c*cells : (b+1)*c*cells]
			for k, z := range heat {
				t[k] = sigmoid(z)
			}
		}
		npos += encodeTargets(man, s, flip,
			bt.y[b*c*cells:(b+1)*c*cells], bt.wp[b*c*cells:(b+1)*c*cells], bt.wn[b*c*cells:(b+1)*c*cells],
			bt.r[b*4*cells:(b+1)*4*cells], bt.mask[b*4*cells:(b+1)*4*cells])
	}
	norm := 1 / float32(max(1, npos))
	for _, v := range [][]float32{bt.wp, bt.wn, bt.mask} {
		for i := range v {
			v[i] *= norm
		}
	}
	for i := range bt.wk {
		bt.wk[i] = float32(st.kdWeight) * norm
	}
	return bt
}

func flipX(x []float32, w, h int) {
	for row := 0; row < 3*h; row++ {
		r := x[row*w : (row+1)*w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
	}
}

// encodeTargets writes one sample's heat-map and box targets; it returns
// the number of positive cells.
func encodeTargets(man *Manifest, s Sample, flip bool, y, wp, wn, r, mask []float32) int {
	gw, gh := man.GridSize()
	cells := gw * gh
	stride := float64(man.InputWidth) / float64(gw)
	strideY := float64(man.InputHeight) / float64(gh)
	b := s.Image.Bounds()
	sx := float64(man.InputWidth) / float64(b.Dx())
	sy := float64(man.InputHeight) / float64(b.Dy())
	heat := make([]float32, len(y)) // gaussian T
	ignore := make([]bool, len(y))
	cls := map[string]int{}
	for i, c := range man.Classes {
		cls[c] = i
	}
	type peak struct{ c, cell int }
	var peaks []peak
	for _, bx := range s.Boxes {
		ci, ok := cls[bx.Label]
		if !ok {
			continue
		}
		x0 := float64(bx.Rect.Min.X-b.Min.X) * sx / stride
		x1 := float64(bx.Rect.Max.X-b.Min.X) * sx / stride
		y0 := float64(bx.Rect.Min.Y-b.Min.Y) * sy / strideY
		y1 := float64(bx.Rect.Max.Y-b.Min.Y) * sy / strideY
		if flip {
			x0, x1 = float64(gw)-x1, float64(gw)-x0
		}
		if x1 <= x0 || y1 <= y0 {
			continue
		}
		if bx.Ignore {
			for gy := max(0, int(y0)); gy < min(gh, int(math.Ceil(y1))); gy++ {
				for gx := max(0, int(x0)); gx < min(gw, int(math.Ceil(x1))); gx++ {
					ignore[ci*cells+gy*gw+gx] = true
				}
			}
			continue
		}
		cx, cy := (x0+x1)/2, (y0+y1)/2
		ix, iy := min(gw-1, max(0, int(cx))), min(gh-1, max(0, int(cy)))
		bw, bh := x1-x0, y1-y0
		sgx, sgy := max(0.5, bw/6), max(0.5, bh/6)
		for gy := max(0, iy-int(3*sgy)-1); gy <= min(gh-1, iy+int(3*sgy)+1); gy++ {
			for gx := max(0, ix-int(3*sgx)-1); gx <= min(gw-1, ix+int(3*sgx)+1); gx++ {
				dx, dy := float64(gx-ix)/sgx, float64(gy-iy)/sgy
				t := float32(math.Exp(-(dx*dx + dy*dy) / 2))
				k := ci*cells + gy*gw + gx
				heat[k] = max(heat[k], t)
			}
		}
		cell := iy*gw + ix
		peaks = append(peaks, peak{ci, cell})
		r[0*cells+cell] = float32(cx - float64(ix))
		r[1*cells+cell] = float32(cy - float64(iy))
		r[2*cells+cell] = float32(math.Log(bw))
		r[3*cells+cell] = float32(math.Log(bh))
		for ch := 0; ch < 4; ch++ {
			mask[ch*cells+cell] = 1
		}
	}
	for _, p := range peaks {
		k := p.c*cells + p.cell
		heat[k] = 1
		ignore[k] = false
	}
	npos := 0
	for k := range y {
		switch {
		case heat[k] == 1:
			y[k], wp[k] = 1, 1
			npos++
		case ignore[k]:
		default:
			om := 1 - heat[k]
			wn[k] = om * om * om * om
		}
	}
	return npos
}
