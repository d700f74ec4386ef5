package plan

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/edgesim/edgesim/runtime/alert"

	"github.com/edgesim/edgesim/netem"
	edgepipe "github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/rules"
)

// phase says which part of a site's traffic a domain simulates.
type phase int

const (
	phaseEdge      phase = iota // everything: cameras, LAN, edge nodes, alerts over the WAN
	phaseCloudUp                // cameras, LAN and WAN up to the cloud node's decoder
	phaseCloudDown              // answers from the cloud over WAN and LAN down to the cameras
)

// domain is one event loop on a virtual clock: a site in one phase.
type domain struct {
	f     *Fleet
	s     *site
	ph    phase
	q     events
	now   int64
	end   int64
	rng   *rand.Rand
	stats Stats

	links          []*link
	lanUp, lanDown *link
	wanUp, wanDown *link
	pool           []*netem.Packet
	out            []*netem.Packet
	pulled         []*netem.Packet // a feeder's deliveries (pull)
	resend         []missPkt       // nackLand's packets
	corrupting     bool            // a link corrupts packets: freed packets are zeroed whole
	cloned         *netem.Packet   // the duplicate the last Send made, if any

	frames  []frameRec
	freeFr  []int32
	senders []sender

	pipe    *pipeline
	jobs    []job
	freeJob []int32
	pliWait int64 // one-way delay of the answer path: how long a keyframe request takes

	alerts    []alertRec
	arrivals  []arrival // phaseCloudUp output
	answers   []answer  // phaseCloudDown input
	ansNext   int
	cloudDead []int64
	cloudBack []int64
}

type alertRec struct {
	cam     int32
	event   int32
	tries   int
	backoff time.Duration // the forwarder's current backoff
}

// newLink adds a link of the domain; open makes its model once the links
// are wired.
func (d *domain) newLink(name string, cfg netem.LinkConfig, tag uint64, up bool) *link {
	l := &link{name: name, cfg: cfg, tag: tag, wakeAt: -1, corrupt: cfg.Corrupt > 0, up: up}
	d.corrupting = d.corrupting || l.corrupt
	d.links = append(d.links, l)
	return l
}

// open decides which links are direct and makes every link's model.
func (d *domain) open() error {
	changing := map[*link]bool{}
	for _, l := range d.links {
		ch, corrupt := d.changed(l)
		changing[l] = ch
		l.corrupt = l.corrupt || corrupt
		d.corrupting = d.corrupting || corrupt
	}
	for _, l := range d.links {
		// Video that reached a link through another may come in several
		// copies per packet: videoPacket dedups them, so such a link is
		// not direct (answers and alerts have no such rule).
		chained := false
		for _, o := range d.links {
			chained = chained || o.next == l
		}
		// A link a fault gives a rate or trace later is not direct either.
		l.direct = l.next == nil && l.cfg.RateBits == 0 && l.cfg.Trace == nil && !changing[l] && (!chained || d.ph == phaseCloudDown)
		// A last hop with a bottleneck queue but a fixed delay delivers in
		// the order its queue serves: settled when its packets leave the
		// queue, a copy of a video packet that arrives after another is
		// known to be the later one.
		l.departs = l.next == nil && (l.cfg.RateBits > 0 || l.cfg.Trace != nil) && !changing[l] && l.cfg.Jitter == 0 && l.cfg.Reorder.Percent == 0
		opts := []netem.ModelOption{netem.WithPacketFree(d.freePkt), netem.WithPacketClone(d.clonePkt)}
		if l.direct || l.departs {
			opts = append(opts, netem.WithoutDelayLine())
		}
		m, err := netem.NewModel(l.cfg, int64(seedOf(d.s.seed, tagLink, l.tag)), epoch, opts...)
		if err != nil {
			return err
		}
		l.m, l.end = m, d.end
	}
	for _, l := range d.links {
		// A link that feeds one with a delay line (cloud placement's LAN
		// into the WAN, which takes packets from nothing else) gets no
		// wake-ups of its own: the fed link pulls its deliveries when it
		// wakes (pull), which saves an event per packet. Not one that a
		// fault ramps: its queue's departures must be served at their own
		// times while its settings move.
		if n := l.next; n != nil && !n.direct && !changing[l] {
			n.feeder = l
		}
	}
	return nil
}

func (d *domain) getPkt(n int) *netem.Packet {
	var p *netem.Packet
	if k := len(d.pool); k > 0 {
		p = d.pool[k-1]
		d.pool = d.pool[:k-1]
	} else {
		p = &netem.Packet{Buf: make([]byte, maxPacket+metaLen)}
	}
	p.N = n
	return p
}

// freePkt returns p to the pool. A packet's bytes must read as zero when it
// is taken again, since a corrupted one is recognised by a non-zero byte:
// its metadata (written after its N bytes, which may lie inside the next
// user's N) is cleared, and on a corrupting domain the whole packet.
func (d *domain) freePkt(p *netem.Packet) {
	if d.corrupting {
		clear(p.Buf[:p.N+metaLen])
	} else {
		clear(p.Buf[p.N : p.N+metaLen])
	}
	d.pool = append(d.pool, p)
}

