package server

// Data channel messages of contract C3 (docs/protocol.md). The camera opens
// one data channel labelled DataChannelLabel.

// DataChannelLabel is the label of the camera's data channel.
const DataChannelLabel = "edgesim"

// FrameMessage is sent by the camera before each video frame.
type FrameMessage struct {
	Type      string `json:"type"` // "frame"
	Frame     uint64 `json:"frame"`
	RTP       uint32 `json:"rtp"`
	CaptureUS int64  `json:"capture_us"`
}

// DetectionsMessage is sent back for every inferred frame.
type DetectionsMessage struct {
	Type       string             `json:"type"` // "detections"
	Frame      uint64             `json:"frame"`
	RTP        uint32             `json:"rtp"`
	Node       string             `json:"node"`
	Model      string             `json:"model"`
	Width      int                `json:"width"`
	Height     int                `json:"height"`
	Detections []DetectionMessage `json:"detections"`
	InferMS    float64            `json:"infer_ms"`
}

// DetectionMessage is one detected object; Box is x0,y0,x1,y1 in pixels of
// the decoded frame.
type DetectionMessage struct {
	Label string  `json:"label"`
	Score float32 `json:"score"`
	Box   [4]int  `json:"box"`
	Track int     `json:"track"`
}
