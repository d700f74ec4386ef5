package fakecam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of the WHIP client. A *WHIPError wraps one of them.
var (
	// ErrWHIPRejected: the server answered the offer with a 4xx status.
	ErrWHIPRejected = errors.New("WHIP server rejected the offer")
	// ErrWHIPUnavailable: 5xx answers, timeouts or refused connections, after all retries.
	ErrWHIPUnavailable = errors.New("WHIP server unavailable")
	// ErrWHIPBadAnswer: 201 without a usable SDP answer or Location header.
	ErrWHIPBadAnswer = errors.New("WHIP server sent an unusable answer")
)

// WHIPError describes a failed WHIP request.
type WHIPError struct {
	Endpoint string
	Status   int    // HTTP status, 0 if there was no response
	Body     string // start of the response body
	Attempts int
	Hint     string // what to do about it
	Err      error  // one of the Err* sentinels
	Cause    error  // underlying transport error, if any

	retryAfter time.Duration
}

func (e *WHIPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: POST %s", e.Err, e.Endpoint)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, " %q", e.Body)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

func (e *WHIPError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Retry is the backoff policy for WHIP requests that failed with a 5xx,
// a timeout or a refused connection.
type Retry struct {
	Attempts       int           // total attempts per endpoint, >= 1
	Initial, Max   time.Duration // backoff doubles from Initial up to Max, with jitter
	RequestTimeout time.Duration // per attempt
}

// DefaultRetry is the retry policy used when no Retry is given.
func DefaultRetry() Retry {
	return Retry{Attempts: 4, Initial: 250 * time.Millisecond, Max: 4 * time.Second, RequestTimeout: 5 * time.Second}
}

// WHIPClient publishes an SDP offer to WHIP endpoints (RFC 9725).
type WHIPClient struct {
	HTTP  *http.Client
	Token string // sent as Authorization: Bearer
	Retry Retry

	mu   sync.Mutex
	rand *rand.Rand // jitter; seeded by the camera so runs repeat
}

// WHIPSession is a published session.
type WHIPSession struct {
	Endpoint string
	Location string // absolute URL of the session resource
	Answer   string // SDP answer
	ETag     string
}

func (c *WHIPClient) jitter(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rand == nil {
		c.rand = rand.New(rand.NewPCG(1, 2))
	}
	return d/2 + time.Duration(c.rand.Int64N(int64(d)/2+1))
}

// Publish POSTs offer to endpoint and returns the session from a
// 201 Created answer. 5xx answers and transport errors are retried with
// backoff; 4xx answers and unusable answers are returned at once.
func (c *WHIPClient) Publish(ctx context.Context, endpoint, offer string) (*WHIPSession, error) {
	r := c.Retry
	if r.Attempts < 1 {
		r = DefaultRetry()
	}
	backoff := r.Initial
	var last *WHIPError
	for attempt := 1; ; attempt++ {
		s, werr := c.publishOnce(ctx, endpoint, offer, r.RequestTimeout)
		if werr == nil {
			return s, nil
		}
		werr.Attempts = attempt
		last = werr
		if !errors.Is(werr, ErrWHIPUnavailable) || attempt >= r.Attempts || ctx.Err() != nil {
			break
		}
		wait := c.jitter(backoff)
		if werr.retryAfter > 0 { // a busy or draining server says when to come back
			wait = min(werr.retryAfter, max(r.Max, backoff))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(last, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, r.Max)
	}
	return nil, last
}

func (c *WHIPClient) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *WHIPClient) publishOnce(ctx context.Context, endpoint, offer string, timeout time.Duration) (*WHIPSession, *WHIPError) {
	werr := func(sentinel error, status int, body, hint string, cause error) *WHIPError {
		return &WHIPError{Endpoint: endpoint, Status: status, Body: body, Hint: hint, Err: sentinel, Cause: cause}
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader([]byte(offer)))
	if err != nil {
		return nil, werr(ErrWHIPRejected, 0, "", "check the endpoint URL (e.g. http://10.0.0.2:8080/whip)", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		var ne net.Error
		hint := "is the WHIP server running and reachable?"
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			hint = "the server did not answer in time"
		}
		return nil, werr(ErrWHIPUnavailable, 0, "", hint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, werr(ErrWHIPUnavailable, resp.StatusCode, "", "the answer was cut off", err)
	}
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	switch {
	case resp.StatusCode >= 500:
		e := werr(ErrWHIPUnavailable, resp.StatusCode, snippet, "the server failed or is busy; it is retried with backoff", nil)
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			e.retryAfter = time.Duration(secs) * time.Second
		}
		return nil, e
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, werr(ErrWHIPRejected, resp.StatusCode, snippet, "check the bearer token (--token)", nil)
	case resp.StatusCode == http.StatusNotFound:
		return nil, werr(ErrWHIPRejected, resp.StatusCode, snippet, "check the endpoint path (edgenode serves /whip)", nil)
	case resp.StatusCode >= 400:
		return nil, werr(ErrWHIPRejected, resp.StatusCode, snippet, "the server does not accept this offer", nil)
	case resp.StatusCode != http.StatusCreated:
		return nil, werr(ErrWHIPBadAnswer, resp.StatusCode, snippet, "a WHIP server answers 201 Created", nil)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/sdp") {
		return nil, werr(ErrWHIPBadAnswer, resp.StatusCode, snippet, fmt.Sprintf("content type %q, want application/sdp", ct), nil)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, werr(ErrWHIPBadAnswer, resp.StatusCode, "", "the 201 answer has no Location header", nil)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, werr(ErrWHIPBadAnswer, resp.StatusCode, "", "the Location header is not a URL", err)
	}
	if !strings.HasPrefix(string(body), "v=0") {
		return nil, werr(ErrWHIPBadAnswer, resp.StatusCode, snippet, "the body is not an SDP answer", nil)
	}
	return &WHIPSession{Endpoint: endpoint, Location: u.String(), Answer: string(body), ETag: resp.Header.Get("ETag")}, nil
}

// Delete ends the session (DELETE on its Location). A 404 counts as done.
func (c *WHIPClient) Delete(ctx context.Context, s *WHIPSession) error {
	if s == nil || s.Location == "" {
		return nil
	}
	timeout := c.Retry.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRetry().RequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.Location, nil)
	if err != nil {
		return fmt.Errorf("DELETE %s: %w", s.Location, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("DELETE %s: %w", s.Location, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("DELETE %s: HTTP %d", s.Location, resp.StatusCode)
	}
	return nil
}

// withCamera adds ?camera=<id> to a WHIP endpoint URL (keeping other query
// parameters).
func withCamera(endpoint, id string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("WHIP endpoint %q: want an http(s) URL such as http://10.0.0.2:8080/whip", endpoint)
	}
	q := u.Query()
	if id != "" && q.Get("camera") == "" {
		q.Set("camera", id)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