func (d *domain) clonePkt(p *netem.Packet) *netem.Packet {
	q := d.getPkt(p.N)
	copy(q.Buf, p.Buf[:p.N+metaLen])
	d.cloned = q
	return q
}

// send offers p to link l now.
func (d *domain) send(l *link, p *netem.Packet) bool {
	if !d.offer(l, p, d.now) {
		return false
	}
	d.wake(l)
	return true
}

// offer sends p on link l at at (now, or a feeder's delivery time) without
// scheduling the link's wake-up.
func (d *domain) offer(l *link, p *netem.Packet, at int64) bool {
	d.stats.Packets++
	d.cloned = nil
	if ok, _ := l.m.SendSinceStart(time.Duration(at), p); !ok {
		d.lost(p)
		d.freePkt(p)
		return false
	}
	if l.direct {
		// The model handed p (and its duplicate) back with their
		// delivery times: settle them now.
		dup := d.cloned
		d.cloned = nil
		l.delivered(p)
		if dup != nil {
			l.delivered(dup)
		}
		d.landed(l, p, dup)
		d.freePkt(p)
		if dup != nil {
			d.freePkt(dup)
		}
	}
	return true
}

// pull moves the packets that feeder f delivers by at on to the link it
// feeds, each sent there at its own delivery time and in delivery order:
// what waking for each of f's deliveries would do. The fed link's draws
// are the same and in the same order, since its model only sees these
// sends, and each of them at its time.
func (d *domain) pull(f *link, at int64) {
	d.pulled = f.m.DeliverSinceStart(time.Duration(at), d.pulled[:0])
	for _, p := range d.pulled {
		if !d.authDrops(f, p) {
			d.offer(f.next, p, int64(p.DueSinceStart()))
		}
	}
}

// delivered counts packet p of a link that settles its packets (direct,
// or settled at departure) in the link's totals if it arrives within the
// run, as the model's delivery would.
func (l *link) delivered(p *netem.Packet) {
	if int64(p.DueSinceStart()) <= l.end {
		l.packets++
		l.bytes += uint64(p.N)
	}
}

// arrival is when a packet a direct link accepted arrives, and whether it
// arrives intact (SRTP/DTLS authentication drops a corrupted one).
func (d *domain) arrival(l *link, p *netem.Packet) (int64, bool) {
	return int64(p.DueSinceStart()), !l.corrupt || !corrupted(p)
}

// landed settles, at send time, packet p and its duplicate dup (or nil)
// that a direct link accepted: exactly what receiving them at their
// delivery times would do.
func (d *domain) landed(l *link, p, dup *netem.Packet) {
	kind, idx, a, b, c := getMeta(p)
	if kind != pkVideo { // an answer or an alert: each copy on its own
		d.settle(l, p)
		if dup != nil {
			d.settle(l, dup)
		}
		return
	}
	// The frame completes when every packet has an intact copy there.
	at, ok := d.arrival(l, p)
	if dup != nil {
		if at2, ok2 := d.arrival(l, dup); ok2 && (!ok || at2 < at) {
			at, ok = at2, true
		}
	}
	d.videoLanded(int32(a), c, idx, uint32(b), p.N, at, ok)
}

// videoLanded is a copy of packet idx of frame slot (sequence number seq,
// n bytes) arriving at at, intact or not (SRTP drops a corrupted one, and
// the receiver asks for it again). The frame completes at its last
// packet's arrival.
func (d *domain) videoLanded(slot int32, gen uint32, idx uint16, seq uint32, n int, at int64, intact bool) {
	fr := &d.frames[slot]
	if !fr.live || fr.gen != gen {
		return
	}
	if !intact {
		d.videoLost(slot, gen, idx, seq, n)
		return
	}
	if !fr.first(idx) {
		return
	}
	fr.firstAt, fr.doneAt = min(fr.firstAt, at), max(fr.doneAt, at)
	d.videoArrived(fr.cam, seq, at)
	if fr.got++; fr.got == fr.npk {
		d.q.push(event{at: fr.doneAt, kind: evFrame, a: slot, c: gen})
	}
}

// settle is landed for one packet: for a link settled at departure
// (link.departs) each packet, copies included, in the order they arrive,
// and for a direct link an answer's or alert's copies.
func (d *domain) settle(l *link, p *netem.Packet) {
	kind, idx, a, b, c := getMeta(p)
	at, ok := d.arrival(l, p)
	switch kind {
	case pkVideo:
		d.videoLanded(int32(a), c, idx, uint32(b), p.N, at, ok)
	case pkAnswer:
		d.answerLanded(int32(a), b, at, ok)
	case pkAlert:
		d.alertLanded(int32(a), at, ok)
	}
}

