package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Alert is a zone/dwell alert: the JSON body an edge node posts to
// <upstream>/v1/alerts, and, with Received set, the record the cloud tier
// keeps (one line of its --alerts-file, one entry of GET /v1/alerts) and the
// report analyses.
type Alert struct {
	// ID is stable for (node, camera, rule, track, first seen): see MakeID.
	ID     string `json:"id"`
	Node   string `json:"node"`
	Camera string `json:"camera"`
	Zone   string `json:"zone"`
	Label  string `json:"label"`
	Rule   string `json:"rule,omitempty"`
	// Track is the edgenode's tracker id of the object (as in the
	// detections it returned), Frame the camera frame that raised it:
	// together they identify the object in the ground truth.
	Track int    `json:"track"`
	Frame uint64 `json:"frame"`
	// FirstSeen is the capture time (camera clock) of the first frame with
	// the object in the zone.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// Raised is the edge node's clock when the alert was raised.
	Raised  time.Time `json:"raised"`
	DwellMS int64     `json:"dwell_ms"` // on the frames' timeline
	// Received is the cloud tier's clock when it stored the alert; zero
	// in what the edge sends (and for the report: use Raised).
	Received time.Time `json:"received,omitzero"`
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
