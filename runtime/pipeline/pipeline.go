// Package pipeline schedules decoded frames of many streams onto a pool of
// detector workers: per stream the latest frame wins (a newer frame replaces
// one still waiting, counted as stale), each stream has at most one frame in
// inference so its results stay in order, and a bounded shared queue sheds
// load (queue_full) instead of letting latency or memory grow.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/runtime/metrics"
)

// Detection is one detected object in pixel coordinates of the input image
// (the shape of contract C2's detector.Detection).
type Detection struct {
	Label string
	Score float32
	Box   image.Rectangle
}

// Runner runs one detector graph. Not safe for concurrent use; the pipeline
// gives each worker its own.
type Runner interface {
	Detect(img image.Image) ([]Detection, error)
	Close() error
}

// Model is a loaded, immutable model that makes Runners.
type Model interface {
	NewRunner() (Runner, error)
	Info() ModelInfo
}

// ModelInfo names a model.
type ModelInfo struct {
	Name, Version, SHA256 string
}

// String is name@version.
func (i ModelInfo) String() string { return i.Name + "@" + i.Version }

// Frame is one decoded frame of a stream.
type Frame struct {
	RTP      uint32      // RTP timestamp (frame identity on the wire)
	Received time.Time   // when its last packet arrived
	Decoded  time.Time   // when it was decoded (zero: not recorded)
	Image    image.Image // decoded picture
}

// Result is the outcome of inferring one frame.
type Result struct {
	Frame      Frame
	Detections []Detection
	Infer      time.Duration
	Started    time.Time // when a worker took the frame (its inference began)
	Model      ModelInfo
	Err        error // the detector failed; Detections is empty
}

// Sink receives the results of one stream, in frame order, on a worker
// goroutine. It must not block for long.
type Sink func(Result)

// Errors.
var (
	ErrClosed   = errors.New("pipeline: closed")
	ErrNoModel  = errors.New("pipeline: no model")
	ErrDraining = errors.New("pipeline: draining")
)

// Defaults.
const (
	DefaultQueueDepth = 16
	DefaultMaxAge     = time.Second
)

// Option configures a Pipeline.
type Option func(*Pipeline)

// WithWorkers sets the number of inference workers (default GOMAXPROCS,
// which Go derives from the container's CPU quota).
func WithWorkers(n int) Option { return func(p *Pipeline) { p.workers = n } }

// WithQueueDepth bounds the number of streams waiting for a worker (default 16).
func WithQueueDepth(n int) Option { return func(p *Pipeline) { p.depth = n } }

// WithMaxAge drops frames older than d when a worker gets to them (default 1 s).
func WithMaxAge(d time.Duration) Option { return func(p *Pipeline) { p.maxAge = d } }

// WithClock injects the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Pipeline) { p.now = now } }

// WithMetrics injects the metrics (default: unregistered ones).
func WithMetrics(m *metrics.Metrics) Option { return func(p *Pipeline) { p.m = m } }

type modelGen struct {
	model Model
	gen   uint64
}

// Pipeline is the worker pool. Create with New, stop with Close.
type Pipeline struct {
	workers int
	depth   int
	maxAge  time.Duration
	now     func() time.Time
	m       *metrics.Metrics

	queue    chan *Stream
	model    atomic.Pointer[modelGen]
	gen      atomic.Uint64
	inflight sync.WaitGroup // frames accepted and not yet finished
	wg       sync.WaitGroup // workers
	mu       sync.Mutex
	closed   bool
	draining atomic.Bool
	stop     chan struct{}
	busy     atomic.Int64
}

