package fakecam_test

import (
	"io"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/whiptest"
)

var _ = Describe("Congestion control", Label("slow"), func() {
	It("lowers the encoder bitrate to what a narrow link carries", func(ctx SpecContext) {
		silent := logging.NewDefaultLoggerFactory()
		silent.DefaultLogLevel, silent.Writer = logging.LogLevelDisabled, io.Discard
		wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.77.0.0/24", LoggerFactory: silent})
		Expect(err).NotTo(HaveOccurred())
		camNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.77.0.2"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(wan.AddNet(camNet)).To(Succeed())
		rxNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.77.0.3"}})
		Expect(err).NotTo(HaveOccurred())
		// camera -> receiver: 400 kbit/s token bucket with a 40 KB queue
		shaped, err := vnet.NewQueue(rxNet, vnet.NewTBFQueue(400_000, 3000, 40_000))
		Expect(err).NotTo(HaveOccurred())
		Expect(wan.AddNet(shaped)).To(Succeed())
		Expect(wan.Start()).To(Succeed())
		DeferCleanup(func() { _ = shaped.Close(); _ = wan.Stop() })

		srv := startReceiver(whiptest.Options{Net: rxNet})
		cfg := camConfig("cam-cc", srv.URL)
		cfg.Scene.Width, cfg.Scene.Height = 640, 360
		cfg.Bitrate = 1_500_000
		cam, err := fakecam.NewCamera(cfg, fakecam.WithSettingEngine(func(se *webrtc.SettingEngine) { se.SetNet(camNet) }))
		Expect(err).NotTo(HaveOccurred())
		runCamera(ctx, cam.Run)
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10 * time.Second).Should(BeNumerically(">", 0))
		Eventually(func() int { return cam.Stats().TargetBPS }).WithTimeout(25*time.Second).WithPolling(200*time.Millisecond).
			Should(BeNumerically("<", 500_000), "the encoder should follow the congestion controller down")
		answered := cam.Stats().FramesAnswered
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10*time.Second).
			Should(BeNumerically(">", answered+10), "video keeps flowing at the lower rate")
		Expect(cam.Stats().TargetBPS).To(BeNumerically(">=", 50_000))
	}, SpecTimeout(60*time.Second))
})
