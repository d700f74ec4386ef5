package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a workload process (an edgenode or a camera fleet) that the
// local provider runs inside a node's network namespace.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}

	mu       sync.Mutex
	err      error // exit status once done
	expected bool  // the exit was asked for (stop, kill fault)
}

// exitFunc is told when a process ends without having been asked to.
type exitFunc func(name string, err error)

// startProcess runs argv in the named network namespace, output appended to
// logPath. The process dies with the testbed: it is in its own process
// group, killed by Stop, and gets SIGKILL if edgesim itself dies.
func startProcess(netns string, argv []string, env []string, logPath, name string, onExit exitFunc) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := argv
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		_ = log.Close()
		p.mu.Lock()
		p.err = err
		expected := p.expected
		p.mu.Unlock()
		close(p.done)
		if !expected && onExit != nil {
			onExit(name, err)
		}
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process is still running.
func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process group; expected marks the exit it may
// cause as asked for.
func (p *process) signal(sig syscall.Signal, expected bool) error {
	if expected {
		p.mu.Lock()
		p.expected = true
		p.mu.Unlock()
	}
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(-p.pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s to %s: %w", sig, p.name, err)
	}
	return nil
}

// stop asks the process to end with SIGTERM (resuming it first, should it
// be paused) and kills it when grace runs out or ctx ends.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	_ = p.signal(syscall.SIGCONT, true)
	if err := p.signal(syscall.SIGTERM, true); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	_ = p.signal(syscall.SIGKILL, true)
	<-p.done
	return nil
}
