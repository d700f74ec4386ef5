package pipeline

import "time"

// Scheduling policies as small pure functions, so that edgenode and the
// capacity planner's simulator (plan/) run the same rules.

// SampleInterval is the RTP (90 kHz) interval between the frames a stream
// samples for inference at fps; 0 (every frame) when fps is not positive.
func SampleInterval(fps float64) uint32 {
	if fps > 0 {
		return uint32(90000 / fps)
	}
	return 0
}

// SkipSample reports whether a decoded frame with timestamp rtp is skipped
// by detect-fps sampling: less than 90 % of interval has passed since the
// stream's last sampled frame (lastSampled; sampled says there was one).
func SkipSample(interval, lastSampled uint32, sampled bool, rtp uint32) bool {
	return interval > 0 && sampled && rtp-lastSampled < interval-interval/10
}

// A stream's RTP frame assembler (runtime/media) emits frames in order and
// holds a complete frame behind an incomplete one, whose missing packets
// the receiver asks for again every NACKInterval (a NACK; the camera
// resends them). It gives the incomplete frame at the head of the line up
// once more than AssemblyMaxPending frames wait, or once its first packet
// came more than AssemblyMaxWait ago and another frame waits behind it.
const (
	AssemblyMaxPending = 8
	AssemblyMaxWait    = 500 * time.Millisecond
	NACKInterval       = 100 * time.Millisecond
)

// GiveUpHead reports whether the assembler gives up the incomplete frame at
// the head of the line: pending frames wait, the head among them, and the
// head's first packet arrived age ago; maxWait 0 gives up only by count.
func GiveUpHead(pending, maxPending int, age, maxWait time.Duration) bool {
	return pending > maxPending || (maxWait > 0 && age > maxWait && pending > 1)
}

// Stale reports whether a frame that waited age is dropped without
// inference under the max frame age maxAge (0: never).
func Stale(age, maxAge time.Duration) bool { return maxAge > 0 && age > maxAge }

// Slot is one stream's latest-frame-wins state, without clock or locks:
// at most one frame waits for a worker (a newer one replaces it) and at
// most one is in inference. Pipeline's Stream keeps one under its mutex
// and the capacity planner's simulator one per simulated stream, so both
// follow this one definition; the queue of streams waiting for a worker,
// bounded by the queue depth, is the caller's.
type Slot[F any] struct {
	pending        F
	has            bool
	queued, active bool
}

// Offer is what Slot.Offer did with a frame.
type Offer int

// Offer outcomes.
const (
	// Replaced: a frame was already waiting; f replaces it (dropped as
	// stale).
	Replaced Offer = iota
	// Held: f waits; the stream is queued or in inference already.
	Held
	// Enqueue: f waits; the caller queues the stream (Queued), or drops
	// f (Drop) when the queue is full.
	Enqueue
)

// Offer gives the stream a new frame.
func (s *Slot[F]) Offer(f F) Offer {
	if s.has {
		s.pending = f
		return Replaced
	}
	s.pending, s.has = f, true
	if s.active || s.queued {
		return Held
	}
	return Enqueue
}

// Queued notes that the stream entered the queue.
func (s *Slot[F]) Queued() { s.queued = true }

// Drop discards the waiting frame (queue full, stream closed) and reports
// whether there was one.
func (s *Slot[F]) Drop() bool {
	had := s.has
	var zero F
	s.pending, s.has = zero, false
	return had
}

// Take is a worker taking the stream off the queue: the waiting frame, if
// any, is now in inference (or judged stale: Done ends it either way).
func (s *Slot[F]) Take() (F, bool) {
	s.queued = false
	var zero F
	if !s.has {
		return zero, false
	}
	f := s.pending
	s.pending, s.has, s.active = zero, false, true
	return f, true
}

// Done ends the frame taken; it reports whether another frame waits, for
// which the caller queues the stream again.
func (s *Slot[F]) Done() bool {
	s.active = false
	return s.has
}

// Waiting reports whether a frame waits for a worker.
func (s *Slot[F]) Waiting() bool { return s.has }

// Active reports whether a frame taken is not Done yet.
func (s *Slot[F]) Active() bool { return s.active }
