package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgesim/edgesim/netem"
)

// Links are a provider's netem links by plan link name. Every provider that
// emulates links with netem applies link faults and reads counters through
// it.
type Links map[string]netem.EngineLink

// Apply carries out a link-level fault action.
func (ls Links) Apply(ctx context.Context, a Action) error {
	lk := ls[a.Link]
	if lk == nil {
		return fmt.Errorf("%s: no link %s", a.Kind, a.Link)
	}
	switch a.Kind {
	case ActionPartition:
		return lk.Partition(true)
	case ActionHeal:
		return lk.Partition(false)
	case ActionDegrade:
		if a.Ramp <= 0 {
			return lk.Update(a.Up, a.Down)
		}
		return lk.Ramp(ctx, a.Up, a.Down, a.Ramp)
	case ActionTrace:
		var errs []error
		if a.Up.Trace != nil {
			errs = append(errs, lk.SetTrace(netem.Up, a.Up.Trace, a.Up.TraceOnce))
		}
		if a.Down.Trace != nil {
			errs = append(errs, lk.SetTrace(netem.Down, a.Down.Trace, a.Down.TraceOnce))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("unknown fault action %q", a.Kind)
}

// Stats returns the engine's counters of these links, named by plan link
// (links the engine made implicitly are left out).
func (ls Links) Stats(eng netem.Engine) []netem.LinkStats {
	if eng == nil {
		return nil
	}
	byEngine := map[string]string{}
	for name, lk := range ls {
		byEngine[lk.Name()] = name
	}
	var out []netem.LinkStats
	for _, s := range eng.Stats() {
		if name, ok := byEngine[s.Link]; ok {
			s.Link = name
			out = append(out, s)
		}
	}
	return out
}
