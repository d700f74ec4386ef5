package provider

import (
	"slices"

	"github.com/edgesim/edgesim/runtime/rules"
)

// RulesFor returns the zones and alert rules of every camera the node may
// serve: its site's cameras for an edge node, every camera for the cloud.
func RulesFor(plan *Plan, n Node) rules.Config {
	var cfg rules.Config
	sc := plan.Scenario
	// A zone is one name and rectangle; the cameras of every group that
	// defines it share it.
	type zoneKey struct {
		name string
		rect [4]float64
	}
	index := map[zoneKey]int{}
	for _, c := range plan.Cameras {
		if n.Role == RoleEdge && (c.Site != n.Site || c.Placement != "edge") {
			continue
		}
		for _, z := range c.Group.Zones {
			k := zoneKey{z.Name, z.Rect}
			i, ok := index[k]
			if !ok {
				i = len(cfg.Zones)
				index[k] = i
				cfg.Zones = append(cfg.Zones, rules.Zone{Name: z.Name, Rect: z.Rect})
			}
			cfg.Zones[i].Cameras = append(cfg.Zones[i].Cameras, c.ID)
		}
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
		cfg.Night.LumaBelow = rules.NightLuma // "only at night" rules: judged by the scenes' light
	}
	return cfg
}

func hasZone(zs []rules.Zone, name string) bool {
	return slices.ContainsFunc(zs, func(z rules.Zone) bool { return z.Name == name })
}
