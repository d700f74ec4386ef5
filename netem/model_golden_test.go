package netem_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

// modelGoldenUpdate, set to 1, rewrites testdata/model-golden.json instead
// of comparing with it. Only for a change meant to change what a link does.
const modelGoldenUpdate = "NETEM_GOLDEN_UPDATE"

// goldenRun drives one model through a fixed workload (irregular sends of
// varying sizes, a partition, a ramp, a reconfiguration) draining it at
// each of its event times, and hashes every delivery (packet, time, bytes)
// and the final totals.
func goldenRun(cfg netem.LinkConfig) string {
	m, err := netem.NewModel(cfg, 42, t0)
	Expect(err).NotTo(HaveOccurred())
	h := sha256.New()
	var buf []*netem.Packet
	drain := func(limit time.Time) {
		for {
			t, ok := m.Next()
			if !ok || t.After(limit) {
				return
			}
			buf = m.Deliver(t, buf[:0])
			for _, p := range buf {
				fmt.Fprintf(h, "%d %d %x\n", t.UnixNano(), p.Due().UnixNano(), p.Data())
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	for i := range 6000 {
		now = now.Add(time.Duration(r.ExpFloat64() * float64(300*time.Microsecond)))
		drain(now)
		switch i {
		case 1500:
			p := cfg
			p.Partition = true
			Expect(m.Update(now, p)).To(Succeed())
		case 1700:
			Expect(m.Update(now, cfg)).To(Succeed())
		case 3000:
			to := cfg
			to.Delay += 7 * time.Millisecond
			to.Jitter += time.Millisecond
			to.Loss.Percent = min(to.Loss.Percent+1, 100)
			if to.RateBits > 0 {
				to.RateBits /= 2
			}
			Expect(m.Ramp(now, to, 400*time.Millisecond)).To(Succeed())
		}
		n := 40 + r.IntN(1400)
		b := make([]byte, n)
		binary.BigEndian.PutUint64(b, uint64(i))
		ok, reason := m.Send(now, &netem.Packet{Buf: b, N: n})
		fmt.Fprintf(h, "send %d %v %s\n", i, ok, reason)
	}
	drain(now.Add(time.Minute))
	st := m.Stats()
	fmt.Fprintf(h, "%+v\n", st)
	return hex.EncodeToString(h.Sum(nil))
}

var _ = Describe("Model's output", func() {
	// Speed-ups of the model must not move a packet: every case must give
	// the deliveries recorded in testdata/model-golden.json (written by the
	// code before them).
	It("stays the one recorded for a fixed workload, for every feature", func() {
		tr, err := netem.LoadTrace(filepath.Join("testdata", "verizon-up-head.trace"))
		Expect(err).NotTo(HaveOccurred())
		base := netem.LinkConfig{Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond}
		with := func(f func(*netem.LinkConfig)) netem.LinkConfig { c := base; f(&c); return c }
		cases := map[string]netem.LinkConfig{
			"perfect": {},
			"delay":   {Delay: 3 * time.Millisecond},
			"normal":  base,
			"uniform-corr": with(func(c *netem.LinkConfig) {
				c.Distribution, c.DelayCorrelation = netem.DistUniform, 30
			}),
			"pareto":       with(func(c *netem.LinkConfig) { c.Distribution = netem.DistPareto }),
			"paretonormal": with(func(c *netem.LinkConfig) { c.Distribution, c.DelayCorrelation = netem.DistParetoNormal, 20 }),
			"keeporder":    with(func(c *netem.LinkConfig) { c.KeepOrder = true }),
			"impairments": with(func(c *netem.LinkConfig) {
				c.Loss = netem.Loss{Percent: 3, Correlation: 25}
				c.Duplicate, c.DuplicateCorrelation, c.Corrupt, c.CorruptCorrelation = 2, 10, 2, 10
				c.Reorder = netem.Reorder{Percent: 5, Correlation: 10, Gap: 3}
			}),
			"gilbert-elliott": with(func(c *netem.LinkConfig) {
				c.Loss = netem.Loss{Model: netem.LossGilbertElliot, P: 1, R: 20, LossBad: 60, LossGood: 0.5}
			}),
			"4-state": with(func(c *netem.LinkConfig) {
				c.Loss = netem.Loss{Model: netem.LossFourState, P13: 1, P31: 30, P32: 5, P23: 10, P14: 0.5}
			}),
			"rate":          with(func(c *netem.LinkConfig) { c.RateBits, c.Duplicate = 20e6, 1 }),
			"rate-drophead": with(func(c *netem.LinkConfig) { c.RateBits, c.QueuePackets, c.Queue = 15e6, 40, netem.DropHead }),
			"rate-bytes":    with(func(c *netem.LinkConfig) { c.RateBits, c.QueueBytes, c.BurstBytes = 12e6, 30000, 5000 }),
			"trace":         with(func(c *netem.LinkConfig) { c.Trace = tr }),
			"trace-once":    with(func(c *netem.LinkConfig) { c.Trace, c.TraceOnce, c.QueuePackets = tr, true, 200 }),
		}
		got := map[string]string{}
		for name, cfg := range cases {
			got[name] = goldenRun(cfg)
		}
		path := filepath.Join("testdata", "model-golden.json")
		if os.Getenv(modelGoldenUpdate) == "1" {
			b, err := json.MarshalIndent(got, "", "  ")
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(path, append(b, '\n'), 0o644)).To(Succeed())
			Skip("rewrote " + path)
		}
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred(), "no golden file: record it with %s=1 on code whose output is right", modelGoldenUpdate)
		var want map[string]string
		Expect(json.Unmarshal(b, &want)).To(Succeed())
		Expect(got).To(Equal(want))
	})
})

// arrival is a packet's content and when it arrives.
type arrival struct {
	due  time.Time
	data string
}

// expectHandedBackAsHeld checks that got, what a model made
// WithoutDelayLine handed back, is what the same model with a delay line
// delivers when (held is drained here), and that both counted the same
// apart from the deliveries the caller counts.
func expectHandedBackAsHeld(held, back *netem.Model, got []arrival) {
	GinkgoHelper()
	var want []arrival
	var out []*netem.Packet
	for t, ok := held.Next(); ok; t, ok = held.Next() {
		out = held.Deliver(t, out[:0])
		for _, q := range out {
			want = append(want, arrival{t, string(q.Data())})
		}
	}
	slices.SortStableFunc(got, func(a, b arrival) int { return a.due.Compare(b.due) })
	Expect(got).To(Equal(want))
	hs, bs := held.Stats(), back.Stats()
	Expect(bs.Packets).To(BeZero())
	hs.Packets, hs.Bytes = 0, 0
	Expect(bs).To(Equal(hs))
}

var _ = Describe("A model without a delay line", func() {
	It("hands back each packet with the delivery time the delay line gives it", func() {
		cfg := netem.LinkConfig{Delay: 5 * time.Millisecond, Jitter: 3 * time.Millisecond, Loss: netem.Loss{Percent: 2},
			Duplicate: 3, Corrupt: 1, Reorder: netem.Reorder{Percent: 4}, DelayCorrelation: 20}
		var dups []*netem.Packet
		clone := func(p *netem.Packet) *netem.Packet {
			q := &netem.Packet{Buf: append([]byte(nil), p.Data()...), N: p.N}
			dups = append(dups, q)
			return q
		}
		held, err := netem.NewModel(cfg, 9, t0)
		Expect(err).NotTo(HaveOccurred())
		back, err := netem.NewModel(cfg, 9, t0, netem.WithoutDelayLine(), netem.WithPacketClone(clone))
		Expect(err).NotTo(HaveOccurred())
		var got []arrival
		now := t0
		for i := range 3000 {
			now = now.Add(400 * time.Microsecond)
			b := make([]byte, 200)
			binary.BigEndian.PutUint64(b, uint64(i))
			okH, _ := held.Send(now, &netem.Packet{Buf: append([]byte(nil), b...), N: len(b)})
			p := &netem.Packet{Buf: b, N: len(b)}
			dups = dups[:0]
			okB, _ := back.Send(now, p)
			Expect(okB).To(Equal(okH))
			if okB {
				for _, q := range append([]*netem.Packet{p}, dups...) {
					got = append(got, arrival{q.Due(), string(q.Data())})
				}
			}
			Expect(back.Deliver(now, nil)).To(BeEmpty())
		}
		Expect(len(got)).To(BeNumerically(">", 2900))
		expectHandedBackAsHeld(held, back, got)
	})

	It("hands back each packet of a rate-limited link when it leaves the queue, with the delivery time the delay line gives it", func() {
		for _, cfg := range []netem.LinkConfig{
			{Delay: 15 * time.Millisecond, RateBits: 9e6, QueuePackets: 60, Loss: netem.Loss{Percent: 2}, Duplicate: 3, Corrupt: 1},
			{Delay: 5 * time.Millisecond, Jitter: 3 * time.Millisecond, RateBits: 9e6, Reorder: netem.Reorder{Percent: 4}, Duplicate: 3},
		} {
			held, err := netem.NewModel(cfg, 9, t0)
			Expect(err).NotTo(HaveOccurred())
			back, err := netem.NewModel(cfg, 9, t0, netem.WithoutDelayLine())
			Expect(err).NotTo(HaveOccurred())
			var got []arrival
			take := func(now time.Time) {
				for _, q := range back.Deliver(now, nil) {
					got = append(got, arrival{q.Due(), string(q.Data())})
				}
			}
			now := t0
			for i := range 3000 {
				now = now.Add(time.Duration(100+i%7*100) * time.Microsecond) // bursts past the rate
				b := make([]byte, 200+i%5*100)
				binary.BigEndian.PutUint64(b, uint64(i))
				okH, _ := held.Send(now, &netem.Packet{Buf: append([]byte(nil), b...), N: len(b)})
				okB, _ := back.Send(now, &netem.Packet{Buf: b, N: len(b)})
				Expect(okB).To(Equal(okH))
				if i%10 == 0 {
					take(now)
				}
			}
			for {
				t, ok := back.Next()
				if !ok {
					break
				}
				take(t)
			}
			Expect(len(got)).To(BeNumerically(">", 2500))
			expectHandedBackAsHeld(held, back, got)
		}
	})

	It("keeps whether the link has a bottleneck queue, since when it hands packets back depends on it", func() {
		m, err := netem.NewModel(netem.LinkConfig{}, 1, t0, netem.WithoutDelayLine())
		Expect(err).NotTo(HaveOccurred())
		Expect(m.Update(t0, netem.LinkConfig{RateBits: 1e6})).To(MatchError(ContainSubstring("WithoutDelayLine")))
		r, err := netem.NewModel(netem.LinkConfig{RateBits: 1e6}, 1, t0, netem.WithoutDelayLine())
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Update(t0, netem.LinkConfig{})).To(MatchError(netem.ErrInvalidConfig))
		Expect(r.Update(t0, netem.LinkConfig{RateBits: 2e6, Delay: time.Millisecond})).To(Succeed())
	})
})

