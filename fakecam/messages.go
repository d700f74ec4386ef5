package fakecam

import (
	"encoding/json"
	"fmt"
)

// DataChannelLabel is the label of the one data channel a camera opens
// next to its video track.
const DataChannelLabel = "edgesim"

// FrameMessage is sent by the camera on the data channel before the video
// frame it describes, so that the receiver can tie the RTP timestamp to the
// frame id and capture time.
type FrameMessage struct {
	Type      string `json:"type"` // "frame"
	Frame     uint64 `json:"frame"`
	RTP       uint32 `json:"rtp"`
	CaptureUS int64  `json:"capture_us"` // unix microseconds on the camera's clock
}

// Detection is one detected object in a DetectionsMessage.
type Detection struct {
	Label string     `json:"label"`
	Score float64    `json:"score"`
	Box   [4]float64 `json:"box"` // x0, y0, x1, y1 in pixels of the decoded frame
	Track int        `json:"track,omitempty"`
}

// DetectionsMessage is sent back by the receiver for every frame it infers.
type DetectionsMessage struct {
	Type       string      `json:"type"` // "detections"
	Frame      uint64      `json:"frame"`
	RTP        uint32      `json:"rtp"`
	Node       string      `json:"node"`
	Model      string      `json:"model"`
	Width      int         `json:"width"`
	Height     int         `json:"height"`
	Detections []Detection `json:"detections"`
	InferMS    float64     `json:"infer_ms"`
}

// messageType returns the "type" field of a data channel message.
func messageType(data []byte) (string, error) {
	var m struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("data channel message is not JSON: %w", err)
	}
	return m.Type, nil
}
