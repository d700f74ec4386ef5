package wire_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/wire"
)

var t0 = time.Date(2026, 11, 29, 22, 0, 1, 200_000_000, time.UTC)

// messages holds one fully populated value of every wire message.
var messages = []any{
	wire.FrameMessage{Type: wire.TypeFrame, Frame: 42, RTP: 3735928559, CaptureUS: 1764412345123456},
	wire.DetectionsMessage{Type: wire.TypeDetections, Frame: 42, RTP: 3735928559, Node: "edge-1", Model: "edgesim-det@v2",
		Width: 640, Height: 360, InferMS: 14.2, DecodeMS: 2.6, WaitMS: 0.4, NodeMS: 17.9,
		Detections: []wire.Detection{{Label: "person", Score: 0.93, Box: [4]int{412, 120, 468, 298}, Track: 7}}},
	wire.Alert{ID: wire.MakeID("edge-1", "cam-3", "loiter-door", 7, t0), Node: "edge-1", Camera: "cam-3", Zone: "door",
		Label: "person", Rule: "loiter-door", Track: 7, Frame: 1234, FirstSeen: t0, Raised: t0.Add(10 * time.Second),
		DwellMS: 10000, Received: t0.Add(10*time.Second + 180*time.Millisecond)},
	wire.LatencyLine{Frame: 42, RTP: 3735928559, CaptureUS: 1764412345123456, Sent: true, Answered: true, LatencyMS: 31.5,
		Node: "edge-1", Model: "edgesim-det@v2", InferMS: 14.2, DecodeMS: 2.6, WaitMS: 0.4, NodeMS: 17.9,
		Detections: []wire.Detection{{Label: "vehicle", Score: 0.5, Box: [4]int{1, 2, 3, 4}, Track: 2}}},
	wire.GroundTruthLine{Frame: 42, RTP: 3735928559, PTSMS: 1400, CaptureUS: 1764412345123456, Width: 640, Height: 360,
		Objects: []wire.GroundTruthObject{{Track: 1, Label: "person", Box: [4]int{10, 20, 60, 140}, Occlusion: 0.25, Zones: []string{"door"}}},
		Events:  []string{"loiter:door"}},
}

// roundTrip encodes v and decodes it into a new value of its type.
func roundTrip(v any) any {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	p := reflect.New(reflect.TypeOf(v))
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	Expect(dec.Decode(p.Interface())).To(Succeed())
	return p.Elem().Interface()
}

// fieldPaths lists the JSON names of t's fields, nested ones as
// "detections[].label"; time.Time is a leaf.
func fieldPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
			name += "[]"
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			out = append(out, fieldPaths(ft, prefix+name+".")...)
		}
	}
	return out
}

// jsonPaths lists the keys of a decoded JSON value the way fieldPaths
// names them, each once.
func jsonPaths(v any) []string {
	set := map[string]bool{}
	var walk func(v any, prefix string)
	walk = func(v any, prefix string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				set[name] = true
				walk(e, name)
			}
		case []any:
			for _, e := range v {
				walk(e, prefix+"[]")
			}
		}
	}
	walk(v, "")
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// docExamples returns the JSON examples of docs/protocol.md: every fenced
// json block, one value per line or the whole block as one value.
func docExamples() []string {
	b, err := os.ReadFile("../docs/protocol.md")
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		dec := json.NewDecoder(strings.NewReader(m[1]))
		for dec.More() {
			var raw json.RawMessage
			Expect(dec.Decode(&raw)).To(Succeed(), "a json block of docs/protocol.md does not parse:\n%s", m[1])
			out = append(out, string(raw))
		}
	}
	return out
}

