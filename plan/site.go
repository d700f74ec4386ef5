package plan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/runtime/rules"
	"github.com/edgesim/edgesim/wire"
)

const (
	maxPacket     = 1500
	maxFrameBytes = 1 << 22
	metaLen       = 20
	ringN         = 256 // frames per camera that may be in flight on the links
	never         = int64(math.MaxInt64)
	pliInterval   = int64(500 * time.Millisecond) // runtime/server/session.go pliInterval
)

// Packet kinds, in the packet's metadata.
const (
	pkVideo uint8 = iota + 1
	pkAnswer
	pkAlert
	pkFrameMessage // the data channel message a camera sends before each frame
)

// frameMessageBytes is the size on the link of the data channel message
// (wire.FrameMessage, docs/protocol.md section 2) a camera sends before
// frame no: its JSON, with a ten-digit RTP timestamp and a sixteen-digit
// capture time, padded to SCTP's four bytes, plus what SCTP, DTLS, UDP and
// IPv4 add around it. That is 97 bytes: on the cloud node's interface, a
// capture of a cloud-placement run (7 December 2026) saw every such
// message of a 74-75 byte JSON in a 145-byte UDP payload (173 bytes of IP).
func frameMessageBytes(no uint64) int {
	const overhead = 97
	return (frameMessageBase+digits(no)+3)&^3 + overhead
}

// frameMessageBase is the JSON length of a frame message less its frame
// number's digits.
var frameMessageBase = func() int {
	b, err := json.Marshal(wire.FrameMessage{Type: wire.TypeFrame, Frame: 0, RTP: 3_000_000_000, CaptureUS: 1_700_000_000_000_000})
	if err != nil {
		panic(err)
	}
	return len(b) - 1
}()

// digits is the number of decimal digits of n.
func digits(n uint64) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// group is what the simulator needs of a camera group.
type group struct {
	cfg     *CameraGroup
	enc     *Encoding
	delay   Quantiles // the camera's delay before the links (Calibration.CameraDelay)
	decode  Quantiles
	period  int64
	rules   *rules.Config // nil: no rule applies
	covered []bool        // per event: a rule covers it
}

// segment is a stretch of time in which a camera streams to one node.
type segment struct {
	from, to int64
	node     int32
}

// camera is a camera's state that lives across the phases of a run.
type camera struct {
	g        *group
	global   int32
	phase    int64
	rtpBase  uint32
	segs     []segment
	trackers []int32
	sent     []int64 // capture times of frames sent after the first fault that affects it
	alertAt  []int64 // per event of its group: first alert at the cloud
}

// tracker follows one camera after one fault (see FailoverGap).
type tracker struct {
	fault   int
	cam     int32
	at      int64
	before  bool
	bestCap int64
	recAt   int64
}

// site is a site's state across phases.
type site struct {
	idx      int
	cfg      *Site
	seed     uint64
	cams     []camera
	trackers []tracker
	res      SiteResult
}

// arrival is a sampled frame on its way to a cloud node (cloud placement).
type arrival struct {
	cam, session, node int32
	capture, arrived   int64
	submit             int64
}

// answer is an inferred frame on its way back (cloud placement).
type answer struct {
	cam     int32
	capture int64
	done    int64
}

// ingest is the per-camera decoder state of the session it streams in.
type ingest struct {
	session    int32
	needKey    bool
	sampled    bool
	lastRTP    uint32
	decodeFree int64
}

// sender is a camera's encoder and the node-side assembler of its frames.
type sender struct {
	seg        int
	no         uint32
	sinceKey   int
	forceKey   bool
	pliAt      int64
	lastPLI    int64
	nextExpect uint32
	ring       [ringN]int32
	// tailKnown: the last packet of the frame the assembler last emitted or
	// gave up arrived (the next frame's first packet follows it), in the
	// session tailSession.
	tailKnown   bool
	tailSession int32
	in          ingest
	// The stream's video packets the receiver lacks (NACK, see
	// domain.videoLost), the receiver's next NACK tick and the next check
	// of its assembler's time limit (-1: none scheduled).
	miss          []missPkt
	nackAt, asmAt int64
	seq           uint32 // the stream's next RTP sequence number
	// The stream's latest first arrivals, oldest overwritten: a packet
	// whose loss shows at its delivery (a corrupted one) may be missed
	// already by a later one that came first (videoLost). Eight cover a
	// frame's packets reordered around it; the earliest of more would be
	// taken a little late.
	recent  [8]arrivalRec
	recentN uint32
}

