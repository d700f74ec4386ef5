package provider

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/runtime/models"
)

// ModelRoller is implemented by providers that run rollouts: they serve a
// model from the cloud side, fetch it into a site across the site's
// emulated uplink and switch an edge node to it.
type ModelRoller interface {
	// ServeModel serves the files of dir from the cloud tier's side of
	// the links and returns their base URL; stop ends it.
	ServeModel(ctx context.Context, dir string, files []string) (url string, stop func(), err error)
	// FetchModel fetches files from url into dst from inside node's
	// network (across its links), resuming after stalls (a partition)
	// until ctx ends. It returns the bytes received.
	FetchModel(ctx context.Context, node, url string, files []string, dst string) (int64, error)
	// SwapModel points node's edgenode at the model in dir ("" = the
	// model the plan started it with) and waits until the node serves
	// it; it returns the model it serves.
	SwapModel(ctx context.Context, node, dir string) (string, error)
	// ModelDir is the directory node's edgenode serves its model from now
	// ("" = the model the plan started it with).
	ModelDir(node string) string
}

// FetchStall is how long a model fetch waits without a byte before it
// reconnects and resumes (a partition stalls TCP with growing backoff; a
// fresh connection after the heal resumes sooner).
const FetchStall = 2 * time.Second

// ServeModel serves the files of dir over HTTP from inside h's network
// namespace, on h's emulated address, so that a fetch from another host
// crosses the links between them. Only the named files are served.
func ServeModel(h netem.EngineHost, dir string, files []string) (string, func(), error) {
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(h.Address().String(), "0"))
		return err
	}); err != nil {
		return "", nil, fmt.Errorf("serve the model in %s: %w", h.Name(), err)
	}
	mux := http.NewServeMux()
	for _, f := range files {
		mux.HandleFunc("GET /"+f, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, filepath.Join(dir, f)) })
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// NetnsClient is an HTTP client whose connections are made inside h's
// network namespace; keepAlive keeps them open between requests (a fetch
// of several files then pays for one handshake).
func NetnsClient(h netem.EngineHost, keepAlive bool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: !keepAlive,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() error {
				var err error
				c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

// FetchModel fetches each of files from url into dst with ranged GETs
// from inside h's network namespace, so its bytes cross h's links; a
// connection that delivers nothing for FetchStall is dropped and the fetch
// resumes where it stopped. It returns the bytes received.
func FetchModel(ctx context.Context, h netem.EngineHost, url string, files []string, dst string) (int64, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	var total int64
	c := NetnsClient(h, true)
	defer c.CloseIdleConnections()
	for _, f := range files {
		n, err := FetchFile(ctx, c, url+"/"+f, filepath.Join(dst, f))
		total += n
		if err != nil {
			return total, fmt.Errorf("fetch %s: %w", f, err)
		}
	}
	return total, nil
}

// FetchFile fetches url into dst with c, resuming with ranged GETs after
// a stall or a failed connection until the whole file came or ctx ends.
func FetchFile(ctx context.Context, c *http.Client, url, dst string) (int64, error) {
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	var got int64
	size := int64(-1)
	for size < 0 || got < size {
		if err := ctx.Err(); err != nil {
			return got, err
		}
		n, full, err := fetchRange(ctx, c, url, got, out)
		got += n
		if full >= 0 {
			size = full
		}
		if err != nil && n == 0 {
			// nothing came: the link is down; wait a little and retry
			select {
			case <-ctx.Done():
				return got, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return got, nil
}

// fetchRange GETs url from offset on, writing to w, until the body ends
// or no byte came for FetchStall. It returns the bytes written and the
// file's full size (-1 when unknown).
func fetchRange(ctx context.Context, c *http.Client, url string, offset int64, w io.Writer) (int64, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(FetchStall+2*time.Second, cancel) // the first byte may take a connect
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, -1, err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	resp, err := c.Do(req)
	if err != nil {
		return 0, -1, err
	}
	defer resp.Body.Close()
	full := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if _, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/"); ok {
			full, _ = strconv.ParseInt(total, 10, 64)
		}
	case http.StatusOK: // no range support: only from the start
		if offset > 0 {
			return 0, -1, fmt.Errorf("%s ignores ranges", url)
		}
		full = resp.ContentLength
	case http.StatusRequestedRangeNotSatisfiable:
		return 0, offset, nil
	default:
		return 0, -1, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	var n int64
	buf := make([]byte, 32<<10)
	for {
		watchdog.Reset(FetchStall)
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, full, err
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, full, nil
		}
		if rerr != nil {
			return n, full, rerr
		}
	}
}

// WaitReady polls an edgenode's /readyz at url with c every 100 ms until it
// answers 200 (which also waits out a drain), ctx ends, or gone (when not
// nil) says the edgenode is gone. The error carries the last answer.
func WaitReady(ctx context.Context, c *http.Client, url string, gone func() error) error {
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		last = err
		if gone != nil {
			if err := gone(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ReloadModel asks the edgenode at baseURL to reload its model (POST
// /admin/model, a hot swap between frames, with the run token when there
// is one) and returns the model it says it serves. A request that got no
// answer (a connection refused or timed out on a busy host) is sent
// again every ReloadRetry until ctx ends: a reload loads whatever the
// model link points at, so a second one is harmless. An answer other
// than 200 is final.
func ReloadModel(ctx context.Context, c *http.Client, baseURL, token string) (string, error) {
	for {
		served, answered, err := reloadOnce(ctx, c, baseURL, token)
		if err == nil || answered {
			return served, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(ReloadRetry):
		}
	}
}

// ReloadRetry is how long ReloadModel waits before it sends a request
// that got no answer again.
const ReloadRetry = 250 * time.Millisecond

// reloadOnce sends one reload request; answered says the edgenode
// answered it.
func reloadOnce(ctx context.Context, c *http.Client, baseURL, token string) (served string, answered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/admin/model", nil)
	if err != nil {
		return "", true, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", false, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", true, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(strings.TrimPrefix(string(body), "serving ")), true, nil
}

// PlanModel is a local directory holding the model a plan's edgenodes
// start on, for a rollout to swap back to: the scenario's model
// directory, or edgenode's embedded default model copied out to
// dir/models/initial.
func PlanModel(plan *Plan, dir string) (string, error) {
	if p := plan.Scenario.Workload.Model.Path; p != "" {
		return p, nil
	}
	out := filepath.Join(dir, "models", "initial")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	sub, err := fs.Sub(models.FS, models.Default)
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(out, sub); err != nil {
		return "", fmt.Errorf("copy the embedded model out for the rollout: %w", err)
	}
	return out, nil
}
