package alert

import (
	"bufio"
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

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithJSONL appends every new alert as one JSON line to path (and reloads it
// at start so deduplication survives a restart).
func WithJSONL(path string) StoreOption { return func(s *Store) { s.path = path } }

// WithStoreClock injects the clock stamping each alert's Received time.
func WithStoreClock(now func() time.Time) StoreOption { return func(s *Store) { s.now = now } }

// WithStoreRegisterer registers edgenode_alerts_received_total{result}.
func WithStoreRegisterer(reg prometheus.Registerer) StoreOption {
	return func(s *Store) { s.reg = reg }
}

// WithStoreToken requires "Authorization: Bearer <token>" on POST.
func WithStoreToken(t string) StoreOption { return func(s *Store) { s.token = t } }

// Store is the cloud tier's alert inbox: POST /v1/alerts records an alert
// once per id; GET /v1/alerts lists them in arrival order.
type Store struct {
	path  string
	now   func() time.Time
	reg   prometheus.Registerer
	token string

	mu   sync.Mutex
	byID map[string]bool
	list []wire.Alert
	file *os.File
	recv *prometheus.CounterVec
}

// NewStore opens the store.
func NewStore(opts ...StoreOption) (*Store, error) {
	s := &Store{now: time.Now, byID: map[string]bool{}}
	for _, o := range opts {
		o(s)
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
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("alert: open %s: %w", s.path, err)
		}
		s.file = f
	}
	return s, nil
}

func (s *Store) reload() error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alert: open %s: %w", s.path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r wire.Alert
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.ID == "" || s.byID[r.ID] {
			continue
		}
		s.byID[r.ID] = true
		s.list = append(s.list, r)
	}
	return nil
}

// Add records a, unless its id was seen before (dup).
func (s *Store) Add(a wire.Alert) (dup bool, err error) {
	if err := a.Validate(); err != nil {
		s.recv.WithLabelValues("invalid").Inc()
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[a.ID] {
		s.recv.WithLabelValues("duplicate").Inc()
		return true, nil
	}
	r := a
	r.Received = s.now()
	if s.file != nil {
		b, _ := json.Marshal(r)
		if _, err := s.file.Write(append(b, '\n')); err != nil {
			return false, fmt.Errorf("alert: write %s: %w", s.path, err)
		}
	}
	s.byID[a.ID] = true
	s.list = append(s.list, r)
	s.recv.WithLabelValues("new").Inc()
	return false, nil
}

// List returns the alerts received, in arrival order.
func (s *Store) List() []wire.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Alert(nil), s.list...)
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
	mux.HandleFunc("GET /v1/alerts", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		list := s.List()
		if list == nil {
			list = []wire.Alert{}
		}
		_ = json.NewEncoder(w).Encode(list)
	})
	return mux
}

func (s *Store) handlePost(w http.ResponseWriter, r *http.Request) {
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var a wire.Alert
	if err := json.Unmarshal(body, &a); err != nil {
		s.recv.WithLabelValues("invalid").Inc()
		http.Error(w, "alert is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	dup, err := s.Add(a)
	if errors.Is(err, wire.ErrInvalid) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if dup {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusCreated)
}
