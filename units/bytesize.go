package units

import (
	"math"
	"strings"
)

// ByteSize is an amount of data in bytes.
type ByteSize int64

// Common sizes: decimal (KB = 1000 B) and binary (KiB = 1024 B).
const (
	Byte ByteSize = 1
	KB   ByteSize = 1000
	MB   ByteSize = 1000 * KB
	GB   ByteSize = 1000 * MB
	KiB  ByteSize = 1024
	MiB  ByteSize = 1024 * KiB
	GiB  ByteSize = 1024 * MiB
)

var byteSizeUnits = map[string]float64{
	"B": 1,
	"K": 1e3, "KB": 1e3, "kB": 1e3, "k": 1e3,
	"M": 1e6, "MB": 1e6,
	"G": 1e9, "GB": 1e9,
	"Ki": 1 << 10, "KiB": 1 << 10,
	"Mi": 1 << 20, "MiB": 1 << 20,
	"Gi": 1 << 30, "GiB": 1 << 30,
}

const byteSizeHint = "write a size as 1500B, 100KB, 64KiB, 512Mi or 2GB"

// ParseByteSize parses a size such as "1500B", "100KB", "64KiB", "1.5MB" or the
// Kubernetes spellings "512Mi", "2G". Decimal prefixes are powers of 1000,
// binary ones (Ki, Mi, Gi) powers of 1024. A lower-case "b" means bits and is
// rejected, as is a number without a unit.
func ParseByteSize(s string) (ByteSize, error) {
	v, _, unit, ok := splitNumber(s)
	if !ok {
		return 0, &ParseError{Kind: "byte size", Input: s, Hint: byteSizeHint}
	}
	if unit == "" {
		return 0, &ParseError{Kind: "byte size", Input: s, Hint: "a size needs a unit: " + byteSizeHint}
	}
	if v < 0 {
		return 0, &ParseError{Kind: "byte size", Input: s, Hint: "must not be negative"}
	}
	mult, found := byteSizeUnits[unit]
	if !found {
		if strings.HasSuffix(unit, "b") || strings.Contains(strings.ToLower(unit), "bit") {
			return 0, &ParseError{Kind: "byte size", Input: s, Hint: "\"" + unit + "\" is a number of bits; sizes are in bytes (upper-case B): " + byteSizeHint}
		}
		return 0, &ParseError{Kind: "byte size", Input: s, Hint: "unknown unit \"" + unit + "\": " + byteSizeHint}
	}
	b := v * mult
	if b > math.MaxInt64/2 {
		return 0, &ParseError{Kind: "byte size", Input: s, Hint: "too large"}
	}
	return ByteSize(math.Round(b)), nil
}

// MustParseByteSize is ParseByteSize for constants; it panics on error.
func MustParseByteSize(s string) ByteSize {
	b, err := ParseByteSize(s)
	if err != nil {
		panic(err)
	}
	return b
}

// String prints the size with the largest unit that represents it exactly,
// e.g. "100KB", "64KiB", "1500B".
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	for _, u := range []struct {
		size ByteSize
		name string
	}{{GiB, "GiB"}, {GB, "GB"}, {MiB, "MiB"}, {MB, "MB"}, {KiB, "KiB"}, {KB, "KB"}} {
		if b%u.size == 0 {
			return formatInt(int64(b/u.size)) + u.name
		}
	}
	return formatInt(int64(b)) + "B"
}

// Bytes returns the size as an int64 number of bytes.
func (b ByteSize) Bytes() int64 { return int64(b) }

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Set implements pflag.Value.
func (b *ByteSize) Set(s string) error { return b.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (b *ByteSize) Type() string { return "bytesize" }
