package app

import (
	"fmt"
	"strings"

	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
)

// profileConfig returns one direction of a named link profile.
func profileConfig(name, dir string) (netem.LinkConfig, error) {
	spec, ok := scenarios.Profile(name)
	if !ok {
		return netem.LinkConfig{}, fmt.Errorf("unknown profile %q: use one of %s", name, strings.Join(scenarios.ProfileNames(), ", "))
	}
	switch dir {
	case netem.Up:
		return linkconf.Netem(spec.Up)
	case netem.Down:
		return linkconf.Netem(spec.Down)
	}
	return netem.LinkConfig{}, fmt.Errorf("--direction %q: use up or down", dir)
}

// scenarioLinkConfig returns one direction of a scenario's link as
// edgesim run emulates it: the plan's link (profile, overrides and
// composition resolved), named as the plan names it.
func scenarioLinkConfig(file, link, dir string) (netem.LinkConfig, error) {
	sc, err := scenarios.LoadFile(file)
	if err != nil {
		return netem.LinkConfig{}, err
	}
	plan, err := testbed.NewPlan(sc, false)
	if err != nil {
		return netem.LinkConfig{}, err
	}
	var names []string
	for _, l := range plan.Links {
		names = append(names, l.Name)
		if l.Name != link {
			continue
		}
		switch dir {
		case netem.Up:
			return l.Up, nil
		case netem.Down:
			return l.Down, nil
		}
		return netem.LinkConfig{}, fmt.Errorf("--direction %q: use up or down", dir)
	}
	return netem.LinkConfig{}, fmt.Errorf("--link %q: %s has no such link; its links are %s", link, file, strings.Join(names, ", "))
}
