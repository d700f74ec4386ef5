package netem

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// hrTimer is a timerfd read through the Go poller. The runtime's own timers
// sleep in epoll with millisecond resolution, which would add about half a
// millisecond to every emulated delay; a timerfd fires with the kernel's
// high-resolution timers instead.
type hrTimer struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newHRTimer() (*hrTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &hrTimer{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}, nil
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

// wait blocks until the timer fires or the timer is closed.
func (t *hrTimer) wait() error {
	_, err := t.f.Read(t.buf[:])
	return err
}

func (t *hrTimer) close() error { return t.f.Close() }
