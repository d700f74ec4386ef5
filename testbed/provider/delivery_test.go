package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/provider"
)

// flaky fails its first n round trips as a connection that was refused
// would, then sends the requests on.
type flaky struct {
	n, tries atomic.Int32
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.tries.Add(1) <= f.n.Load() {
		return nil, errors.New("dial tcp: connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

var _ = Describe("ReloadModel", func() {
	var (
		srv     *httptest.Server
		status  int
		reloads atomic.Int32
		rt      *flaky
		c       *http.Client
	)
	BeforeEach(func() {
		status = http.StatusOK
		reloads.Store(0)
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/admin/model" || r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, "unexpected", http.StatusBadRequest)
				return
			}
			reloads.Add(1)
			if status != http.StatusOK {
				http.Error(w, "model reload failed, still serving a@v1", status)
				return
			}
			_, _ = w.Write([]byte("serving b@v2\n"))
		}))
		DeferCleanup(srv.Close)
		rt = &flaky{}
		c = &http.Client{Transport: rt}
	})

	It("sends a request that got no answer again until the edgenode answers", func(ctx SpecContext) {
		rt.n.Store(3)
		served, err := provider.ReloadModel(ctx, c, srv.URL, "tok")
		Expect(err).NotTo(HaveOccurred())
		Expect(served).To(Equal("b@v2"))
		Expect(rt.tries.Load()).To(BeEquivalentTo(4))
		Expect(reloads.Load()).To(BeEquivalentTo(1))
	})

	It("takes the edgenode's refusal as final", func(ctx SpecContext) {
		status = http.StatusUnprocessableEntity
		_, err := provider.ReloadModel(ctx, c, srv.URL, "tok")
		Expect(err).To(MatchError(ContainSubstring("still serving a@v1")))
		Expect(reloads.Load()).To(BeEquivalentTo(1))
	})

	It("gives up when its context ends, saying what the last try got", func(ctx SpecContext) {
		rt.n.Store(1 << 30)
		cctx, cancel := context.WithTimeout(ctx, 3*provider.ReloadRetry)
		defer cancel()
		_, err := provider.ReloadModel(cctx, c, srv.URL, "tok")
		Expect(err).To(MatchError(context.DeadlineExceeded))
		Expect(err).To(MatchError(ContainSubstring("connection refused")))
		Expect(reloads.Load()).To(BeZero())
	}, SpecTimeout(10*time.Second))
})
