// Package naming shortens the names edgesim derives (hosts, clusters,
// Kubernetes objects, camera ids) to the limits of what they name, the
// same way everywhere.
//
// A name that fits is used as it is: reports and scenarios refer to it. A
// name that does not fit keeps as much of its start as fits, followed by
// "-" and HashLen hex digits of the SHA-256 of the whole name, so that it
// stays readable, is the same in every run, and two long names that share
// their start still differ.
package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// HashLen is the number of hex digits Fit appends to a shortened name.
const HashLen = 6

// Limits of names that several packages derive or check.
const (
	// MaxDNSLabel is an RFC 1123 label: a Kubernetes Service, a node's
	// host name, a label value.
	MaxDNSLabel = 63
)

// Fit returns name when it is at most max bytes long, and otherwise its
// shortening to at most max bytes (see the package comment). name is
// expected to start with a letter or digit; the result then does too, and
// it ends with one. max must leave room for the hash (HashLen+2).
func Fit(name string, max int) string {
	if len(name) <= max {
		return name
	}
	if max < HashLen+2 {
		panic(fmt.Sprintf("naming: limit %d leaves no room for a %d-digit hash", max, HashLen))
	}
	sum := sha256.Sum256([]byte(name))
	tag := hex.EncodeToString(sum[:])[:HashLen]
	head := strings.TrimRight(name[:max-HashLen-1], "-_.:")
	if head == "" {
		return tag
	}
	return head + "-" + tag
}
