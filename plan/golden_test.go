package plan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/plan"
)

// goldenUpdate, set to 1, rewrites the golden results instead of comparing
// them. Do it only for a change meant to change simulated figures, and say
// so in its commit.
const goldenUpdate = "PLAN_GOLDEN_UPDATE"

// steadyLANs gives every site of f rate-limited LANs of fixed delay,
// with loss, duplication and corruption, and its WAN no jitter.
func steadyLANs(f *plan.Fleet) *plan.Fleet {
	for i := range f.Sites {
		s := &f.Sites[i]
		s.LANUp = netem.LinkConfig{Delay: 2 * time.Millisecond, RateBits: 6e6, Loss: netem.Loss{Percent: 0.2}, Duplicate: 1, Corrupt: 0.05}
		s.LANDown = netem.LinkConfig{Delay: 2 * time.Millisecond, RateBits: 2e6, Duplicate: 2, Corrupt: 1}
		s.WANUp.Jitter, s.WANDown.Jitter = 0, 0
	}
	return f
}

// goldenFleet exercises every kind of random draw and every path a packet
// or frame can take: direct links with jitter, loss, duplication,
// corruption and reordering; rate-limited links that hold packets in their
// queue; other delay distributions and a Gilbert-Elliott loss model;
// partitions of the LAN and the WAN; a node kill; alert rules.
func goldenFleet(placement plan.Placement) *plan.Fleet {
	f := impaired(21)
	f.Duration = 15 * time.Second
	withDoorAlert(f, 12*time.Second)
	for i := range f.Sites {
		s := &f.Sites[i]
		s.LANUp = netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: netem.Loss{Percent: 0.05},
			Duplicate: 1, Corrupt: 0.02, Reorder: netem.Reorder{Percent: 2}}
		s.LANDown = netem.LinkConfig{Delay: 3 * time.Millisecond, Jitter: time.Millisecond, Duplicate: 2, Corrupt: 2, Loss: netem.Loss{Percent: 2}}
		s.WANUp = netem.LinkConfig{Delay: 40 * time.Millisecond, Jitter: 5 * time.Millisecond, Corrupt: 5, Duplicate: 3,
			Loss: netem.Loss{Percent: 5}, RateBits: 8e6}
		s.WANDown = netem.LinkConfig{Delay: 30 * time.Millisecond, Jitter: 3 * time.Millisecond, Distribution: netem.DistPareto}
	}
	// Site b: a rate-limited LAN that queues video, paretonormal jitter
	// with correlation; site d: bursty (Gilbert-Elliott) loss.
	f.Sites[1].LANUp = netem.LinkConfig{Delay: 2 * time.Millisecond, Jitter: time.Millisecond, Distribution: netem.DistParetoNormal,
		DelayCorrelation: 25, RateBits: 4e6, Loss: netem.Loss{Percent: 0.1}}
	f.Sites[3].LANUp = netem.LinkConfig{Delay: 2 * time.Millisecond, Jitter: time.Millisecond, Distribution: netem.DistUniform,
		Loss: netem.Loss{Model: netem.LossGilbertElliot, P: 0.5, R: 20, LossBad: 30}}
	f.Faults = append(f.Faults, plan.Fault{At: 3 * time.Second, Action: plan.FaultPartition, Site: "a", Link: plan.LinkWAN, Duration: 3 * time.Second})
	if placement == plan.PlacementCloud {
		f.Placement, f.Model, f.Cloud = plan.PlacementCloud, "edgesim-det", plan.Cloud{Nodes: 2, Class: "cloud-box"}
		for i := range f.Sites {
			f.Sites[i].WANUp.Loss.Percent, f.Sites[i].WANUp.Corrupt = 0.3, 0.1 // video crosses it
		}
		f.Faults = []plan.Fault{
			{At: 6 * time.Second, Action: plan.FaultKill, Node: "cloud-2"},
			{At: 4 * time.Second, Action: plan.FaultPartition, Site: "e", Link: plan.LinkWAN, Duration: 2 * time.Second},
			{At: 5 * time.Second, Action: plan.FaultPartition, Site: "c", Link: plan.LinkLAN, Duration: 2 * time.Second},
		}
	}
	return f
}

// benchFleet is BenchmarkFleet's fleet, small.
func benchFleet() *plan.Fleet {
	f := &plan.Fleet{Seed: 1, Duration: 10 * time.Second, Model: "jittery", Placement: plan.PlacementEdge, DetectFPS: 5}
	for i := range 4 {
		f.Sites = append(f.Sites, plan.Site{Name: fmt.Sprint("site-", i), Type: "store", Nodes: 4, Class: "small-box", Cameras: cams(20),
			LANUp:   netem.LinkConfig{Delay: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Loss: netem.Loss{Percent: 0.1}},
			LANDown: netem.LinkConfig{Delay: 2 * time.Millisecond},
			WANUp:   netem.LinkConfig{Delay: 40 * time.Millisecond, RateBits: 10e6}})
	}
	return f
}

