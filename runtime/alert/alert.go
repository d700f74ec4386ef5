// Package alert carries zone/dwell alerts from an edge node to the cloud tier
// (contract C3): the Alert message, a Forwarder with a bounded on-disk spool
// (store-and-forward while the uplink is down), and the cloud-side Store that
// receives, deduplicates by id and records them.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Alert is the JSON body of POST <upstream>/v1/alerts.
type Alert struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	Camera    string    `json:"camera"`
	Zone      string    `json:"zone"`
	Label     string    `json:"label"`
	Rule      string    `json:"rule,omitempty"`
	Track     int       `json:"track"`
	Frame     uint64    `json:"frame"`
	FirstSeen time.Time `json:"first_seen"`
	Raised    time.Time `json:"raised"`
	DwellMS   int64     `json:"dwell_ms"`
}

// ErrInvalid is returned for alerts missing required fields.
var ErrInvalid = errors.New("alert: invalid")

// MakeID derives a stable, unique id from what identifies the alert: the same
// track of the same camera raising the same rule gives the same id, so a
// retried delivery is deduplicated upstream.
func MakeID(node, camera, rule string, track int, firstSeen time.Time) string {
	h := sha256.New()
	for _, s := range []string{node, camera, rule, strconv.Itoa(track), strconv.FormatInt(firstSeen.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Validate checks the fields a receiver needs.
func (a *Alert) Validate() error {
	switch {
	case a.ID == "":
		return fmt.Errorf("%w: id is required", ErrInvalid)
	case len(a.ID) > 200:
		return fmt.Errorf("%w: id longer than 200 bytes", ErrInvalid)
	case a.Node == "" || a.Camera == "":
		return fmt.Errorf("%w: node and camera are required", ErrInvalid)
	case a.Raised.IsZero():
		return fmt.Errorf("%w: raised time is required", ErrInvalid)
	}
	return nil
}