func (d *domain) answerLanded(ci int32, capture, at int64, intact bool) {
	switch {
	case at > d.end: // after the run
	case !intact:
		d.s.res.Frames.AnswerLost++
	default:
		d.answered(ci, capture, at)
	}
}

func (d *domain) alertLanded(ai int32, at int64, intact bool) {
	if at <= d.end {
		e := event{at: at, kind: evAlertLand, a: ai}
		if !intact {
			e.b = 1
		}
		d.q.push(e)
	}
}

func (d *domain) wake(l *link) {
	if l.direct {
		return
	}
	if n := l.next; n != nil && n.feeder == l {
		d.wake(n) // the link it feeds pulls its packets
		return
	}
	// Only deliveries matter here: the model serves its queue, with the
	// same draws in the same order, whenever it is next advanced. A packet
	// still on the feeder arrives at its delivery there at the earliest,
	// and spends at least the least delay on this link. A link settled at
	// departure (its model's bound is a departure) needs its packets by
	// the time the first of them could arrive: the departures up to then
	// are settled together.
	t, ok := l.m.NextDeliveryBoundSinceStart()
	if f := l.feeder; f != nil {
		if ft, fok := f.m.NextDeliveryBoundSinceStart(); fok {
			if !l.departs {
				ft += l.m.LeastDelay()
			}
			if !ok || ft < t {
				t, ok = ft, true
			}
		}
	}
	if !ok {
		return
	}
	if l.departs {
		t += l.m.LeastDelay()
	}
	ns := int64(t)
	if l.wakeAt < 0 || ns < l.wakeAt {
		l.wakeAt = ns
		d.q.push(event{at: ns, kind: evLink, a: int32(d.linkIndex(l))})
	}
}

func (d *domain) linkIndex(l *link) int {
	for i, x := range d.links {
		if x == l {
			return i
		}
	}
	panic("plan: unknown link")
}

// run processes events up to the end of the run.
func (d *domain) run() {
	for d.q.len() > 0 {
		e := d.q.pop()
		if e.at > d.end {
			break
		}
		d.now = e.at
		d.stats.Events++
		switch e.kind {
		case evCapture:
			d.capture(e.a)
		case evLink:
			d.linkWake(e)
		case evSubmit:
			if t := d.pipe.nodes[e.a].thawed(d.now); t != d.now {
				d.q.push(event{at: t, kind: evSubmit, a: e.a, b: e.b}) // the decoder is frozen too
				break
			}
			j := d.jobs[e.b]
			d.freeJob = append(d.freeJob, e.b)
			d.pipe.submit(d.now, e.a, j)
		case evDone:
			d.pipe.done(d.now, e.a, e.b, e.c)
		case evFault:
			d.fault(int(e.a), e.b == 1)
		case evAlertTry:
			d.sendAlert(e.a)
		case evAnswer:
			d.replayAnswer()
		case evFrame:
			if fr := &d.frames[e.a]; fr.live && fr.gen == e.c {
				d.complete(e.a)
			}
		case evAlertLand:
			if e.b == 1 {
				d.retryAlert(e.a)
			} else {
				d.alertArrived(e.a)
			}
		case evNACK:
			if sd := &d.senders[e.a]; sd.nackAt == e.at {
				sd.nackAt = -1
				d.nackTick(e.a)
			}
		case evNACKLand:
			d.nackLand(e.a)
		case evAssemble:
			if sd := &d.senders[e.a]; sd.asmAt == e.at {
				sd.asmAt = -1
				d.drain(e.a)
			}
		}
	}
	d.pullAll(d.end) // what the feeders deliver within the run reaches the links they feed
}

// pullAll pulls every feeder's packets due by at.
func (d *domain) pullAll(at int64) {
	for _, l := range d.links {
		if f := l.feeder; f != nil {
			d.pull(f, at)
		}
	}
}

func (d *domain) linkWake(e event) {
	l := d.links[e.a]
	if e.at != l.wakeAt {
		return // superseded by an earlier wake
	}
	l.wakeAt = -1
	if f := l.feeder; f != nil {
		d.pull(f, d.now)
	}
	d.out = l.m.DeliverSinceStart(time.Duration(d.now), d.out[:0])
	if l.departs {
		for _, p := range d.out {
			l.delivered(p)
			d.settle(l, p)
			d.freePkt(p)
		}
		d.wake(l)
		return
	}
	for _, p := range d.out {
		if d.authDrops(l, p) {
			continue
		}
		if l.next != nil {
			d.send(l.next, p)
			continue
		}
		d.receive(p)
	}
	d.wake(l)
}

// authDrops says whether packet p, delivered by link l, fails SRTP/DTLS
// authentication (l corrupted it); such a packet is noted lost and freed.
func (d *domain) authDrops(l *link, p *netem.Packet) bool {
	if !l.corrupt || !corrupted(p) {
		return false
	}
	d.lost(p)
	d.freePkt(p)
	return true
}

