package node

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimit bounds the open HTTP connections, and with them the file
// descriptors a flood can take. At the bound a new connection closes the
// connection that has waited longest without a request in progress (just
// accepted, or idle between requests); when every connection is busy with
// a request the new one is closed. A client that opens connections and
// sends nothing therefore cannot keep a camera out, whereas a listener that
// stops accepting at the bound (netutil.LimitListener) would queue the
// camera behind every waiting attacker.
type connLimit struct {
	max   int
	mu    sync.Mutex
	conns map[net.Conn]connInfo
}

type connInfo struct {
	busy  bool      // a request is being served (net/http: StateActive, after its headers)
	since time.Time // accepted or last went idle
}

func newConnLimit(max int) *connLimit {
	return &connLimit{max: max, conns: map[net.Conn]connInfo{}}
}

// Listener wraps ln; the http.Server must also use ConnState.
func (l *connLimit) Listener(ln net.Listener) net.Listener { return limitedListener{ln, l} }

type limitedListener struct {
	net.Listener
	l *connLimit
}

func (ll limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ll.l.admit(c) {
			return c, nil
		}
		_ = c.Close()
	}
}

// admit registers c, closing a waiting connection to make room; false when
// every connection is busy.
func (l *connLimit) admit(c net.Conn) bool {
	l.mu.Lock()
	var victim net.Conn
	if len(l.conns) >= l.max {
		var oldest time.Time
		for vc, in := range l.conns {
			if !in.busy && (victim == nil || in.since.Before(oldest)) {
				victim, oldest = vc, in.since
			}
		}
		if victim == nil {
			l.mu.Unlock()
			return false
		}
		delete(l.conns, victim)
	}
	l.conns[c] = connInfo{since: time.Now()}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Close()
	}
	return true
}

// ConnState follows the server's connections (http.Server.ConnState).
func (l *connLimit) ConnState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	in, ok := l.conns[c]
	if !ok {
		return
	}
	switch st {
	case http.StateActive:
		in.busy = true
	case http.StateIdle:
		in.busy, in.since = false, time.Now()
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
		return
	default:
		return
	}
	l.conns[c] = in
}

// open is the number of open connections.
func (l *connLimit) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
