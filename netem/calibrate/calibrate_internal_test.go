package calibrate

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

// The verdicts calibrate gives, on measurements computed by hand: a link
// that misbehaves by more than the tolerance fails, one within it passes.
var _ = Describe("calibrate's verdicts", func() {
	It("fails a calibration by its checked figures only", func() {
		c := &Result{Figures: []Figure{
			{Name: "delay mean", Checked: true, OK: true},
			{Name: "loss", Checked: true, OK: false},
			{Name: "delay mean, raw", Checked: false, OK: false},
		}}
		Expect(c.Failed()).To(HaveExactElements(HaveField("Name", "loss")))
	})

	DescribeTable("judges loss with a 99% binomial interval",
		func(loss netem.Loss, n, lost int, ok bool) {
			f := lossFigure(netem.LinkConfig{Loss: loss}, n, lost)
			Expect(f.Checked).To(BeTrue())
			Expect(f.Measured).To(BeNumerically("~", 100*float64(lost)/float64(n), 1e-9))
			Expect(f.OK).To(Equal(ok))
		},
		// p = 0.1, n = 3000: half width 2.576 * sqrt(0.1*0.9/3000) =
		// 0.01411, so 258..342 lost probes pass.
		Entry("10%: 300 of 3000 lost", netem.Loss{Percent: 10}, 3000, 300, true),
		Entry("10%: 342 lost (11.40%)", netem.Loss{Percent: 10}, 3000, 342, true),
		Entry("10%: 343 lost (11.43%)", netem.Loss{Percent: 10}, 3000, 343, false),
		Entry("10%: 258 lost (8.60%)", netem.Loss{Percent: 10}, 3000, 258, true),
		Entry("10%: 257 lost (8.57%)", netem.Loss{Percent: 10}, 3000, 257, false),
		Entry("10%: none lost", netem.Loss{Percent: 10}, 3000, 0, false),
		// Correlation 50%: the variance grows by (1+0.5)/(1-0.5) = 3, the
		// half width to 0.02444: 370 lost (12.33%) passes.
		Entry("10%, correlated 50%: 370 lost", netem.Loss{Percent: 10, Correlation: 50}, 3000, 370, true),
		Entry("10%, correlated 50%: 374 lost", netem.Loss{Percent: 10, Correlation: 50}, 3000, 374, false),
		Entry("none configured, none lost", netem.Loss{}, 3000, 0, true),
		Entry("none configured, one lost", netem.Loss{}, 3000, 1, false),
	)

	It("judges the mean loss burst where the model has a closed form", func() {
		// Gilbert-Elliott with LossBad 100 and LossGood 0: bursts of
		// 100/R = 4 packets on average.
		ge := netem.LinkConfig{Loss: netem.Loss{Model: netem.LossGilbertElliot, P: 5, R: 25, LossBad: 100}}
		bursts := func(length int) []bool {
			var got []bool
			for range 10 {
				got = append(got, true, true, true)
				for range length {
					got = append(got, false)
				}
			}
			return got
		}
		f := burstFigure(ge, bursts(4))
		Expect(f.Configured).To(BeNumerically("~", 4, 1e-9))
		Expect(f.Measured).To(BeNumerically("~", 4, 1e-9))
		Expect(f.Checked && f.OK).To(BeTrue())
		f = burstFigure(ge, bursts(5))
		Expect(f.Checked).To(BeTrue())
		Expect(f.OK).To(BeFalse())
		// The 4-state model has no closed form: shown, never checked.
		f = burstFigure(netem.LinkConfig{Loss: netem.Loss{Model: netem.LossFourState, P13: 5, P31: 50}}, bursts(9))
		Expect(f.Checked).To(BeFalse())
	})

	DescribeTable("judges UDP throughput within 2%, or only 'not above' when the sender was the bottleneck",
		func(got, offered float64, ok bool, note string) {
			f := udpFigure(5e6, got, offered, offered)
			Expect(f.OK).To(Equal(ok))
			Expect(f.Note).To(ContainSubstring(note))
		},
		Entry("1% short", 4.95e6, 5.5e6, true, ""),
		Entry("4% short", 4.8e6, 5.5e6, false, ""),
		Entry("3% above", 5.15e6, 5.5e6, false, ""),
		Entry("sender-bound, below the rate", 3.9e6, 4e6, true, "sender-bound"),
		Entry("sender-bound, yet above the rate", 5.2e6, 4e6, false, "sender-bound"),
	)

	DescribeTable("judges TCP goodput against the rate less headers",
		func(got float64, queued int, ok bool) {
			// 5 Mbit/s x 1448/1500 = 4.8267 Mbit/s; -5% is 4.5853.
			f := tcpFigure(5e6, 1500, got, 100, int64(queued))
			Expect(f.Configured).To(BeNumerically("~", 4.82667, 1e-5))
			Expect(f.OK).To(Equal(ok))
		},
		Entry("3% short, link-bound", 4.7e6, 90, true),
		Entry("17% short, link-bound", 4.0e6, 90, false),
		Entry("17% short, queue mostly empty: TCP-bound", 4.0e6, 10, true),
		Entry("4% above", 5.02e6, 10, false),
	)

	It("judges a trace replay by its capacity, seconds 1 to the last whole one", func() {
		tr, err := netem.ParseTrace("1ms", strings.NewReader("1\n"))
		Expect(err).NotTo(HaveOccurred())
		// One 1504-byte opportunity a millisecond: 1,504,000 bytes a second.
		bins := []int64{0, 1_504_000, 1_504_000, 1_504_000, 10}
		points, f := traceFigure(tr, bins)
		Expect(points).To(HaveLen(3))
		Expect(points[0]).To(Equal(TracePoint{Second: 1, CapacityBits: 12_032_000, MeasuredBits: 12_032_000}))
		Expect(f.Configured).To(BeNumerically("~", 12.032, 1e-9))
		Expect(f.OK).To(BeTrue())

		bins = []int64{0, 1_504_000, 1_504_000, 1_504_000 * 84 / 100, 10} // 5.3% short overall
		_, f = traceFigure(tr, bins)
		Expect(f.OK).To(BeFalse())
		bins = []int64{0, 1_504_000, 1_504_000, 1_504_000 * 88 / 100, 10} // 4% short
		_, f = traceFigure(tr, bins)
		Expect(f.OK).To(BeTrue())
	})
})
