package wire_test

import (
	"net/http"
	"net/http/httptest"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/wire"
)

var _ = Describe("the run token as a bearer", func() {
	served := func(token, auth string) *httptest.ResponseRecorder {
		h := wire.RequireBearer("test-realm", token, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("inside"))
		}))
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	It("serves only requests that carry the token, and challenges the others with the realm", func() {
		Expect(served("t0k", "Bearer t0k").Body.String()).To(Equal("inside"))
		for _, auth := range []string{"", "Bearer wrong", "t0k", "Basic dDBrOg=="} {
			w := served("t0k", auth)
			Expect(w.Code).To(Equal(http.StatusUnauthorized), auth)
			Expect(w.Header().Get("WWW-Authenticate")).To(Equal(`Bearer realm="test-realm"`))
			Expect(w.Body.String()).To(ContainSubstring("send Authorization: Bearer <token>"))
		}
	})

	It("serves everyone when there is no token", func() {
		Expect(served("", "").Body.String()).To(Equal("inside"))
	})
})
