package netem_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type delivered struct {
	id   int
	sent time.Time
	at   time.Time
	size int
}

// sim offers n packets of size bytes, one every gap, and drains the model
// exactly at each of its event times until horizon after the last send.
type sim struct {
	m       *netem.Model
	sent    map[int]time.Time
	out     []delivered
	dropped map[string]int
}

func newSim(cfg netem.LinkConfig, seed int64) *sim {
	m, err := netem.NewModel(cfg, seed, t0)
	Expect(err).NotTo(HaveOccurred())
	return &sim{m: m, sent: map[int]time.Time{}, dropped: map[string]int{}}
}

func (s *sim) drainUntil(limit time.Time) {
	var buf []*netem.Packet
	for {
		t, ok := s.m.Next()
		if !ok || t.After(limit) {
			return
		}
		buf = s.m.Deliver(t, buf[:0])
		for _, p := range buf {
			id := int(binary.BigEndian.Uint64(p.Data()))
			s.out = append(s.out, delivered{id: id, sent: s.sent[id], at: t, size: p.N})
		}
	}
}

func (s *sim) send(at time.Time, id, size int) {
	s.drainUntil(at)
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(id))
	s.sent[id] = at
	if ok, reason := s.m.Send(at, &netem.Packet{Buf: b, N: size}); !ok {
		s.dropped[reason]++
	}
}

func (s *sim) run(n, size int, gap, horizon time.Duration) *sim {
	for i := 0; i < n; i++ {
		s.send(t0.Add(time.Duration(i)*gap), i, size)
	}
	s.drainUntil(t0.Add(time.Duration(n)*gap + horizon))
	return s
}

func (s *sim) delays() []float64 {
	// In sending order, so correlations are between successive packets.
	d := make([]float64, len(s.sent))
	for _, o := range s.out {
		d[o.id] = float64(o.at.Sub(o.sent))
	}
	return d
}

func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)-1))
}

func lag1(x []float64) float64 {
	m, s := meanStd(x)
	var c float64
	for i := 1; i < len(x); i++ {
		c += (x[i] - m) * (x[i-1] - m)
	}
	return c / float64(len(x)-1) / (s * s)
}

func inversions(out []delivered) int {
	n := 0
	for i := 1; i < len(out); i++ {
		if out[i].id < out[i-1].id {
			n++
		}
	}
	return n
}