var _ = Describe("Waking a model only for its deliveries", func() {
	It("delivers the same packets at the same times as waking it for every departure", func() {
		for _, cfg := range []netem.LinkConfig{
			{Delay: 15 * time.Millisecond, RateBits: 9e6, QueuePackets: 60, Loss: netem.Loss{Percent: 2}, Duplicate: 3},
			{Delay: 5 * time.Millisecond, Jitter: 3 * time.Millisecond, RateBits: 9e6, Duplicate: 3},
			{Delay: 8 * time.Millisecond, RateBits: 9e6, Reorder: netem.Reorder{Percent: 5}},
		} {
			type delivery struct {
				at   time.Duration
				data string
			}
			// drive sends packets at fixed instants and, between them,
			// wakes the model when next tells it to.
			drive := func(next func(*netem.Model) (time.Duration, bool)) (out []delivery, wakes int) {
				m, err := netem.NewModel(cfg, 5, t0)
				Expect(err).NotTo(HaveOccurred())
				var buf []*netem.Packet
				deliver := func(at time.Duration) {
					wakes++
					for _, q := range m.DeliverSinceStart(at, buf[:0]) {
						Expect(q.DueSinceStart()).To(Equal(at), "delivered late")
						out = append(out, delivery{at, string(q.Data())})
					}
				}
				at := time.Duration(0)
				for i := range 2000 {
					send := at + time.Duration(100+i%7*100)*time.Microsecond
					for t, ok := next(m); ok && t < send; t, ok = next(m) {
						deliver(t)
					}
					at = send
					b := make([]byte, 200+i%5*100)
					binary.BigEndian.PutUint64(b, uint64(i))
					m.SendSinceStart(at, &netem.Packet{Buf: b, N: len(b)})
				}
				for t, ok := next(m); ok; t, ok = next(m) {
					deliver(t)
				}
				return out, wakes
			}
			every, wakesEvery := drive((*netem.Model).NextSinceStart)
			bound, wakesBound := drive((*netem.Model).NextDeliveryBoundSinceStart)
			Expect(len(every)).To(BeNumerically(">", 1500))
			Expect(bound).To(Equal(every))
			if cfg.Jitter == 0 && cfg.Reorder.Percent == 0 {
				Expect(wakesBound).To(BeNumerically("<", wakesEvery*3/4), "a fixed delay spares the departures' wake-ups")
			}
		}
	})
})
