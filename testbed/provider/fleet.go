package provider

import (
	"slices"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/fakecam/scene"
)

// FleetConfig returns the camera configurations of one camera host: scenes
// seeded by the scenario, scripted events shifted past the warm-up, and the
// WHIP endpoints of the camera's edgenodes in failover order.
func FleetConfig(plan *Plan, host string, whipURL func(node string) string) []fakecam.Config {
	sc := plan.Scenario
	var out []fakecam.Config
	for _, c := range plan.CamerasOn(host) {
		g := c.Group
		// The mirror of a site shows the same scenes as the site itself.
		sceneID := c.SceneID
		cfg := fakecam.Config{
			ID: c.ID,
			Scene: scene.Config{
				Width: g.Width, Height: g.Height, FPS: g.FPS,
				Background: g.Scene.Background, Night: g.Scene.Night,
				Seed: sc.Seed, CameraID: sceneID,
				People: g.Scene.People, Vehicles: g.Scene.Vehicles,
			},
			Bitrate: g.Bitrate,
		}
		for _, z := range g.Zones {
			cfg.Scene.Zones = append(cfg.Scene.Zones, scene.Zone{Name: z.Name, Rect: z.Rect})
		}
		cfg.Scene.Events = SceneEvents(plan, c)
		for _, n := range c.Endpoints {
			cfg.Endpoints = append(cfg.Endpoints, whipURL(n))
		}
		out = append(out, cfg)
	}
	return out
}

// SceneEvents are the scripted events of a camera's scene, in the order
// that gives their objects' ground-truth track ids (scene.EventTrackID).
func SceneEvents(plan *Plan, c Camera) []scene.Event {
	sceneID := c.SceneID
	var out []scene.Event
	for _, e := range c.Group.Events {
		if len(e.Cameras) > 0 && !slices.Contains(e.Cameras, sceneID) {
			continue
		}
		out = append(out, scene.Event{Kind: e.Kind, Zone: e.Zone, Label: e.Label,
			Start: plan.Scenario.Warmup + e.Start, End: plan.Scenario.Warmup + e.End})
	}
	return out
}