type arrivalRec struct {
	seq uint32
	at  int64
}

// missPkt is a video packet of frame slot (generation gen, packet idx,
// sequence number seq, n bytes on the link) that the receiver lacks. It
// noticed the gap at seen (a later packet arrived; -1: not yet), names the
// packet in each NACK from then on, and the camera resends it on each NACK
// that reaches it, at most once per round trip (resent: when it last did;
// -1: never).
// arrived is when a copy arrives, for one settled before then (never:
// none yet).
type missPkt struct {
	slot                  int32
	gen, seq              uint32
	idx                   uint16
	n                     int
	seen, resent, arrived int64
}

// nackWindow is how far behind the newest packet received a missing one
// is still asked for: pion's NACK generator's receive log (512 packets).
const nackWindow = 512

// has says whether packet idx of the frame arrived (always false past the
// 128th).
func (fr *frameRec) has(idx uint16) bool {
	return idx < 128 && fr.seen[idx/64]&(uint64(1)<<(idx%64)) != 0
}

// first marks packet idx of the frame as arrived and says whether it is
// its first copy (packets past the 128th are not told apart).
func (fr *frameRec) first(idx uint16) bool {
	if fr.has(idx) {
		return false
	}
	if idx < 128 {
		fr.seen[idx/64] |= uint64(1) << (idx % 64)
	}
	return true
}

type frameRec struct {
	gen      uint32
	cam      int32
	no       uint32
	session  int32
	node     int32
	capture  int64
	encode   int64 // the camera's render and encode time (ns) before the frame went out
	npk, got uint16
	key      bool
	live     bool
	seen     [2]uint64
	// firstAt is when the frame's first packet arrives (never: none yet),
	// doneAt when its last one does; ready: every packet is there, and the
	// frame waits for the frames before it (domain.drain). On a direct link
	// (see link.direct) both times are known when the packets are sent.
	firstAt, doneAt int64
	ready           bool
}

// link is one netem model in a domain, and where its packets go next.
type link struct {
	name    string // lan or wan
	m       *netem.Model
	cfg     netem.LinkConfig
	tag     uint64 // seeds the model
	next    *link
	feeder  *link // the link whose deliveries this one pulls (domain.open)
	wakeAt  int64
	corrupt bool
	up      bool
	// direct: the link has no bottleneck queue (no rate, no trace) and is
	// the last hop, so a packet's delivery time is fixed when Send accepts
	// it. Its packets get no wake-ups of their own: their effect is
	// scheduled (a frame's completion, an alert's arrival) or recorded
	// (an answer) at send time with the model's own delivery time: its
	// model hands them back at once (netem.WithoutDelayLine), and the
	// link counts what arrives within the run (end) itself.
	direct bool
	// departs: the link is the last hop, has a bottleneck queue and a
	// fixed delay (no jitter, no reordering) that no fault changes. Its
	// model hands each packet back when it leaves the queue (netem's
	// WithoutDelayLine), with its delivery time; the link wakes once the
	// first departed packet could arrive and settles every departure by
	// then as a direct link settles at send time (domain.settle).
	departs        bool
	end            int64
	packets, bytes uint64
}

func seedOf(parts ...uint64) uint64 {
	x := uint64(0x243f6a8885a308d3)
	for _, p := range parts {
		x ^= p + 0x9e3779b97f4a7c15 + (x << 6) + (x >> 2)
		// splitmix64 finaliser
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0xda3e39cb94b95bdb)) }

