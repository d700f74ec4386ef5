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

// events is a binary min-heap of events by (at, seq).
type events struct {
	h   []event
	seq uint64
}

func (q *events) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *events) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *events) pop() event {
	n := len(q.h) - 1
	top := q.h[0]
	q.h[0] = q.h[n]
	q.h = q.h[:n]
	i := 0
	for {
		l, r, s := 2*i+1, 2*i+2, i
		if l < n && q.less(l, s) {
			s = l
		}
		if r < n && q.less(r, s) {
			s = r
		}
		if s == i {
			return top
		}
		q.h[i], q.h[s] = q.h[s], q.h[i]
		i = s
	}
}