// documented finds the docs example of t: one that decodes into t without
// unknown fields and names every field of t.
func documented(t reflect.Type, examples []string) (string, []string) {
	want := fieldPaths(t, "")
	var closest []string
	for _, ex := range examples {
		dec := json.NewDecoder(strings.NewReader(ex))
		dec.DisallowUnknownFields()
		if dec.Decode(reflect.New(t).Interface()) != nil {
			continue
		}
		var generic any
		Expect(json.Unmarshal([]byte(ex), &generic)).To(Succeed())
		have := map[string]bool{}
		for _, p := range jsonPaths(generic) {
			have[p] = true
		}
		var missing []string
		for _, p := range want {
			if !have[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return ex, nil
		}
		if closest == nil || len(missing) < len(closest) {
			closest = missing
		}
	}
	if closest == nil {
		closest = want
	}
	sort.Strings(closest)
	return "", closest
}

var _ = Describe("wire messages", func() {
	for _, m := range messages {
		It("round-trips a "+reflect.TypeOf(m).Name()+" through JSON unchanged", func() {
			Expect(roundTrip(m)).To(Equal(m))
		})
	}

	It("covers every field in the round-trip values, so a new field is round-tripped too", func() {
		for _, m := range messages {
			b, err := json.Marshal(m)
			Expect(err).NotTo(HaveOccurred())
			var generic any
			Expect(json.Unmarshal(b, &generic)).To(Succeed())
			Expect(jsonPaths(generic)).To(ConsistOf(fieldPaths(reflect.TypeOf(m), "")), "%T", m)
		}
	})

	It("sends a detector score as its shortest decimal and a box as whole pixels", func() {
		b, err := json.Marshal(wire.Detection{Label: "person", Score: 0.93, Box: [4]int{412, 120, 468, 298}})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal(`{"label":"person","score":0.93,"box":[412,120,468,298],"track":0}`))
	})

	It("reads latency lines the camera wrote before the types were shared (track omitted when 0)", func() {
		var l wire.LatencyLine
		Expect(json.Unmarshal([]byte(`{"frame":3,"rtp":9,"capture_us":5,"sent":true,"answered":true,"latency_ms":20.5,"node":"e",`+
			`"detections":[{"label":"person","score":0.8999999761581421,"box":[1,2,3,4]}]}`), &l)).To(Succeed())
		Expect(l.Detections).To(Equal([]wire.Detection{{Label: "person", Score: 0.9, Box: [4]int{1, 2, 3, 4}}}))
	})

	It("reads the alerts of samples files written before the record was shared, strictly", func() {
		dec := json.NewDecoder(strings.NewReader(`{"id":"a","camera":"c","zone":"z","label":"person","track":3,"frame":9,` +
			`"raised":"2026-11-29T22:00:01.2Z","received":"0001-01-01T00:00:00Z"}`))
		dec.DisallowUnknownFields()
		var a wire.Alert
		Expect(dec.Decode(&a)).To(Succeed())
		Expect(a).To(Equal(wire.Alert{ID: "a", Camera: "c", Zone: "z", Label: "person", Track: 3, Frame: 9, Raised: t0}))
	})

	It("leaves the cloud's received time out of what the edge sends", func() {
		a := messages[2].(wire.Alert)
		a.Received = time.Time{}
		b, err := json.Marshal(a)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).NotTo(ContainSubstring("received"))
		Expect(string(b)).To(ContainSubstring(`"first_seen":"2026-11-29T22:00:01.2Z"`))
	})

	It("derives the same alert id for the same track, rule and first sight, and another otherwise", func() {
		id := wire.MakeID("edge-1", "cam", "loiter", 7, t0)
		Expect(wire.MakeID("edge-1", "cam", "loiter", 7, t0)).To(Equal(id))
		Expect(wire.MakeID("edge-1", "cam", "loiter", 8, t0)).NotTo(Equal(id))
		Expect(wire.MakeID("edge-1", "cam", "loiter", 7, t0.Add(time.Millisecond))).NotTo(Equal(id))
	})

	DescribeTable("rejects an alert a receiver cannot use, naming the field",
		func(edit func(*wire.Alert), want string) {
			a := messages[2].(wire.Alert)
			edit(&a)
			err := a.Validate()
			Expect(err).To(MatchError(wire.ErrInvalid))
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("no id", func(a *wire.Alert) { a.ID = "" }, "id is required"),
		Entry("long id", func(a *wire.Alert) { a.ID = strings.Repeat("x", 201) }, "longer than 200"),
		Entry("no camera", func(a *wire.Alert) { a.Camera = "" }, "node and camera"),
		Entry("no raised time", func(a *wire.Alert) { a.Raised = time.Time{} }, "raised time"),
	)

	DescribeTable("camera ids",
		func(id string, ok bool) { Expect(wire.ValidCameraID(id)).To(Equal(ok)) },
		Entry("plain", "site-a-cam-1", true),
		Entry("with dots, underscores and colons", "lobby.cam_2:main", true),
		Entry("MaxCameraID characters", strings.Repeat("c", wire.MaxCameraID), true),
		Entry("empty", "", false),
		Entry("one more than MaxCameraID", strings.Repeat("c", wire.MaxCameraID+1), false),
		Entry("a slash", "a/b", false),
		Entry("a space", "a b", false),
	)
})

var _ = Describe("docs/protocol.md", func() {
	examples := docExamples()

	for _, m := range messages {
		t := reflect.TypeOf(m)
		It("shows a "+t.Name()+" with every field, and none it does not have", func() {
			ex, missing := documented(t, examples)
			Expect(missing).To(BeEmpty(), "docs/protocol.md needs a json example of wire.%s naming %v", t.Name(), missing)
			// The example is what the Go type sends: re-encoding it
			// gives the same JSON.
			v := reflect.New(t)
			Expect(json.Unmarshal([]byte(ex), v.Interface())).To(Succeed())
			b, err := json.Marshal(v.Elem().Interface())
			Expect(err).NotTo(HaveOccurred())
			Expect(b).To(MatchJSON(ex))
		})
	}

	It("names the data channel label, the message types and the camera id pattern", func() {
		b, err := os.ReadFile("../docs/protocol.md")
		Expect(err).NotTo(HaveOccurred())
		doc := string(b)
		Expect(doc).To(ContainSubstring("labelled **`" + wire.DataChannelLabel + "`**"))
		Expect(doc).To(ContainSubstring(`"type":"` + wire.TypeFrame + `"`))
		Expect(doc).To(ContainSubstring(`"type":"` + wire.TypeDetections + `"`))
		Expect(doc).To(ContainSubstring("`" + strings.Trim(wire.CameraIDPattern, "^$") + "`"))
	})
})
