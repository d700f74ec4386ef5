package scenarios

import (
	"fmt"

	"github.com/edgesim/edgesim/units"
)

// sense adds warnings about a valid scenario whose numbers probably do not
// measure what its author meant. Paths point at the fields to look at.
func (c *converter) sense(s *Scenario) {
	linkIdx := map[string]int{}
	for i, l := range s.Links {
		linkIdx[l.Name] = i
	}
	// Declared links come first in s.Links, in file order (a valid
	// scenario keeps every one); implicit lan links follow and have no path.
	declared := map[string]string{}
	for i := range s.Links {
		if _, ok := c.d.pos[fmt.Sprintf("spec.links[%d]", i)]; ok {
			declared[s.Links[i].Name] = fmt.Sprintf("spec.links[%d]", i)
		}
	}

	for si, site := range s.Sites {
		var camRate units.BitRate
		cams := 0
		for gi, g := range site.Cameras {
			gp := fmt.Sprintf("spec.sites[%d].cameras[%d]", si, gi)
			camRate += g.Bitrate * units.BitRate(len(g.CameraIDs))
			cams += len(g.CameraIDs)
			if s.Workload.DetectFPS > g.FPS {
				c.warnf("spec.workload.detectFPS", "detectFPS %g is above the %g fps of camera group %s/%s; those cameras are analysed at %g fps",
					s.Workload.DetectFPS, g.FPS, site.Name, g.Name, g.FPS)
			}
			for ei, ev := range g.Events {
				if ev.End > s.Duration {
					c.warnf(fmt.Sprintf("%s.events[%d].duration", gp, ei), "the event ends at %s, after the run (%s); it is cut short", ev.End, s.Duration)
				}
			}
		}
		if cams == 0 {
			continue
		}
		// The cameras' own link, and for cloud placement the site's uplink,
		// carry all of the site's video.
		check := func(name, why string) {
			i, ok := linkIdx[name]
			if !ok {
				return
			}
			l := s.Links[i]
			if l.Up.Rate > 0 && camRate > l.Up.Rate {
				path := declared[name]
				if path != "" {
					path += ".rate.up"
				} else {
					path = fmt.Sprintf("spec.sites[%d].cameras", si)
				}
				c.warnf(path, "%d cameras of site %q send %s but link %s carries %s up%s; expect queueing and loss",
					cams, site.Name, camRate, name, l.Up.Rate, why)
			}
		}
		check(defaultLinkName(Endpoint{Kind: EndpointCameras, Site: site.Name}, Endpoint{Kind: EndpointSite, Site: site.Name}), "")
		if s.Workload.Placement == PlacementCloud {
			check(defaultLinkName(Endpoint{Kind: EndpointSite, Site: site.Name}, Endpoint{Kind: EndpointCloud}), " (placement: cloud ships the video up)")
			check(defaultLinkName(Endpoint{Kind: EndpointCameras, Site: site.Name}, Endpoint{Kind: EndpointCloud}), "")
		}
	}

	for i, l := range s.Links {
		p := declared[l.Name]
		if p == "" {
			p = fmt.Sprintf("spec.links[%d]", i)
		}
		for _, d := range []struct {
			name string
			dir  Direction
		}{{"up", l.Up}, {"down", l.Down}} {
			if d.dir.Jitter > d.dir.Delay {
				c.warnf(p+".jitter", "%s jitter %s is larger than the delay %s: draws below zero are clamped, so the mean delay grows and packets reorder",
					d.name, d.dir.Jitter, d.dir.Delay)
				break
			}
		}
	}
}
