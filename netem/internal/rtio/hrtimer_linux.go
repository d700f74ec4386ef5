// Package rtio holds the Linux primitives of netem's forwarding and
// measuring threads: high-resolution timers and a stop signal they wait
// on, thread priority, and kernel receive timestamps.
package rtio

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// ErrStopped is returned by blocking waits once the engine stops.
var ErrStopped = errors.New("netem: stopped")

// Stopper is an eventfd that, once written, wakes every blocking wait of an
// engine for good.
type Stopper struct{ fd int }

func NewStopper() (*Stopper, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &Stopper{fd: fd}, nil
}

func (s *Stopper) Stop() {
	var one = [8]byte{1}
	_, _ = unix.Write(s.fd, one[:])
}

func (s *Stopper) Close() { _ = unix.Close(s.fd) }

// WaitReadable blocks the calling OS thread until fd is readable or the
// Stopper fires. Forwarding threads block in the kernel rather than in the
// Go poller, so the kernel wakes exactly the (raised-priority) thread that
// waits, with no hand-off through another thread.
func WaitReadable(fd int, s *Stopper) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: -1}}
	if s != nil {
		fds[1] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if fds[1].Revents != 0 {
			return ErrStopped
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return ErrStopped
		}
		return nil
	}
}

// HRTimer is a timerfd. The runtime's own timers sleep in epoll with
// millisecond resolution, which would add about half a millisecond to
// every emulated delay; a timerfd fires with the kernel's high-resolution
// timers instead.
type HRTimer struct {
	fd  int
	buf [8]byte
}

func NewHRTimer() (*HRTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &HRTimer{fd: fd}, nil
}

// arm makes the timer fire after d (at once if d <= 0); it replaces any
// earlier setting and may be called from any goroutine.
func (t *HRTimer) Arm(d time.Duration) {
	if d <= 0 {
		d = 1 // 0 would disarm
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	_ = unix.TimerfdSettime(t.fd, 0, &spec, nil)
}

// wait blocks the calling thread until the timer fires or s stops.
func (t *HRTimer) Wait(s *Stopper) error {
	for {
		_, err := unix.Read(t.fd, t.buf[:])
		if err == nil {
			return nil
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return err
		}
		if err := WaitReadable(t.fd, s); err != nil {
			return err
		}
	}
}

func (t *HRTimer) Close() error { return unix.Close(t.fd) }
