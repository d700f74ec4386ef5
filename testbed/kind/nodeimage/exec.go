package nodeimage

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"sync"
)

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lockedWriter serialises writes to w from commands that run side by side
// (mu may be shared by several writers).
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// command describes one external command run by the builder.
type command struct {
	step  string
	dir   string
	env   []string // appended to the process environment
	stdin io.Reader
	nice  bool
	name  string
	args  []string
}

// run executes c, sending its combined output to log (if not nil) and
// returning a *CommandError with the output's tail when it fails.
func run(ctx context.Context, log io.Writer, c command) error {
	_, err := output(ctx, log, c)
	return err
}

// output is run that also returns stdout.
func output(ctx context.Context, log io.Writer, c command) ([]byte, error) {
	name, args := c.name, c.args
	if c.nice {
		args = append([]string{"-n", "19", name}, args...)
		name = "nice"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	if len(c.env) > 0 {
		cmd.Env = append(cmd.Environ(), c.env...)
	}
	cmd.Stdin = c.stdin
	tail := &tailBuffer{max: 16 << 10}
	var stdout bytes.Buffer
	var errw io.Writer = tail
	if log != nil {
		errw = io.MultiWriter(tail, log)
	}
	cmd.Stdout = io.MultiWriter(&stdout, tail)
	cmd.Stderr = errw
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return stdout.Bytes(), &CommandError{Step: c.step, Args: append([]string{name}, args...), Output: tail.String(), Err: err}
	}
	return stdout.Bytes(), nil
}
