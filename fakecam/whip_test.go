package fakecam_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/whiptest"
)

var _ = Describe("WHIP client", func() {
	fastRetry := fakecam.Retry{Attempts: 3, Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, RequestTimeout: 500 * time.Millisecond}

	DescribeTable("gives one clear error and leaves nothing running when the server misbehaves",
		func(ctx SpecContext, handler http.HandlerFunc, sentinel error, wantAttempts int32, hint string) {
			base := runtime.NumGoroutine()
			var posts, deletes atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					deletes.Add(1)
					return
				}
				posts.Add(1)
				handler(w, r)
			}))
			cam, err := fakecam.NewCamera(camConfig("cam-err", srv.URL+"/whip"), fakecam.WithRetry(fastRetry))
			Expect(err).NotTo(HaveOccurred())
			err = cam.Run(ctx)
			Expect(err).To(MatchError(sentinel))
			Expect(err.Error()).To(ContainSubstring(hint))
			Expect(err.Error()).To(ContainSubstring("cam-err"))
			var werr *fakecam.WHIPError
			Expect(errors.As(err, &werr)).To(BeTrue())
			Expect(werr.Endpoint).To(HavePrefix(srv.URL + "/whip?camera=cam-err"))
			Expect(posts.Load()).To(Equal(wantAttempts))
			Expect(cam.Stats().Error).NotTo(BeEmpty())
			srv.CloseClientConnections()
			srv.Close()
			Eventually(runtime.NumGoroutine).WithTimeout(10 * time.Second).Should(BeNumerically("<=", base+1))
		},
		Entry("400", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no video here", 400) },
			fakecam.ErrWHIPRejected, int32(1), `HTTP 400 "no video here"`),
		Entry("404", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) },
			fakecam.ErrWHIPRejected, int32(1), "edgenode serves /whip"),
		Entry("401", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "who are you", 401) },
			fakecam.ErrWHIPRejected, int32(1), "--token"),
		Entry("503, retried", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "busy", 503) },
			fakecam.ErrWHIPUnavailable, int32(3), "after 3 attempts"),
		Entry("503 with Retry-After, retried", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "draining", 503)
		}, fakecam.ErrWHIPUnavailable, int32(3), `HTTP 503 "draining"`),
		Entry("a 200 instead of 201", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) },
			fakecam.ErrWHIPBadAnswer, int32(1), "201 Created"),
		Entry("201 without Location", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/sdp")
			w.WriteHeader(201)
			_, _ = w.Write([]byte("v=0\r\n"))
		}, fakecam.ErrWHIPBadAnswer, int32(1), "no Location"),
		Entry("garbage SDP", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/sdp")
			w.Header().Set("Location", "/whip/1")
			w.WriteHeader(201)
			_, _ = w.Write([]byte("v=0\r\nthis is not sdp\r\n"))
		}, fakecam.ErrWHIPBadAnswer, int32(1), "does not fit the offer"),
		Entry("not SDP at all", SpecTimeout(30*time.Second), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/sdp")
			w.Header().Set("Location", "/whip/1")
			w.WriteHeader(201)
			_, _ = w.Write([]byte("<html>hello</html>"))
		}, fakecam.ErrWHIPBadAnswer, int32(1), "not an SDP answer"),
		Entry("timeout, retried", SpecTimeout(30*time.Second), func(_ http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client hanging up
			<-r.Context().Done()
		},
			fakecam.ErrWHIPUnavailable, int32(3), "did not answer in time"),
	)

	It("gives each camera connections of its own, as separate devices have, so that a Service can spread a fleet's cameras over its replicas", func(ctx SpecContext) {
		var mu sync.Mutex
		remotes := map[string][]string{} // path -> the connections its POSTs came on
		firstOfA := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			remotes[r.URL.Path] = append(remotes[r.URL.Path], r.RemoteAddr)
			n := len(remotes[r.URL.Path])
			mu.Unlock()
			if r.URL.Path == "/a" && n == 1 {
				defer close(firstOfA)
				http.Error(w, "busy", http.StatusServiceUnavailable) // a retries after its backoff
				return
			}
			http.Error(w, "no", http.StatusForbidden)
		}))
		DeferCleanup(srv.Close)
		slow := fakecam.Retry{Attempts: 2, Initial: 400 * time.Millisecond, Max: 400 * time.Millisecond, RequestTimeout: 5 * time.Second}
		a, err := fakecam.NewCamera(camConfig("cam-a", srv.URL+"/a"), fakecam.WithRetry(slow))
		Expect(err).NotTo(HaveOccurred())
		b, err := fakecam.NewCamera(camConfig("cam-b", srv.URL+"/b"), fakecam.WithRetry(slow))
		Expect(err).NotTo(HaveOccurred())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		Eventually(firstOfA).Should(BeClosed())
		// b offers while a's connection waits idle for its retry: one pool
		// for both would hand it to b.
		Expect(b.Run(ctx)).To(MatchError(fakecam.ErrWHIPRejected))
		Eventually(done, "5s").Should(Receive(MatchError(fakecam.ErrWHIPRejected)))
		mu.Lock()
		defer mu.Unlock()
		Expect(remotes["/a"]).To(HaveLen(2))
		Expect(remotes["/a"][1]).To(Equal(remotes["/a"][0]), "a camera keeps its connection alive between its own requests")
		Expect(remotes["/b"]).To(HaveLen(1))
		Expect(remotes["/a"]).NotTo(ContainElement(remotes["/b"][0]), "b did not get a's connection")
	})

	It("deletes the session when the answer is garbage", func(ctx SpecContext) {
		var deletes atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				Expect(r.URL.Path).To(Equal("/whip/s1"))
				deletes.Add(1)
				return
			}
			w.Header().Set("Content-Type", "application/sdp")
			w.Header().Set("Location", "s1") // relative to the endpoint
			w.WriteHeader(201)
			_, _ = w.Write([]byte("v=0\r\nbroken\r\n"))
		}))
		DeferCleanup(srv.Close)
		cam, err := fakecam.NewCamera(camConfig("cam-del", srv.URL+"/whip/"))
		Expect(err).NotTo(HaveOccurred())
		Expect(cam.Run(ctx)).To(MatchError(fakecam.ErrWHIPBadAnswer))
		Expect(deletes.Load()).To(Equal(int32(1)))
	}, SpecTimeout(20*time.Second))

	It("falls over to the next endpoint when the first refuses", func(ctx SpecContext) {
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "gone", 410) }))
		DeferCleanup(bad.Close)
		good := startReceiver(whiptest.Options{})
		cam, err := fakecam.NewCamera(camConfig("cam-next", bad.URL+"/whip", good.URL))
		Expect(err).NotTo(HaveOccurred())
		runCamera(ctx, cam.Run)
		Eventually(func() uint64 { return cam.Stats().FramesAnswered }).WithTimeout(10 * time.Second).Should(BeNumerically(">", 2))
		Expect(cam.Stats().Endpoint).To(Equal(good.URL))
	}, SpecTimeout(20*time.Second))

	It("sends the bearer token and the camera id", func(ctx SpecContext) {
		srv := startReceiver(whiptest.Options{Token: "s3cret"})
		cfg := camConfig("cam-token", srv.URL)
		cam, err := fakecam.NewCamera(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(cam.Run(ctx)).To(MatchError(ContainSubstring("check the bearer token")))

		cfg.Token = "s3cret"
		cam, err = fakecam.NewCamera(cfg)
		Expect(err).NotTo(HaveOccurred())
		stop := runCamera(ctx, cam.Run)
		Eventually(func() int { return len(srv.Frames()) }).WithTimeout(10 * time.Second).Should(BeNumerically(">", 2))
		Expect(srv.Frames()[0].Camera).To(Equal("cam-token"))
		Expect(stop()).To(Succeed())
		Expect(srv.Deletes()).To(Equal(1), "DELETE carries the token too")
	}, SpecTimeout(20*time.Second))
})
