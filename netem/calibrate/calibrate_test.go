package calibrate_test

import (
	"context"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/netem/calibrate"
)

func requireRoot() {
	if os.Geteuid() != 0 {
		Skip("needs root to create network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		Skip("needs /dev/net/tun")
	}
}

var _ = Describe("Calibrate", func() {
	It("measures a link and reports every figure, never faster than configured", func() {
		requireRoot()
		res, err := calibrate.Run(context.Background(), calibrate.Options{
			Config: netem.LinkConfig{Delay: 5 * time.Millisecond, Loss: netem.Loss{Percent: 10}, RateBits: 5_000_000},
			Probes: 3000, ProbeRate: 2000, ThroughputDuration: time.Second, StateDir: GinkgoT().TempDir(),
		})
		Expect(err).NotTo(HaveOccurred())
		byName := map[string]calibrate.Figure{}
		for _, f := range res.Figures {
			byName[f.Name] = f
		}
		Expect(byName).To(HaveKey("host timer lateness p99"))
		Expect(byName).To(HaveKey("probe path noise (stddev)"))
		Expect(byName).To(HaveKey("link release lateness p99"))
		// The checked jitter (noise-corrected) and the raw one.
		Expect(byName).To(HaveKey("jitter (stddev), raw"))
		Expect(byName["jitter (stddev)"].Checked).To(BeTrue())
		Expect(byName["jitter (stddev), raw"].Checked).To(BeFalse())
		// Every probe waited at least the configured delay.
		Expect(byName["delay mean, raw"].Measured).To(BeNumerically(">=", 5.0))
		Expect(byName["delay mean"].Configured).To(BeNumerically("~", 5.0, 1e-9))
		// 10% of 3000 probes: far outside any interval if loss were off.
		// The seeded loss draws put the share lost within the 99%
		// interval (calibrate's verdicts are specified on hand-computed
		// figures in calibrate_internal_test.go).
		Expect(byName["loss"].Measured).To(BeNumerically("~", 10, 3))
		Expect(byName["loss"].Checked).To(BeTrue())
		Expect(byName["loss"].OK).To(BeTrue(), "%+v", byName["loss"])
		Expect(byName["UDP throughput"].Measured).To(BeNumerically("<=", 5*1.02))
		Expect(byName["TCP goodput"].Measured).To(BeNumerically("<=", 5*1.02))
	})
})
