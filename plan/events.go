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

// events is a 4-ary min-heap of events by (at, seq): half the levels of a
// binary heap, and its sifts move a hole instead of swapping at each level.
// (at, seq) is unique, so the order events come out in does not depend on
// the heap's shape.
type events struct {
	h   []event
	seq uint64
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

func (q *events) pop() event {
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
