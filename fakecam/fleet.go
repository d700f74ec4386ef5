package fakecam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Fleet runs many cameras in one process. Rendering and encoding go through
// a bounded pool of workers so that a large fleet degrades by skipping
// frames rather than by piling up goroutines.
type Fleet struct {
	cams []*Camera
	o    options
}

// Summary is what a fleet writes to summary.json.
type Summary struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Cameras  []Stats   `json:"cameras"`
}

// NewFleet prepares one camera per config. Camera ids must be unique.
func NewFleet(cfgs []Config, opts ...Option) (*Fleet, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("%w: no cameras", ErrInvalidConfig)
	}
	if o.workers < 1 {
		return nil, fmt.Errorf("%w: workers %d: want at least 1", ErrInvalidConfig, o.workers)
	}
	pool := make(chan struct{}, o.workers)
	f := &Fleet{o: o}
	seen := map[string]bool{}
	var errs []error
	for i, cfg := range cfgs {
		if seen[cfg.ID] {
			errs = append(errs, fmt.Errorf("%w: camera id %q used twice", ErrInvalidConfig, cfg.ID))
			continue
		}
		seen[cfg.ID] = true
		// spread the cameras' frame times over one frame period
		var offset time.Duration
		if fps := cfg.Scene.FPS; fps > 0 {
			offset = time.Duration(float64(time.Second) / fps * float64(i) / float64(len(cfgs)))
		}
		camOpts := append(append([]Option(nil), opts...), withPool(pool), withStartOffset(offset))
		c, err := NewCamera(cfg, camOpts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.cams = append(f.cams, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// Cameras returns the fleet's cameras.
func (f *Fleet) Cameras() []*Camera { return f.cams }

// Stats returns every camera's counters.
func (f *Fleet) Stats() []Stats {
	out := make([]Stats, len(f.cams))
	for i, c := range f.cams {
		out[i] = c.Stats()
	}
	return out
}

// Run runs all cameras until ctx ends or their durations are reached and
// writes summary.json if an output directory was given. It returns the
// cameras' start errors, joined.
func (f *Fleet) Run(ctx context.Context) error {
	started := f.o.clock.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(f.cams))
	for i, c := range f.cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Run(ctx)
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	if f.o.outDir != "" {
		s := Summary{Started: started, Finished: f.o.clock.Now(), Cameras: f.Stats()}
		if werr := writeJSON(filepath.Join(f.o.outDir, "summary.json"), s); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return err
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
