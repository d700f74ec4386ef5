package netem

import (
	"math"
	"sync/atomic"
	"time"
)

// Precise release. A timerfd on a real-time thread still wakes some tens
// of microseconds late on a virtual machine (the vCPU has to be woken, then
// the thread has to get the Go runtime back), and that lateness adds to
// every emulated delay and to its spread. The scheduler therefore arms its
// timer a little before a packet is due and spins for the rest, but only
// when a packet is due within that window: an idle link, or one whose next
// packet is further away, sleeps as before.
//
// The window follows the timer's own lateness on this machine: it is about
// the 90th percentile of how late the early wake-ups were (a stochastic
// quantile estimate, updated on every timed wake-up), plus a margin, bounded
// to [minSpin, maxSpin]. So the CPU spent spinning is what this machine's
// timers make necessary, and never more than maxSpin per wake-up.
//
// Spinning is also budgeted per link direction: at most spinShare of one
// CPU over time (a token bucket of spin time, spinBurst deep). A direction
// with more distinct release times than that pays for falls back to the
// timer alone for the excess, so a busy link can never turn precise
// release into a busy loop.
const (
	minSpin     = 20 * time.Microsecond
	maxSpin     = 200 * time.Microsecond
	spinMargin  = 10 * time.Microsecond
	spinQuantil = 0.9
	spinStep    = float64(2 * time.Microsecond)
	spinShare   = 0.5
	spinBurst   = 50 * time.Millisecond
)

// spinner estimates the timer's wake-up lateness, sizes the spin window
// and keeps the spin budget. It is used by one scheduler thread only.
type spinner struct {
	late   float64 // estimated spinQuantil-quantile of wake-up lateness, ns
	tokens time.Duration
	last   time.Time
}

func newSpinner() *spinner {
	return &spinner{late: float64(50 * time.Microsecond), tokens: spinBurst}
}

// canSpin refills the budget up to now and says whether any is left.
func (s *spinner) canSpin(now time.Time) bool {
	if !s.last.IsZero() {
		s.tokens += time.Duration(float64(now.Sub(s.last)) * spinShare)
		s.tokens = min(s.tokens, spinBurst)
	}
	s.last = now
	return s.tokens > 0
}

// charge takes a spin's duration from the budget.
func (s *spinner) charge(d time.Duration) { s.tokens -= d }

// window is how long before a packet is due the timer should fire.
func (s *spinner) window() time.Duration {
	w := time.Duration(s.late) + spinMargin
	return min(max(w, minSpin), maxSpin)
}

// observe feeds how late a timed wake-up was (negative: early).
func (s *spinner) observe(late time.Duration) {
	if float64(late) > s.late {
		s.late += spinStep * spinQuantil
	} else {
		s.late -= spinStep * (1 - spinQuantil)
	}
	s.late = min(max(s.late, 0), float64(2*maxSpin))
}

// spinUntil busy-waits until due or until kicks moves on from k0 (a packet
// due earlier arrived). It returns the time it stopped at.
func spinUntil(due time.Time, kicks *atomic.Uint64, k0 uint64) time.Time {
	for {
		now := time.Now()
		if !now.Before(due) || kicks.Load() != k0 {
			return now
		}
	}
}

// lateBins is the resolution of release-lateness statistics: 1 µs bins up
// to 2 ms, and one overflow bin.
const lateBins = 2000

// lateHist counts how late packets left the link after their due time.
// Writers are the forwarding threads; readers (calibrate) snapshot it.
type lateHist struct {
	bins [lateBins + 1]atomic.Uint64
	max  atomic.Int64
	sum  atomic.Uint64 // ns
	sq   atomic.Uint64 // µs²
}

func (h *lateHist) add(ns int64) {
	if ns < 0 {
		ns = 0
	}
	i := ns / 1000
	if i > lateBins {
		i = lateBins
	}
	h.bins[i].Add(1)
	h.sum.Add(uint64(ns))
	us := uint64(ns / 1000)
	h.sq.Add(us * us)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

func (h *lateHist) reset() {
	for i := range h.bins {
		h.bins[i].Store(0)
	}
	h.max.Store(0)
	h.sum.Store(0)
	h.sq.Store(0)
}

// ReleaseStats summarise how late a link direction released its packets
// after the model's due time: the engine's own timing error, without the
// sockets and TUN devices on either side.
type ReleaseStats struct {
	Packets            uint64
	P50, P90, P99, Max time.Duration
	Mean               time.Duration
	// Std is the standard deviation (from µs-resolution sums).
	Std time.Duration
}

func (h *lateHist) stats() ReleaseStats {
	var counts [lateBins + 1]uint64
	var n uint64
	for i := range counts {
		counts[i] = h.bins[i].Load()
		n += counts[i]
	}
	s := ReleaseStats{Packets: n, Max: time.Duration(h.max.Load())}
	if n == 0 {
		return s
	}
	mean := float64(h.sum.Load()) / float64(n)
	s.Mean = time.Duration(mean)
	if v := float64(h.sq.Load())/float64(n)*1e6 - mean*mean; v > 0 {
		s.Std = time.Duration(math.Sqrt(v))
	}
	q := func(p float64) time.Duration {
		want := uint64(p * float64(n))
		var acc uint64
		for i, c := range counts {
			acc += c
			if acc > want {
				return time.Duration(i+1) * time.Microsecond
			}
		}
		return s.Max
	}
	s.P50, s.P90, s.P99 = q(0.50), q(0.90), q(0.99)
	return s
}
