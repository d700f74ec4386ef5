package calibrate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
)

// childMessage is one JSON line the measuring child writes to stdout.
type childMessage struct {
	Progress *Progress    `json:"progress,omitempty"`
	Result   *ClassResult `json:"result,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// RunChild is the measuring child's body: it reads a ClassSpec (JSON) from
// in, which the parent sends only once the child is confined, measures it
// and writes progress and the result (or the error) as JSON lines to out.
func RunChild(ctx context.Context, in io.Reader, out io.Writer) error {
	var spec ClassSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("calibrate: read the class spec: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m childMessage) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	res, err := MeasureClass(ctx, spec, func(p Progress) { _ = send(childMessage{Progress: &p}) })
	if err != nil {
		_ = send(childMessage{Error: err.Error()})
		return err
	}
	return send(childMessage{Result: res})
}

// MeasureConfined starts cmd, a process whose body is RunChild, confines
// it with confine (nil: unconfined) before sending it spec, relays its
// progress and returns its result. cmd's stdin and stdout must be unset;
// its stderr, when unset, is kept for the error message.
func MeasureConfined(ctx context.Context, cmd *exec.Cmd, confine func(pid int) error, spec ClassSpec, progress ProgressFunc) (*ClassResult, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("calibrate: start the measuring process: %w", err)
	}
	fail := func(err error) (*ClassResult, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	if confine != nil {
		if err := confine(cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("calibrate: confine the measuring process: %w", err))
		}
	}
	if err := json.NewEncoder(stdin).Encode(spec); err != nil {
		return fail(fmt.Errorf("calibrate: send the class spec: %w", err))
	}
	_ = stdin.Close()
	var res *ClassResult
	var childErr string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m childMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fail(fmt.Errorf("calibrate: the measuring process wrote %q: %w", sc.Text(), err))
		}
		switch {
		case m.Progress != nil:
			progress.report(m.Progress.Stage, m.Progress.Done, m.Progress.Total)
		case m.Result != nil:
			res = m.Result
		case m.Error != "":
			childErr = m.Error
		}
	}
	werr := cmd.Wait()
	switch {
	case childErr != "":
		return nil, errors.New(childErr)
	case res != nil && werr == nil:
		return res, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	msg := strings.TrimSpace(stderr.String())
	if ee := (*exec.ExitError)(nil); errors.As(werr, &ee) && !ee.Exited() {
		return nil, fmt.Errorf("calibrate: the measuring process was killed (%v): under a memory limit this is the "+
			"kernel's OOM killer, so the class's memory does not hold this measurement; %s", werr, msg)
	}
	return nil, fmt.Errorf("calibrate: the measuring process failed: %v %s", werr, msg)
}
