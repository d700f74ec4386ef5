package netem_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

// sharedTracesEnv names the shared repository's checkout when it is not
// found beside this one.
const sharedTracesEnv = "EDGESIM_SHARED"

const sharedTracesRel = "testdata/mahimahi-traces"

// sharedTraceDir finds the shared repository's cellular traces. CI checks
// the shared repository out beside this one (../shared from the
// repository's root); a git worktree nested further down finds it beside
// an ancestor; EDGESIM_SHARED names the checkout outright.
func sharedTraceDir() (string, error) {
	if d := os.Getenv(sharedTracesEnv); d != "" {
		p := filepath.Join(d, sharedTracesRel)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s, but it holds no %s: %w", sharedTracesEnv, d, sharedTracesRel, err)
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "", fmt.Errorf("no go.mod above %s: run the spec inside the edgesim repository", wd)
		}
		root = parent
	}
	var looked []string
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", sharedTracesRel)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		looked = append(looked, p)
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("the shared cellular traces are missing (looked in %s): check the shared repository out as ../shared beside this one, or set %s to its path",
		strings.Join(looked, ", "), sharedTracesEnv)
}

// replaySaturated drives a pure model of tr on a virtual clock for one
// period with a saturating offered load: 1500-byte packets at 1.5 times
// the trace's busiest 50 ms, into a 1000-packet queue. It returns the
// bytes delivered up to and including the period's end, and the link's
// totals. Nothing in it depends on the machine's speed or load.
func replaySaturated(tr *netem.Trace) (int64, netem.DirStats) {
	const size = 1500
	period := tr.Period()
	peak := int64(0)
	for t := time.Duration(0); t < period; t += 50 * time.Millisecond {
		peak = max(peak, tr.CapacityBetween(t, t+50*time.Millisecond))
	}
	gap := time.Duration(float64(time.Second) * size / (1.5 * float64(peak) / 0.05))
	m, err := netem.NewModel(netem.LinkConfig{Trace: tr, QueuePackets: 1000}, 1, t0)
	Expect(err).NotTo(HaveOccurred())
	buf := make([]byte, size)
	var free, out []*netem.Packet
	var delivered int64
	drain := func(limit time.Time) {
		for {
			t, ok := m.Next()
			if !ok || t.After(limit) {
				return
			}
			out = m.Deliver(t, out[:0])
			for _, p := range out {
				delivered += int64(p.N)
			}
			free = append(free, out...)
		}
	}
	end := t0.Add(period)
	for at := t0; !at.After(end); at = at.Add(gap) {
		drain(at)
		var p *netem.Packet
		if n := len(free); n > 0 {
			p, free = free[n-1], free[:n-1]
		} else {
			p = &netem.Packet{Buf: buf}
		}
		p.N = size
		if ok, _ := m.Send(at, p); !ok {
			free = append(free, p)
		}
	}
	drain(end)
	return delivered, m.Stats()
}

// The shared cellular traces, counted by hand (wc -l; the last line is the
// period). A trace line is one 1500-byte packet (the traces' README), so
// the capacity is lines x 1500 x 8 / period. Verizon-LTE-short.up by hand:
// 69,367 lines, last timestamp 140,000 ms: 69,367 x 1500 x 8 = 832,404,000
// bits over 140 s = 5,945,743 bit/s = 5.946 Mbit/s. The engine serves
// 1504 bytes an opportunity (mm-link's TUN payload), 0.27% more; the
// packets here are 1500 bytes, so the bytes an opportunity leaves over go
// to the next packet.
var sharedTraces = []struct {
	file        string
	lines       int
	period      time.Duration
	capacityBps float64
}{
	{"Verizon-LTE-short.up", 69367, 140000 * time.Millisecond, 5_945_743},
	{"Verizon-LTE-short.down", 58655, 140000 * time.Millisecond, 5_027_571},
	{"TMobile-LTE-short.up", 155381, 140000 * time.Millisecond, 13_318_371},
	{"TMobile-LTE-short.down", 194846, 139986 * time.Millisecond, 16_702_756},
}

var _ = Describe("Throughput against the shared cellular traces' capacity", func() {
	var dir string
	BeforeEach(func() {
		var err error
		dir, err = sharedTraceDir()
		Expect(err).NotTo(HaveOccurred())
	})

	It("has a hand-counted capacity for every trace in the shared directory", func() {
		files, err := filepath.Glob(filepath.Join(dir, "*.up"))
		Expect(err).NotTo(HaveOccurred())
		down, err := filepath.Glob(filepath.Join(dir, "*.down"))
		Expect(err).NotTo(HaveOccurred())
		known := map[string]bool{}
		for _, t := range sharedTraces {
			known[t.file] = true
		}
		for _, f := range append(files, down...) {
			Expect(known).To(HaveKey(filepath.Base(f)), "a new trace in %s: add it to sharedTraces with its hand-counted lines and period", dir)
		}
		Expect(len(files)+len(down)).To(Equal(len(sharedTraces)), "a trace of sharedTraces is missing from %s", dir)
	})

	for _, want := range sharedTraces {
		It("delivers "+want.file+" within 5% of its capacity under a saturating load", func() {
			tr, err := netem.LoadTrace(filepath.Join(dir, want.file))
			if errors.Is(err, os.ErrNotExist) {
				Fail(fmt.Sprintf("%s is missing from %s: the shared checkout is incomplete", want.file, dir))
			}
			Expect(err).NotTo(HaveOccurred())
			// The fixture's hand count is of this very file.
			Expect(tr.Ms).To(HaveLen(want.lines))
			Expect(tr.Period()).To(Equal(want.period))
			Expect(float64(want.lines) * 1500 * 8 / want.period.Seconds()).To(BeNumerically("~", want.capacityBps, 1))

			bytes, st := replaySaturated(tr)
			// Saturated: the queue overflowed and still held packets at the
			// end, so no opportunity went unused for want of a packet.
			Expect(st.Drops).To(HaveKeyWithValue(netem.ReasonQueue, BeNumerically(">", 0)))
			Expect(st.QueuePackets).To(BeNumerically(">", 0))
			got := float64(bytes) * 8 / want.period.Seconds()
			GinkgoWriter.Printf("%s: delivered %.4f Mbit/s, capacity %.4f Mbit/s (%+.2f%%)\n",
				want.file, got/1e6, want.capacityBps/1e6, 100*(got-want.capacityBps)/want.capacityBps)
			Expect(got).To(BeNumerically("~", want.capacityBps, 0.05*want.capacityBps),
				"%s: delivered %.3f Mbit/s, capacity %.3f Mbit/s", want.file, got/1e6, want.capacityBps/1e6)
			// Not above what the trace offers either (1504-byte opportunities).
			Expect(got).To(BeNumerically("<=", tr.MeanRateBits()*1.0001))
		})
	}
})
