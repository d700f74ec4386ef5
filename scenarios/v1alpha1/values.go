package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgesim/edgesim/units"
)

// QueueLimit is a queue size in bytes ("100KB") or packets ("200packets").
type QueueLimit struct {
	Bytes   units.ByteSize
	Packets int
}

// UnmarshalText parses "100KB", "1500B" or "200packets".
func (q *QueueLimit) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	for _, suffix := range []string{"packets", "packet", "pkts", "p"} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || v <= 0 {
				return fmt.Errorf("invalid queue limit %q: write a positive number of packets as 200packets, or bytes as 100KB", s)
			}
			*q = QueueLimit{Packets: v}
			return nil
		}
	}
	size, err := units.ParseByteSize(s)
	if err != nil {
		return fmt.Errorf("invalid queue limit %q: write bytes as 100KB or a number of packets as 200packets", s)
	}
	if size <= 0 {
		return fmt.Errorf("invalid queue limit %q: must be positive", s)
	}
	*q = QueueLimit{Bytes: size}
	return nil
}

// MarshalText prints "200packets" or the byte size.
func (q QueueLimit) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// String prints "200packets" or the byte size; "" when unset.
func (q QueueLimit) String() string {
	switch {
	case q.Packets > 0:
		return strconv.Itoa(q.Packets) + "packets"
	case q.Bytes > 0:
		return q.Bytes.String()
	}
	return ""
}

// Resolution is a frame size written WIDTHxHEIGHT.
type Resolution struct{ Width, Height int }

// UnmarshalText parses "640x360".
func (r *Resolution) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	w, h, ok := strings.Cut(strings.ToLower(s), "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("invalid resolution %q: write WIDTHxHEIGHT, e.g. 640x360", s)
	}
	if wi < 16 || hi < 16 || wi > 3840 || hi > 2160 || wi%2 != 0 || hi%2 != 0 {
		return fmt.Errorf("invalid resolution %q: width and height must be even, from 16x16 to 3840x2160", s)
	}
	*r = Resolution{Width: wi, Height: hi}
	return nil
}

// MarshalText prints WIDTHxHEIGHT.
func (r Resolution) MarshalText() ([]byte, error) {
	return []byte(strconv.Itoa(r.Width) + "x" + strconv.Itoa(r.Height)), nil
}
