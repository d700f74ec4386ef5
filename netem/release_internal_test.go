package netem

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("precise release", func() {
	It("sizes the spin window to the timer's lateness, within its bounds", func() {
		r := rand.New(rand.NewPCG(1, 2))
		s := newSpinner()
		// Wake-ups late by 0..100 µs, uniformly: the 90th percentile is
		// 90 µs, so the window settles near 90 µs + margin.
		for range 20000 {
			s.observe(time.Duration(r.Float64() * float64(100*time.Microsecond)))
		}
		Expect(s.window()).To(BeNumerically("~", 90*time.Microsecond+spinMargin, 8*time.Microsecond))

		// A timer that is always very late never makes it spin longer
		// than maxSpin; one that is early never below minSpin.
		for range 20000 {
			s.observe(5 * time.Millisecond)
		}
		Expect(s.window()).To(Equal(maxSpin))
		for range 50000 {
			s.observe(-time.Millisecond)
		}
		Expect(s.window()).To(Equal(minSpin))
	})

	It("spends at most its share of a CPU spinning", func() {
		s := newSpinner()
		t := time.Unix(0, 0)
		spent := time.Duration(0)
		// A link that would spin 150 µs every 200 µs for 10 s.
		for range 50000 {
			if s.canSpin(t) {
				s.charge(150 * time.Microsecond)
				spent += 150 * time.Microsecond
			}
			t = t.Add(200 * time.Microsecond)
		}
		Expect(spent).To(BeNumerically("<=", time.Duration(spinShare*float64(10*time.Second))+spinBurst+maxSpin))
		Expect(spent).To(BeNumerically(">=", time.Duration(0.9*spinShare*float64(10*time.Second))))
	})

	It("stops spinning at the due time or when an earlier packet arrives", func() {
		var kicks atomic.Uint64
		due := time.Now().Add(-time.Second) // already due: returns at once
		Expect(spinUntil(due, &kicks, 0)).NotTo(BeTemporally("<", due))

		far := time.Now().Add(time.Hour)
		done := make(chan time.Time, 1)
		k0 := kicks.Load()
		go func() { done <- spinUntil(far, &kicks, k0) }()
		kicks.Add(1)
		Eventually(done).Should(Receive(BeTemporally("<", far)))
	})

	It("summarises release lateness in 1 µs bins", func() {
		var h lateHist
		Expect(h.stats().Packets).To(BeZero())
		for i := range 100 {
			h.add(int64(i) * 1000) // 0..99 µs
		}
		h.add(-5000)              // early counts as on time
		h.add(int64(time.Second)) // overflow bin, and the maximum
		s := h.stats()
		Expect(s.Packets).To(Equal(uint64(102)))
		Expect(s.P50).To(BeNumerically("~", 50*time.Microsecond, 2*time.Microsecond))
		Expect(s.P90).To(BeNumerically("~", 90*time.Microsecond, 2*time.Microsecond))
		Expect(s.P99).To(BeNumerically(">=", 99*time.Microsecond))
		Expect(s.Max).To(Equal(time.Second))
		h.reset()
		Expect(h.stats()).To(Equal(ReleaseStats{}))
	})
})
