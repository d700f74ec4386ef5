package fakecam

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// flushEvery bounds how stale a file may be for a reader following it
// (the testbed's live progress tails the latency files).
const flushEvery = 500 * time.Millisecond

// jsonl writes one JSON value per line, buffered and flushed at least every
// flushEvery while written to; the first write error is kept and returned by
// close.
type jsonl struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	enc     *json.Encoder
	err     error
	flushed time.Time
}

func newJSONL(path string) (*jsonl, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &jsonl{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (j *jsonl) write(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = j.enc.Encode(v)
	}
	if now := time.Now(); j.err == nil && now.Sub(j.flushed) >= flushEvery {
		j.flushed = now
		j.err = j.w.Flush()
	}
}

func (j *jsonl) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return j.err
	}
	name := j.f.Name()
	err := errors.Join(j.err, j.w.Flush(), j.f.Close())
	j.f = nil
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
