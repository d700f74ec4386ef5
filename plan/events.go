package plan

// Event kinds.
const (
	evCapture   uint8 = iota // a: camera
	evLink                   // a: link
	evSubmit                 // a: stream (camera), job in b (index into pending jobs)
	evDone                   // a: node, b: worker, c: node generation
	evFault                  // a: fault index, b: 0 start / 1 end
	evAlertTry               // a: alert index
	evArrival                // a: source (site) cursor
	evAnswer                 // a: index into results
	evFrame                  // a: frame slot, c: its generation (its last packet arrives)
	evAlertLand              // a: alert index, b: 1 if it arrives corrupted
	evNACK                   // a: camera (the receiver's NACK tick)
	evNACKLand               // a: camera (a NACK reaches it)
	evAssemble               // a: camera (its receiver's assembler checks its time limit)
)

// event is one entry of the virtual-clock heap; ties in time go in the
// order they were scheduled (seq), which keeps runs deterministic.
type event struct {
	at   int64 // ns since the start of the run
	seq  uint64
	a, b int32
	c    uint32
	kind uint8
}

// events is the virtual clock's queue: a 4-ary min-heap of events by (at,
// seq), with half the levels of a binary heap and sifts that move a hole
// instead of swapping at each level, plus first-in first-out lanes for
// periodic events. (at, seq) is unique, so the order events come out in
// does not depend on where they wait.
type events struct {
	h     []event
	seq   uint64
	lanes []lane
}

// lane holds events of one period pushed by pushPeriodic: each is one
// period after the event being handled, so they are pushed in the order
// they must come out in, and a lane needs no sorting.
type lane struct {
	period int64
	e      []event
	head   int
}

func (q *events) len() int {
	n := len(q.h)
	for i := range q.lanes {
		n += len(q.lanes[i].e) - q.lanes[i].head
	}
	return n
}

// pushPeriodic schedules e, which is period after the event being
// handled.
func (q *events) pushPeriodic(period int64, e event) {
	q.seq++
	e.seq = q.seq
	for i := range q.lanes {
		if l := &q.lanes[i]; l.period == period {
			if l.head > 64 && l.head*2 > len(l.e) {
				n := copy(l.e, l.e[l.head:])
				l.e, l.head = l.e[:n], 0
			}
			l.e = append(l.e, e)
			return
		}
	}
	q.lanes = append(q.lanes, lane{period: period, e: []event{e}})
}

func earlier(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *events) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	h := q.h
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !earlier(&e, &h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

// pop takes the earliest event off the queue, which must not be empty.
func (q *events) pop() event {
	from := -1 // the heap
	var first *event
	if len(q.h) > 0 {
		first = &q.h[0]
	}
	for i := range q.lanes {
		l := &q.lanes[i]
		if l.head < len(l.e) && (first == nil || earlier(&l.e[l.head], first)) {
			first, from = &l.e[l.head], i
		}
	}
	if from >= 0 {
		l := &q.lanes[from]
		l.head++
		return *first
	}
	return q.popHeap()
}

func (q *events) popHeap() event {
	h := q.h
	n := len(h) - 1
	top, last := h[0], h[n]
	h = h[:n]
	q.h = h
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		// the earliest of up to four children
		m := c
		for k := c + 1; k < min(c+4, n); k++ {
			if earlier(&h[k], &h[m]) {
				m = k
			}
		}
		if !earlier(&h[m], &last) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = last
	return top
}
