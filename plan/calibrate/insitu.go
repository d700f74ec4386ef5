package calibrate

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
)

// InSituSamples are the answered frames of edge-placed cameras in runs,
// as their edgenodes reported them: the inference time inside the node,
// and per camera stream the stack's delay (plan.InSitu.Stack): the
// latency less the node's decode, wait and inference, and less the
// configured one-way delay of the camera's access link both ways.
type InSituSamples struct {
	Infer  []float64            // seconds
	Stack  map[Stream][]float64 // seconds
	Models []string             // the models that answered, as the nodes named them
	Frames int
}

// Stream is a camera's bit rate and frame rate.
type Stream struct {
	Bitrate units.BitRate
	FPS     float64
}

// AddRun adds the run-phase frames of run (read from name) to s. A frame
// counts when it was answered by a node that reported its share; frames of
// reference and cloud-placed cameras, and of the warm-up, do not. A camera
// the run recorded no bit rate for (an older edgesim's run) is taken to
// stream at bitrate; 0 refuses it. Notes say what was left out.
func (s *InSituSamples) AddRun(run *reports.Run, name string, bitrate units.BitRate) (notes []string, err error) {
	var from, to time.Time
	for _, p := range run.Phases {
		if p.Name == reports.PhaseRun {
			from, to = p.Start, p.End
		}
	}
	access := map[string]time.Duration{} // the smallest access delay per site, as the physics floor takes it
	for _, d := range run.LinkDelays {
		if d.Leg == reports.LegAccess && d.OneWay > 0 && (access[d.Site] == 0 || d.OneWay < access[d.Site]) {
			access[d.Site] = d.OneWay
		}
	}
	if s.Stack == nil {
		s.Stack = map[Stream][]float64{}
	}
	// A link fault changes the links' delay from the configured one the
	// stack's delay is taken net of: from a site's first link fault on,
	// its frames give no stack sample (the run records no fault's end).
	faulted := linkFaults(run)
	unreported, negative, duringFault := 0, 0, 0
	for _, c := range run.Cameras {
		if c.Reference || c.Placement != reports.PlacementEdge {
			continue
		}
		st := Stream{Bitrate: cmp.Or(c.Bitrate, bitrate), FPS: c.FPS}
		if st.FPS <= 0 || st.Bitrate <= 0 {
			return notes, fmt.Errorf("calibrate: %s: camera %s has no frame rate or bit rate recorded (a run of an older edgesim): "+
				"give --bitrate, or runs of this version", name, c.ID)
		}
		links := 2 * access[c.Site]
		for _, fr := range c.Frames {
			if !fr.Answered || !from.IsZero() && (fr.Capture.Before(from) || fr.Capture.After(to)) {
				continue
			}
			if fr.InNode <= 0 || fr.Infer <= 0 {
				unreported++
				continue
			}
			stack := fr.Latency - fr.Decode - fr.Wait - fr.Infer - links
			if stack < 0 {
				negative++
				stack = 0
			}
			s.Infer = append(s.Infer, fr.Infer.Seconds())
			if t, ok := faulted[c.Site]; ok && !fr.Capture.Before(t) {
				duringFault++
			} else {
				s.Stack[st] = append(s.Stack[st], stack.Seconds())
			}
			if fr.Model != "" && !slices.Contains(s.Models, fr.Model) {
				s.Models = append(s.Models, fr.Model)
			}
			s.Frames++
		}
	}
	if unreported > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d answered frames left out: their node did not report its share", name, unreported))
	}
	if duringFault > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d frames give their inference time but no stack delay: captured after a link fault at their site", name, duringFault))
	}
	if negative > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d frames came back faster than their node's share and the access links' delay; "+
			"their stack delay counts as 0", name, negative))
	}
	return notes, nil
}

// linkFaults maps each site to the time of its first link fault in run.
// A fault's target is a link (its site from the run's link delays) or a
// site.
func linkFaults(run *reports.Run) map[string]time.Time {
	siteOf := map[string]string{}
	for _, d := range run.LinkDelays {
		siteOf[d.Link] = d.Site
	}
	out := map[string]time.Time{}
	for _, f := range run.Faults {
		switch scenarios.FaultAction(f.Kind) {
		case scenarios.FaultPartition, scenarios.FaultDegrade, scenarios.FaultTraceSwitch:
		default:
			continue
		}
		site := cmp.Or(siteOf[f.Target], f.Target)
		if t, ok := out[site]; !ok || f.At.Before(t) {
			out[site] = f.At
		}
	}
	return out
}

// InSitu turns samples into the in-situ tables of a class: model's
// inference time, and the stack's delay per camera stream.
func InSitu(s *InSituSamples, model string) (*plan.InSitu, error) {
	if s.Frames == 0 {
		return nil, errors.New("calibrate: the runs have no answered frame of an edge-placed camera whose node reported " +
			"its share: give the results of runs on this version of edgesim with edge placement (e.g. scenarios/examples/quickstart.yaml)")
	}
	if len(s.Models) > 1 {
		return nil, fmt.Errorf("calibrate: the runs' frames were answered by %d models (%s): give runs of one model",
			len(s.Models), strings.Join(s.Models, ", "))
	}
	infer, err := Table(s.Infer, DefaultLevels)
	if err != nil {
		return nil, fmt.Errorf("calibrate: in-situ inference: %w", err)
	}
	out := &plan.InSitu{Models: []plan.InSituModel{{Model: model, Frames: s.Frames, ServiceSeconds: infer}}}
	streams := slices.SortedFunc(maps.Keys(s.Stack), func(a, b Stream) int {
		return cmp.Or(cmp.Compare(a.Bitrate, b.Bitrate), cmp.Compare(a.FPS, b.FPS))
	})
	for _, st := range streams {
		q, err := Table(s.Stack[st], DefaultLevels)
		if err != nil {
			return nil, fmt.Errorf("calibrate: in-situ stack delay at %s@%gfps: %w", st.Bitrate, st.FPS, err)
		}
		out.Stack = append(out.Stack, plan.InSituStack{Bitrate: st.Bitrate, FPS: st.FPS, Frames: len(s.Stack[st]), Seconds: q})
	}
	return out, nil
}
