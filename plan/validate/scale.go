package validate

import (
	"fmt"
	"slices"

	"github.com/edgesim/edgesim/scenarios"
)

// maxGroupCameras is the largest camera group a scenario may have (the
// scenario loader refuses more).
const maxGroupCameras = 256

// WithCamerasPerNode returns a copy of the scenario in which every site has
// n cameras per edge node: its one camera group gets n times the site's
// edge nodes, with the loader's camera ids (<site>-<group>-<i>). This is
// plan.Fleet.WithCamerasPerNode's definition on the scenario side; the
// validation builds both the emulated and the simulated point from the
// copy, so the two cannot size a point differently.
//
// A scripted event seen by every camera of the group (a group of one
// included: the loaded scenario cannot tell "cameras: [1]" from none) is
// seen by every camera at every size; one seen by some keeps those that
// still exist, and is an error when none does.
func WithCamerasPerNode(sc *scenarios.Scenario, n int) (*scenarios.Scenario, error) {
	if n < 1 {
		return nil, fmt.Errorf("validate: %d cameras per node: give at least 1", n)
	}
	out := *sc
	out.Sites = slices.Clone(sc.Sites)
	for i := range out.Sites {
		s := &out.Sites[i]
		if len(s.Cameras) != 1 {
			return nil, fmt.Errorf("validate: site %s has %d camera groups: sweeping cameras per node needs exactly one per site", s.Name, len(s.Cameras))
		}
		if len(s.Nodes) == 0 {
			return nil, fmt.Errorf("validate: site %s has no edge nodes: cameras per node needs at least one", s.Name)
		}
		count := n * len(s.Nodes)
		if count > maxGroupCameras {
			return nil, fmt.Errorf("validate: site %s: %d cameras per node on %d nodes is %d cameras, more than a group may have (%d)",
				s.Name, n, len(s.Nodes), count, maxGroupCameras)
		}
		g := s.Cameras[0]
		old := g.CameraIDs
		g.CameraIDs = make([]string, count)
		for k := range count {
			g.CameraIDs[k] = fmt.Sprintf("%s-%s-%d", s.Name, g.Name, k+1)
		}
		g.Events = slices.Clone(g.Events)
		for k := range g.Events {
			e := &g.Events[k]
			if len(e.Cameras) == 0 || sameIDs(e.Cameras, old) {
				e.Cameras = slices.Clone(g.CameraIDs)
				continue
			}
			var keep []string
			for _, id := range e.Cameras {
				if slices.Contains(g.CameraIDs, id) {
					keep = append(keep, id)
				}
			}
			if len(keep) == 0 {
				return nil, fmt.Errorf("validate: site %s: event %s at %s is seen by cameras %v, none of which remain at %d cameras per node: sweep from more cameras",
					s.Name, e.Kind, e.Start, e.Cameras, n)
			}
			e.Cameras = keep
		}
		s.Cameras = []scenarios.CameraGroup{g}
	}
	return &out, nil
}

func sameIDs(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(id string) bool { return !slices.Contains(b, id) })
}
