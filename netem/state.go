package netem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgesim/edgesim/internal/proc"
)

// Prefix starts the name of everything edgesim creates on the host.
const Prefix = "es-"

// Record is what a running engine has created, kept in the state directory
// so that `edgesim clean` can remove it after the owner was killed.
type Record struct {
	Name    string    `json:"name"`
	PID     int       `json:"pid"`
	Start   uint64    `json:"pid_start"` // process start time (clock ticks), guards against pid reuse
	Created time.Time `json:"created"`
	// Netns are named network namespaces (under /run/netns) the engine
	// created; they are recorded before they are created.
	Netns []string `json:"netns"`
}

// DefaultStateDir is /run/edgesim for root (outside a user namespace), else $XDG_RUNTIME_DIR/edgesim,
// else edgesim-<uid> in the temp directory.
func DefaultStateDir() string {
	if os.Geteuid() == 0 && !inUserNamespace() {
		return "/run/edgesim"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "edgesim")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("edgesim-%d", os.Geteuid()))
}

// Alive reports whether the record's owner process still runs (the same
// process, not another that reuses its pid).
func (r *Record) Alive() bool { return proc.Alive(r.PID, r.Start) }

// OwnRecord is a record of name owned by this process, for other parts of
// edgesim that keep state records of their own.
func OwnRecord(name string) Record {
	st, _ := proc.Start(os.Getpid())
	return Record{Name: name, PID: os.Getpid(), Start: st, Created: time.Now().UTC()}
}

type stateFile struct {
	path string
	rec  Record
}

func newStateFile(dir, name string) (*stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("netem: state directory %s: %w (choose another with WithStateDir or --state-dir)", dir, err)
	}
	s := &stateFile{
		path: filepath.Join(dir, name+".json"),
		rec:  OwnRecord(name),
	}
	if _, err := os.Stat(s.path); err == nil {
		return nil, fmt.Errorf("netem: a testbed named %q is already recorded in %s; pick another name or run `edgesim clean`", name, s.path)
	}
	return s, s.save()
}

func (s *stateFile) save() error {
	b, err := json.MarshalIndent(s.rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("netem: write state record: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("netem: write state record: %w", err)
	}
	return nil
}

func (s *stateFile) addNetns(name string) error {
	s.rec.Netns = append(s.rec.Netns, name)
	return s.save()
}

func (s *stateFile) removeNetns(name string) error {
	out := s.rec.Netns[:0]
	for _, n := range s.rec.Netns {
		if n != name {
			out = append(out, n)
		}
	}
	s.rec.Netns = out
	return s.save()
}

func (s *stateFile) remove() error {
	if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// CleanReport lists what Clean removed and what it left because its owner
// still runs.
type CleanReport struct {
	Removed []string // namespaces and records removed
	Skipped []string // records whose owner process is alive
}

// Clean removes the namespaces recorded in dir by engines whose owner
// process is gone, then their records. It removes only recorded names that
// start with Prefix, and nothing of engines still running.
func Clean(ctx context.Context, dir string) (CleanReport, error) {
	var rep CleanReport
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("netem: state record %s is not valid JSON (%v); remove it by hand if it is not edgesim's", f, err))
			continue
		}
		if r.Alive() {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s (pid %d still running)", r.Name, r.PID))
			continue
		}
		ok := true
		for _, ns := range r.Netns {
			if !strings.HasPrefix(ns, Prefix) || strings.ContainsAny(ns, "/\x00") {
				continue
			}
			removed, err := deleteNetns(ns)
			if err != nil {
				ok = false
				errs = append(errs, err)
				continue
			}
			if removed {
				rep.Removed = append(rep.Removed, "netns "+ns)
			}
		}
		if ok {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			} else {
				rep.Removed = append(rep.Removed, "record "+f)
			}
		}
	}
	return rep, errors.Join(errs...)
}