// New starts the workers. Each worker creates its Runner from the model
// before New returns, so a broken model fails here.
func New(model Model, opts ...Option) (*Pipeline, error) {
	if model == nil {
		return nil, ErrNoModel
	}
	p := &Pipeline{workers: runtime.GOMAXPROCS(0), depth: DefaultQueueDepth, maxAge: DefaultMaxAge, now: time.Now, stop: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	if p.workers < 1 {
		p.workers = 1
	}
	if p.depth < 1 {
		p.depth = 1
	}
	if p.m == nil {
		p.m, _ = metrics.New(nil)
	}
	p.queue = make(chan *Stream, p.depth)
	p.model.Store(&modelGen{model: model, gen: p.gen.Add(1)})
	runners := make([]Runner, 0, p.workers)
	for i := 0; i < p.workers; i++ {
		r, err := model.NewRunner()
		if err != nil {
			for _, r := range runners {
				_ = r.Close()
			}
			return nil, fmt.Errorf("pipeline: worker %d: %w", i, err)
		}
		runners = append(runners, r)
	}
	info := model.Info()
	p.m.SetModel(info.Name, info.Version, info.SHA256)
	for _, r := range runners {
		p.wg.Add(1)
		go p.work(r)
	}
	return p, nil
}

// Workers returns the number of workers.
func (p *Pipeline) Workers() int { return p.workers }

// Model returns the model in use.
func (p *Pipeline) Model() ModelInfo { return p.model.Load().model.Info() }

// Busy returns how many workers are inferring right now.
func (p *Pipeline) Busy() int { return int(p.busy.Load()) }

// QueueLen returns how many streams wait for a worker.
func (p *Pipeline) QueueLen() int { return len(p.queue) }

// QueueDepth returns the bound of the queue.
func (p *Pipeline) QueueDepth() int { return p.depth }

// HasCapacity reports whether another frame could be scheduled now.
func (p *Pipeline) HasCapacity() bool {
	return !p.draining.Load() && len(p.queue) < p.depth
}

// SwapModel makes every worker switch to model before its next frame; frames
// in inference finish on the old one. Streams are not interrupted. A runner
// that fails to build keeps the worker on its previous runner.
func (p *Pipeline) SwapModel(model Model) error {
	if model == nil {
		return ErrNoModel
	}
	// Build one runner first so a broken model is refused before any swap.
	r, err := model.NewRunner()
	if err != nil {
		return fmt.Errorf("pipeline: new model: %w", err)
	}
	_ = r.Close()
	p.model.Store(&modelGen{model: model, gen: p.gen.Add(1)})
	info := model.Info()
	p.m.SetModel(info.Name, info.Version, info.SHA256)
	return nil
}

func (p *Pipeline) work(r Runner) {
	defer p.wg.Done()
	cur := p.model.Load()
	gen, info := cur.gen, cur.model.Info()
	defer func() { _ = r.Close() }()
	for {
		select {
		case <-p.stop:
			return
		case s := <-p.queue:
			p.m.QueueDepth.Set(float64(len(p.queue)))
			if cur := p.model.Load(); cur.gen != gen {
				if nr, err := cur.model.NewRunner(); err == nil {
					_ = r.Close()
					r, gen, info = nr, cur.gen, cur.model.Info()
				}
			}
			p.run(s, r, info)
		}
	}
}

func (p *Pipeline) run(s *Stream, r Runner, info ModelInfo) {
	s.mu.Lock()
	f, ok := s.slot.Take()
	closed := s.closed
	s.mu.Unlock()
	if !ok {
		return
	}

	switch {
	case closed: // the session ended and gave its metric series back
	case Stale(p.now().Sub(f.Received), p.maxAge):
		p.m.FramesDropped.WithLabelValues(s.camera, metrics.ReasonStale).Inc()
	default:
		p.busy.Add(1)
		start := p.now()
		dets, err := r.Detect(f.Image)
		infer := p.now().Sub(start)
		p.busy.Add(-1)
		res := Result{Frame: f, Detections: dets, Infer: infer, Started: start, Model: info, Err: err}
		if err != nil {
			res.Detections = nil
			p.m.FramesDropped.WithLabelValues(s.camera, metrics.ReasonInferError).Inc()
		} else {
			p.m.FramesInferred.Inc()
			p.m.InferenceSeconds.Observe(infer.Seconds())
		}
		s.sink(res)
	}
	p.inflight.Done()

	s.mu.Lock()
	if s.slot.Done() && !s.closed {
		p.enqueueLocked(s)
	}
	s.mu.Unlock()
}

// enqueueLocked puts s in the queue or drops its pending frame (and
// reports false); s.mu held.
func (p *Pipeline) enqueueLocked(s *Stream) bool {
	select {
	case p.queue <- s:
		s.slot.Queued()
		p.m.QueueDepth.Set(float64(len(p.queue)))
		return true
	default:
		s.slot.Drop()
		p.inflight.Done()
		p.m.FramesDropped.WithLabelValues(s.camera, metrics.ReasonQueueFull).Inc()
		return false
	}
}

func (s *Stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Stream is one camera's entry into the pipeline.
type Stream struct {
	p      *Pipeline
	camera string
	sink   Sink
	mu     sync.Mutex
	slot   Slot[Frame] // latest frame wins
	closed bool
}

// AddStream registers a camera; its results go to sink.
func (p *Pipeline) AddStream(camera string, sink Sink) (*Stream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.draining.Load() {
		return nil, ErrDraining
	}
	return &Stream{p: p, camera: camera, sink: sink}, nil
}

// Submit offers a decoded frame. It never blocks: a frame still waiting for a
// worker is replaced (stale), and a full queue drops it (queue_full). It
// reports whether the frame was accepted for inference.
func (s *Stream) Submit(f Frame) bool {
	p := s.p
	if p.draining.Load() && !s.isClosed() {
		p.m.FramesDropped.WithLabelValues(s.camera, metrics.ReasonDraining).Inc()
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	switch s.slot.Offer(f) {
	case Replaced:
		p.m.FramesDropped.WithLabelValues(s.camera, metrics.ReasonStale).Inc()
		return true
	case Held:
		p.inflight.Add(1)
		return true
	}
	p.inflight.Add(1)
	return p.enqueueLocked(s)
}

// Close stops taking frames; a frame waiting for a worker is discarded.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.slot.Drop() {
		s.p.inflight.Done()
	}
}

// Drain stops accepting frames and waits until every accepted frame has been
// inferred and handed to its sink, or ctx ends.
func (p *Pipeline) Drain(ctx context.Context) error {
	p.draining.Store(true)
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pipeline: drain: %w", ctx.Err())
	}
}

// Close stops the workers (after their current frame) and closes the runners.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.draining.Store(true)
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
