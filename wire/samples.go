package wire

// LatencyLine is one line of a camera's latency-<camera>.jsonl: one frame it
// captured and what became of it. An unanswered frame has Answered false
// and no answer fields.
type LatencyLine struct {
	Frame     uint64 `json:"frame"`
	RTP       uint32 `json:"rtp"`
	CaptureUS int64  `json:"capture_us"` // unix microseconds on the camera's clock
	Sent      bool   `json:"sent"`
	Answered  bool   `json:"answered"`
	// LatencyMS is capture to the detections' arrival, on the camera's clock.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Node      string  `json:"node,omitempty"`
	Model     string  `json:"model,omitempty"`
	InferMS   float64 `json:"infer_ms,omitempty"`
	// DecodeMS, WaitMS and NodeMS are the node's (see DetectionsMessage).
	DecodeMS   float64     `json:"decode_ms,omitempty"`
	WaitMS     float64     `json:"wait_ms,omitempty"`
	NodeMS     float64     `json:"node_ms,omitempty"`
	Detections []Detection `json:"detections,omitempty"`
}

// GroundTruthObject is an object in a line of groundtruth-<camera>.jsonl.
type GroundTruthObject struct {
	Track     int      `json:"track"`
	Label     string   `json:"label"`
	Box       [4]int   `json:"box"` // x0, y0, x1, y1 pixels
	Occlusion float64  `json:"occlusion"`
	Zones     []string `json:"zones,omitempty"`
}

// GroundTruthLine is one line of groundtruth-<camera>.jsonl: the truth of
// one captured frame. Events name the scripted events active in it
// ("kind:zone").
type GroundTruthLine struct {
	Frame     uint64              `json:"frame"`
	RTP       uint32              `json:"rtp"`
	PTSMS     float64             `json:"pts_ms"`
	CaptureUS int64               `json:"capture_us"`
	Width     int                 `json:"width"`
	Height    int                 `json:"height"`
	Objects   []GroundTruthObject `json:"objects"`
	Events    []string            `json:"events,omitempty"`
}
