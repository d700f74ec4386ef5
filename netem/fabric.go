package netem

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgesim/edgesim/netem/internal/rtio"
)

func (e *Userspace) getPacket() *Packet { return e.pool.Get().(*Packet) }

func (e *Userspace) putPacket(p *Packet) {
	p.to = nil
	p.N = 0
	e.pool.Put(p)
}

func (e *Userspace) clonePacket(p *Packet) *Packet {
	q := e.getPacket()
	q.N = copy(q.Buf, p.Data())
	q.to = p.to
	return q
}

// route finds the direction for packets from group src to group dst,
// creating an unimpaired implicit link when there is none.
func (e *Userspace) route(h *Host, dst string) *direction {
	gen := e.routeGen.Load()
	if h.cacheDir != nil && h.cacheGroup == dst && h.cacheGen == gen {
		return h.cacheDir
	}
	d := (*e.routes.Load())[routeKey{h.group, dst}]
	if d == nil {
		e.mu.Lock()
		d = (*e.routes.Load())[routeKey{h.group, dst}]
		if d == nil && !e.closed {
			a, b := canonical(h.group, dst)
			l, err := e.newLink(a, b, LinkConfig{}, LinkConfig{})
			if err == nil {
				l.implicit = true
				e.addLinkLocked(l)
				d = (*e.routes.Load())[routeKey{h.group, dst}]
			}
		}
		e.mu.Unlock()
		gen = e.routeGen.Load()
	}
	h.cacheGroup, h.cacheDir, h.cacheGen = dst, d, gen
	return d
}

func (e *Userspace) readLoop(h *Host) {
	defer e.wg.Done()
	prio := rtio.LockThread(e.opts.priority)
	var out []*Packet
	p := e.getPacket()
	defer func() { e.putPacket(p) }()
	run := 0
	var busySince time.Time
	for !e.stopping.Load() {
		n, err := unix.Read(h.tun, p.Buf)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				run = 0
				prio.Idle()
				if werr := rtio.WaitReadable(h.tun, e.stop); werr != nil {
					// A remote host's socket polls as failed while an ICMP
					// error (a relay not listening yet) is pending; the
					// next read reports and clears it.
					if h.remote != nil && !e.stopping.Load() {
						continue
					}
					return
				}
				continue
			}
			if h.remote != nil && isRelayError(err) {
				h.relayErrs.Add(1)
				continue
			}
			return
		}
		// A full buffer may be a truncated datagram from a relay: larger
		// than the engine's MTU, so not forwarded.
		if n >= len(p.Buf) {
			if h.remote != nil {
				h.relayErrs.Add(1)
			}
			continue
		}
		// Saturated = busy without a pause for rtio.BusyTime, not merely a
		// backlog after a stall: a demoted reader on a busy machine would
		// let the TUN ring (before the model) fill and add latency.
		if run++; run == 1 {
			busySince = time.Now()
		} else if run%rtio.BusyBatch == 0 && time.Since(busySince) > rtio.BusyTime {
			prio.Busy(run)
		}
		// IPv4 only; anything else (IPv6 router solicitations) stays local.
		if n < 20 || p.Buf[0]>>4 != 4 {
			continue
		}
		dst := (*e.byIP.Load())[binary.BigEndian.Uint32(p.Buf[16:20])]
		if dst == nil {
			continue
		}
		d := e.route(h, dst.group)
		if d == nil {
			return
		}
		p.N = n
		p.to = dst
		now := e.clock.Now()
		d.mu.Lock()
		ok, _ := d.model.Send(now, p)
		out = d.model.Deliver(now, out[:0])
		d.kickLocked()
		d.mu.Unlock()
		if ok {
			p = e.getPacket()
		}
		d.recordLate(now, out)
		e.write(out)
	}
}

// recordLate counts how late each packet of out leaves after its due time.
func (d *direction) recordLate(now time.Time, out []*Packet) {
	nowNs := d.model.clock(now)
	for _, q := range out {
		d.late.add(nowNs - q.dueNs)
	}
}

func (e *Userspace) write(out []*Packet) {
	for i, q := range out {
		if fd := q.to.tun; fd >= 0 {
			if _, err := unix.Write(fd, q.Data()); err != nil && q.to.remote != nil {
				q.to.relayErrs.Add(1)
			}
		}
		e.putPacket(q)
		out[i] = nil
	}
}

func (e *Userspace) schedLoop(d *direction) {
	defer e.wg.Done()
	if d.hr != nil {
		e.schedLoopHR(d)
		return
	}
	timer := e.clock.NewTimer(time.Hour)
	timer.Stop()
	var out []*Packet
	for {
		now := e.clock.Now()
		d.mu.Lock()
		out = d.model.Deliver(now, out[:0])
		next, has := d.model.Next()
		d.sleeping = true
		if has {
			d.waitUntil = next
		} else {
			d.waitUntil = time.Time{}
		}
		d.mu.Unlock()
		e.write(out)
		if has {
			timer.Reset(next.Sub(e.clock.Now()))
			select {
			case <-timer.C():
			case <-d.wake:
				timer.Stop()
			case <-e.ctx.Done():
				timer.Stop()
				return
			}
		} else {
			select {
			case <-d.wake:
			case <-e.ctx.Done():
				return
			}
		}
		d.mu.Lock()
		d.sleeping = false
		d.mu.Unlock()
	}
}

// schedLoopHR is schedLoop on a timerfd: kickLocked re-arms the timer.
// With precise release on, the timer fires a little before the next packet
// is due and the thread spins for the rest (see release.go).
func (e *Userspace) schedLoopHR(d *direction) {
	prio := rtio.LockThread(e.opts.priority)
	var out []*Packet
	spin := newSpinner()
	for !e.stopping.Load() {
		now := time.Now()
		d.mu.Lock()
		if !d.armedAt.IsZero() {
			// A timed wake-up meant for armedAt: how late it came.
			spin.observe(now.Sub(d.armedAt))
			d.armedAt = time.Time{}
		}
		out = d.model.Deliver(now, out[:0])
		next, has := d.model.Next()
		d.sleeping = true
		spinning := false
		k0 := d.kicks.Load()
		if has {
			d.waitUntil = next
			// Only deliveries from the delay line are worth a spin; the
			// bottleneck's service times run on the model's own clock,
			// so waking late for one only releases a small batch.
			nd, delivery := d.model.NextDelivery()
			d.spinWindow = 0
			if e.opts.precise && delivery && spin.canSpin(now) {
				d.spinWindow = spin.window()
			}
			early := nd.Add(-d.spinWindow)
			switch {
			case d.spinWindow > 0 && !now.Before(early):
				spinning = true // to next: a service time, or the delivery
			case d.spinWindow > 0 && early.Before(next):
				d.armedAt = early
				d.hr.Arm(early.Sub(now))
			default:
				if e.opts.precise {
					d.armedAt = next
				}
				d.hr.Arm(next.Sub(now))
			}
		} else {
			d.waitUntil = time.Time{}
		}
		d.mu.Unlock()
		prio.Busy(len(out))
		d.recordLate(now, out)
		e.write(out)
		if spinning {
			t0 := time.Now()
			spin.charge(spinUntil(next, &d.kicks, k0).Sub(t0))
		} else {
			if !has || next.Sub(now) > 100*time.Microsecond {
				prio.Idle()
			}
			if err := d.hr.Wait(e.stop); err != nil {
				return
			}
		}
		d.mu.Lock()
		d.sleeping = false
		d.mu.Unlock()
	}
}