func corrupted(p *netem.Packet) bool {
	for _, b := range p.Data() {
		if b != 0 {
			return true
		}
	}
	return false
}

// lost notes a packet that will never arrive: an alert is retried (the
// forwarder's backoff), an answer is lost, a video packet is asked for
// again (videoLost).
func (d *domain) lost(p *netem.Packet) {
	switch kind, idx, a, b, c := getMeta(p); kind {
	case pkVideo:
		d.videoLost(int32(a), c, idx, uint32(b), p.N)
	case pkAlert:
		d.retryAlert(int32(a))
	case pkAnswer:
		d.s.res.Frames.AnswerLost++
	}
}

func (d *domain) receive(p *netem.Packet) {
	kind, idx, a, b, c := getMeta(p)
	d.freePkt(p)
	switch kind {
	case pkVideo:
		d.videoPacket(int32(a), c, idx, uint32(b))
	case pkAnswer:
		d.answered(int32(a), b, d.now)
	case pkAlert:
		d.alertArrived(int32(a))
	}
}

// capture makes one frame of camera ci and sends its packets.
func (d *domain) capture(ci int32) {
	c := &d.s.cams[ci]
	sd := &d.senders[ci]
	g := c.g
	d.q.pushPeriodic(g.period, event{at: d.now + g.period, kind: evCapture, a: ci})
	d.s.res.Frames.Captured++
	for sd.seg < len(c.segs) && c.segs[sd.seg].to <= d.now {
		sd.seg++
		sd.forceKey = true // a new session starts with a keyframe
	}
	if sd.seg == len(c.segs) || c.segs[sd.seg].from > d.now {
		d.s.res.Frames.NotSent++
		return
	}
	if len(c.trackers) > 0 && d.now >= d.s.trackers[c.trackers[0]].at {
		c.sent = append(c.sent, d.now)
	}
	enc := g.enc
	key := sd.forceKey || sd.sinceKey >= enc.KeyframeInterval || (sd.pliAt > 0 && d.now >= sd.pliAt)
	if sd.pliAt > 0 && d.now >= sd.pliAt {
		sd.pliAt = 0
	}
	var size int
	if key {
		size = int(enc.KeyframeBytes.Draw(d.rng))
		sd.sinceKey, sd.forceKey = 1, false
	} else {
		size = int(enc.InterBytes.Draw(d.rng))
		sd.sinceKey++
	}
	size = max(size, 1)
	npk := (size + enc.PayloadBytes - 1) / enc.PayloadBytes
	var encode int64
	if delay := g.delay; len(delay) > 0 {
		encode = int64(delay.Draw(d.rng) * float64(time.Second))
	}

	no := sd.no
	sd.no++
	if old := sd.ring[no%ringN]; old >= 0 {
		d.abandon(ci, old)
	}
	slot := d.allocFrame()
	fr := &d.frames[slot]
	fr.cam, fr.no, fr.session, fr.node, fr.capture, fr.encode = ci, no, int32(sd.seg), c.segs[sd.seg].node, d.now, encode
	fr.npk, fr.got, fr.key, fr.live, fr.seen = uint16(npk), 0, key, true, [2]uint64{}
	fr.ready, fr.firstAt, fr.doneAt = false, never, 0
	sd.ring[no%ringN] = slot
	gen := fr.gen
	if d.ph == phaseCloudUp {
		// The frame's data channel message goes first, and with cloud
		// placement it crosses the WAN: part of the uplink. At the edge it
		// stays on the LAN, whose bytes no figure reports, and is left out.
		m := d.getPkt(frameMessageBytes(uint64(no)))
		putMeta(m, pkFrameMessage, 0, 0, 0, 0)
		d.send(d.lanUp, m)
	}
	for i := 0; i < npk; i++ {
		n := min(enc.PayloadBytes, size-i*enc.PayloadBytes) + enc.OverheadBytes
		p := d.getPkt(n)
		putMeta(p, pkVideo, uint16(i), uint32(slot), int64(sd.seq), gen)
		sd.seq++
		d.send(d.lanUp, p)
	}
}

func (d *domain) allocFrame() int32 {
	if k := len(d.freeFr); k > 0 {
		s := d.freeFr[k-1]
		d.freeFr = d.freeFr[:k-1]
		return s
	}
	d.frames = append(d.frames, frameRec{})
	return int32(len(d.frames) - 1)
}

func (d *domain) freeFrame(slot int32) {
	fr := &d.frames[slot]
	fr.gen++
	fr.live = false
	sd := &d.senders[fr.cam]
	if sd.ring[fr.no%ringN] == slot {
		sd.ring[fr.no%ringN] = -1
	}
	d.freeFr = append(d.freeFr, slot)
}

// abandon gives up on a frame that will not complete: the runtime's
// assembler drops it as incomplete and asks for a keyframe.
func (d *domain) abandon(ci int32, slot int32) {
	fr := &d.frames[slot]
	if !fr.live || fr.cam != ci {
		return
	}
	d.s.res.Frames.LinkLost++
	d.freeFrame(slot)
	d.needKeyframe(ci)
}

// needKeyframe is the assembler giving a frame up: the stream waits for a
// keyframe and asks for one.
func (d *domain) needKeyframe(ci int32) {
	d.senders[ci].in.needKey = true
	d.requestKeyframe(ci)
}

// requestKeyframe is the receiver's keyframe request (PLI), at most one per
// pliInterval (runtime/server, session.requestKeyframe); the camera sends a
// keyframe at its first capture after the request reached it.
func (d *domain) requestKeyframe(ci int32) {
	sd := &d.senders[ci]
	if d.now-sd.lastPLI >= pliInterval {
		sd.lastPLI = d.now
		sd.pliAt = d.now + d.pliWait
	}
}

func (d *domain) videoPacket(slot int32, gen uint32, idx uint16, seq uint32) {
	fr := &d.frames[slot]
	if !fr.live || fr.gen != gen || !fr.first(idx) {
		return
	}
	fr.firstAt = min(fr.firstAt, d.now)
	d.videoArrived(fr.cam, seq, d.now)
	fr.got++
	if fr.got < fr.npk {
		return
	}
	d.complete(slot)
}

// complete is frame slot's last packet arriving: the frame goes to the
// decoder once the frames before it did (drain).
func (d *domain) complete(slot int32) {
	fr := &d.frames[slot]
	fr.ready = true
	d.drain(fr.cam)
}

// drain is the receiver's frame assembler (runtime/media): it emits the
// camera's frames in order. A frame of which no packet has arrived is
// unknown to it, and the first frame after it that is emitted or given up
// passes it (lost; its packets would come too late). A complete frame
// waits behind an incomplete one, which is given up as
// pipeline.GiveUpHead says (lost, and the stream needs a keyframe); until
// then evAssemble checks again when its time limit passes.
func (d *domain) drain(ci int32) {
	sd := &d.senders[ci]
	for sd.nextExpect != sd.no {
		h, pending := sd.nextExpect, 0
		for k := sd.nextExpect; k != sd.no; k++ {
			if s := sd.ring[k%ringN]; s >= 0 && d.frames[s].no == k && d.frames[s].firstAt <= d.now {
				if pending == 0 {
					h = k
				}
				pending++
			}
		}
		if pending == 0 {
			return
		}
		hs := sd.ring[h%ringN]
		head := &d.frames[hs]
		// Frames before the head none of whose packets arrived leave a gap
		// in the sequence numbers after the last packet of the frame the
		// assembler had before: it holds the head as it holds an
		// incomplete one (runtime/media's Assembler.drain).
		hole := sd.tailKnown && head.session == sd.tailSession && d.sentBefore(ci, h)
		emit := head.ready
		if !emit || hole {
			age := time.Duration(d.now - head.firstAt)
			if !edgepipe.GiveUpHead(pending, edgepipe.AssemblyMaxPending, age, edgepipe.AssemblyMaxWait) {
				if pending > 1 {
					d.scheduleAssemble(ci, head.firstAt+int64(edgepipe.AssemblyMaxWait)+1)
				}
				return
			}
		}
		for k := sd.nextExpect; k != h; k++ {
			if s := sd.ring[k%ringN]; s >= 0 && d.frames[s].no == k {
				d.s.res.Frames.LinkLost++
				d.freeFrame(s)
			}
		}
		sd.nextExpect = h + 1
		if hole {
			d.needKeyframe(ci)
		}
		sd.tailSession = head.session
		if emit {
			sd.tailKnown = true
			d.ingest(hs)
		} else {
			sd.tailKnown = head.has(head.npk - 1)
			d.abandon(ci, hs)
		}
	}
}

// sentBefore says whether the stream sent frames from nextExpect up to h
// that are still waited for (none of their packets arrived).
func (d *domain) sentBefore(ci int32, h uint32) bool {
	sd := &d.senders[ci]
	for k := sd.nextExpect; k != h; k++ {
		if s := sd.ring[k%ringN]; s >= 0 && d.frames[s].no == k {
			return true
		}
	}
	return false
}

func (d *domain) scheduleAssemble(ci int32, at int64) {
	if sd := &d.senders[ci]; sd.asmAt < 0 || at < sd.asmAt {
		sd.asmAt = at
		d.q.push(event{at: at, kind: evAssemble, a: ci})
	}
}

// videoLost notes that a copy of packet idx of frame slot (n bytes on the
// link) will not arrive intact. The receiver notices the gap when a later
// packet of the stream arrives, names the packet in every NACK from the
// next tick of its NACK timer (pipeline.NACKInterval) on, and the camera
// resends it (nackLand). Packets past a frame's 128th are not told apart
// (frameRec.first) and are not asked for.
func (d *domain) videoLost(slot int32, gen uint32, idx uint16, seq uint32, n int) {
	fr := &d.frames[slot]
	if !fr.live || fr.gen != gen || idx >= 128 || fr.has(idx) {
		return
	}
	sd := &d.senders[fr.cam]
	for _, m := range sd.miss {
		if m.seq == seq {
			return // a resent copy lost again: still asked for
		}
	}
	if len(sd.miss) >= nackWindow {
		// Nothing arrives (a partition): keep the packets of frames the
		// receiver may still complete.
		sd.miss = slices.DeleteFunc(sd.miss, func(m missPkt) bool { f := &d.frames[m.slot]; return !f.live || f.gen != m.gen })
	}
	m := missPkt{slot: slot, gen: gen, seq: seq, idx: idx, n: n, seen: -1, resent: -1, arrived: never}
	for _, r := range sd.recent[:min(sd.recentN, uint32(len(sd.recent)))] {
		if r.seq-seq-1 < 1<<31 && (m.seen < 0 || r.at < m.seen) { // sent after it, and came already
			m.seen = r.at
		}
	}
	sd.miss = append(sd.miss, m)
	if m.seen >= 0 {
		d.scheduleNACK(fr.cam, m.seen)
	}
}

// videoArrived is packet seq of camera ci arriving intact at at: it is no
// longer missing, the receiver notices the gap of every missing packet
// sent before it, and forgets those more than nackWindow behind it.
func (d *domain) videoArrived(ci int32, seq uint32, at int64) {
	sd := &d.senders[ci]
	sd.recent[sd.recentN%uint32(len(sd.recent))] = arrivalRec{seq: seq, at: at}
	sd.recentN++
	if len(sd.miss) == 0 {
		return
	}
	seen := never
	for i := 0; i < len(sd.miss); {
		m := &sd.miss[i]
		if m.seq == seq && at > d.now {
			// Settled ahead of its arrival (a direct link): missing until
			// then, as it would be on a link that delivers it then.
			m.arrived = at
		}
		if m.seq == seq && at <= d.now || seq-m.seq > nackWindow && seq-m.seq < 1<<31 {
			sd.miss = append(sd.miss[:i], sd.miss[i+1:]...)
			continue
		}
		if m.seq-seq >= 1<<31 && (m.seen < 0 || at < m.seen) { // sent before it
			m.seen = at
		}
		if m.seen >= 0 {
			seen = min(seen, m.seen)
		}
		i++
	}
	if seen != never {
		d.scheduleNACK(ci, seen)
	}
}

// scheduleNACK makes sure the receiver's NACK timer ticks at its first tick
// after at. The timer's phase is the camera's, drawn from its own stream.
// A gap learnt of late (a packet lost on a link whose deliveries another
// pulls when it wakes) that a tick already passed was named in that tick's
// NACK: it lands as it would have, and the timer goes on from now.
func (d *domain) scheduleNACK(ci int32, at int64) {
	t := nackTickAfter(d.s.seed, ci, at)
	if t < d.now {
		d.q.push(event{at: max(t+d.pliWait, d.now), kind: evNACKLand, a: ci})
		t = nackTickAfter(d.s.seed, ci, d.now-1)
	}
	if sd := &d.senders[ci]; sd.nackAt < 0 || t < sd.nackAt {
		sd.nackAt = t
		d.q.push(event{at: t, kind: evNACK, a: ci})
	}
}

// nackTickAfter is camera ci's first NACK tick after at.
func nackTickAfter(seed uint64, ci int32, at int64) int64 {
	iv := int64(edgepipe.NACKInterval)
	phase := int64(seedOf(seed, tagNACK, uint64(ci)) % uint64(iv))
	if at < phase {
		return phase
	}
	return phase + ((at-phase)/iv+1)*iv
}

// nackTick is a tick of the receiver's NACK timer: a NACK names every
// packet it noticed missing, and reaches the camera after the answer
// path's one-way delay, as a keyframe request does (neither is lost on
// the way). A packet the frame no longer needs (emitted, given up, or
// sent to a node that died) is forgotten.
func (d *domain) nackTick(ci int32) {
	sd := &d.senders[ci]
	named, next := false, never
	for i := 0; i < len(sd.miss); {
		m := &sd.miss[i]
		fr := &d.frames[m.slot]
		if !fr.live || fr.gen != m.gen || m.arrived <= d.now || d.nodeDead(fr.node, d.s.cams[ci].segs[fr.session].from) {
			sd.miss = append(sd.miss[:i], sd.miss[i+1:]...)
			continue
		}
		if m.seen >= 0 && m.seen <= d.now {
			named = true
		} else if m.seen >= 0 {
			next = min(next, m.seen)
		}
		i++
	}
	if named {
		d.q.push(event{at: d.now + d.pliWait, kind: evNACKLand, a: ci})
		next = d.now // named packets are named again at the next tick
	}
	if next != never {
		d.scheduleNACK(ci, next)
	}
}

// nackLand is a NACK, sent at the tick a keyframe request's delay ago,
// reaching camera ci: it resends each packet named there that its session
// still holds, unless it resent it within the round trip (pion's
// responder: the stream's round trip plus 5 ms, here twice the answer
// path's delay).
func (d *domain) nackLand(ci int32) {
	sd := &d.senders[ci]
	c := &d.s.cams[ci]
	tick, guard := d.now-d.pliWait, 2*d.pliWait+int64(5*time.Millisecond)
	resend := d.resend[:0]
	for i := range sd.miss {
		m := &sd.miss[i]
		fr := &d.frames[m.slot]
		if !fr.live || fr.gen != m.gen || m.seen < 0 || m.seen > tick || m.arrived <= d.now || m.resent >= 0 && d.now-m.resent <= guard ||
			int(fr.session) != sd.seg || sd.seg >= len(c.segs) || c.segs[sd.seg].to <= d.now {
			continue
		}
		m.resent = d.now
		resend = append(resend, *m)
	}
	for _, m := range resend {
		p := d.getPkt(m.n)
		putMeta(p, pkVideo, m.idx, uint32(m.slot), int64(m.seq), m.gen)
		d.send(d.lanUp, p)
	}
	d.resend = resend[:0]
}

// ingest is the receiving node's decoder and sampler for a complete frame.
func (d *domain) ingest(slot int32) {
	fr := d.frames[slot]
	d.freeFrame(slot)
	c := &d.s.cams[fr.cam]
	in := &d.senders[fr.cam].in
	fc := &d.s.res.Frames
	if d.nodeDead(fr.node, c.segs[fr.session].from) {
		fc.NodeDown++
		return
	}
	// A frozen node reads what arrived when it thaws (the kernel holds
	// it): by then the camera may have given the session up.
	now := d.now
	if d.ph == phaseEdge {
		if now = d.pipe.nodes[fr.node].thawed(d.now); now != d.now && c.segs[fr.session].to <= now {
			fc.NodeDown++
			return
		}
	}
	if in.session != fr.session {
		*in = ingest{session: fr.session, needKey: true}
	}
	if in.needKey && !fr.key {
		// The runtime asks again while it waits (ingest.push: NeedKeyframe).
		fc.NoKeyframe++
		d.requestKeyframe(fr.cam)
		return
	}
	in.needKey = false
	start := max(now, in.decodeFree)
	in.decodeFree = start + int64(c.g.decode.Draw(d.rng)*float64(time.Second))
	rtp := c.rtpBase + uint32(fr.capture/1000*9/100) // 90 kHz
	if edgepipe.SkipSample(edgepipe.SampleInterval(d.f.DetectFPS), in.lastRTP, in.sampled, rtp) {
		fc.Skipped++
		return
	}
	in.lastRTP, in.sampled = rtp, true
	// The packets left the camera when the frame was encoded; the frame
	// was captured its encode time before (latency counts from there).
	// The simulator sends them at the capture tick instead, which moves
	// the frame's whole journey earlier by a few milliseconds against
	// other cameras' traffic, and saves an event per frame.
	captured := fr.capture - fr.encode
	j := job{cam: fr.cam, session: fr.session, capture: captured, arrived: now}
	if d.ph == phaseCloudUp {
		d.arrivals = append(d.arrivals, arrival{cam: fr.cam, session: fr.session, node: fr.node,
			capture: captured, arrived: d.now, submit: in.decodeFree})
		return
	}
	var ji int32
	if k := len(d.freeJob); k > 0 {
		ji = d.freeJob[k-1]
		d.freeJob = d.freeJob[:k-1]
		d.jobs[ji] = j
	} else {
		d.jobs = append(d.jobs, j)
		ji = int32(len(d.jobs) - 1)
	}
	d.q.push(event{at: in.decodeFree, kind: evSubmit, a: fr.node, b: ji})
}

// nodeDead says whether node n is down, or restarted since a session
// that began at from (the new process has no such session).
func (d *domain) nodeDead(n int32, from int64) bool {
	if d.ph == phaseCloudUp {
		return lostAt(d.now, from, d.cloudDead[n], d.cloudBack[n])
	}
	nd := d.pipe.nodes[n]
	return lostAt(d.now, from, nd.killedAt, nd.backAt)
}

// edgeResult answers the camera over the LAN and evaluates the alert rules.
func (d *domain) edgeResult(j job, ps *pstream, now int64) {
	p := d.getPkt(d.f.DetectionBytes)
	putMeta(p, pkAnswer, 0, uint32(j.cam), j.capture, 0)
	d.send(d.lanDown, p)
	if ps.engine == nil {
		return
	}
	c := &d.s.cams[j.cam]
	for _, h := range ps.engine.Observe(observation(c.g, j.capture)) {
		d.alerts = append(d.alerts, alertRec{cam: j.cam, event: int32(h.TrackID - 1)})
		d.sendAlert(int32(len(d.alerts) - 1))
	}
}

// sendAlert offers an alert to the WAN; the forwarder retries with its
// backoff while the upstream is unreachable (runtime/alert defaults).
func (d *domain) sendAlert(ai int32) {
	p := d.getPkt(d.f.AlertBytes)
	putMeta(p, pkAlert, 0, uint32(ai), 0, 0)
	d.send(d.wanUp, p)
}

func (d *domain) retryAlert(ai int32) {
	a := &d.alerts[ai]
	// The forwarder learns of the loss when its try times out (the first
	// try's timeout, then a probe's), then waits its backoff.
	wait := alert.DefaultTimeout
	if a.tries > 0 {
		wait = alert.ProbeTimeout
	}
	a.backoff = alert.NextBackoff(a.backoff, alert.DefaultMinBackoff, alert.DefaultMaxBackoff)
	a.tries++
	d.q.push(event{at: d.now + int64(wait+a.backoff), kind: evAlertTry, a: ai})
}

func (d *domain) alertArrived(ai int32) {
	a := d.alerts[ai]
	c := &d.s.cams[a.cam]
	if c.alertAt[a.event] < 0 {
		c.alertAt[a.event] = d.now
	}
}

// answered is the answer to camera ci's frame captured at capture
// reaching it at at. Answers may be recorded out of arrival order (a
// direct link settles them when sent): the result does not depend on it.
func (d *domain) answered(ci int32, capture, at int64) {
	d.s.res.Frames.Answered++
	d.s.res.latency.Add(time.Duration(at - capture))
	c := &d.s.cams[ci]
	for _, ti := range c.trackers {
		t := &d.s.trackers[ti]
		switch {
		case capture < t.at:
			t.before = true
		case capture < t.bestCap || capture == t.bestCap && at < t.recAt:
			t.bestCap, t.recAt = capture, at
		}
	}
}

// replayAnswer sends the next answer of the cloud down the WAN.
func (d *domain) replayAnswer() {
	a := d.answers[d.ansNext]
	d.ansNext++
	if d.ansNext < len(d.answers) {
		d.q.push(event{at: d.answers[d.ansNext].done, kind: evAnswer})
	}
	p := d.getPkt(d.f.DetectionBytes)
	putMeta(p, pkAnswer, 0, uint32(a.cam), a.capture, 0)
	d.send(d.wanDown, p)
}

// fault applies fault i (or its end) to what this domain holds.
func (d *domain) fault(i int, end bool) {
	ft := d.f.Faults[i]
	switch ft.Action {
	case FaultKill, FaultRestart:
		if d.ph == phaseEdge {
			_, n, _ := d.f.parseNode(ft.Node)
			d.pipe.kill(int32(n))
		}
	case FaultPause: // its thaw: the workers take what waits
		_, n, _ := d.f.parseNode(ft.Node)
		d.pipe.dispatch(d.now, int32(n))
	case FaultPartition, FaultDegrade, FaultTraceSwitch:
		// As netem.Link's Partition, Ramp, Update and SetTrace that the
		// testbed's timeline calls (cfg was validated with the fleet).
		// What a feeder delivered before the fault reaches the link it
		// feeds before the change (a delivery at this instant comes after
		// it, as its wake-up's event would).
		d.pullAll(d.now - 1)
		at := epoch.Add(time.Duration(d.now))
		for _, l := range d.links {
			if l.name != ft.Link {
				continue
			}
			to := ft.Down
			if l.up {
				to = ft.Up
			}
			switch cfg := l.m.Config(at); {
			case ft.Action == FaultPartition:
				cfg.Partition = !end
				_ = l.m.Update(at, cfg)
			case ft.Action == FaultDegrade && end:
				_ = l.m.Update(at, l.cfg) // the testbed's undo: the link's own settings
			case ft.Action == FaultDegrade:
				_ = l.m.Ramp(at, to, ft.Ramp)
			case to.Trace != nil:
				cfg.Trace, cfg.TraceOnce = to.Trace, to.TraceOnce
				_ = l.m.Update(at, cfg)
			}
			d.wake(l)
		}
	}
}

// changed says whether a degrade or traceSwitch fault changes link l of
// this domain's site, and whether the new settings corrupt packets.
func (d *domain) changed(l *link) (changed, corrupt bool) {
	for _, ft := range d.f.Faults {
		if (ft.Action != FaultDegrade && ft.Action != FaultTraceSwitch) || ft.Site != d.s.cfg.Name || ft.Link != l.name {
			continue
		}
		to := ft.Down
		if l.up {
			to = ft.Up
		}
		changed, corrupt = true, corrupt || to.Corrupt > 0
	}
	return changed, corrupt
}

func (d *domain) newEngine(ci int32) *rules.Engine { return newEngine(d.s.cams[ci].g) }

// newEngine is the runtime's own rule engine for one camera session.
func newEngine(g *group) *rules.Engine {
	if g.rules == nil {
		return nil
	}
	return rules.NewEngine(g.rules, "")
}