var _ = Describe("Model", func() {
	It("passes packets unchanged and in order through a perfect link", func() {
		s := newSim(netem.LinkConfig{}, 1).run(1000, 100, time.Millisecond, time.Second)
		Expect(s.out).To(HaveLen(1000))
		Expect(inversions(s.out)).To(BeZero())
		for _, o := range s.out {
			Expect(o.at).To(Equal(o.sent))
		}
	})

	It("adds a constant delay exactly", func() {
		s := newSim(netem.LinkConfig{Delay: 42 * time.Millisecond}, 1).run(100, 100, time.Millisecond, time.Second)
		Expect(s.out).To(HaveLen(100))
		for _, o := range s.out {
			Expect(o.at.Sub(o.sent)).To(Equal(42 * time.Millisecond))
		}
	})

	DescribeTable("draws delays with the configured mean and standard deviation",
		func(dist netem.Distribution, corr float64, stdTol float64) {
			cfg := netem.LinkConfig{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Distribution: dist, DelayCorrelation: corr}
			s := newSim(cfg, 7).run(100000, 100, time.Millisecond, time.Second)
			Expect(s.out).To(HaveLen(100000))
			mean, std := meanStd(s.delays())
			Expect(mean).To(BeNumerically("~", float64(100*time.Millisecond), float64(300*time.Microsecond)))
			Expect(std).To(BeNumerically("~", float64(10*time.Millisecond), stdTol*float64(10*time.Millisecond)))
			if corr > 0 {
				// Correlation of the latent normal; the marginal transform
				// keeps it close for these shapes.
				Expect(lag1(s.delays())).To(BeNumerically("~", corr/100, 0.08))
			} else {
				Expect(lag1(s.delays())).To(BeNumerically("~", 0, 0.02))
			}
		},
		Entry("normal", netem.DistNormal, 0.0, 0.03),
		Entry("uniform", netem.DistUniform, 0.0, 0.03),
		Entry("pareto", netem.DistPareto, 0.0, 0.10),
		Entry("paretonormal", netem.DistParetoNormal, 0.0, 0.06),
		Entry("normal, 50% correlated", netem.DistNormal, 50.0, 0.05),
		Entry("uniform, 75% correlated", netem.DistUniform, 75.0, 0.08),
	)

	It("reorders with jitter unless KeepOrder is set", func() {
		cfg := netem.LinkConfig{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}
		Expect(inversions(newSim(cfg, 3).run(5000, 100, time.Millisecond, time.Second).out)).To(BeNumerically(">", 100))
		cfg.KeepOrder = true
		s := newSim(cfg, 3).run(5000, 100, time.Millisecond, time.Second)
		Expect(s.out).To(HaveLen(5000))
		Expect(inversions(s.out)).To(BeZero())
	})

	It("reorders the configured share of packets, honouring the gap", func() {
		cfg := netem.LinkConfig{Delay: 10 * time.Millisecond, Reorder: netem.Reorder{Percent: 25}}
		s := newSim(cfg, 5).run(40000, 100, time.Millisecond, time.Second)
		early := 0
		for _, o := range s.out {
			if o.at.Equal(o.sent) {
				early++
			}
		}
		Expect(float64(early) / 40000).To(BeNumerically("~", 0.25, 0.01))

		cfg.Reorder = netem.Reorder{Percent: 100, Gap: 5}
		s = newSim(cfg, 5).run(1000, 100, time.Millisecond, time.Second)
		for _, o := range s.out {
			Expect(o.at.Equal(o.sent)).To(Equal(o.id%5 == 4), "packet %d", o.id)
		}
	})

	DescribeTable("loses packets at the configured rate (99% binomial interval over 200,000 packets)",
		func(pct, corr float64) {
			const n = 200000
			s := newSim(netem.LinkConfig{Loss: netem.Loss{Percent: pct, Correlation: corr}}, 11).run(n, 64, time.Millisecond, 0)
			p := pct / 100
			half := 2.576 * math.Sqrt(p*(1-p)/n)
			if corr > 0 {
				// Correlated draws: the variance of the mean grows by
				// (1+rho)/(1-rho).
				rho := corr / 100
				half *= math.Sqrt((1 + rho) / (1 - rho))
			}
			Expect(float64(s.dropped[netem.ReasonLoss]) / n).To(BeNumerically("~", p, half))
			Expect(s.m.Stats().Drops[netem.ReasonLoss]).To(BeEquivalentTo(s.dropped[netem.ReasonLoss]))
			Expect(s.out).To(HaveLen(n - s.dropped[netem.ReasonLoss]))
			if corr > 0 {
				// P(loss | previous lost) = p + rho(1-p).
				lost := make([]bool, n)
				for i := range lost {
					lost[i] = true
				}
				for _, o := range s.out {
					lost[o.id] = false
				}
				both, prev := 0, 0
				for i := 1; i < n; i++ {
					if lost[i-1] {
						prev++
						if lost[i] {
							both++
						}
					}
				}
				rho := corr / 100
				Expect(float64(both) / float64(prev)).To(BeNumerically("~", p+rho*(1-p), 0.02))
			}
		},
		Entry("1%", 1.0, 0.0),
		Entry("10%", 10.0, 0.0),
		Entry("5%, 50% correlated", 5.0, 50.0),
	)

	It("makes Gilbert-Elliott loss bursts of the configured mean length", func() {
		const n = 300000
		cfg := netem.LinkConfig{Loss: netem.Loss{Model: netem.LossGilbertElliot, P: 1, R: 25, LossBad: 100}}
		s := newSim(cfg, 13).run(n, 64, time.Millisecond, 0)
		bursts, lostN := burstStats(s, n)
		Expect(float64(lostN) / float64(bursts)).To(BeNumerically("~", 4.0, 0.4))
		// Stationary loss: p/(p+r) = 1/26.
		Expect(float64(lostN) / n).To(BeNumerically("~", 1.0/26, 0.004))
	})

	It("follows the 4-state Markov loss model's stationary loss rate", func() {
		const n = 300000
		l := netem.Loss{Model: netem.LossFourState, P13: 2, P31: 30, P32: 10, P23: 20, P14: 1}
		s := newSim(netem.LinkConfig{Loss: l}, 17).run(n, 64, time.Millisecond, 0)
		// Stationary distribution by power iteration.
		P := [4][4]float64{
			{1 - .02 - .01, 0, .02, .01},
			{0, 1 - .20, .20, 0},
			{.30, .10, 1 - .40, 0},
			{1, 0, 0, 0},
		}
		pi := [4]float64{1, 0, 0, 0}
		for k := 0; k < 10000; k++ {
			var nx [4]float64
			for i := range 4 {
				for j := range 4 {
					nx[j] += pi[i] * P[i][j]
				}
			}
			pi = nx
		}
		Expect(float64(s.dropped[netem.ReasonLoss]) / n).To(BeNumerically("~", pi[2]+pi[3], 0.01))
	})

	It("duplicates and corrupts the configured share", func() {
		const n = 50000
		s := newSim(netem.LinkConfig{Duplicate: 10, Corrupt: 5}, 19).run(n, 64, time.Millisecond, 0)
		Expect(float64(len(s.out)-n) / n).To(BeNumerically("~", 0.10, 0.01))
		st := s.m.Stats()
		Expect(st.Duplicated).To(BeEquivalentTo(len(s.out) - n))
		Expect(float64(st.Corrupted) / n).To(BeNumerically("~", 0.05, 0.01))
	})

	It("tells the delay line's next delivery apart from the queue's service times", func() {
		// 1 Mbit/s with a one-packet burst: the second 1250-byte packet
		// waits 10 ms in the queue, then 5 ms in the delay line.
		m, err := netem.NewModel(netem.LinkConfig{Delay: 5 * time.Millisecond, RateBits: 1_000_000, BurstBytes: 1250}, 1, t0)
		Expect(err).NotTo(HaveOccurred())
		_, ok := m.NextDelivery()
		Expect(ok).To(BeFalse())
		for range 2 {
			sent, _ := m.Send(t0, &netem.Packet{Buf: make([]byte, 1250), N: 1250})
			Expect(sent).To(BeTrue())
		}
		next, _ := m.Next()
		nd, ok := m.NextDelivery()
		Expect(ok).To(BeTrue())
		Expect(nd).To(Equal(t0.Add(5 * time.Millisecond)))
		Expect(next).To(Equal(nd)) // the queue's service (at 10 ms) is later
		Expect(m.Deliver(nd, nil)).To(HaveLen(1))
		next, _ = m.Next()
		Expect(next).To(Equal(t0.Add(10 * time.Millisecond)))
		_, ok = m.NextDelivery()
		Expect(ok).To(BeFalse()) // only a service time is pending
	})

	It("flips exactly one bit of a corrupted packet", func() {
		m, err := netem.NewModel(netem.LinkConfig{Corrupt: 100}, 1, t0)
		Expect(err).NotTo(HaveOccurred())
		orig := []byte(strings.Repeat("\x00", 64))
		p := &netem.Packet{Buf: append([]byte(nil), orig...), N: 64}
		ok, _ := m.Send(t0, p)
		Expect(ok).To(BeTrue())
		bits := 0
		for i := range p.Data() {
			for b := p.Data()[i]; b != 0; b &= b - 1 {
				bits++
			}
		}
		Expect(bits).To(Equal(1))
	})

	It("partitions and heals", func() {
		s := newSim(netem.LinkConfig{Partition: true}, 1)
		s.send(t0, 0, 100)
		Expect(s.dropped[netem.ReasonPartition]).To(Equal(1))
		Expect(s.m.Update(t0.Add(time.Second), netem.LinkConfig{})).To(Succeed())
		s.send(t0.Add(time.Second), 1, 100)
		s.drainUntil(t0.Add(2 * time.Second))
		Expect(s.out).To(HaveLen(1))
	})

	It("shapes to the token-bucket rate and never above it", func() {
		const rate = 10_000_000
		cfg := netem.LinkConfig{RateBits: rate, QueuePackets: 100}
		// Offer 20 Mbit/s of 1250-byte packets for 10 s.
		s := newSim(cfg, 1).run(20000, 1250, 500*time.Microsecond, time.Second)
		var bytes int
		for _, o := range s.out {
			bytes += o.size
		}
		got := float64(bytes*8) / s.out[len(s.out)-1].at.Sub(t0).Seconds()
		Expect(got).To(BeNumerically("~", rate, rate*0.01))
		// Over any 100 ms window, never more than rate + burst.
		win := 100 * time.Millisecond
		j := 0
		sum := 0
		for i := range s.out {
			sum += s.out[i].size
			for s.out[i].at.Sub(s.out[j].at) >= win {
				sum -= s.out[j].size
				j++
			}
			Expect(float64(sum)).To(BeNumerically("<=", rate/8*win.Seconds()+2*1514+1250))
		}
		Expect(s.dropped[netem.ReasonQueue]).To(BeNumerically("~", 10000, 200))
		Expect(s.m.Stats().QueuePackets).To(BeZero())
	})

	It("bounds the queue in bytes with droptail and drophead", func() {
		cfg := netem.LinkConfig{RateBits: 1_000_000, QueueBytes: 10000, BurstBytes: 1000}
		s := newSim(cfg, 1)
		for i := range 20 {
			s.send(t0, i, 1000)
		}
		Expect(s.m.Stats().QueueBytes).To(Equal(10000))
		s.drainUntil(t0.Add(time.Minute))
		Expect(s.out[0].id).To(Equal(0))
		Expect(s.out[len(s.out)-1].id).To(Equal(10))

		cfg.Queue = netem.DropHead
		s = newSim(cfg, 1)
		for i := range 20 {
			s.send(t0, i, 1000)
		}
		s.drainUntil(t0.Add(time.Minute))
		Expect(s.m.Stats().Drops[netem.ReasonQueue]).To(BeEquivalentTo(9))
		Expect(s.out[len(s.out)-1].id).To(Equal(19))
		// Spacing: 1000 bytes at 1 Mbit/s = 8 ms each.
		Expect(s.out[2].at.Sub(s.out[1].at)).To(Equal(8 * time.Millisecond))
	})

	It("ramps the delay linearly", func() {
		s := newSim(netem.LinkConfig{Delay: 10 * time.Millisecond}, 1)
		Expect(s.m.Ramp(t0, netem.LinkConfig{Delay: 110 * time.Millisecond}, 10*time.Second)).To(Succeed())
		s.run(20000, 100, time.Millisecond, time.Second)
		byID := map[int]time.Duration{}
		for _, o := range s.out {
			byID[o.id] = o.at.Sub(o.sent)
		}
		Expect(byID[0]).To(Equal(10 * time.Millisecond))
		Expect(byID[5000]).To(BeNumerically("~", 60*time.Millisecond, 100*time.Microsecond))
		Expect(byID[15000]).To(Equal(110 * time.Millisecond))
		Expect(s.m.Config(t0.Add(time.Minute)).Delay).To(Equal(110 * time.Millisecond))
	})

	It("is deterministic for a seed", func() {
		cfg := netem.LinkConfig{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: netem.Loss{Percent: 3}}
		a := newSim(cfg, 99).run(3000, 100, time.Millisecond, time.Second).out
		b := newSim(cfg, 99).run(3000, 100, time.Millisecond, time.Second).out
		c := newSim(cfg, 100).run(3000, 100, time.Millisecond, time.Second).out
		Expect(a).To(Equal(b))
		Expect(a).NotTo(Equal(c))
	})

	DescribeTable("rejects bad configs with one clear error",
		func(cfg netem.LinkConfig, field string) {
			_, err := netem.NewModel(cfg, 1, t0)
			Expect(err).To(MatchError(netem.ErrInvalidConfig))
			var ce *netem.ConfigError
			Expect(errors.As(err, &ce)).To(BeTrue())
			Expect(ce.Field).To(Equal(field))
		},
		Entry("loss above 100%", netem.LinkConfig{Loss: netem.Loss{Percent: 150}}, "Loss.Percent"),
		Entry("negative delay", netem.LinkConfig{Delay: -time.Millisecond}, "Delay"),
		Entry("negative jitter", netem.LinkConfig{Jitter: -time.Millisecond}, "Jitter"),
		Entry("negative rate", netem.LinkConfig{RateBits: -5}, "RateBits"),
		Entry("unknown distribution", netem.LinkConfig{Distribution: "gauss"}, "Distribution"),
		Entry("unknown queue", netem.LinkConfig{Queue: "red"}, "Queue"),
		Entry("negative duplicate", netem.LinkConfig{Duplicate: -1}, "Duplicate"),
	)

	It("rejects a zero rate where one was given", func() {
		Expect(netem.ValidateRate(0)).To(MatchError(ContainSubstring("greater than zero")))
	})
})

func burstStats(s *sim, n int) (bursts, lost int) {
	got := make([]bool, n)
	for _, o := range s.out {
		got[o.id] = true
	}
	in := false
	for i := range n {
		if !got[i] {
			lost++
			if !in {
				bursts++
			}
		}
		in = !got[i]
	}
	return bursts, lost
}
