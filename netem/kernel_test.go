package netem_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/edgesim/edgesim/netem"
)

var _ = Describe("Kernel engine", func() {
	DescribeTable("builds tc netem/tbf requests",
		func(cfg netem.LinkConfig, check func([]netlink.Qdisc)) {
			qs, err := netem.KernelQdiscs(cfg, 7)
			Expect(err).NotTo(HaveOccurred())
			Expect(qs[0].Attrs().LinkIndex).To(Equal(7))
			Expect(qs[0].Attrs().Parent).To(Equal(uint32(netlink.HANDLE_ROOT)))
			Expect(qs[0]).To(BeAssignableToTypeOf(&netlink.Netem{}))
			check(qs)
		},
		Entry("delay, jitter, correlation",
			netem.LinkConfig{Delay: 30 * time.Millisecond, Jitter: 8 * time.Millisecond, DelayCorrelation: 25},
			func(qs []netlink.Qdisc) {
				Expect(qs).To(HaveLen(1))
				want := netlink.NewNetem(netlink.QdiscAttrs{}, netlink.NetemQdiscAttrs{Latency: 30000, Jitter: 8000, DelayCorr: 25})
				n := qs[0].(*netlink.Netem)
				Expect(n.Latency).To(Equal(want.Latency))
				Expect(n.Jitter).To(Equal(want.Jitter))
				Expect(n.DelayCorr).To(Equal(netlink.Percentage2u32(25)))
			}),
		Entry("loss, duplicate, corrupt, reorder",
			netem.LinkConfig{Delay: 10 * time.Millisecond, Loss: netem.Loss{Percent: 1.5, Correlation: 10}, Duplicate: 2, Corrupt: 0.1, Reorder: netem.Reorder{Percent: 5, Gap: 3}},
			func(qs []netlink.Qdisc) {
				n := qs[0].(*netlink.Netem)
				Expect(n.Loss).To(Equal(netlink.Percentage2u32(1.5)))
				Expect(n.LossCorr).To(Equal(netlink.Percentage2u32(10)))
				Expect(n.Duplicate).To(Equal(netlink.Percentage2u32(2)))
				Expect(n.CorruptProb).To(Equal(netlink.Percentage2u32(0.1)))
				Expect(n.ReorderProb).To(Equal(netlink.Percentage2u32(5)))
				Expect(n.Gap).To(BeEquivalentTo(3))
			}),
		Entry("partition is 100% loss",
			netem.LinkConfig{Partition: true},
			func(qs []netlink.Qdisc) {
				Expect(qs[0].(*netlink.Netem).Loss).To(Equal(netlink.Percentage2u32(100)))
			}),
		Entry("rate in bits becomes tbf bytes, with burst and byte limit",
			netem.LinkConfig{RateBits: 10_000_000, BurstBytes: 5000, QueueBytes: 125000},
			func(qs []netlink.Qdisc) {
				Expect(qs).To(HaveLen(2))
				t := qs[1].(*netlink.Tbf)
				Expect(t.Rate).To(BeEquivalentTo(1_250_000))
				Expect(t.Limit).To(BeEquivalentTo(125000))
				Expect(t.Buffer).To(Equal(netlink.Xmittime(1_250_000, 5000)))
				Expect(t.Parent).To(Equal(netlink.MakeHandle(1, 1)))
			}),
		Entry("a packet limit becomes bytes of MTU-sized packets",
			netem.LinkConfig{RateBits: 8_000_000, QueuePackets: 10},
			func(qs []netlink.Qdisc) {
				Expect(qs[1].(*netlink.Tbf).Limit).To(BeEquivalentTo(15140))
			}),
	)

	DescribeTable("refuses what tc netem cannot do here",
		func(cfg netem.LinkConfig) {
			_, err := netem.KernelQdiscs(cfg, 1)
			Expect(err).To(MatchError(netem.ErrKernelUnsupported))
		},
		Entry("trace", netem.LinkConfig{Trace: &netem.Trace{Name: "t", Ms: []int64{1}}}),
		Entry("Gilbert-Elliott", netem.LinkConfig{Loss: netem.Loss{Model: netem.LossGilbertElliot, P: 1, R: 10, LossBad: 100}}),
		Entry("pareto", netem.LinkConfig{Delay: time.Millisecond, Jitter: time.Millisecond, Distribution: netem.DistPareto}),
		Entry("drophead", netem.LinkConfig{RateBits: 1e6, Queue: netem.DropHead}),
	)

	It("applies netem where the kernel has it, and says why not where it does not", func() {
		requireRoot()
		ctx := context.Background()
		if err := netem.KernelAvailable(ctx); err != nil {
			Expect(err).To(MatchError(netem.ErrNoSchNetem))
			Skip("kernel engine not available here: " + err.Error())
		}
		name := fmt.Sprintf("es-ktest-%d", os.Getpid())
		Expect(exec.Command("ip", "netns", "add", name).Run()).To(Succeed())
		DeferCleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		Expect(exec.Command("ip", "-n", name, "link", "add", "es-k0", "type", "veth", "peer", "name", "es-k1").Run()).To(Succeed())
		Expect(netem.ApplyKernel(ctx, "/run/netns/"+name, "es-k0", netem.LinkConfig{Delay: 20 * time.Millisecond, RateBits: 1e7})).To(Succeed())
		out, err := exec.Command("ip", "netns", "exec", name, "tc", "qdisc", "show", "dev", "es-k0").CombinedOutput()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(And(ContainSubstring("netem"), ContainSubstring("tbf")))
		Expect(netem.ClearKernel(ctx, "/run/netns/"+name, "es-k0")).To(Succeed())
	})

	It("selects the kernel engine only when it really works", func() {
		requireRoot()
		ctx := context.Background()
		got, err := netem.SelectEngine(ctx, netem.EngineAuto)
		Expect(err).NotTo(HaveOccurred())
		if netem.KernelAvailable(ctx) == nil {
			Expect(got).To(Equal(netem.EngineKernel))
		} else {
			Expect(got).To(Equal(netem.EngineUserspace))
			_, err := netem.SelectEngine(ctx, netem.EngineKernel)
			Expect(err).To(MatchError(netem.ErrNoSchNetem))
		}
		_, err = netem.SelectEngine(ctx, "tc")
		Expect(err).To(MatchError(ContainSubstring("use auto, userspace, kernel or inproc")))
	})
})
