package scene

import (
	"encoding/json"
	"fmt"
	"time"
)

type eventJSON struct {
	Kind  string       `json:"kind"`
	Zone  string       `json:"zone"`
	Label string       `json:"label,omitempty"`
	Start jsonDuration `json:"start"`
	End   jsonDuration `json:"end"`
}

// MarshalJSON writes the event with durations as strings ("20s").
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{e.Kind, e.Zone, e.Label, jsonDuration(e.Start), jsonDuration(e.End)})
}

// UnmarshalJSON reads an event whose start and end are duration strings
// ("20s", "1m30s") or nanoseconds.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event{Kind: j.Kind, Zone: j.Zone, Label: j.Label, Start: time.Duration(j.Start), End: time.Duration(j.End)}
	return nil
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: write it with a unit, e.g. 20s or 1m30s", s)
		}
		*d = jsonDuration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"20s\"", b)
	}
	*d = jsonDuration(n)
	return nil
}
