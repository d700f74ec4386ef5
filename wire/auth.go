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
