package netem

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// TraceOpportunityBytes is the size of one delivery opportunity of a Mahimahi
// trace: the largest TUN payload mahimahi's mm-link handles.
const TraceOpportunityBytes = 1504

// ErrBadTrace is wrapped by every trace parsing error.
var ErrBadTrace = errors.New("netem: bad mahimahi trace")

// TraceError points at the file and line of a malformed trace.
type TraceError struct {
	File string
	Line int
	Msg  string
}

func (e *TraceError) Error() string {
	return fmt.Sprintf("%s:%d: bad mahimahi trace: %s", e.File, e.Line, e.Msg)
}

func (e *TraceError) Unwrap() error { return ErrBadTrace }

// Trace is a Mahimahi mm-link trace: each entry is one opportunity, at that
// many milliseconds after the trace start, to deliver TraceOpportunityBytes.
// The trace repeats with a period equal to its last timestamp.
type Trace struct {
	Name string
	// Ms holds the opportunity times, non-decreasing, last > 0.
	Ms []int64
}

// Period is the trace's length; it repeats after that.
func (t *Trace) Period() time.Duration { return time.Duration(t.Ms[len(t.Ms)-1]) * time.Millisecond }

// MeanRateBits is the average capacity of one period in bit/s.
func (t *Trace) MeanRateBits() float64 {
	return float64(len(t.Ms)) * TraceOpportunityBytes * 8 / t.Period().Seconds()
}

// CapacityBetween returns the bytes the trace can deliver in [from, to)
// measured from the trace start, wrapping around.
func (t *Trace) CapacityBetween(from, to time.Duration) int64 {
	return (t.opportunitiesBefore(to) - t.opportunitiesBefore(from)) * TraceOpportunityBytes
}

// opportunitiesBefore counts opportunities at times < d since the start.
// Cycle 0 holds every entry; later cycles skip entries at 0, which coincide
// with the end of the previous cycle.
func (t *Trace) opportunitiesBefore(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	period := t.Ms[len(t.Ms)-1]
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++ // the opportunity at k ms is before d iff k < ms
	}
	countBelow := func(v int64) int64 { // entries x < v
		lo, hi := 0, len(t.Ms)
		for lo < hi {
			mid := (lo + hi) / 2
			if t.Ms[mid] < v {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return int64(lo)
	}
	n := countBelow(ms)
	if ms <= period {
		return n
	}
	zeros := countBelow(1)
	perCycle := int64(len(t.Ms)) - zeros
	r := ms - period
	full := (r - 1) / period
	rem := r - full*period
	return n + full*perCycle + countBelow(rem) - zeros
}

// maxTraceMs bounds timestamps (a year), far below time.Duration overflow.
const maxTraceMs = 365 * 24 * 3600 * 1000

// ParseTrace reads a Mahimahi trace; name is used in error messages.
func ParseTrace(name string, r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	t := &Trace{Name: name}
	line := 0
	var last int64
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			return nil, &TraceError{name, line, "empty line; each line must hold one timestamp in milliseconds"}
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			// Never the line itself: a trace may be any file root can read.
			return nil, &TraceError{name, line, "not a non-negative integer number of milliseconds"}
		}
		if v > maxTraceMs {
			return nil, &TraceError{name, line, fmt.Sprintf("timestamp beyond %d ms (a year); is this a mahimahi trace?", int64(maxTraceMs))}
		}
		if v < last {
			return nil, &TraceError{name, line, "timestamp smaller than the previous line's; timestamps must not decrease"}
		}
		last = v
		t.Ms = append(t.Ms, v)
	}
	if err := sc.Err(); err != nil {
		return nil, &TraceError{name, line + 1, err.Error()}
	}
	if len(t.Ms) == 0 {
		return nil, &TraceError{name, 0, "empty file; a trace needs at least one timestamp"}
	}
	if last == 0 {
		return nil, &TraceError{name, line, "last timestamp is 0; it sets the period and must be greater than 0"}
	}
	return t, nil
}

// LoadTrace reads a Mahimahi trace file.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netem: open trace: %w", err)
	}
	defer f.Close()
	return ParseTrace(path, f)
}

// traceCursor walks the opportunities of a trace from a start time (on
// the model's clock: nanoseconds since the model's start).
type traceCursor struct {
	t      *Trace
	start  int64
	once   bool
	period int64
	cycle  int64 // current repetition
	idx    int   // next opportunity index in the current cycle
	done   bool
}

func newTraceCursor(t *Trace, start int64, once bool) *traceCursor {
	return &traceCursor{t: t, start: start, once: once, period: t.Ms[len(t.Ms)-1]}
}

// peek returns the time of the next opportunity.
func (c *traceCursor) peek() (int64, bool) {
	if c.done {
		return 0, false
	}
	ms := c.cycle*c.period + c.t.Ms[c.idx]
	return c.start + int64(time.Duration(ms)*time.Millisecond), true
}

func (c *traceCursor) advance() {
	c.idx++
	if c.idx == len(c.t.Ms) {
		if c.once {
			c.done = true
			return
		}
		c.idx = 0
		c.cycle++
		// Opportunities at time 0 belong to the first cycle only: at the wrap
		// point they would coincide with the last timestamp of the previous
		// cycle (mahimahi wraps this way too).
		for c.idx < len(c.t.Ms) && c.t.Ms[c.idx] == 0 {
			c.idx++
		}
	}
}

// skipBefore drops opportunities earlier than at (they were unused).
func (c *traceCursor) skipBefore(at int64) {
	for {
		ts, ok := c.peek()
		if !ok || ts >= at {
			return
		}
		// Jump whole cycles at once when far behind.
		if c.idx == 0 && !c.once {
			behind := time.Duration(at - ts)
			if n := int64(behind / (time.Duration(c.period) * time.Millisecond)); n > 1 {
				c.cycle += n - 1
				continue
			}
		}
		c.advance()
	}
}
