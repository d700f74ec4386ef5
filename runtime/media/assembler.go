// Package media turns RTP packets of a VP8 stream into decoded images: a
// frame assembler that emits a frame as soon as its last packet arrives (no
// wait for the next frame, unlike a generic sample builder), and a libvpx
// decoder.
package media

import (
	"errors"
	"sort"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/edgesim/edgesim/runtime/pipeline"
)

// Frame is one assembled VP8 frame.
type Frame struct {
	Data     []byte    // the VP8 bitstream of the frame
	RTP      uint32    // RTP timestamp shared by its packets
	Keyframe bool      // a VP8 key frame (decodable on its own)
	Arrived  time.Time // arrival time of the packet that completed it
}

// Assembler limits; packets beyond them are dropped, so a flood cannot grow
// memory.
const (
	DefaultMaxPending        = pipeline.AssemblyMaxPending // frames waiting for missing packets
	DefaultMaxPacketsInFrame = 1024                        // ~1.2 MB at MTU size, above the decoder's 1 MiB frame limit
)

// MaxTimestampJump is how far (in 90 kHz RTP units, 5 s) a packet may be
// behind the last emitted frame and still count as merely late.
const MaxTimestampJump = 5 * 90000

// ErrFrameDropped is reported through Stats when a frame is given up.
var ErrFrameDropped = errors.New("media: frame incomplete")

type pendingFrame struct {
	ts      uint32
	first   time.Time
	packets map[uint16]*rtp.Packet
	hasHead bool
	headSeq uint16
	hasTail bool
	tailSeq uint16
}

// Assembler rebuilds VP8 frames from RTP packets that may arrive reordered or
// not at all. It is not safe for concurrent use (one per track).
type Assembler struct {
	maxPending  int
	maxPackets  int
	maxWait     time.Duration
	pending     []*pendingFrame // ordered by arrival of their first packet
	lastEmitted uint32
	emitted     bool
	// Incomplete counts frames given up because packets were missing.
	Incomplete int
	// Oversized counts packets dropped because a frame had too many.
	Oversized int
	// Discontinuities counts backward RTP timestamp jumps beyond
	// MaxTimestampJump (a restarted sender); the assembler starts over.
	Discontinuities int
	needKey         bool
	// lastTail is the sequence number of the last packet of the last
	// frame emitted or given up, when tailKnown: the next frame's first
	// packet follows it, else packets between them are missing.
	lastTail  uint16
	tailKnown bool
}

// NewAssembler returns an assembler that gives up an incomplete frame once
// more than maxPending frames wait behind it or it is older than maxWait
// (0 = only by count).
func NewAssembler(maxPending int, maxWait time.Duration) *Assembler {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	return &Assembler{maxPending: maxPending, maxPackets: DefaultMaxPacketsInFrame, maxWait: maxWait, needKey: true}
}

// NeedKeyframe reports whether the assembler drops inter frames until the
// next key frame (at start and after a frame was lost); the caller should
// then ask the sender for one (RTCP PLI).
func (a *Assembler) NeedKeyframe() bool { return a.needKey }

// Push adds one packet received at now and returns the frames it completed,
// in order. Frames that are not key frames while a key frame is needed are
// returned in skipped.
func (a *Assembler) Push(pkt *rtp.Packet, now time.Time) (frames []Frame, skipped int) {
	if pkt == nil {
		return nil, 0
	}
	if a.emitted && !tsAfter(pkt.Timestamp, a.lastEmitted) {
		if a.lastEmitted-pkt.Timestamp <= MaxTimestampJump {
			return nil, 0 // late packet of a frame already emitted or given up
		}
		// the sender restarted or jumped back: start over from this packet
		a.Incomplete += len(a.pending)
		a.pending, a.emitted, a.needKey, a.tailKnown = nil, false, true, false
		a.Discontinuities++
	}
	var pf *pendingFrame
	for _, p := range a.pending {
		if p.ts == pkt.Timestamp {
			pf = p
			break
		}
	}
	if pf == nil {
		pf = &pendingFrame{ts: pkt.Timestamp, first: now, packets: map[uint16]*rtp.Packet{}}
		a.pending = append(a.pending, pf)
		sort.SliceStable(a.pending, func(i, j int) bool { return tsAfter(a.pending[j].ts, a.pending[i].ts) })
	}
	if len(pf.packets) >= a.maxPackets {
		a.Oversized++
		return nil, 0
	}
	if _, dup := pf.packets[pkt.SequenceNumber]; !dup {
		pf.packets[pkt.SequenceNumber] = pkt
	}
	vp8 := codecs.VP8Packet{}
	if vp8.IsPartitionHead(pkt.Payload) && partitionIndex(pkt.Payload) == 0 {
		if !pf.hasHead || seqBefore(pkt.SequenceNumber, pf.headSeq) {
			pf.hasHead, pf.headSeq = true, pkt.SequenceNumber
		}
	}
	if pkt.Marker {
		pf.hasTail, pf.tailSeq = true, pkt.SequenceNumber
	}
	return a.drain(now)
}

