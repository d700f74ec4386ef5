package fakecam_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/whiptest"
)

func camConfig(id string, endpoints ...string) fakecam.Config {
	return fakecam.Config{
		ID: id,
		Scene: scene.Config{Width: 320, Height: 180, FPS: 10, Background: scene.BackgroundStreet,
			Seed: 7, People: 3, Vehicles: 1},
		Bitrate:   400_000,
		Endpoints: endpoints,
	}
}

func startReceiver(opts whiptest.Options) *whiptest.Server {
	GinkgoHelper()
	srv, err := whiptest.New(opts)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Close)
	return srv
}

var _ = Describe("Camera streaming", func() {
	It("streams frames that come back answered", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{})
		cam, err := fakecam.NewCamera(camConfig("cam-a", srv.URL))
		Expect(err).NotTo(HaveOccurred())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cam.Run(runCtx) }()
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 20))
		cancel()
		Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
		st := cam.Stats()
		GinkgoWriter.Printf("%+v\n", st)
		Expect(srv.Deletes()).To(Equal(1))
	}, SpecTimeout(30*time.Second))
})
