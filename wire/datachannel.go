package wire

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// DataChannelLabel is the label of the one data channel a camera opens next
// to its video track. edgenode ignores channels with any other label.
const DataChannelLabel = "edgesim"

// The "type" of each data channel message.
const (
	TypeFrame      = "frame"
	TypeDetections = "detections"
)

// FrameMessage is sent by the camera on the data channel before the video
// frame it describes, so that the receiver can tie the RTP timestamp to the
// frame id and capture time.
type FrameMessage struct {
	Type      string `json:"type"` // TypeFrame
	Frame     uint64 `json:"frame"`
	RTP       uint32 `json:"rtp"`
	CaptureUS int64  `json:"capture_us"` // unix microseconds on the camera's clock
}

// DetectionsMessage is sent back by the receiver for every frame it infers.
// An empty Detections means "inferred, nothing found".
type DetectionsMessage struct {
	Type       string      `json:"type"` // TypeDetections
	Frame      uint64      `json:"frame"`
	RTP        uint32      `json:"rtp"`
	Node       string      `json:"node"`
	Model      string      `json:"model"`
	Width      int         `json:"width"`
	Height     int         `json:"height"`
	Detections []Detection `json:"detections"`
	InferMS    float64     `json:"infer_ms"`
	// Where the frame's time went inside the node: its last packet's
	// arrival to decoded (DecodeMS, with the frame's reassembly), decoded
	// to a worker taking it (WaitMS: sampling queue and workers busy), and
	// arrival to these detections being sent (NodeMS: all of it, inference
	// and tracking included). Zero from nodes that do not report them.
	DecodeMS float64 `json:"decode_ms,omitempty"`
	WaitMS   float64 `json:"wait_ms,omitempty"`
	NodeMS   float64 `json:"node_ms,omitempty"`
}

// Detection is one detected object in a DetectionsMessage.
//
// Score is float32 because that is the detector's precision: a float32
// prints as its shortest decimal (0.93, not 0.9300000071525574). Box is
// whole pixels of the decoded frame, x0,y0,x1,y1 (x1,y1 exclusive). Track is
// the per-stream tracker id, always present (0: not tracked).
type Detection struct {
	Label string  `json:"label"`
	Score float32 `json:"score"`
	Box   [4]int  `json:"box"`
	Track int     `json:"track"`
}

// MessageType returns the "type" field of a data channel message.
func MessageType(data []byte) (string, error) {
	var m struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("data channel message is not JSON: %w", err)
	}
	return m.Type, nil
}

// MaxCameraID is the longest camera id (the bound in CameraIDPattern).
const MaxCameraID = 64

// CameraIDPattern is what a camera id must match: it names the camera in
// the WHIP query (POST /whip?camera=<id>), in metrics and in the camera's
// sample file names.
const CameraIDPattern = `^[A-Za-z0-9._:-]{1,64}$`

var cameraID = regexp.MustCompile(CameraIDPattern)

// CameraIDRule says in words what CameraIDPattern allows, for error messages.
const CameraIDRule = "use 1-64 letters, digits, '.', '_', ':' or '-'"

// ValidCameraID reports whether id matches CameraIDPattern.
func ValidCameraID(id string) bool { return cameraID.MatchString(id) }