// Seed tags of the random streams.
const (
	tagSite = iota + 1
	tagSetup
	tagFailover
	tagUp
	tagDown
	tagCloud
	tagLink
	tagNACK
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func putMeta(p *netem.Packet, kind uint8, idx uint16, a uint32, b int64, c uint32) {
	m := p.Buf[p.N : p.N+metaLen]
	m[0] = kind
	binary.LittleEndian.PutUint16(m[1:], idx)
	binary.LittleEndian.PutUint32(m[4:], a)
	binary.LittleEndian.PutUint64(m[8:], uint64(b))
	binary.LittleEndian.PutUint32(m[16:], c)
}

func getMeta(p *netem.Packet) (kind uint8, idx uint16, a uint32, b int64, c uint32) {
	m := p.Buf[p.N : p.N+metaLen]
	return m[0], binary.LittleEndian.Uint16(m[1:]), binary.LittleEndian.Uint32(m[4:]),
		int64(binary.LittleEndian.Uint64(m[8:])), binary.LittleEndian.Uint32(m[16:])
}

// buildGroups resolves a site's camera groups against the calibration.
func buildGroups(f *Fleet, cal *Calibration, s *Site) ([]*group, error) {
	var out []*group
	decodeClass := s.Class
	if f.Placement == PlacementCloud {
		decodeClass = f.Cloud.Class
	}
	for i := range s.Cameras {
		g := &s.Cameras[i]
		enc, err := cal.EncodingFor(g.Bitrate, g.FPS)
		if err != nil {
			return nil, err
		}
		dec, err := cal.Decode(decodeClass, g.Width, g.Height, g.Bitrate)
		if err != nil {
			return nil, err
		}
		gr := &group{cfg: g, enc: enc, delay: cal.CameraDelay(decodeClass, enc), decode: dec,
			period: int64(float64(time.Second) / g.FPS)}
		rc := &rules.Config{}
		for _, z := range g.Zones {
			rc.Zones = append(rc.Zones, rules.Zone{Name: z.Name, Rect: z.Rect})
		}
		gr.covered = make([]bool, len(g.Events))
		for ri, a := range f.Alerts {
			if !hasZone(g.Zones, a.Zone) {
				continue
			}
			rc.Rules = append(rc.Rules, rules.Rule{Name: fmt.Sprintf("rule-%d", ri), Zone: a.Zone, Label: a.Label, Dwell: a.Dwell, NightOnly: a.NightOnly})
			if a.NightOnly {
				rc.Night.LumaBelow = rules.NightLuma
			}
			for ei, e := range g.Events {
				if e.Zone == a.Zone && e.Label == a.Label {
					gr.covered[ei] = true
				}
			}
		}
		if len(rc.Rules) > 0 {
			if err := rc.Validate(); err != nil {
				return nil, fmt.Errorf("site %s, cameras %s: %w", s.Name, g.Name, err)
			}
			gr.rules = rc
		}
		out = append(out, gr)
	}
	return out, nil
}

func hasZone(zs []Zone, name string) bool {
	for _, z := range zs {
		if z.Name == name {
			return true
		}
	}
	return false
}

// observation is what the detector is assumed to see in a frame captured
// at capture: every scripted object present then, standing in the middle
// of its zone (detection recall is not modelled).
func observation(g *group, capture int64) rules.Observation {
	o := rules.Observation{Time: epoch.Add(time.Duration(capture)), Width: g.cfg.Width, Height: g.cfg.Height, Luma: g.cfg.Luma}
	for ei, e := range g.cfg.Events {
		if in, out := e.presence(); capture < int64(in) || capture >= int64(out) {
			continue
		}
		for _, z := range g.cfg.Zones {
			if z.Name != e.Zone {
				continue
			}
			x := int((z.Rect[0] + z.Rect[2]) / 2 * float64(g.cfg.Width))
			y := int((z.Rect[1] + z.Rect[3]) / 2 * float64(g.cfg.Height))
			o.Objects = append(o.Objects, rules.Object{TrackID: ei + 1, Label: e.Label, Box: image.Rect(x-4, y-16, x+4, y)})
		}
	}
	return o
}
