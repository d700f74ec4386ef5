package alert_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesim/edgesim/runtime/alert"
	"github.com/edgesim/edgesim/wire"
)

// FuzzReadJSONL feeds the cloud store's reader an alerts file whose head is
// arbitrary bytes (a crash, a disk error, a hostile writer) followed by one
// well-formed record on a line of its own. The reader must never panic,
// must still find that record, and must report every id once. The store
// built on the same file must keep it and append the next alert on a line
// of its own, so a restart reads both back.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"a1","node":"n","camera":"c","zone":"z","label":"person","track":1,"frame":2}`))
	f.Add([]byte(`{"id":"torn","node":"n","cam`))
	f.Add([]byte("\n\n{\"id\":\"x\"}{\"id\":\"y\"}\n"))
	f.Add([]byte("\x00\xff{\"id\":"))
	f.Add(bytes.Repeat([]byte("{"), 70000))
	good := wire.Alert{ID: "tail-0001", Node: "edge-1", Camera: "cam-1", Zone: "door", Label: "person", Track: 7, Frame: 42, Raised: time.Unix(1700000000, 0).UTC()}
	line, err := json.Marshal(good)
	if err != nil {
		f.Fatal(err)
	}
	// Durability is specified elsewhere; fsync here only slows the search.
	defer alert.SetSyncFile(func(*os.File) error { return nil })()
	defer alert.SetSyncDir(func(string) error { return nil })()
	f.Fuzz(func(t *testing.T, head []byte) {
		file := append(append(append([]byte{}, head...), '\n'), line...)
		file = append(file, '\n')
		var got []wire.Alert
		if err := alert.ReadJSONL(bytes.NewReader(file), func(a wire.Alert) { got = append(got, a) }, nil); err != nil {
			t.Fatalf("ReadJSONL: %v", err)
		}
		if len(got) == 0 || got[len(got)-1].ID != good.ID || got[len(got)-1].Frame != good.Frame {
			t.Fatalf("the record after the head is lost: got %d alerts, last %+v", len(got), got)
		}
		seen := map[string]bool{}
		for _, a := range alert.ReadAlerts(file) {
			if a.ID == "" || seen[a.ID] {
				t.Fatalf("ReadAlerts reported id %q twice or empty", a.ID)
			}
			seen[a.ID] = true
		}

		// A torn tail: the head alone, with no newline, is what a crash
		// mid-write leaves; the store must start the next record afresh.
		path := filepath.Join(t.TempDir(), "alerts.jsonl")
		if err := os.WriteFile(path, append(append(append([]byte{}, line...), '\n'), head...), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := alert.NewStore(alert.WithJSONL(path), alert.WithStoreClock(func() time.Time { return time.Unix(0, 0) }))
		if err != nil {
			t.Fatalf("NewStore on a damaged file: %v", err)
		}
		next := good
		next.ID = "after-restart"
		if _, err := s.Add(next); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, a := range alert.ReadAlerts(b) {
			ids[a.ID] = true
		}
		if !ids[good.ID] || !ids[next.ID] {
			t.Fatalf("after a restart on a damaged file: have %v, want %q and %q", ids, good.ID, next.ID)
		}
	})
}