// drain emits complete head frames and gives up stuck ones. A complete
// head waits too while packets between it and the frame before it are
// missing: a frame lost whole, or still on its way (reordered, or asked
// for again), which the frames after it need as their reference.
func (a *Assembler) drain(now time.Time) (frames []Frame, skipped int) {
	for len(a.pending) > 0 {
		head := a.pending[0]
		data, ok := head.complete()
		gap := ok && a.tailKnown && head.headSeq != a.lastTail+1
		if (!ok || gap) && !pipeline.GiveUpHead(len(a.pending), a.maxPending, now.Sub(head.first), a.maxWait) {
			break
		}
		if gap {
			a.Incomplete++ // the missing frame
			a.needKey = true
		}
		if !ok {
			a.pending = a.pending[1:]
			a.lastEmitted, a.emitted = head.ts, true
			a.lastTail, a.tailKnown = head.tailSeq, head.hasTail
			a.Incomplete++
			a.needKey = true
			continue
		}
		a.pending = a.pending[1:]
		a.lastEmitted, a.emitted = head.ts, true
		a.lastTail, a.tailKnown = head.tailSeq, true
		if data == nil {
			a.Incomplete++
			a.needKey = true
			continue
		}
		f := Frame{Data: data, RTP: head.ts, Keyframe: IsKeyframe(data), Arrived: now}
		if a.needKey && !f.Keyframe {
			skipped++
			continue
		}
		a.needKey = false
		frames = append(frames, f)
	}
	return frames, skipped
}

// complete returns the frame's bitstream when every packet from head to tail
// is there. ok with nil data means the packets are all there but do not
// depacketize (a corrupt frame, given up).
func (p *pendingFrame) complete() (data []byte, ok bool) {
	if !p.hasHead || !p.hasTail {
		return nil, false
	}
	n := uint16(p.tailSeq - p.headSeq + 1)
	if int(n) > len(p.packets) || n == 0 {
		return nil, false
	}
	for i := uint16(0); i < n; i++ {
		if _, ok := p.packets[p.headSeq+i]; !ok {
			return nil, false
		}
	}
	vp8 := codecs.VP8Packet{}
	for i := uint16(0); i < n; i++ {
		b, err := vp8.Unmarshal(p.packets[p.headSeq+i].Payload)
		if err != nil {
			return nil, true
		}
		data = append(data, b...)
	}
	if len(data) == 0 {
		return nil, true
	}
	return data, true
}

// partitionIndex returns the VP8 payload descriptor's PID field.
func partitionIndex(payload []byte) uint8 {
	if len(payload) == 0 {
		return 0xff
	}
	return payload[0] & 0x07
}

// IsKeyframe reports whether a VP8 bitstream starts a key frame (RFC 6386
// section 9.1: the inverted key-frame bit in the first byte is 0).
func IsKeyframe(vp8 []byte) bool {
	return len(vp8) >= 10 && vp8[0]&0x01 == 0 && vp8[3] == 0x9d && vp8[4] == 0x01 && vp8[5] == 0x2a
}

// tsAfter reports whether RTP timestamp a is after b, with wrap-around.
func tsAfter(a, b uint32) bool { return a != b && a-b < 1<<31 }

// seqBefore reports whether sequence number a is before b, with wrap-around.
func seqBefore(a, b uint16) bool { return a != b && b-a < 1<<15 }

// RequestKeyframe makes the assembler drop inter frames until the next key
// frame (after a decode error).
func (a *Assembler) RequestKeyframe() { a.needKey = true }

// Pending returns the number of frames waiting for packets.
func (a *Assembler) Pending() int { return len(a.pending) }
