package calibrate

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("calibrate's stall filter", func() {
	// Probe i is sent at i ms; the unimpaired flow takes 30 µs except
	// probe 10, which a 5 ms stall holds.
	mk := func(n int, delay func(i int) float64) *probeFlow {
		f := &probeFlow{delays: make([]float64, n), sent: make([]int64, n), got: make([]bool, n)}
		for i := range n {
			f.sent[i] = int64(i) * int64(time.Millisecond)
			f.delays[i] = delay(i)
			f.got[i] = true
		}
		return f
	}
	It("leaves out exactly the probes in flight during a stall, whatever the link's delay", func() {
		base := mk(100, func(i int) float64 {
			if i == 10 {
				return 5e6
			}
			return 30e3
		})
		// The link's delays alternate 1 ms and 3 ms: which probes are
		// left out must not depend on them.
		link := mk(100, func(i int) float64 { return 1e6 + float64(i%2)*2e6 })
		ls, bs, thr, left := stallFiltered(link, base, 3e6)
		Expect(thr).To(Equal(0.5e6))
		// The stall spans 10..15 ms; a probe's window is its send time
		// plus 3.5 ms: probes 7..15 overlap it.
		Expect(left).To(Equal(9))
		Expect(ls).To(HaveLen(91))
		Expect(bs).To(HaveLen(91))
		Expect(bs).NotTo(ContainElement(5e6))
		ones, threes := 0, 0
		for _, d := range ls {
			if d == 1e6 {
				ones++
			} else {
				threes++
			}
		}
		Expect(ones - threes).To(BeNumerically("~", 0, 1))
	})

	It("also leaves out probes in flight while the sender was frozen", func() {
		base := mk(100, func(int) float64 { return 30e3 })
		link := mk(100, func(int) float64 { return 1e6 })
		// No probe is sent between 20 ms and 30 ms: every later probe
		// comes 10 ms later than planned.
		for _, f := range []*probeFlow{base, link} {
			for i := 21; i < 100; i++ {
				f.sent[i] += int64(9 * time.Millisecond)
			}
		}
		_, _, _, left := stallFiltered(link, base, 1e6)
		// The gap spans 20..30 ms; windows are 1.5 ms: probes sent at
		// 19 and 20 ms overlap it (the next is sent at its end, 30 ms).
		Expect(left).To(Equal(3))
	})

	It("keeps every probe when nothing stalled", func() {
		base := mk(50, func(int) float64 { return 30e3 })
		link := mk(50, func(int) float64 { return 2e6 })
		link.got[3] = false // lost on the link: not a delay
		ls, bs, _, left := stallFiltered(link, base, 2e6)
		Expect(left).To(BeZero())
		Expect(ls).To(HaveLen(49))
		Expect(bs).To(HaveLen(49))
	})
})
