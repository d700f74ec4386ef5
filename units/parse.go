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

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }
