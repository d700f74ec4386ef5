package alert

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/wire"
)

// Store limits.
const (
	// DefaultStoreMemory is how many of the newest alerts a Store keeps in
	// memory for List (and for GET /v1/alerts without a JSONL file).
	DefaultStoreMemory = 10000
	// DefaultStoreIDs is how many alert ids a Store remembers to remove
	// duplicates (about 40 bytes each); an alert retried after this many
	// newer ones is recorded again.
	DefaultStoreIDs = 1 << 20
	// MaxBatch is the most alerts one POST may carry.
	MaxBatch = 1000
	// MaxBody is the largest POST body accepted (413 beyond).
	MaxBody = 4 << 20
	// maxLine is the longest JSONL line read back; longer ones are skipped.
	maxLine = 1 << 20
)

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithJSONL appends every new alert as one JSON line to path, fsynced before
// the POST is answered, reloads it at start so deduplication survives a
// restart, and serves GET /v1/alerts from it.
func WithJSONL(path string) StoreOption { return func(s *Store) { s.path = path } }

// WithStoreClock injects the clock stamping each alert's Received time.
func WithStoreClock(now func() time.Time) StoreOption { return func(s *Store) { s.now = now } }

// WithStoreRegisterer registers edgenode_alerts_received_total{result}.
func WithStoreRegisterer(reg prometheus.Registerer) StoreOption {
	return func(s *Store) { s.reg = reg }
}

// WithStoreToken requires "Authorization: Bearer <token>" on POST.
func WithStoreToken(t string) StoreOption { return func(s *Store) { s.token = t } }

// WithStoreMemory caps the alerts kept in memory (default
// DefaultStoreMemory) and the ids remembered for deduplication (default
// DefaultStoreIDs).
func WithStoreMemory(alerts, ids int) StoreOption {
	return func(s *Store) { s.memCap, s.idCap = alerts, ids }
}

type idKey [16]byte

func keyOf(id string) idKey {
	h := sha256.Sum256([]byte(id))
	return idKey(h[:16])
}

// Store is the cloud tier's alert inbox: POST /v1/alerts records each alert
// once per id; GET /v1/alerts lists them in arrival order. Its memory is
// bounded: the newest alerts (WithStoreMemory) and the ids it deduplicates
// against, not the whole history, which only the JSONL file holds.
type Store struct {
	path   string
	now    func() time.Time
	reg    prometheus.Registerer
	token  string
	memCap int
	idCap  int

	mu     sync.Mutex
	byID   map[idKey]struct{}
	order  []idKey // ids in arrival order, oldest first, for eviction
	recent []wire.Alert
	file   *os.File
	recv   *prometheus.CounterVec
}

// NewStore opens the store.
func NewStore(opts ...StoreOption) (*Store, error) {
	s := &Store{now: time.Now, byID: map[idKey]struct{}{}, memCap: DefaultStoreMemory, idCap: DefaultStoreIDs}
	for _, o := range opts {
		o(s)
	}
	if s.memCap < 1 || s.idCap < 1 {
		return nil, fmt.Errorf("alert: store memory caps must be at least 1, got %d alerts and %d ids", s.memCap, s.idCap)
	}
	s.recv = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgenode_alerts_received_total", Help: "Alerts posted to this cloud node, by result (new, duplicate, invalid)."}, []string{"result"})
	if s.reg != nil {
		if err := s.reg.Register(s.recv); err != nil {
			return nil, fmt.Errorf("alert: register metrics: %w", err)
		}
	}
	if s.path != "" {
		if err := s.reload(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// reload reads the JSONL file back and opens it for appending. A last line
// torn by a crash is terminated so the next record starts on a line of its
// own.
func (s *Store) reload() error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("alert: open %s: %w", s.path, err)
	}
	var last byte
	n := 0
	err = ReadJSONL(f, func(a wire.Alert) {
		if _, ok := s.byID[keyOf(a.ID)]; !ok {
			s.remember(a)
			n++
		}
	}, &last)
	if err == nil {
		// The size, not last's zero value, tells an empty file from one
		// whose torn tail ends in a NUL byte.
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() > 0 && last != '\n' {
			_, err = f.Write([]byte{'\n'})
		}
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("alert: read %s: %w", s.path, err)
	}
	s.file = f
	return nil
}

// ReadJSONL calls fn for each alert of an alerts file (or several
// concatenated), in order. It tolerates what a crash leaves: a torn line is
// skipped, and a record appended to a torn line is still found. If last is
// not nil it receives the final byte read.
func ReadJSONL(r io.Reader, fn func(wire.Alert), last *byte) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && last != nil {
			*last = chunk[len(chunk)-1]
		}
		if !tooLong && len(line)+len(chunk) <= maxLine {
			line = append(line, chunk...)
		} else {
			tooLong, line = true, line[:0] // skip the rest of the line
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !tooLong && len(bytes.TrimSpace(line)) > 0 {
			parseLine(line, fn)
		}
		line, tooLong = line[:0], false
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var recordStart = []byte(`{"id":`)

// parseLine finds the alert records in one line: normally the whole line,
// after a crash the record that follows a torn one.
func parseLine(line []byte, fn func(wire.Alert)) {
	for {
		var a wire.Alert
		if json.Unmarshal(line, &a) == nil && a.ID != "" {
			fn(a)
			return
		}
		i := bytes.Index(line[1:], recordStart)
		if i < 0 {
			return
		}
		line = line[i+1:]
	}
}

// remember records a in the id set and the in-memory window, evicting the
// oldest beyond the caps. s.mu must be held (or s not yet shared).
func (s *Store) remember(a wire.Alert) {
	k := keyOf(a.ID)
	s.byID[k] = struct{}{}
	s.order = append(s.order, k)
	if len(s.order) > 2*s.idCap {
		for _, old := range s.order[:len(s.order)-s.idCap] {
			delete(s.byID, old)
		}
		s.order = append([]idKey(nil), s.order[len(s.order)-s.idCap:]...)
	}
	s.recent = append(s.recent, a)
	if len(s.recent) > 2*s.memCap {
		s.recent = append([]wire.Alert(nil), s.recent[len(s.recent)-s.memCap:]...)
	}
}

// Result counts what AddAll did with a batch.
type Result struct {
	New       int `json:"new"`
	Duplicate int `json:"duplicate"`
}

// Add records a, unless its id was seen before (dup).
func (s *Store) Add(a wire.Alert) (dup bool, err error) {
	if err := a.Validate(); err != nil {
		s.recv.WithLabelValues("invalid").Inc()
		return false, err
	}
	r, err := s.AddAll([]wire.Alert{a})
	return r.Duplicate == 1, err
}

// AddAll records valid alerts (checked with Validate by the caller) whose
// ids were not seen before, with one fsync of the JSONL file. On an error
// nothing of the batch is guaranteed durable.
func (s *Store) AddAll(as []wire.Alert) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res Result
	var buf bytes.Buffer
	var fresh []wire.Alert
	seen := map[idKey]bool{}
	for _, a := range as {
		k := keyOf(a.ID)
		if _, ok := s.byID[k]; ok || seen[k] {
			res.Duplicate++
			continue
		}
		seen[k] = true
		r := a
		r.Received = s.now()
		b, err := json.Marshal(r)
		if err != nil {
			return Result{}, fmt.Errorf("alert: encode %s: %w", a.ID, err)
		}
		buf.Write(append(b, '\n'))
		fresh = append(fresh, r)
	}
	if s.file != nil && buf.Len() > 0 {
		_, err := s.file.Write(buf.Bytes())
		if err == nil {
			err = syncFile(s.file)
		}
		if err != nil {
			return Result{}, fmt.Errorf("alert: write %s: %w", s.path, err)
		}
	}
	for _, r := range fresh {
		s.remember(r)
	}
	res.New = len(fresh)
	s.recv.WithLabelValues("new").Add(float64(res.New))
	s.recv.WithLabelValues("duplicate").Add(float64(res.Duplicate))
	return res, nil
}

// List returns the newest alerts received (at most the memory cap), in
// arrival order.
func (s *Store) List() []wire.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := max(0, len(s.recent)-s.memCap)
	return append([]wire.Alert(nil), s.recent[from:]...)
}

