package detector

import (
	"fmt"
	"image"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Speed measurement in the MLPerf Inference edge scenarios, shared by
// `edgenode eval --models` and the benchmarks.

// Percentile is the p-quantile (0..1) of d, nearest rank.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ProcessCPU is the CPU time (user + system) this process has used. Per
// query it does not grow when other processes compete for the core, unlike
// wall-clock latency.
func ProcessCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SingleStream runs queries back-to-back single-frame queries on one
// Runner after 5 warm-up frames and returns each query's wall-clock
// latency (from now) and process CPU time. Run it with GOMAXPROCS 1 for
// the single-core figure.
func SingleStream(m *Model, frames []image.Image, queries int, now func() time.Time) (wall, cpu []time.Duration, err error) {
	if len(frames) == 0 || queries < 1 {
		return nil, nil, fmt.Errorf("%w: SingleStream needs frames and at least one query", ErrBadInput)
	}
	r, err := m.NewRunner()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	for i := 0; i < 5; i++ {
		if _, err := r.Detect(frames[i%len(frames)]); err != nil {
			return nil, nil, err
		}
	}
	for i := 0; i < queries; i++ {
		c0, t0 := ProcessCPU(), now()
		if _, err := r.Detect(frames[i%len(frames)]); err != nil {
			return nil, nil, err
		}
		wall = append(wall, now().Sub(t0))
		cpu = append(cpu, ProcessCPU()-c0)
	}
	return wall, cpu, nil
}

// Offline runs n frames on workers Runners as fast as they go and returns
// frames per second of wall-clock time (from now).
func Offline(m *Model, frames []image.Image, n, workers int, now func() time.Time) (float64, error) {
	if len(frames) == 0 || n < 1 || workers < 1 {
		return 0, fmt.Errorf("%w: Offline needs frames, at least one query and one worker", ErrBadInput)
	}
	runners := make([]*Runner, workers)
	for i := range runners {
		r, err := m.NewRunner()
		if err != nil {
			for _, r := range runners[:i] {
				r.Close()
			}
			return 0, err
		}
		runners[i] = r
	}
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	t0 := now()
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for i := range next {
				if _, err := r.Detect(frames[i%len(frames)]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := now().Sub(t0)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(n) / el.Seconds(), nil
}
