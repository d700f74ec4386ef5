package netem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/netem/internal/rtio"
)

type direction struct {
	link *Link
	name string
	mu   sync.Mutex
	// guarded by mu
	model     *Model
	waitUntil time.Time
	sleeping  bool
	wake      chan struct{}
	hr        *rtio.HRTimer // with the real clock; nil with an injected one

	kicks atomic.Uint64 // counts kickLocked wake-ups; ends a spin
	late  lateHist      // release lateness after the due time
	// guarded by mu, with precise release: how early the timer is armed,
	// and when the armed timer is meant to fire (zero: not armed).
	spinWindow time.Duration
	armedAt    time.Time
}

// Link joins two groups; each direction has its own model.
type Link struct {
	name     string
	a, b     string
	up, down *direction
	eng      *Userspace
	implicit bool // made by traffic, not by Link; reoriented by the first Link call
}

// Name is the link's name, "a<->b", as used in the link label of metrics.
func (l *Link) Name() string { return l.name }

func (l *Link) dirs() []*direction {
	if l.up == l.down {
		return []*direction{l.up}
	}
	return []*direction{l.up, l.down}
}

func (d *direction) apply(f func(now time.Time, m *Model) error) error {
	now := d.link.eng.clock.Now()
	d.mu.Lock()
	err := f(now, d.model)
	d.kickLocked()
	d.mu.Unlock()
	return err
}

