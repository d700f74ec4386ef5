package netem_test

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

func mustTrace(s string) *netem.Trace {
	t, err := netem.ParseTrace("t", strings.NewReader(s))
	Expect(err).NotTo(HaveOccurred())
	return t
}

var _ = Describe("Mahimahi traces", func() {
	DescribeTable("reject malformed files with file and line",
		func(body, want string) {
			_, err := netem.ParseTrace("bad.trace", strings.NewReader(body))
			Expect(err).To(MatchError(netem.ErrBadTrace))
			Expect(err.Error()).To(HavePrefix(want))
		},
		Entry("non-numeric line", "1\n2\nabc\n", "bad.trace:3: "),
		Entry("negative", "1\n-2\n", "bad.trace:2: "),
		Entry("decreasing timestamps", "1\n5\n4\n", "bad.trace:3: "),
		Entry("empty file", "", "bad.trace:0: "),
		Entry("empty line", "1\n\n2\n", "bad.trace:2: "),
		Entry("last value 0", "0\n0\n", "bad.trace:2: "),
		Entry("absurdly large", "1\n99999999999999999\n", "bad.trace:2: "),
	)

	It("names the line and the problem but never quotes the file's content", func() {
		for _, body := range []string{"root:$6$secret-hash:19000\n", "12345678901234\n", "99999999999999999\n", "20\n10\n"} {
			_, err := netem.ParseTrace("/etc/shadow", strings.NewReader(body))
			Expect(err).To(MatchError(netem.ErrBadTrace))
			Expect(err).To(MatchError(MatchRegexp(`^/etc/shadow:\d+: `)))
			for _, field := range strings.Fields(strings.ReplaceAll(body, "\n", " ")) {
				Expect(err.Error()).NotTo(ContainSubstring(field), "quotes %q", field)
			}
		}
	})

	It("loads a file and names it in errors", func() {
		dir := GinkgoT().TempDir()
		p := filepath.Join(dir, "x.trace")
		Expect(os.WriteFile(p, []byte("3\nx\n"), 0o600)).To(Succeed())
		_, err := netem.LoadTrace(p)
		Expect(err).To(MatchError(HavePrefix(p + ":2: ")))
		t, err := netem.LoadTrace("testdata/verizon-up-head.trace")
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Ms).To(HaveLen(2000))
	})

	It("computes the capacity of a window, wrapping around", func() {
		t := mustTrace("1\n")
		Expect(t.MeanRateBits()).To(BeNumerically("~", 12.032e6, 1))
		Expect(t.CapacityBetween(0, time.Second)).To(BeEquivalentTo(999 * netem.TraceOpportunityBytes))
		Expect(t.CapacityBetween(0, time.Second+time.Microsecond)).To(BeEquivalentTo(1000 * netem.TraceOpportunityBytes))
		t = mustTrace("0\n2\n2\n4\n")
		// Opportunities at 0,2,2,4 | 6,6,8 | 10,10,12 ...
		Expect(t.CapacityBetween(0, 5*time.Millisecond)).To(BeEquivalentTo(4 * netem.TraceOpportunityBytes))
		Expect(t.CapacityBetween(0, 9*time.Millisecond)).To(BeEquivalentTo(7 * netem.TraceOpportunityBytes))
		Expect(t.CapacityBetween(5*time.Millisecond, 13*time.Millisecond)).To(BeEquivalentTo(6 * netem.TraceOpportunityBytes))
	})

	It("delivers one MTU per opportunity: a trace of \"1\" is 12 Mbit/s", func() {
		s := newSim(netem.LinkConfig{Trace: mustTrace("1\n"), QueuePackets: 10000}, 1)
		s.run(5000, 1504, 100*time.Microsecond, 10*time.Second) // 120 Mbit/s offered for 0.5 s
		Expect(s.out).To(HaveLen(5000))
		Expect(s.out[1].at.Sub(s.out[0].at)).To(Equal(time.Millisecond))
		Expect(s.out[len(s.out)-1].at.Sub(t0)).To(Equal(5000 * time.Millisecond))
	})

	It("lets small packets share an opportunity and large ones use several, without carry-over", func() {
		s := newSim(netem.LinkConfig{Trace: mustTrace("10\n")}, 1)
		// Three 500-byte packets share the opportunity at 10 ms.
		for i := range 3 {
			s.send(t0.Add(time.Millisecond), i, 500)
		}
		// A 3000-byte packet needs two opportunities (20 and 30 ms)... minus
		// the 4 bytes left over at 10 ms, which are lost.
		s.send(t0.Add(2*time.Millisecond), 3, 3000)
		s.drainUntil(t0.Add(time.Second))
		Expect(s.out).To(HaveLen(4))
		for i := range 3 {
			Expect(s.out[i].at).To(Equal(t0.Add(10 * time.Millisecond)))
		}
		// 4 bytes at 10, 1504 at 20, 1492 at 30.
		Expect(s.out[3].at).To(Equal(t0.Add(30 * time.Millisecond)))
		// No carry-over: a 100-byte packet after an idle period uses one
		// whole opportunity; the next packet waits for the next one.
		s.send(t0.Add(35*time.Millisecond), 4, 100)
		s.drainUntil(t0.Add(45 * time.Millisecond))
		s.send(t0.Add(45*time.Millisecond), 5, 100)
		s.drainUntil(t0.Add(time.Second))
		Expect(s.out[4].at).To(Equal(t0.Add(40 * time.Millisecond)))
		Expect(s.out[5].at).To(Equal(t0.Add(50 * time.Millisecond)))
	})

	It("stops delivering at the end of a once trace", func() {
		s := newSim(netem.LinkConfig{Trace: mustTrace("1\n2\n"), TraceOnce: true}, 1)
		for i := range 5 {
			s.send(t0, i, 1500)
		}
		s.drainUntil(t0.Add(time.Second))
		Expect(s.out).To(HaveLen(2))
		Expect(s.m.Stats().QueuePackets).To(Equal(3))
	})

	It("replays a recorded trace at its capacity when saturated", func() {
		tr, err := netem.LoadTrace("testdata/verizon-up-head.trace")
		Expect(err).NotTo(HaveOccurred())
		s := newSim(netem.LinkConfig{Trace: tr, QueuePackets: 100000}, 1)
		period := tr.Period()
		n := int(period / (200 * time.Microsecond))
		s.run(n, 1500, 200*time.Microsecond, 0)
		var bytes int64
		for _, o := range s.out {
			bytes += int64(o.size)
		}
		capacity := tr.CapacityBetween(0, period+time.Millisecond)
		// The bytes an opportunity leaves over go to the next packet, as in
		// mm-link, so the whole capacity is used.
		Expect(float64(bytes)).To(BeNumerically("~", float64(capacity), 1500))
	})
})
