package netem

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forwardingNice is the nice value of the threads that forward packets.
// Emulated delays are only as exact as these threads' wake-ups; on a busy
// machine a raised priority keeps their lateness to tens of microseconds.
const forwardingNice = -10

// raisePriority locks the calling goroutine to its OS thread and lowers
// that thread's nice value (best effort: without CAP_SYS_NICE it stays).
// The goroutine must not unlock the thread: the thread then exits with the
// goroutine instead of running other code at this priority.
func raisePriority(enabled bool) {
	if !enabled {
		return
	}
	runtime.LockOSThread()
	// SCHED_FIFO first: real-time threads are woken ahead of every normal
	// task, whatever the machine's load and its CFS groups. The kernel's RT
	// throttling (sched_rt_runtime_us) bounds them if anything spins.
	param := schedParam{priority: forwardingRTPriority}
	if _, _, errno := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, uintptr(unix.SCHED_FIFO), uintptr(unsafe.Pointer(&param))); errno == 0 {
		return
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), forwardingNice)
}

// forwardingRTPriority is low among real-time priorities (1..99): above
// every normal task, below the kernel's own real-time threads.
const forwardingRTPriority = 10

type schedParam struct{ priority int32 }
