package units

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeOfDay is a wall-clock time within a day, as the offset from midnight
// (0 <= t < 24h). It is written "HH:MM" or "HH:MM:SS", 24-hour clock.
type TimeOfDay time.Duration

// ParseTimeOfDay parses "06:30", "22:00" or "23:59:30".
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	t := strings.TrimSpace(s)
	parts := strings.Split(t, ":")
	var vals [3]int
	ok := len(parts) == 2 || len(parts) == 3
	for i := 0; ok && i < len(parts); i++ {
		p := parts[i]
		if len(p) < 1 || len(p) > 2 || (i > 0 && len(p) != 2) {
			ok = false
			break
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				ok = false
			}
		}
		if ok {
			vals[i], _ = strconv.Atoi(p)
		}
	}
	h, m, sec := vals[0], vals[1], vals[2]
	if !ok || h > 23 || m > 59 || sec > 59 {
		return 0, &ParseError{Kind: "time of day", Input: s, Hint: "write a 24-hour time as HH:MM or HH:MM:SS, e.g. 22:00"}
	}
	return TimeOfDay(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second), nil
}

// Since returns the offset from midnight.
func (t TimeOfDay) Since() time.Duration { return time.Duration(t) }

// String prints "HH:MM" or "HH:MM:SS" when seconds are set.
func (t TimeOfDay) String() string {
	d := time.Duration(t)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if s != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

// Within reports whether t lies in the window [from, to), which wraps past
// midnight when to <= from (22:00-06:00 is the night). from == to is the
// whole day.
func (t TimeOfDay) Within(from, to TimeOfDay) bool {
	if from == to {
		return true
	}
	if from < to {
		return t >= from && t < to
	}
	return t >= from || t < to
}

// MarshalText implements encoding.TextMarshaler.
func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *TimeOfDay) UnmarshalText(text []byte) error {
	v, err := ParseTimeOfDay(string(text))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
