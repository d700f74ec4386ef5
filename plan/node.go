package plan

import (
	"math/rand/v2"
	"time"

	edgepipe "github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/rules"
)

// job is a decoded, sampled frame handed to a node's pipeline.
type job struct {
	cam, session     int32
	capture, arrived int64
}

// pstream is a camera's entry into a node's pipeline (runtime/pipeline's
// Stream) for one session.
type pstream struct {
	session int32
	node    int32
	slot    edgepipe.Slot[job] // the runtime's latest-frame-wins state
	engine  *rules.Engine
}

// node is one edgenode's worker pool (runtime/pipeline's Pipeline).
type node struct {
	killedAt int64
	backAt   int64 // a restarted node's start again (never after a kill)
	// A paused node is frozen from pausedAt to resumeAt: its workers take
	// nothing, and a frame in inference at the freeze finishes that much
	// later (since: when each worker's frame started, or last thawed).
	pausedAt, resumeAt int64
	since              []int64
	freeAt             []int64 // when each worker last finished a frame
	gen                uint32
	depth              int
	q                  []int32 // ring of streams waiting for a worker
	qh, qn             int
	idle               []int32 // idle workers
	running            []job   // per worker
	service            ServiceTime
}

// longIdle is how long a worker that has not inferred yet has been idle.
const longIdle = int64(time.Hour)

func newNode(workers, depth int, service ServiceTime, killedAt, backAt, pausedAt, resumeAt int64) *node {
	n := &node{killedAt: killedAt, backAt: backAt, pausedAt: pausedAt, resumeAt: resumeAt, depth: depth, q: make([]int32, depth),
		running: make([]job, workers), since: make([]int64, workers), freeAt: make([]int64, workers), service: service}
	for w := workers - 1; w >= 0; w-- {
		n.idle = append(n.idle, int32(w))
		n.freeAt[w] = -longIdle
	}
	return n
}

// pipeline drives the nodes of one domain.
type pipeline struct {
	nodes   []*node
	streams []pstream
	maxAge  time.Duration
	rng     *rand.Rand
	counts  func(cam int32) *FrameCounts
	sched   func(at int64, node, worker int32, gen uint32)
	result  func(j job, ps *pstream, now int64)
	newEng  func(cam int32) *rules.Engine
}

// submit mirrors pipeline.Stream.Submit (see policy.go).
func (p *pipeline) submit(now int64, nd int32, j job) {
	n := p.nodes[nd]
	fc := p.counts(j.cam)
	if lostAt(now, j.arrived, n.killedAt, n.backAt) {
		fc.NodeDown++
		return
	}
	ps := &p.streams[j.cam]
	if ps.session != j.session || ps.node != nd {
		*ps = pstream{session: j.session, node: nd}
		if p.newEng != nil {
			ps.engine = p.newEng(j.cam)
		}
	}
	switch ps.slot.Offer(j) {
	case edgepipe.Replaced:
		fc.Replaced++
	case edgepipe.Enqueue:
		p.enqueue(now, nd, j.cam)
	}
}

// thawed is when the node runs again at or after now.
func (n *node) thawed(now int64) int64 {
	if now >= n.pausedAt && now < n.resumeAt {
		return n.resumeAt
	}
	return now
}

// lostAt says whether what reached a node at since (a frame, a session)
// is lost at now to the node's kill at killed: the node is down until back,
// and a restarted process knows nothing from before its kill.
func lostAt(now, since, killed, back int64) bool {
	return now >= killed && (now < back || since < killed)
}

// enqueue mirrors pipeline.Pipeline.enqueueLocked: a full queue drops the
// pending frame.
func (p *pipeline) enqueue(now int64, nd int32, cam int32) {
	n := p.nodes[nd]
	ps := &p.streams[cam]
	if n.qn == n.depth {
		ps.slot.Drop()
		p.counts(cam).QueueFull++
		return
	}
	n.q[(n.qh+n.qn)%n.depth] = cam
	n.qn++
	ps.slot.Queued()
	p.dispatch(now, nd)
}

// dispatch lets idle workers take streams off the queue, as the runtime's
// workers do the moment a stream is queued (pipeline.Pipeline.run).
func (p *pipeline) dispatch(now int64, nd int32) {
	n := p.nodes[nd]
	if n.thawed(now) != now {
		return // frozen: the workers take the queue when it thaws
	}
	for len(n.idle) > 0 && n.qn > 0 {
		cam := n.q[n.qh]
		n.qh = (n.qh + 1) % n.depth
		n.qn--
		ps := &p.streams[cam]
		j, ok := ps.slot.Take()
		if !ok {
			continue
		}
		if edgepipe.Stale(time.Duration(now-j.arrived), p.maxAge) {
			p.counts(cam).TooOld++
			if ps.slot.Done() { // cannot happen within one instant, kept for symmetry with run
				p.enqueue(now, nd, cam)
			}
			continue
		}
		w := n.idle[len(n.idle)-1]
		n.idle = n.idle[:len(n.idle)-1]
		n.running[w], n.since[w] = j, now
		d := int64(n.service.Draw(p.rng, now-n.freeAt[w]) * float64(time.Second))
		if d < 1 {
			d = 1
		}
		p.sched(now+d, nd, w, n.gen)
	}
}

// done finishes worker w's frame.
func (p *pipeline) done(now int64, nd, w int32, gen uint32) {
	n := p.nodes[nd]
	if gen != n.gen {
		return // the node died meanwhile; counted at the kill
	}
	if n.since[w] < n.pausedAt && now > n.pausedAt {
		// Frozen during the inference: it finishes the pause's length later.
		n.since[w] = n.resumeAt
		if n.resumeAt != never {
			p.sched(now+n.resumeAt-n.pausedAt, nd, w, gen)
		}
		return
	}
	j := n.running[w]
	n.idle = append(n.idle, w)
	n.freeAt[w] = now
	ps := &p.streams[j.cam]
	p.counts(j.cam).Inferred++
	more := ps.slot.Done()
	p.result(j, ps, now)
	if more {
		p.enqueue(now, nd, j.cam)
	}
	p.dispatch(now, nd)
}

// kill ends a node: frames queued or in inference there are lost.
func (p *pipeline) kill(nd int32) {
	n := p.nodes[nd]
	n.gen++
	workers := len(n.running)
	for i := range p.streams {
		ps := &p.streams[i]
		if ps.node != nd {
			continue
		}
		if ps.slot.Waiting() {
			p.counts(int32(i)).NodeDown++
		}
		if ps.slot.Active() {
			p.counts(int32(i)).NodeDown++
		}
		*ps = pstream{session: -1, node: -1}
	}
	n.qh, n.qn = 0, 0
	n.idle = n.idle[:0]
	for w := workers - 1; w >= 0; w-- {
		n.idle = append(n.idle, int32(w))
	}
}
