package wire

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// BearerOK reports whether r carries "Authorization: Bearer <token>",
// compared in constant time; any request does when token is empty. The
// run token of the edgenodes' HTTP endpoints and the agents' file reads
// are checked with it.
func BearerOK(r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// Unauthorized answers 401 with the WWW-Authenticate challenge of realm,
// saying what to send.
func Unauthorized(w http.ResponseWriter, realm string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	http.Error(w, "missing or wrong bearer token: send Authorization: Bearer <token>", http.StatusUnauthorized)
}

// RequireBearer serves h only to requests that carry token as their bearer
// (BearerOK); others get Unauthorized with realm.
func RequireBearer(realm, token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !BearerOK(r, token) {
			Unauthorized(w, realm)
			return
		}
		h.ServeHTTP(w, r)
	})
}
