package validate

import (
	"slices"

	"github.com/edgesim/edgesim/plan"
	"github.com/edgesim/edgesim/scenarios"
)

// MaxEmulatedCameras is how many real-time cameras one validation point may
// emulate by default: about what a 2-core machine carries (docs/planning.md).
const MaxEmulatedCameras = 12

// DefaultPoints are the plan's swept cameras-per-node values whose emulated
// scenario stays within maxCameras cameras in all (the plan's scenario as
// written, not its replicated fleet).
func DefaultPoints(p *plan.Plan, maxCameras int) []int {
	var out []int
	for _, n := range slices.Sorted(slices.Values(p.Sweep.CamerasPerNode)) {
		sc, err := WithCamerasPerNode(p.Scenario, n)
		if err != nil || sc.Cameras() > maxCameras {
			break
		}
		out = append(out, n)
	}
	return slices.Compact(out)
}

// Attach puts a validation into a capacity report: its table, and its
// emulated figures on the points of every curve whose key is the validated
// scenario's own configuration (its placement, model, detect fps, WAN
// links, edge class and nodes per site), so the renderers draw them over
// the simulated curves.
func Attach(rep *plan.CapacityReport, sc *scenarios.Scenario, cal *plan.Calibration, res *Result) error {
	rep.Validation = res.Validation
	f, err := plan.FromScenario(sc, cal)
	if err != nil {
		return err
	}
	for i := range rep.Curves {
		k := rep.Curves[i].Key
		own := k.Placement == f.Placement && k.Model == f.ModelLabel() && k.DetectFPS == f.DetectFPS && k.Link == plan.ScenarioLink &&
			(k.NodesPerSite == 0 || len(f.Sites) > 0 && k.NodesPerSite == f.Sites[0].Nodes)
		if f.Placement == plan.PlacementCloud {
			own = own && k.Hardware == f.Cloud.Class
		} else {
			own = own && len(f.Sites) > 0 && k.Hardware == f.Sites[0].Class
		}
		if !own {
			continue
		}
		for j := range rep.Curves[i].Points {
			pt := &rep.Curves[i].Points[j]
			if e, ok := res.Emulated[pt.CamerasPerNode]; ok {
				pt.Emulated = &e
			}
		}
	}
	return nil
}
