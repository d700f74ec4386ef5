package netem

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// errStopped is returned by blocking waits once the engine stops.
var errStopped = errors.New("netem: stopped")

// stopper is an eventfd that, once written, wakes every blocking wait of an
// engine for good.
type stopper struct{ fd int }

func newStopper() (*stopper, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &stopper{fd: fd}, nil
}

func (s *stopper) stop() {
	var one = [8]byte{1}
	_, _ = unix.Write(s.fd, one[:])
}

func (s *stopper) close() { _ = unix.Close(s.fd) }

// waitReadable blocks the calling OS thread until fd is readable or the
// stopper fires. Forwarding threads block in the kernel rather than in the
// Go poller, so the kernel wakes exactly the (raised-priority) thread that
// waits, with no hand-off through another thread.
func waitReadable(fd int, s *stopper) error {
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
			return errStopped
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return errStopped
		}
		return nil
	}
}

// hrTimer is a timerfd. The runtime's own timers sleep in epoll with
// millisecond resolution, which would add about half a millisecond to
// every emulated delay; a timerfd fires with the kernel's high-resolution
// timers instead.
type hrTimer struct {
	fd  int
	buf [8]byte
}

func newHRTimer() (*hrTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &hrTimer{fd: fd}, nil
}

// arm makes the timer fire after d (at once if d <= 0); it replaces any
// earlier setting and may be called from any goroutine.
func (t *hrTimer) arm(d time.Duration) {
	if d <= 0 {
		d = 1 // 0 would disarm
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	_ = unix.TimerfdSettime(t.fd, 0, &spec, nil)
}

// wait blocks the calling thread until the timer fires or s stops.
func (t *hrTimer) wait(s *stopper) error {
	for {
		_, err := unix.Read(t.fd, t.buf[:])
		if err == nil {
			return nil
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return err
		}
		if err := waitReadable(t.fd, s); err != nil {
			return err
		}
	}
}

func (t *hrTimer) close() error { return unix.Close(t.fd) }
