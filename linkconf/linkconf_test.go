package linkconf_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
)

var _ = Describe("Netem", func() {
	It("carries every field of a direction over, with netem's normal jitter by default", func() {
		d := scenarios.Direction{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, DelayCorrelation: 25,
			Loss:      scenarios.Loss{Model: scenarios.LossBernoulli, Percent: 1.5, Correlation: 10},
			Reorder:   scenarios.Reorder{Percent: 2, Correlation: 5, Gap: 3},
			Duplicate: scenarios.Probability{Percent: 0.5, Correlation: 1}, Corrupt: scenarios.Probability{Percent: 0.1},
			Rate: 8e6, Burst: 32000, Queue: scenarios.QueueLimit{Packets: 50}, QueueDiscipline: scenarios.DropHead, KeepOrder: true}
		c, err := linkconf.Netem(d)
		Expect(err).NotTo(HaveOccurred())
		Expect(c).To(Equal(netem.LinkConfig{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, DelayCorrelation: 25,
			Distribution: netem.DistNormal, Loss: netem.Loss{Model: netem.LossBernoulli, Percent: 1.5, Correlation: 10},
			Reorder: netem.Reorder{Percent: 2, Correlation: 5, Gap: 3}, Duplicate: 0.5, DuplicateCorrelation: 1, Corrupt: 0.1,
			RateBits: 8e6, BurstBytes: 32000, QueuePackets: 50, Queue: netem.DropHead, KeepOrder: true}))
	})

	It("turns Gilbert-Elliott delivery probabilities into netem's loss probabilities", func() {
		c, err := linkconf.Netem(scenarios.Direction{Loss: scenarios.Loss{Model: scenarios.LossGilbertElliott,
			GilbertElliott: scenarios.GilbertElliott{P: 1, R: 30, H: 20, K: 99}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Loss).To(Equal(netem.Loss{Model: netem.LossGilbertElliot, P: 1, R: 30, LossBad: 80, LossGood: 1}))
	})

	It("translates every built-in profile into a valid config", func() {
		for _, name := range scenarios.ProfileNames() {
			spec, _ := scenarios.Profile(name)
			for _, d := range []scenarios.Direction{spec.Up, spec.Down} {
				_, err := linkconf.Netem(d)
				Expect(err).NotTo(HaveOccurred(), name)
			}
		}
	})

	It("names an unknown loss model and a missing trace file", func() {
		_, err := linkconf.Netem(scenarios.Direction{Loss: scenarios.Loss{Model: "weird"}})
		Expect(err).To(MatchError(ContainSubstring(`loss model "weird"`)))
		missing := filepath.Join(GinkgoT().TempDir(), "none.trace")
		_, err = linkconf.Netem(scenarios.Direction{Trace: missing})
		Expect(err).To(MatchError(ContainSubstring("none.trace")))
	})
})