// kickLocked wakes the scheduler if the model's next event is earlier than
// what it waits for.
func (d *direction) kickLocked() {
	next, ok := d.model.Next()
	if !ok {
		return
	}
	if d.sleeping && (d.waitUntil.IsZero() || next.Before(d.waitUntil)) {
		d.waitUntil = next
		d.kicks.Add(1)
		if d.hr != nil {
			wait := time.Until(next)
			if d.spinWindow > 0 && wait > d.spinWindow {
				d.armedAt = next.Add(-d.spinWindow)
				wait -= d.spinWindow
			} else {
				d.armedAt = time.Time{}
			}
			d.hr.Arm(wait)
			return
		}
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Update replaces both directions' configuration at once.
func (l *Link) Update(up, down LinkConfig) error {
	if err := up.Validate(); err != nil {
		return err
	}
	if err := down.Validate(); err != nil {
		return err
	}
	if err := l.up.apply(func(now time.Time, m *Model) error { return m.Update(now, up) }); err != nil {
		return err
	}
	if l.down != l.up {
		return l.down.apply(func(now time.Time, m *Model) error { return m.Update(now, down) })
	}
	return nil
}

// UpdateDirection replaces the configuration of one direction (Up or Down).
func (l *Link) UpdateDirection(dir string, cfg LinkConfig) error {
	d, err := l.dir(dir)
	if err != nil {
		return err
	}
	return d.apply(func(now time.Time, m *Model) error { return m.Update(now, cfg) })
}

func (l *Link) dir(dir string) (*direction, error) {
	switch dir {
	case Up:
		return l.up, nil
	case Down:
		return l.down, nil
	}
	return nil, fmt.Errorf("netem: direction %q: use %q or %q", dir, Up, Down)
}

// Config returns a direction's configuration in force now.
func (l *Link) Config(dir string) (LinkConfig, error) {
	d, err := l.dir(dir)
	if err != nil {
		return LinkConfig{}, err
	}
	var c LinkConfig
	err = d.apply(func(now time.Time, m *Model) error { c = m.Config(now); return nil })
	return c, err
}

// Ramp moves both directions linearly to new configurations over the given
// duration (see Model.Ramp). It returns at once; the ramp runs on the
// link's clock.
func (l *Link) Ramp(ctx context.Context, up, down LinkConfig, over time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := up.Validate(); err != nil {
		return err
	}
	if err := down.Validate(); err != nil {
		return err
	}
	if err := l.up.apply(func(now time.Time, m *Model) error { return m.Ramp(now, up, over) }); err != nil {
		return err
	}
	if l.down != l.up {
		return l.down.apply(func(now time.Time, m *Model) error { return m.Ramp(now, down, over) })
	}
	return nil
}

// Partition cuts (true) or heals (false) both directions, keeping the
// other parameters.
func (l *Link) Partition(on bool) error {
	for _, d := range l.dirs() {
		if err := d.apply(func(now time.Time, m *Model) error {
			c := m.Config(now)
			c.Partition = on
			return m.Update(now, c)
		}); err != nil {
			return err
		}
	}
	return nil
}

// SetTrace replaces a direction's capacity with a Mahimahi trace starting
// now (nil returns to RateBits).
func (l *Link) SetTrace(dir string, t *Trace, once bool) error {
	d, err := l.dir(dir)
	if err != nil {
		return err
	}
	return d.apply(func(now time.Time, m *Model) error {
		c := m.Config(now)
		c.Trace, c.TraceOnce = t, once
		return m.Update(now, c)
	})
}

// Stats returns both directions' totals, keyed by Up and Down.
func (l *Link) Stats() map[string]DirStats {
	out := map[string]DirStats{}
	l.up.mu.Lock()
	out[Up] = l.up.model.Stats()
	l.up.mu.Unlock()
	if l.down != l.up {
		l.down.mu.Lock()
		out[Down] = l.down.model.Stats()
		l.down.mu.Unlock()
	}
	return out
}

func canonical(a, b string) (string, string) {
	if b < a {
		return b, a
	}
	return a, b
}

func (e *Userspace) newLink(a, b string, up, down LinkConfig) (*Link, error) {
	now := e.clock.Now()
	l := &Link{name: a + "<->" + b, a: a, b: b, eng: e}
	mk := func(name string, cfg LinkConfig) (*direction, error) {
		d := &direction{link: l, name: name, wake: make(chan struct{}, 1)}
		obs := e.metrics.queueObserver(l.name, name)
		m, err := NewModel(cfg, linkSeed(e.opts.seed, l.name, name), now,
			WithPacketFree(e.putPacket), WithPacketClone(e.clonePacket),
			WithQueueDelayObserver(obs))
		if err != nil {
			return nil, err
		}
		d.model = m
		if _, real := e.clock.(realClock); real {
			if d.hr, err = rtio.NewHRTimer(); err != nil {
				return nil, fmt.Errorf("netem: timerfd: %w", err)
			}
		}
		return d, nil
	}
	var err error
	if l.up, err = mk(Up, up); err != nil {
		return nil, err
	}
	if a == b {
		l.down = l.up
	} else if l.down, err = mk(Down, down); err != nil {
		return nil, err
	}
	for _, d := range l.dirs() {
		e.wg.Add(1)
		go e.schedLoop(d)
	}
	return l, nil
}

// Link configures the link between groups a and b: up applies to packets
// from a to b, down to packets from b to a. Calling it again for the same
// pair updates the link. A link from a group to itself applies up to all
// traffic inside the group.
func (e *Userspace) Link(ctx context.Context, a, b string, up, down LinkConfig) (*Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a == "" || b == "" {
		return nil, errors.New("netem: a link needs two group names")
	}
	if err := up.Validate(); err != nil {
		return nil, fmt.Errorf("%s->%s: %w", a, b, err)
	}
	if err := down.Validate(); err != nil {
		return nil, fmt.Errorf("%s->%s: %w", b, a, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if l := e.links[routeKey{a, b}]; l != nil {
		l.implicit = false
		return l, l.Update(up, down)
	}
	if l := e.links[routeKey{b, a}]; l != nil {
		if l.implicit && a != b {
			// Made by traffic in the other orientation: take the caller's,
			// so that names and directions match what was configured.
			delete(e.links, routeKey{b, a})
			l.a, l.b, l.name = a, b, a+"<->"+b
			l.up, l.down = l.down, l.up
			l.up.name, l.down.name = Up, Down
			l.implicit = false
			e.addLinkLocked(l)
			return l, l.Update(up, down)
		}
		return l, l.Update(down, up)
	}
	l, err := e.newLink(a, b, up, down)
	if err != nil {
		return nil, err
	}
	e.addLinkLocked(l)
	return l, nil
}

func (e *Userspace) addLinkLocked(l *Link) {
	e.links[routeKey{l.a, l.b}] = l
	next := maps2(*e.routes.Load())
	next[routeKey{l.a, l.b}] = l.up
	next[routeKey{l.b, l.a}] = l.down
	e.routes.Store(&next)
	e.routeGen.Add(1)
}

// LinkStats are the totals of one direction of one link.
type LinkStats struct {
	Link      string
	Direction string
	DirStats
	// Release is the direction's release lateness since the link was made
	// (or since ResetReleaseLateness).
	Release ReleaseStats
}

// Stats returns the totals of every link and direction, sorted by link
// then direction. These are the numbers the Prometheus counters export.
func (e *Userspace) Stats() []LinkStats {
	e.mu.Lock()
	links := make([]*Link, 0, len(e.links))
	for _, l := range e.links {
		links = append(links, l)
	}
	e.mu.Unlock()
	var out []LinkStats
	for _, l := range links {
		for dir, s := range l.Stats() {
			rel, _ := l.ReleaseLateness(dir)
			out = append(out, LinkStats{Link: l.name, Direction: dir, DirStats: s, Release: rel})
		}
	}
	slices.SortFunc(out, func(a, b LinkStats) int {
		if c := strings.Compare(a.Link, b.Link); c != 0 {
			return c
		}
		return strings.Compare(a.Direction, b.Direction)
	})
	return out
}

// ReleaseLateness summarises how late a direction (Up or Down) released
// its packets after their due time, since the link was made or since
// ResetReleaseLateness.
func (l *Link) ReleaseLateness(dir string) (ReleaseStats, error) {
	d, err := l.dir(dir)
	if err != nil {
		return ReleaseStats{}, err
	}
	return d.late.stats(), nil
}

// ResetReleaseLateness starts a direction's release lateness afresh.
func (l *Link) ResetReleaseLateness(dir string) error {
	d, err := l.dir(dir)
	if err != nil {
		return err
	}
	d.late.reset()
	return nil
}