// Close closes the JSONL file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}

// Handler serves POST and GET /v1/alerts.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/alerts", s.handlePost)
	mux.HandleFunc("GET /v1/alerts", s.handleGet)
	return mux
}

// handleGet streams the JSONL file from disk when there is one (bounded
// memory), else the in-memory window.
func (s *Store) handleGet(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.path == "" {
		list := s.List()
		if list == nil {
			list = []wire.Alert{}
		}
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	f, err := os.Open(s.path)
	if err != nil {
		http.Error(w, "reading the alerts file: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	bw := bufio.NewWriter(w)
	sep := byte('[')
	_ = ReadJSONL(f, func(a wire.Alert) {
		b, _ := json.Marshal(a)
		_ = bw.WriteByte(sep)
		_, _ = bw.Write(b)
		sep = ','
	}, nil)
	if sep == '[' {
		_ = bw.WriteByte('[')
	}
	_, _ = bw.WriteString("]\n")
	_ = bw.Flush()
}

// Rejection is the body of a 422 answer to POST /v1/alerts: the alerts it
// names are invalid and will never be accepted; every other alert of the
// request was recorded.
type Rejection struct {
	Invalid []InvalidAlert `json:"invalid"`
	Result
}

// InvalidAlert names one refused alert and why.
type InvalidAlert struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

func (s *Store) handlePost(w http.ResponseWriter, r *http.Request) {
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("body larger than %d bytes: send fewer alerts per request", MaxBody), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var raws []json.RawMessage
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		err = json.Unmarshal(b, &raws)
	} else {
		raws = []json.RawMessage{body}
	}
	if err != nil {
		s.recv.WithLabelValues("invalid").Inc()
		http.Error(w, "body is neither an alert nor a JSON array of alerts: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(raws) > MaxBatch {
		http.Error(w, fmt.Sprintf("%d alerts in one request, at most %d", len(raws), MaxBatch), http.StatusRequestEntityTooLarge)
		return
	}
	var rej Rejection
	valid := make([]wire.Alert, 0, len(raws))
	for i, raw := range raws {
		var a wire.Alert
		err := json.Unmarshal(raw, &a)
		if err == nil {
			err = a.Validate()
		} else {
			err = fmt.Errorf("%w: %v", wire.ErrInvalid, err)
			var named struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &named)
			a.ID = named.ID
		}
		if err == nil {
			valid = append(valid, a)
			continue
		}
		s.recv.WithLabelValues("invalid").Inc()
		if a.ID == "" {
			// Nothing names it: refuse the whole request, record nothing.
			http.Error(w, fmt.Sprintf("alert %d: %v; nothing recorded", i, err), http.StatusBadRequest)
			return
		}
		rej.Invalid = append(rej.Invalid, InvalidAlert{ID: a.ID, Error: err.Error()})
	}
	res, err := s.AddAll(valid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case len(rej.Invalid) > 0:
		rej.Result = res
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(rej)
		return
	case res.New > 0:
		w.WriteHeader(http.StatusCreated)
	default:
		w.WriteHeader(http.StatusOK)
	}
	_ = json.NewEncoder(w).Encode(res)
}

// syncFile makes the appended records durable (a variable for tests).
var syncFile = (*os.File).Sync

// ReadAlerts parses alerts files (several replicas' may be concatenated),
// each id once, in order; see ReadJSONL for torn lines.
func ReadAlerts(b []byte) []wire.Alert {
	var out []wire.Alert
	seen := map[string]bool{}
	_ = ReadJSONL(bytes.NewReader(b), func(a wire.Alert) {
		if !seen[a.ID] {
			seen[a.ID] = true
			out = append(out, a)
		}
	}, nil)
	return out
}
