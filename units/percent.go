package units

import "strings"

// Percent is a percentage between 0 and 100 (1.5 means 1.5%).
type Percent float64

// ParsePercent parses "1.5%", "0.01%" or a bare number, which is read as a
// percentage ("2" = 2%, not 200%). Values outside 0..100 are rejected.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	v, _, unit, ok := splitNumber(t)
	if !ok || unit != "" {
		return 0, &ParseError{Kind: "percentage", Input: s, Hint: "write a percentage as 1.5% or 0.1% (a bare number is read as percent)"}
	}
	if v < 0 || v > 100 {
		return 0, &ParseError{Kind: "percentage", Input: s, Hint: "must be between 0% and 100%"}
	}
	return Percent(v), nil
}

// MustParsePercent is ParsePercent for constants; it panics on error.
func MustParsePercent(s string) Percent {
	p, err := ParsePercent(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Fraction returns the percentage as a probability in 0..1.
func (p Percent) Fraction() float64 { return float64(p) / 100 }

// String prints the percentage with a % sign, e.g. "0.5%".
func (p Percent) String() string { return formatFloat(float64(p)) + "%" }

// MarshalText implements encoding.TextMarshaler.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Percent) UnmarshalText(text []byte) error {
	v, err := ParsePercent(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Set implements pflag.Value.
func (p *Percent) Set(s string) error { return p.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (p *Percent) Type() string { return "percent" }