var _ = Describe("Run's figures", func() {
	// The simulator's speed-ups must not move any figure: each fleet's
	// Result must equal, byte for byte as JSON, the one recorded in
	// testdata/golden (written by the code before them).
	DescribeTable("stay those recorded for a fixed fleet",
		func(name string, fleet func() *plan.Fleet) {
			r, err := plan.Run(context.Background(), fleet(), loadFixture())
			Expect(err).NotTo(HaveOccurred())
			got, err := json.MarshalIndent(r, "", "  ")
			Expect(err).NotTo(HaveOccurred())
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if os.Getenv(goldenUpdate) == "1" {
				Expect(os.WriteFile(path, got, 0o644)).To(Succeed())
				Skip("rewrote " + path)
			}
			want, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred(), "no golden result: record it with %s=1 on code whose figures are right", goldenUpdate)
			if !bytes.Equal(got, want) {
				out := "(not written)"
				if f, err := os.CreateTemp("", "plan-golden-"+name+"-*.json"); err == nil {
					_, _ = f.Write(got)
					_ = f.Close()
					out = f.Name()
				}
				Fail(fmt.Sprintf("%s: the result differs from %s (this run's is %s, to diff)", name, path, out))
			}
		},
		Entry("edge placement, impaired links, faults and alerts", "edge-impaired", func() *plan.Fleet { return goldenFleet(plan.PlacementEdge) }),
		Entry("cloud placement, impaired links, faults and alerts", "cloud-impaired", func() *plan.Fleet { return goldenFleet(plan.PlacementCloud) }),
		Entry("edge placement, impaired links without a rate", "edge-unshaped", func() *plan.Fleet {
			// every link direct: the WAN's totals come from settled packets
			f := goldenFleet(plan.PlacementEdge)
			for i := range f.Sites {
				f.Sites[i].WANUp.RateBits, f.Sites[i].LANUp.RateBits = 0, 0
			}
			return f
		}),
		Entry("cloud placement, a WAN without jitter", "cloud-steady-wan", func() *plan.Fleet {
			// the WAN's least delay is its whole delay: its video settles as
			// it leaves the queue, one wake-up per delivery window
			f := goldenFleet(plan.PlacementCloud)
			for i := range f.Sites {
				f.Sites[i].WANUp.Jitter, f.Sites[i].WANDown.Jitter = 0, 0
			}
			return f
		}),
		Entry("cloud placement, degrades ramping a rate-limited LAN and a WAN without jitter", "cloud-ramps", func() *plan.Fleet {
			// the LAN that feeds the WAN moves while its queue holds video
			f := goldenFleet(plan.PlacementCloud)
			for i := range f.Sites {
				f.Sites[i].WANUp.Jitter = 0
			}
			f.Faults = append(f.Faults,
				plan.Fault{At: 5 * time.Second, Action: plan.FaultDegrade, Site: "b", Link: plan.LinkLAN, Duration: 6 * time.Second, Ramp: 3 * time.Second,
					Up:   netem.LinkConfig{Delay: 30 * time.Millisecond, RateBits: 1e6, Loss: netem.Loss{Percent: 1}},
					Down: netem.LinkConfig{Delay: 30 * time.Millisecond}},
				plan.Fault{At: 6 * time.Second, Action: plan.FaultDegrade, Site: "d", Link: plan.LinkWAN, Duration: 5 * time.Second, Ramp: 2 * time.Second,
					Up:   netem.LinkConfig{Delay: 120 * time.Millisecond, RateBits: 3e6},
					Down: netem.LinkConfig{Delay: 60 * time.Millisecond}})
			return f
		}),
		Entry("edge placement, rate-limited LANs without jitter", "edge-steady-lan", func() *plan.Fleet {
			// video and answers settled as they leave the LANs' queues
			return steadyLANs(goldenFleet(plan.PlacementEdge))
		}),
		Entry("cloud placement, rate-limited LANs without jitter", "cloud-steady-lan", func() *plan.Fleet {
			// answers come down a WAN into a LAN settled at departure
			return steadyLANs(goldenFleet(plan.PlacementCloud))
		}),
		Entry("edge placement, a WAN without jitter", "edge-steady-wan", func() *plan.Fleet {
			// alerts cross a rate-limited WAN of fixed delay, settled when
			// they leave its queue
			f := goldenFleet(plan.PlacementEdge)
			for i := range f.Sites {
				f.Sites[i].WANUp.Jitter = 0
			}
			return f
		}),
		Entry("the benchmark's fleet, small", "bench-small", benchFleet),
	)
})
