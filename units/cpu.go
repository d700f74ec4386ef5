package units

import (
	"math"
	"strings"
)

// MilliCPU is a CPU quantity in thousandths of a core, as Kubernetes writes
// it: "500m" is half a core, "2" or "2.0" two cores.
type MilliCPU int64

// ParseMilliCPU parses "250m", "1", "1.5".
func ParseMilliCPU(s string) (MilliCPU, error) {
	v, _, unit, ok := splitNumber(s)
	if !ok || (unit != "" && unit != "m") {
		return 0, &ParseError{Kind: "CPU quantity", Input: s, Hint: "write cores as 2 or 1.5, or millicores as 500m"}
	}
	if v < 0 {
		return 0, &ParseError{Kind: "CPU quantity", Input: s, Hint: "must not be negative"}
	}
	if unit == "" {
		v *= 1000
	}
	if v > math.MaxInt32 {
		return 0, &ParseError{Kind: "CPU quantity", Input: s, Hint: "too large"}
	}
	return MilliCPU(math.Round(v)), nil
}

// Cores returns the quantity in cores.
func (c MilliCPU) Cores() float64 { return float64(c) / 1000 }

// String prints whole cores as "2" and anything else as "1500m".
func (c MilliCPU) String() string {
	if c%1000 == 0 {
		return formatInt(int64(c / 1000))
	}
	return formatInt(int64(c)) + "m"
}

// MarshalText implements encoding.TextMarshaler.
func (c MilliCPU) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *MilliCPU) UnmarshalText(text []byte) error {
	v, err := ParseMilliCPU(strings.TrimSpace(string(text)))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
