// Package units holds the typed values that scenarios, link models, cameras
// and the runtime share: bit rates, byte sizes, percentages, durations with
// explicit units, CPU quantities and times of day.
//
// Every type parses once from text (YAML, JSON, flags) into an exact typed
// value and prints back in a canonical spelling that parses to the same
// value. Ambiguous spellings are rejected with an explanation instead of
// being guessed: "10mbps" means megabytes per second to tc but megabits to
// most people, so it is an error here; write "10Mbit" or "10MB/s".
//
// The package is a leaf: it imports nothing of the project.
package units

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrSyntax is wrapped by every parse error of this package.
var ErrSyntax = errors.New("invalid quantity")

// ParseError reports a value that could not be parsed, with the kind of
// quantity expected and a hint that says how to write it.
type ParseError struct {
	Kind  string // "bit rate", "byte size", ...
	Input string
	Hint  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Input, e.Hint)
}

func (e *ParseError) Unwrap() error { return ErrSyntax }

// splitNumber splits "12.5 Mbit/s" into 12.5 and "Mbit/s". The number may be
// an integer or a decimal fraction; exponents are not accepted.
func splitNumber(s string) (num float64, numText, unit string, ok bool) {
	s = strings.TrimSpace(s)
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		if s[i] != '.' {
			digits++
		}
		i++
	}
	if digits == 0 {
		return 0, "", "", false
	}
	numText = s[:i]
	v, err := strconv.ParseFloat(numText, 64)
	if err != nil {
		return 0, "", "", false
	}
	unit = strings.TrimLeftFunc(s[i:], unicode.IsSpace)
	return v, numText, unit, true
}

// formatFloat prints f with the fewest digits that parse back exactly.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}
