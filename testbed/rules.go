package testbed

import (
	"fmt"
	"slices"

	"github.com/edgesim/edgesim/runtime/rules"
)

// nightLuma is the mean frame luma (0..255) below which edgenode judges a
// frame as night. The simulated time of day is not the wall clock the
// processes see, so "only at night" rules are judged by the scenes' light.
const nightLuma = 70

// RulesFor returns the zones and alert rules of every camera the node may
// serve: its site's cameras for an edge node, every camera for the cloud.
func RulesFor(plan *Plan, n Node) rules.Config {
	var cfg rules.Config
	sc := plan.Scenario
	zoneCameras := map[string][]string{}
	zoneRect := map[string][4]float64{}
	var zoneOrder []string
	for _, c := range plan.Cameras {
		if n.Role == RoleEdge && c.Site != n.Site {
			continue
		}
		if n.Role == RoleEdge && c.Placement != "edge" {
			continue
		}
		for _, z := range c.Group.Zones {
			key := z.Name + "\x00" + rectKey(z.Rect)
			if _, ok := zoneRect[key]; !ok {
				zoneOrder = append(zoneOrder, key)
				zoneRect[key] = z.Rect
			}
			zoneCameras[key] = append(zoneCameras[key], c.ID)
		}
	}
	for _, key := range zoneOrder {
		name := key[:len(key)-len(rectKey(zoneRect[key]))-1]
		cfg.Zones = append(cfg.Zones, rules.Zone{Name: name, Rect: zoneRect[key], Cameras: zoneCameras[key]})
	}
	night := false
	for _, r := range sc.Workload.Alerts {
		if len(r.Sites) > 0 && n.Role == RoleEdge && !slices.Contains(r.Sites, n.Site) {
			continue
		}
		if !hasZone(cfg.Zones, r.Zone) {
			continue
		}
		for _, label := range r.Labels {
			name := r.Name
			if name == "" {
				name = r.Zone + "-" + label
			}
			cfg.Rules = append(cfg.Rules, rules.Rule{Name: name, Zone: r.Zone, Label: label, Dwell: r.Dwell, NightOnly: r.Window != nil})
			night = night || r.Window != nil
		}
	}
	if night {
		cfg.Night.LumaBelow = nightLuma
	}
	return cfg
}

func hasZone(zs []rules.Zone, name string) bool {
	return slices.ContainsFunc(zs, func(z rules.Zone) bool { return z.Name == name })
}

func rectKey(r [4]float64) string {
	return fmt.Sprint(r)
}
