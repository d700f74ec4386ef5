package units

import (
	"fmt"
	"math"
	"strings"
)

// BitRate is a data rate in bits per second.
type BitRate int64

// Common bit rates.
const (
	BitPerSecond BitRate = 1
	Kbit         BitRate = 1000
	Mbit         BitRate = 1000 * Kbit
	Gbit         BitRate = 1000 * Mbit
	Tbit         BitRate = 1000 * Gbit
)

var bitRateUnits = []struct {
	mult     float64
	bits     bool // false: a byte rate (multiplied by 8)
	spelling []string
}{
	{1, true, []string{"bit", "bit/s", "b/s"}},
	{1e3, true, []string{"kbit", "Kbit", "kbit/s", "Kbit/s", "kb/s", "Kb/s"}},
	{1e6, true, []string{"mbit", "Mbit", "mbit/s", "Mbit/s", "Mb/s"}},
	{1e9, true, []string{"gbit", "Gbit", "gbit/s", "Gbit/s", "Gb/s"}},
	{1e12, true, []string{"tbit", "Tbit", "tbit/s", "Tbit/s", "Tb/s"}},
	{1, false, []string{"B/s"}},
	{1e3, false, []string{"kB/s", "KB/s"}},
	{1e6, false, []string{"MB/s"}},
	{1e9, false, []string{"GB/s"}},
	{1 << 10, false, []string{"KiB/s"}},
	{1 << 20, false, []string{"MiB/s"}},
	{1 << 30, false, []string{"GiB/s"}},
}

const bitRateHint = "write bits per second as 800Kbit, 10Mbit or 1Gbit (optionally with /s), or bytes per second as 100KB/s or 12.5MB/s"

// ParseBitRate parses a rate such as "10Mbit", "1.5Gbit/s", "800kbit" or
// "12.5MB/s" (bytes per second, multiplied by 8). Prefixes are decimal
// (k = 1000); KiB/s, MiB/s and GiB/s are binary byte rates. A number without
// a unit, and the ambiguous spellings "bps", "kbps", "mbps" and "gbps" (tc reads
// them as bytes per second, most people as bits) are rejected.
func ParseBitRate(s string) (BitRate, error) {
	v, _, unit, ok := splitNumber(s)
	if !ok {
		return 0, &ParseError{Kind: "bit rate", Input: s, Hint: bitRateHint}
	}
	if unit == "" {
		return 0, &ParseError{Kind: "bit rate", Input: s, Hint: "a rate needs a unit: " + bitRateHint}
	}
	if strings.HasSuffix(strings.ToLower(unit), "bps") {
		return 0, &ParseError{Kind: "bit rate", Input: s, Hint: "\"" + unit + "\" is ambiguous: tc reads it as bytes per second, " +
			"8x what most people mean by it (Fogify's users got 7.5x the bandwidth they asked for this way); write " +
			unitSuggestion(v, unit)}
	}
	if v < 0 {
		return 0, &ParseError{Kind: "bit rate", Input: s, Hint: "must not be negative"}
	}
	for _, u := range bitRateUnits {
		for _, sp := range u.spelling {
			if unit != sp {
				continue
			}
			bits := v * u.mult
			if !u.bits {
				bits *= 8
			}
			if bits > math.MaxInt64/2 {
				return 0, &ParseError{Kind: "bit rate", Input: s, Hint: "too large"}
			}
			return BitRate(math.Round(bits)), nil
		}
	}
	switch strings.ToUpper(unit) {
	case "B", "KB", "MB", "GB", "KIB", "MIB", "GIB":
		return 0, &ParseError{Kind: "bit rate", Input: s, Hint: "\"" + unit + "\" is a size, not a rate: write " + formatFloat(v) + unit + "/s for a byte rate, or use Kbit/Mbit/Gbit for bits per second"}
	}
	return 0, &ParseError{Kind: "bit rate", Input: s, Hint: "unknown unit \"" + unit + "\": " + bitRateHint}
}

func unitSuggestion(v float64, unit string) string {
	n := formatFloat(v)
	prefix := ""
	switch strings.ToLower(strings.TrimSuffix(strings.ToLower(unit), "bps")) {
	case "k":
		prefix = "K"
	case "m":
		prefix = "M"
	case "g":
		prefix = "G"
	case "t":
		prefix = "T"
	}
	return n + prefix + "bit for " + prefixWord(prefix) + "bits per second or " + n + prefix + "B/s for " + prefixWord(prefix) + "bytes per second"
}

func prefixWord(p string) string {
	switch p {
	case "K":
		return "kilo"
	case "M":
		return "mega"
	case "G":
		return "giga"
	case "T":
		return "tera"
	}
	return ""
}

// MustParseBitRate is ParseBitRate for constants in code and tests; it
// panics on a malformed value.
func MustParseBitRate(s string) BitRate {
	r, err := ParseBitRate(s)
	if err != nil {
		panic(err)
	}
	return r
}

// String prints the rate in the largest of bit, Kbit, Mbit, Gbit, Tbit that
// represents it exactly, e.g. "10Mbit", "1500Kbit".
func (r BitRate) String() string {
	switch {
	case r == 0:
		return "0bit"
	case r%Tbit == 0:
		return formatInt(int64(r/Tbit)) + "Tbit"
	case r%Gbit == 0:
		return formatInt(int64(r/Gbit)) + "Gbit"
	case r%Mbit == 0:
		return formatInt(int64(r/Mbit)) + "Mbit"
	case r%Kbit == 0:
		return formatInt(int64(r/Kbit)) + "Kbit"
	}
	return formatInt(int64(r)) + "bit"
}

// BitsPerSecond returns the rate as a float64 number of bits per second.
func (r BitRate) BitsPerSecond() float64 { return float64(r) }

// BytesPerSecond returns the rate in bytes per second.
func (r BitRate) BytesPerSecond() float64 { return float64(r) / 8 }

// MarshalText implements encoding.TextMarshaler (YAML and JSON).
func (r BitRate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (YAML and JSON).
func (r *BitRate) UnmarshalText(b []byte) error {
	v, err := ParseBitRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Set implements pflag.Value so a BitRate can be a command-line flag.
func (r *BitRate) Set(s string) error { return r.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (r *BitRate) Type() string { return "bitrate" }

// FormatMeasured renders a measured rate in bits per second for people,
// rounded to the unit that suits it: "591 bit/s", "3.9 kbit/s",
// "3.21 Mbit/s", "1.05 Gbit/s". Unlike String it does not round-trip; it
// is for figures, not for configuration.
func FormatMeasured(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}
