package units

import (
	"strings"
	"time"
)

// Duration is a time.Duration that is always written with units ("20ms",
// "1.5s", "2m30s"). A bare number such as "20" is rejected: it is unclear
// whether it means milliseconds or seconds. "0" alone is accepted.
type Duration time.Duration

const durationHint = "write a duration with its unit, e.g. 20ms, 1.5s, 2m30s (units: ns, us, ms, s, m, h)"

// ParseDuration parses a duration with units. Negative values parse; callers
// that need a non-negative duration check it with their own field context.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	if _, _, unit, ok := splitNumber(t); ok && unit == "" {
		return 0, &ParseError{Kind: "duration", Input: s, Hint: "a bare number has no unit: " + durationHint}
	}
	d, err := time.ParseDuration(strings.ReplaceAll(t, " ", ""))
	if err != nil {
		return 0, &ParseError{Kind: "duration", Input: s, Hint: durationHint}
	}
	return Duration(d), nil
}

// MustParseDuration is ParseDuration for constants; it panics on error.
func MustParseDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String prints the duration like time.Duration does ("1.5s", "20ms").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Set implements pflag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }
