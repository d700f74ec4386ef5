package netem

import (
	"math"
	"math/rand/v2"
	"net"
	"time"
)

// Packet is one packet moving through a Model. Buf is its storage; the
// first N bytes are the packet.
type Packet struct {
	Buf []byte
	N   int

	arrive    int64    // entered the bottleneck queue (the model's clock)
	dueNs     int64    // delivery time (the model's clock)
	from      *Model   // the model that set dueNs
	remaining int      // bytes still to serve from trace opportunities
	to        *Host    // userspace engine: destination host
	addr      net.Addr // inproc: destination address
}

// Data returns the packet's bytes.
func (p *Packet) Data() []byte { return p.Buf[:p.N] }

// Due is when the model delivers p (Deliver hands it out at or after Due).
// It is known once p leaves the bottleneck queue: on a link with neither
// RateBits nor Trace, as soon as Send accepted it. The zero time before.
func (p *Packet) Due() time.Time {
	if p.from == nil {
		return time.Time{}
	}
	return p.from.origin.Add(time.Duration(p.dueNs))
}

// DueSinceStart is Due as time since the start of the model that
// scheduled p (the now given to NewModel).
func (p *Packet) DueSinceStart() time.Duration { return time.Duration(p.dueNs) }

// Drop reasons, used as the reason label of
// edgesim_link_packets_dropped_total.
const (
	ReasonPartition = "partition"
	ReasonLoss      = "loss"
	ReasonQueue     = "queue_full"
	ReasonNoRoute   = "no_route"
	numReasons      = 4
)

var reasons = [numReasons]string{ReasonPartition, ReasonLoss, ReasonQueue, ReasonNoRoute}

func reasonIndex(r string) int {
	for i, s := range reasons {
		if s == r {
			return i
		}
	}
	return -1
}

// DirStats are the totals of one direction of a link.
type DirStats struct {
	// OfferedPackets/OfferedBytes entered the link (before any drop).
	OfferedPackets, OfferedBytes uint64
	// Packets and Bytes were delivered to the far end.
	Packets, Bytes uint64
	// Drops by reason.
	Drops map[string]uint64
	// Duplicated and Corrupted count packets the model duplicated or
	// corrupted.
	Duplicated, Corrupted uint64
	// QueuePackets/QueueBytes is the current bottleneck backlog.
	QueuePackets, QueueBytes int
}

// Model applies a LinkConfig to the packets of one direction of a link. It
// is pure: time comes from the caller, randomness from the seed. It is not
// safe for concurrent use; engines guard it with a lock.
//
// Pipeline: partition -> loss -> corrupt -> duplicate -> bottleneck queue
// (token bucket or trace, queue limit) -> delay/jitter/reorder -> delivery.
//
// Inside, the model's clock is integer nanoseconds since its start (origin,
// the now given to NewModel). Every method taking a time.Time has a twin
// taking that offset (SendSinceStart, ...), for callers that keep such a
// clock themselves, as a simulator does.
type Model struct {
	origin time.Time
	cfg    LinkConfig
	ramp   *ramp
	rng    *rand.Rand

	delay   delayGen
	loss    lossGen
	dup     corrBernoulli
	corrupt corrBernoulli
	reorder corrBernoulli
	sinceRe int // packets since the last reorder (gap)

	queue  []*Packet
	qhead  int
	qBytes int
	tokens float64
	tokAt  int64
	cursor *traceCursor
	nextSv int64 // next bottleneck service time if queue non-empty; noTime if none

	line    []lineEntry // delay line, min-heap by (due, seq)
	lastDue int64
	seq     uint64

	handBack   bool      // WithoutDelayLine
	handShaped bool      // a WithoutDelayLine model with a bottleneck queue
	handed     []*Packet // such a model's packets that left the queue, for Deliver
	handedAt   int64     // when handed[0] left the queue

	stats   DirStats
	drops   [numReasons]uint64
	free    func(*Packet)
	clone   func(*Packet) *Packet
	onQueue func(time.Duration)
}

// noTime is the model clock's "never": no bottleneck service is due.
const noTime = math.MaxInt64

// lineEntry is one packet in the delay line, with its sort key kept next to
// it so that the heap compares without touching the packet.
type lineEntry struct {
	due int64
	seq uint64
	p   *Packet
}

type ramp struct {
	from, to LinkConfig
	start    int64
	over     time.Duration
}

// ModelOption configures a Model.
type ModelOption func(*Model)

// WithPacketFree gives the model a function to release packets it drops on
// its own (drophead); by default they are left to the garbage collector.
func WithPacketFree(f func(*Packet)) ModelOption { return func(m *Model) { m.free = f } }

// WithPacketClone gives the model a function that copies a packet (used for
// duplicates); by default it allocates.
func WithPacketClone(f func(*Packet) *Packet) ModelOption { return func(m *Model) { m.clone = f } }

// WithoutDelayLine makes the model hand each packet back to the caller
// with its delivery time fixed (Packet.Due) as soon as that time is known,
// instead of holding it until then: for a caller that settles packets
// before they arrive, as a simulator does. Every draw is the one the model
// would make otherwise.
//
// On a link with neither RateBits nor Trace that is when Send accepts the
// packet: Send hands it back, and a duplicate, made with the clone
// function (WithPacketClone), is the caller's too; Deliver returns
// nothing. On a link with a bottleneck queue it is when the packet leaves
// the queue: Deliver returns, in the order they left, every packet (and
// duplicate) that left it by the time given, each due then or later
// (NextSinceStart is the next departure). Either way Stats' Packets and
// Bytes stay zero: the caller counts what arrives. Whether the link has a
// bottleneck queue cannot change afterwards (Update, Ramp).
func WithoutDelayLine() ModelOption { return func(m *Model) { m.handBack = true } }

// errHandBackShaped is the configuration error of a WithoutDelayLine model
// whose configuration would add or remove its bottleneck queue.
var errHandBackShaped = &ConfigError{Field: "RateBits/Trace", Value: "changed",
	Want: "must stay set, or stay unset, on a model made WithoutDelayLine (when it hands packets back depends on it)"}

func (m *Model) validate(cfg LinkConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if m.handBack && cfg.shaped() != m.handShaped {
		return errHandBackShaped
	}
	return nil
}

// WithQueueDelayObserver is called with each packet's time in the
// bottleneck queue.
func WithQueueDelayObserver(f func(time.Duration)) ModelOption {
	return func(m *Model) { m.onQueue = f }
}

// NewModel returns a model of one link direction starting at now. seed
// fixes every random draw.
func NewModel(cfg LinkConfig, seed int64, now time.Time, opts ...ModelOption) (*Model, error) {
	m := &Model{
		origin:  now,
		rng:     rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		nextSv:  noTime,
		lastDue: math.MinInt64,
	}
	for _, o := range opts {
		o(m)
	}
	m.handShaped = m.handBack && cfg.shaped()
	if err := m.validate(cfg); err != nil {
		return nil, err
	}
	if m.clone == nil {
		m.clone = func(p *Packet) *Packet {
			b := make([]byte, p.N)
			copy(b, p.Data())
			return &Packet{Buf: b, N: p.N}
		}
	}
	m.setConfig(cfg, 0)
	return m, nil
}

// clock is now on the model's clock.
func (m *Model) clock(now time.Time) int64 { return int64(now.Sub(m.origin)) }

// wall is model-clock instant t as a time.
func (m *Model) wall(t int64) time.Time { return m.origin.Add(time.Duration(t)) }

func (m *Model) setConfig(cfg LinkConfig, now int64) {
	old := m.cfg
	m.cfg = cfg
	m.tokens = cfg.burst()
	if cfg.Trace != nil && (old.Trace != cfg.Trace || m.cursor == nil || old.TraceOnce != cfg.TraceOnce) {
		m.cursor = newTraceCursor(cfg.Trace, now, cfg.TraceOnce)
	}
	if cfg.Trace == nil {
		m.cursor = nil
	}
	m.tokAt = now
	m.reschedule()
}

// Config returns the configuration in force at now (ramps interpolated).
func (m *Model) Config(now time.Time) LinkConfig {
	m.stepRamp(m.clock(now))
	return m.cfg
}

// Update replaces the configuration at now; packets already queued keep
// their place. It cancels a running ramp.
func (m *Model) Update(now time.Time, cfg LinkConfig) error {
	return m.UpdateSinceStart(time.Duration(m.clock(now)), cfg)
}

// UpdateSinceStart is Update at at since the model's start.
func (m *Model) UpdateSinceStart(at time.Duration, cfg LinkConfig) error {
	now := int64(at)
	if err := m.validate(cfg); err != nil {
		return err
	}
	m.advance(now)
	m.ramp = nil
	m.setConfig(cfg, now)
	return nil
}

// Ramp changes the numeric parameters (delay, jitter, loss, duplicate,
// corrupt, reorder percentages and rate) linearly from the current values to
// those of to over the given duration; other fields switch to to's values
// at once.
func (m *Model) Ramp(t time.Time, to LinkConfig, over time.Duration) error {
	if err := m.validate(to); err != nil {
		return err
	}
	if over <= 0 {
		return m.Update(t, to)
	}
	now := m.clock(t)
	m.advance(now)
	from := m.cfg
	m.ramp = &ramp{from: from, to: to, start: now, over: over}
	m.stepRamp(now)
	return nil
}

func lerp(a, b, f float64) float64 { return a + (b-a)*f }

func (m *Model) stepRamp(now int64) {
	r := m.ramp
	if r == nil {
		return
	}
	f := float64(now-r.start) / float64(r.over)
	if f >= 1 {
		m.ramp = nil
		m.setConfigKeepState(r.to, now)
		return
	}
	if f < 0 {
		f = 0
	}
	c := r.to
	c.Delay = time.Duration(lerp(float64(r.from.Delay), float64(r.to.Delay), f))
	c.Jitter = time.Duration(lerp(float64(r.from.Jitter), float64(r.to.Jitter), f))
	c.Loss.Percent = lerp(r.from.Loss.Percent, r.to.Loss.Percent, f)
	c.Duplicate = lerp(r.from.Duplicate, r.to.Duplicate, f)
	c.Corrupt = lerp(r.from.Corrupt, r.to.Corrupt, f)
	c.Reorder.Percent = lerp(r.from.Reorder.Percent, r.to.Reorder.Percent, f)
	if r.from.RateBits > 0 && r.to.RateBits > 0 {
		c.RateBits = int64(lerp(float64(r.from.RateBits), float64(r.to.RateBits), f))
	}
	m.setConfigKeepState(c, now)
}

// setConfigKeepState changes parameters without resetting the token bucket
// or the trace position.
func (m *Model) setConfigKeepState(c LinkConfig, now int64) {
	if c.Trace != m.cfg.Trace || c.TraceOnce != m.cfg.TraceOnce {
		m.setConfig(c, now)
		return
	}
	m.refill(now)
	m.cfg = c
	if b := c.burst(); m.tokens > b {
		m.tokens = b
	}
	m.reschedule()
}

func (m *Model) refill(now int64) {
	if now <= m.tokAt {
		return
	}
	m.tokens += float64(m.cfg.RateBits) / 8 * time.Duration(now-m.tokAt).Seconds()
	if b := m.cfg.burst(); m.tokens > b {
		m.tokens = b
	}
	m.tokAt = now
}

func (m *Model) countDrop(reason string) {
	m.drops[reasonIndex(reason)]++
}

// Send offers p to the link at now. It returns false, and the drop reason,
// when the packet was dropped; the caller still owns a dropped packet.
func (m *Model) Send(now time.Time, p *Packet) (ok bool, reason string) {
	return m.SendSinceStart(time.Duration(m.clock(now)), p)
}

// SendSinceStart is Send at at since the model's start.
func (m *Model) SendSinceStart(at time.Duration, p *Packet) (ok bool, reason string) {
	now := int64(at)
	m.advance(now)
	c := &m.cfg
	m.stats.OfferedPackets++
	m.stats.OfferedBytes += uint64(p.N)
	if c.Partition {
		m.countDrop(ReasonPartition)
		return false, ReasonPartition
	}
	if m.loss.next(m.rng, &c.Loss) {
		m.countDrop(ReasonLoss)
		return false, ReasonLoss
	}
	if m.corrupt.next(m.rng, c.Corrupt, c.CorruptCorrelation) && p.N > 0 {
		i := m.rng.IntN(p.N)
		p.Buf[i] ^= 1 << m.rng.IntN(8)
		m.stats.Corrupted++
	}
	var dup *Packet
	if m.dup.next(m.rng, c.Duplicate, c.DuplicateCorrelation) {
		dup = m.clone(p)
		m.stats.Duplicated++
	}
	if !m.enqueue(now, p) {
		m.countDrop(ReasonQueue)
		if dup != nil && m.free != nil {
			m.free(dup)
		}
		return false, ReasonQueue
	}
	if dup != nil && !m.enqueue(now, dup) {
		m.countDrop(ReasonQueue)
		if m.free != nil {
			m.free(dup)
		}
	}
	return true, ""
}

func (m *Model) enqueue(now int64, p *Packet) bool {
	c := &m.cfg
	p.arrive = now
	if !c.shaped() {
		m.toDelayLine(now, now, p)
		return true
	}
	limB, limP := c.queueLimits()
	qn := len(m.queue) - m.qhead
	fits := func() bool {
		return (limB == 0 || m.qBytes+p.N <= limB) && (limP == 0 || qn+1 <= limP)
	}
	if !fits() {
		if c.Queue != DropHead {
			return false
		}
		for qn > 0 && !fits() {
			h := m.queue[m.qhead]
			m.queue[m.qhead] = nil
			m.qhead++
			qn--
			m.qBytes -= h.N
			m.countDrop(ReasonQueue)
			if m.free != nil {
				m.free(h)
			}
		}
		if !fits() {
			return false
		}
	}
	if m.qhead > 64 && m.qhead*2 > len(m.queue) {
		n := copy(m.queue, m.queue[m.qhead:])
		clear(m.queue[n:])
		m.queue = m.queue[:n]
		m.qhead = 0
	}
	p.remaining = p.N
	m.queue = append(m.queue, p)
	m.qBytes += p.N
	if qn == 0 {
		m.reschedule()
	}
	return true
}

// reschedule computes when the head of the bottleneck queue leaves.
func (m *Model) reschedule() {
	if len(m.queue) == m.qhead {
		m.nextSv = noTime
		return
	}
	h := m.queue[m.qhead]
	if m.cursor != nil {
		m.cursor.skipBefore(h.arrive)
		t, ok := m.cursor.peek()
		if !ok {
			m.nextSv = noTime // trace over (once): nothing leaves again
			return
		}
		m.nextSv = t
		return
	}
	// Token bucket: tokens as of max(tokAt, arrive).
	at := max(m.tokAt, h.arrive)
	rate := float64(m.cfg.RateBits) / 8
	b := m.cfg.burst()
	tok := m.tokens + rate*time.Duration(at-m.tokAt).Seconds()
	if tok > b {
		tok = b
	}
	need := float64(h.N)
	if need > b {
		need = b // a packet larger than the bucket waits for a full bucket
	}
	if tok >= need {
		m.nextSv = at
		return
	}
	m.nextSv = at + int64(time.Duration(math.Ceil((need-tok)/rate*1e9)))
}

// advance serves the bottleneck queue up to now.
func (m *Model) advance(now int64) {
	if m.ramp != nil {
		m.stepRamp(now)
	}
	for len(m.queue) > m.qhead && m.nextSv <= now {
		t := m.nextSv
		if m.cursor != nil {
			budget := TraceOpportunityBytes
			for budget > 0 && len(m.queue) > m.qhead {
				h := m.queue[m.qhead]
				if h.arrive > t {
					break
				}
				if h.remaining > budget {
					h.remaining -= budget
					break
				}
				budget -= h.remaining
				m.pop()
				m.toDelayLine(t, h.arrive, h)
			}
			m.cursor.advance()
		} else {
			h := m.queue[m.qhead]
			m.refill(t)
			m.tokens -= float64(h.N)
			if m.tokens < 0 && float64(h.N) > m.cfg.burst() {
				m.tokens = 0
			}
			m.pop()
			m.toDelayLine(t, h.arrive, h)
		}
		m.reschedule()
	}
}

func (m *Model) pop() {
	h := m.queue[m.qhead]
	m.queue[m.qhead] = nil
	m.qhead++
	m.qBytes -= h.N
	if m.qhead == len(m.queue) {
		m.queue = m.queue[:0]
		m.qhead = 0
	}
}

func (m *Model) toDelayLine(depart, arrive int64, p *Packet) {
	if m.onQueue != nil {
		m.onQueue(time.Duration(depart - arrive))
	}
	c := &m.cfg
	reordered := false
	if c.Reorder.Percent > 0 {
		m.sinceRe++
		if c.Reorder.Gap <= 1 || m.sinceRe >= c.Reorder.Gap {
			if m.reorder.next(m.rng, c.Reorder.Percent, c.Reorder.Correlation) {
				reordered = true
				m.sinceRe = 0
			}
		}
	}
	due := depart
	if !reordered {
		due = depart + int64(m.delay.next(m.rng, c))
		if c.KeepOrder && due < m.lastDue {
			due = m.lastDue
		}
		m.lastDue = max(m.lastDue, due)
	}
	p.dueNs, p.from = due, m
	if m.handBack {
		if m.handShaped { // Send hands an unqueued packet back itself
			if len(m.handed) == 0 {
				m.handedAt = depart
			}
			m.handed = append(m.handed, p)
		}
		return
	}
	m.seq++
	m.push(lineEntry{due: due, seq: m.seq, p: p})
}

// before orders the delay line: by due time, then by arrival in the line.
func before(a, b *lineEntry) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.seq < b.seq
}

// push adds e to the delay line. The heap's sifts move a hole instead of
// swapping entries at each level: half the writes of a swap.
func (m *Model) push(e lineEntry) {
	m.line = append(m.line, e)
	h := m.line
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !before(&e, &h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = e
}

// popLine removes the earliest packet of the delay line.
func (m *Model) popLine() *Packet {
	h := m.line
	n := len(h) - 1
	top := h[0].p
	last := h[n]
	h[n] = lineEntry{}
	h = h[:n]
	m.line = h
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && before(&h[r], &h[c]) {
			c = r
		}
		if !before(&h[c], &last) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = last
	return top
}

// Deliver appends to out every packet due at or before now, in delivery
// order, and returns it.
func (m *Model) Deliver(now time.Time, out []*Packet) []*Packet {
	return m.DeliverSinceStart(time.Duration(m.clock(now)), out)
}

// DeliverSinceStart is Deliver at at since the model's start.
func (m *Model) DeliverSinceStart(at time.Duration, out []*Packet) []*Packet {
	now := int64(at)
	m.advance(now)
	if len(m.handed) > 0 {
		out = append(out, m.handed...)
		clear(m.handed)
		m.handed = m.handed[:0]
	}
	for len(m.line) > 0 && m.line[0].due <= now {
		p := m.popLine()
		m.stats.Packets++
		m.stats.Bytes += uint64(p.N)
		out = append(out, p)
	}
	return out
}

// Next returns when the model next has something to do (a packet leaving
// the queue or being delivered); ok is false when it is idle.
func (m *Model) Next() (t time.Time, ok bool) {
	at, ok := m.NextSinceStart()
	if !ok {
		return time.Time{}, false
	}
	return m.origin.Add(at), true
}

// NextSinceStart is Next as time since the model's start.
func (m *Model) NextSinceStart() (at time.Duration, ok bool) { return m.next(0) }

// NextDeliveryBoundSinceStart returns the earliest instant at which
// DeliverSinceStart could hand out a packet, given what the model holds:
// the delay line's head, or the bottleneck queue's next departure plus the
// least delay a departing packet can draw (LeastDelay; on a model made
// WithoutDelayLine, which hands packets out as they leave the queue, the
// departure itself). A caller that only needs deliveries, as a simulator,
// wakes then rather than at every departure (NextSinceStart): the
// departures in between are served by the next call that advances the
// model (Send, Deliver, Update), in time order, so every draw is the same
// and comes in the same order. With a ramp running it is at latest the
// ramp's next step, as NextSinceStart; ok is false when the model holds
// nothing.
func (m *Model) NextDeliveryBoundSinceStart() (at time.Duration, ok bool) {
	if m.handBack {
		return m.next(0)
	}
	return m.next(int64(m.LeastDelay()))
}

// next is the earliest of: the delay line's head, the departure of a
// packet waiting to be handed back, the queue's next departure plus lead,
// and the end of a running ramp (not a delivery, but it must be applied
// on time).
func (m *Model) next(lead int64) (at time.Duration, ok bool) {
	var t int64
	if len(m.line) > 0 {
		t, ok = m.line[0].due, true
	}
	if len(m.handed) > 0 && (!ok || m.handedAt < t) {
		t, ok = m.handedAt, true
	}
	if len(m.queue) > m.qhead && m.nextSv != noTime && (!ok || m.nextSv+lead < t) {
		t, ok = m.nextSv+lead, true
	}
	if m.ramp != nil {
		if step := m.ramp.start + int64(m.ramp.over); !ok || step < t {
			t, ok = step, true
		}
	}
	return time.Duration(t), ok
}

// LeastDelay is the least time a packet leaving the bottleneck queue now
// can spend in the delay line: the configured delay when the link has no
// jitter and reorders nothing and no ramp is running, else 0.
func (m *Model) LeastDelay() time.Duration {
	if c := &m.cfg; m.ramp == nil && c.Jitter == 0 && c.Reorder.Percent == 0 {
		return c.Delay
	}
	return 0
}

// NextDelivery returns when the next packet leaves the delay line,
// leaving out the bottleneck queue's service times; ok is false when the
// delay line is empty. Engines use it to wake precisely for deliveries.
func (m *Model) NextDelivery() (t time.Time, ok bool) {
	if len(m.line) > 0 {
		return m.wall(m.line[0].due), true
	}
	return time.Time{}, false
}

// Stats returns the totals so far.
func (m *Model) Stats() DirStats {
	s := m.stats
	s.Drops = make(map[string]uint64, numReasons)
	for i, n := range m.drops {
		if n > 0 {
			s.Drops[reasons[i]] = n
		}
	}
	s.QueuePackets = len(m.queue) - m.qhead
	s.QueueBytes = m.qBytes
	return s
}

// CountDrop records a drop decided outside the model (no_route).
func (m *Model) CountDrop(reason string, size int) {
	m.stats.OfferedPackets++
	m.stats.OfferedBytes += uint64(size)
	if i := reasonIndex(reason); i >= 0 {
		m.drops[i]++
	}
}

// Flush removes every packet still queued or in flight and returns them.
func (m *Model) Flush(out []*Packet) []*Packet {
	out = append(out, m.handed...)
	clear(m.handed)
	m.handed = m.handed[:0]
	out = append(out, m.queue[m.qhead:]...)
	m.queue, m.qhead, m.qBytes = m.queue[:0], 0, 0
	for _, e := range m.line {
		out = append(out, e.p)
	}
	clear(m.line)
	m.line = m.line[:0]
	m.nextSv = noTime
	return out
}
