package rtio

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Forwarding threads run at real-time priority while traffic is light, so
// that emulated delays are exact on a busy machine (a real-time thread is
// woken ahead of every normal task). A thread that keeps finding work drops
// back to normal scheduling (nice -10) until it next goes idle: at real-time priority a
// saturated forwarder would starve the kernel's softirq threads and the
// applications it forwards for. Without CAP_SYS_NICE it stays normal.

// forwardingRTPriority is low among real-time priorities (1..99): above
// every normal task, below the kernel's own real-time threads.
const forwardingRTPriority = 10

// forwardingNice is the nice value of a forwarding thread while it is not
// real-time (saturated, or without the right to be real-time).
const forwardingNice = -10

// BusyBatch is how many packets a thread handles in a row before it
// checks whether it is saturated; BusyTime is how long it must have been
// busy without a pause to count as saturated.
const (
	BusyBatch = 64
	BusyTime  = 5 * time.Millisecond
)

type schedParam struct{ priority int32 }

type ThreadPrio struct {
	enabled bool
	rt      bool
	failed  bool
}

// LockThread pins the calling goroutine to its OS thread and raises it.
// The goroutine must not unlock the thread: the thread then exits with the
// goroutine instead of running other code at this priority.
func LockThread(enabled bool) *ThreadPrio {
	p := &ThreadPrio{enabled: enabled}
	if enabled {
		runtime.LockOSThread()
		// The nice value applies whenever the thread is not real-time: a
		// saturated forwarder still gets more of the CPU than the senders
		// it has to keep up with.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), forwardingNice)
		p.Idle()
	}
	return p
}

func setScheduler(policy int, prio int32) bool {
	param := schedParam{priority: prio}
	_, _, errno := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, uintptr(policy), uintptr(unsafe.Pointer(&param)))
	return errno == 0
}

// idle: the thread is about to wait; it may be raised again.
func (p *ThreadPrio) Idle() {
	if !p.enabled || p.rt || p.failed {
		return
	}
	if setScheduler(unix.SCHED_FIFO, forwardingRTPriority) {
		p.rt = true
	} else {
		p.failed = true
	}
}

// busy: the thread handled n packets without waiting.
func (p *ThreadPrio) Busy(n int) {
	if p.rt && n >= BusyBatch {
		if setScheduler(0 /* SCHED_OTHER */, 0) {
			p.rt = false
		}
	}
}

// RaisePriority is LockThread for threads that never saturate (probe
// senders, timer checks).
func RaisePriority(enabled bool) { LockThread(enabled) }
