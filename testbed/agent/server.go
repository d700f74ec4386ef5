package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/wire"
)

// DefaultSocket is where the agent's control socket lives, inside the
// agent pod's own filesystem: only who may exec into the pod reaches it.
const DefaultSocket = "/run/edgesim-agent/agent.sock"

// ServerConfig says where a Server listens.
type ServerConfig struct {
	// Socket is the path of the control socket (unix, mode 0600).
	Socket string
	// MetricsAddr is the TCP address of /metrics and /healthz (":9464";
	// "" for none).
	MetricsAddr string
	// Gatherer is what /metrics serves.
	Gatherer prometheus.Gatherer
	// Files, when FilesToken is set too, is served read-only beside
	// /metrics to requests that carry "Authorization: Bearer FilesToken":
	// GET /v1/cat?path=P (Root.Cat) and GET /v1/tar?path=DIR (Root.Tar).
	// edgesim reads the samples and the alerts this way, without a
	// `kubectl exec` for every read.
	Files      *Root
	FilesToken string
}

// Server serves an Agent's control API, JSON over HTTP on a unix socket:
//
//	POST /v1/attach   RelayConfig      start (or replace) a relay
//	POST /v1/tunnels  []kube.TunnelEnd apply the tunnels of this node
//	POST /v1/detach   DetachRequest    close one relay, or everything
//
// answering 204, or an ErrorResponse. /metrics and /healthz are served
// read-only on a TCP port, and with ServerConfig.Files the files under
// its Root too (/v1/cat, /v1/tar).
type Server struct {
	a       *Agent
	cfg     ServerConfig
	ctl     net.Listener
	metrics net.Listener
}

// FilesTokenEnv is the environment variable `edgesim agent run` takes
// ServerConfig.FilesToken from.
const FilesTokenEnv = "EDGESIM_AGENT_TOKEN"

// DetachRequest is the body of /v1/detach.
type DetachRequest struct {
	// Name is the relay to close; "" closes every relay and deletes
	// every tunnel of the agent.
	Name string `json:"name,omitempty"`
}

// ErrorResponse is the body of a failed control request.
type ErrorResponse struct {
	Error string `json:"error"`
}

// NewServer opens the Server's listeners; a stale socket file at
// cfg.Socket is replaced.
func NewServer(a *Agent, cfg ServerConfig) (*Server, error) {
	if cfg.Socket == "" {
		return nil, errors.New("agent: no control socket path")
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o700); err != nil {
		return nil, fmt.Errorf("agent: control socket: %w", err)
	}
	if fi, err := os.Lstat(cfg.Socket); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("agent: control socket %s exists and is not a socket", cfg.Socket)
		}
		_ = os.Remove(cfg.Socket)
	}
	ctl, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("agent: control socket: %w", err)
	}
	if err := os.Chmod(cfg.Socket, 0o600); err != nil {
		ctl.Close()
		return nil, fmt.Errorf("agent: control socket: %w", err)
	}
	s := &Server{a: a, cfg: cfg, ctl: ctl}
	if cfg.MetricsAddr != "" {
		if s.metrics, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ctl.Close()
			return nil, fmt.Errorf("agent: metrics listener: %w", err)
		}
	}
	return s, nil
}

// MetricsAddr is the address /metrics is served on, nil without one.
func (s *Server) MetricsAddr() net.Addr {
	if s.metrics == nil {
		return nil
	}
	return s.metrics.Addr()
}

// Serve serves until ctx ends, then stops the listeners (it leaves the
// Agent as it is: its owner closes it).
func (s *Server) Serve(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/attach", func(w http.ResponseWriter, r *http.Request) {
		var cfg RelayConfig
		if !decode(w, r, &cfg) {
			return
		}
		_, err := s.a.Attach(r.Context(), cfg)
		reply(w, err)
	})
	mux.HandleFunc("POST /v1/tunnels", func(w http.ResponseWriter, r *http.Request) {
		var ts []kube.TunnelEnd
		if !decode(w, r, &ts) {
			return
		}
		reply(w, s.a.ApplyTunnels(r.Context(), ts))
	})
	mux.HandleFunc("POST /v1/detach", func(w http.ResponseWriter, r *http.Request) {
		var d DetachRequest
		if !decode(w, r, &d) {
			return
		}
		reply(w, s.a.Detach(r.Context(), d.Name))
	})
	ctl := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	servers := []*http.Server{ctl}
	errc := make(chan error, 2)
	go func() { errc <- ctl.Serve(s.ctl) }()
	if s.metrics != nil {
		mm := http.NewServeMux()
		g := s.cfg.Gatherer
		if g == nil {
			g = prometheus.NewRegistry()
		}
		mm.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
		mm.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		if s.cfg.Files != nil && s.cfg.FilesToken != "" {
			mm.Handle("GET /v1/cat", wire.RequireBearer(filesRealm, s.cfg.FilesToken, files(func(_ context.Context, p string, w io.Writer) error {
				b, err := s.cfg.Files.Cat(p)
				if err == nil {
					_, err = w.Write(b)
				}
				return err
			})))
			mm.Handle("GET /v1/tar", wire.RequireBearer(filesRealm, s.cfg.FilesToken, files(s.cfg.Files.Tar)))
		}
		ms := &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, ms)
		go func() { errc <- ms.Serve(s.metrics) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(sctx)
	}
	_ = os.Remove(s.cfg.Socket)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// filesRealm is the bearer realm of the agent's files.
const filesRealm = "edgesim-agent"

// files serves read(path): the whole answer is read before the status is
// sent, so a failure midway is a 500 and never a truncated 200.
func files(read func(ctx context.Context, path string, w io.Writer) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		err := read(r.Context(), r.URL.Query().Get("path"), &buf)
		switch {
		case errors.Is(err, ErrOutside):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(buf.Bytes())
		}
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(ErrorResponse{Error: "agent: bad request: " + err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_ = json.NewEncoder(w).Encode(ErrorResponse{Error: err.Error()})
}

// Client talks to a Server over its control socket.
type Client struct {
	hc *http.Client
}

// NewClient returns a Client of the Server listening at socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &Client{hc: &http.Client{Transport: tr}}
}

// Attach asks the agent to start (or replace) the relay cfg.
func (c *Client) Attach(ctx context.Context, cfg RelayConfig) error {
	return c.post(ctx, "/v1/attach", cfg)
}

// ApplyTunnels asks the agent to make the tunnel ends ts.
func (c *Client) ApplyTunnels(ctx context.Context, ts []kube.TunnelEnd) error {
	if ts == nil {
		ts = []kube.TunnelEnd{}
	}
	return c.post(ctx, "/v1/tunnels", ts)
}

// Detach asks the agent to close the relay name, or with "" everything.
func (c *Client) Detach(ctx context.Context, name string) error {
	return c.post(ctx, "/v1/detach", DetachRequest{Name: name})
}

func (c *Client) post(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent: %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var e ErrorResponse
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("agent: %s: %s", path, resp.Status)
}
