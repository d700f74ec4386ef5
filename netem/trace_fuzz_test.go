package netem_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/edgesim/edgesim/netem"
)

// FuzzParseTrace checks that any input either parses into a trace the model
// can replay or fails with a TraceError, never panics.
func FuzzParseTrace(f *testing.F) {
	f.Add([]byte("1\n"))
	f.Add([]byte("0\n0\n5\n5\n9\n"))
	f.Add([]byte("3\nx\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := netem.ParseTrace("fuzz", bytes.NewReader(b))
		if err != nil {
			var te *netem.TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error is not a TraceError: %v", err)
			}
			return
		}
		if tr.Period() <= 0 {
			t.Fatalf("period %v", tr.Period())
		}
		m, err := netem.NewModel(netem.LinkConfig{Trace: tr}, 1, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(0, 0)
		for i := range 20 {
			m.Send(now.Add(time.Duration(i)*time.Millisecond), &netem.Packet{Buf: make([]byte, 1500), N: 1500})
		}
		var out []*netem.Packet
		for i := 0; i < 100; i++ {
			next, ok := m.Next()
			if !ok {
				break
			}
			out = m.Deliver(next, out)
		}
		if got := tr.CapacityBetween(0, tr.Period()); got < 0 {
			t.Fatalf("negative capacity %d", got)
		}
	})
}
