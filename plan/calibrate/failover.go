package calibrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/reports"
)

// FailoverSample is one camera's failover after one kill fault of a run,
// from what the run recorded: Detect from the fault's injection
// (reports.Fault.At) to the camera noticing the lost connection
// (reports.Reconnect.Lost), Reconnect from then to the camera being
// connected to another node (reports.Reconnect.Connected).
type FailoverSample struct {
	Run       string // the samples file
	Provider  string
	Fault     int // index into the run's faults
	Camera    string
	Detect    time.Duration
	Reconnect time.Duration
}

// ReadRun reads the samples file (samples.json) of a results directory,
// or the file itself.
func ReadRun(path string) (*reports.Run, string, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "samples.json")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, path, fmt.Errorf("calibrate: %w (give the results directory of an edgesim run, which holds samples.json)", err)
	}
	defer f.Close()
	run, err := reports.ReadSamples(f)
	if err != nil {
		return nil, path, fmt.Errorf("calibrate: %s: %w", path, err)
	}
	return run, path, nil
}

// FailoverSamples returns the failovers of run's kill faults: for every
// camera whose last answer before the fault came from a node the fault
// killed, its first lost connection at or after the fault. Notes say what
// was left out and why.
func FailoverSamples(run *reports.Run, name string) (samples []FailoverSample, notes []string) {
	for fi, f := range run.Faults {
		if f.Kind != "kill" {
			continue
		}
		if f.Failed != "" {
			notes = append(notes, fmt.Sprintf("%s: fault %d (kill %s) failed: %s", name, fi, f.Target, f.Failed))
			continue
		}
		killed := f.Nodes
		if len(killed) == 0 {
			killed = []string{f.Target}
		}
		for _, c := range run.Cameras {
			if c.Reference || !servedBy(c, f.At, killed) {
				continue
			}
			i := slices.IndexFunc(c.Reconnects, func(r reports.Reconnect) bool { return !r.Lost.Before(f.At) })
			if i < 0 {
				notes = append(notes, fmt.Sprintf("%s: camera %s never noticed kill %s", name, c.ID, f.Target))
				continue
			}
			r := c.Reconnects[i]
			if r.Connected.IsZero() {
				notes = append(notes, fmt.Sprintf("%s: camera %s did not reconnect after kill %s", name, c.ID, f.Target))
				continue
			}
			samples = append(samples, FailoverSample{Run: name, Provider: run.Provider, Fault: fi, Camera: c.ID,
				Detect: r.Lost.Sub(f.At), Reconnect: r.Connected.Sub(r.Lost)})
		}
	}
	return samples, notes
}

// servedBy reports whether the camera's last answered frame captured
// before t came from one of nodes.
func servedBy(c reports.Camera, t time.Time, nodes []string) bool {
	last := ""
	for _, fr := range c.Frames {
		if fr.Answered && fr.Capture.Before(t) {
			last = fr.Node
		}
	}
	return slices.Contains(nodes, last)
}

// Failover turns samples into each provider's failover tables, in the
// order providers first appear.
func Failover(samples []FailoverSample) ([]plan.FailoverCost, error) {
	if len(samples) == 0 {
		return nil, errors.New("calibrate: the runs recorded no failover: give results of runs with a kill fault " +
			"whose cameras reconnected (e.g. scenarios/examples/quickstart.yaml)")
	}
	var out []plan.FailoverCost
	for _, s := range samples {
		if slices.ContainsFunc(out, func(f plan.FailoverCost) bool { return f.Provider == s.Provider }) {
			continue
		}
		var detect, reconnect []float64
		for _, t := range samples {
			if t.Provider == s.Provider {
				detect = append(detect, seconds(t.Detect))
				reconnect = append(reconnect, seconds(t.Reconnect))
			}
		}
		d, err := Table(detect, DefaultLevels)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s detect times: %w", s.Provider, err)
		}
		r, err := Table(reconnect, DefaultLevels)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s reconnect times: %w", s.Provider, err)
		}
		out = append(out, plan.FailoverCost{Provider: s.Provider, DetectSeconds: d, ReconnectSeconds: r})
	}
	return out, nil
}
