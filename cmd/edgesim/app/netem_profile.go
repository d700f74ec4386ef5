package app

import (
	"fmt"
	"strings"

	"github.com/edgesim/edgesim/linkconf"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
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
