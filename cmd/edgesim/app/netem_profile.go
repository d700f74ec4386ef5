package app

import (
	"fmt"
	"strings"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
)

// linkConfigFromScenario translates a scenario link direction into the
// netem engine's own config type (netem does not import scenarios).
func linkConfigFromScenario(d scenarios.Direction) (netem.LinkConfig, error) {
	c := netem.LinkConfig{
		Delay:            d.Delay,
		Jitter:           d.Jitter,
		DelayCorrelation: float64(d.DelayCorrelation),
		Distribution:     netem.Distribution(d.Distribution),
		Reorder: netem.Reorder{
			Percent: float64(d.Reorder.Percent), Correlation: float64(d.Reorder.Correlation), Gap: d.Reorder.Gap,
		},
		Duplicate: float64(d.Duplicate.Percent), DuplicateCorrelation: float64(d.Duplicate.Correlation),
		Corrupt: float64(d.Corrupt.Percent), CorruptCorrelation: float64(d.Corrupt.Correlation),
		RateBits:     int64(d.Rate),
		BurstBytes:   int(d.Burst),
		QueueBytes:   int(d.Queue.Bytes),
		QueuePackets: d.Queue.Packets,
		Queue:        netem.QueueDiscipline(d.QueueDiscipline),
		TraceOnce:    d.TraceOnce,
	}
	switch d.Loss.Model {
	case scenarios.LossNone, scenarios.LossBernoulli:
		c.Loss = netem.Loss{Percent: float64(d.Loss.Percent), Correlation: float64(d.Loss.Correlation)}
	case scenarios.LossGilbertElliott:
		ge := d.Loss.GilbertElliott
		c.Loss = netem.Loss{Model: netem.LossGilbertElliot, P: float64(ge.P), R: float64(ge.R),
			LossBad: 100 - float64(ge.H), LossGood: 100 - float64(ge.K)}
	case scenarios.LossMarkov4:
		m := d.Loss.Markov4
		c.Loss = netem.Loss{Model: netem.LossFourState, P13: float64(m.P13), P31: float64(m.P31),
			P32: float64(m.P32), P23: float64(m.P23), P14: float64(m.P14)}
	default:
		return c, fmt.Errorf("loss model %q is not supported by netem", d.Loss.Model)
	}
	if d.Trace != "" {
		t, err := netem.LoadTrace(d.Trace)
		if err != nil {
			return c, err
		}
		c.Trace = t
	}
	return c, c.Validate()
}

// profileConfig returns one direction of a named link profile.
func profileConfig(name, dir string) (netem.LinkConfig, error) {
	spec, ok := scenarios.Profile(name)
	if !ok {
		return netem.LinkConfig{}, fmt.Errorf("unknown profile %q: use one of %s", name, strings.Join(scenarios.ProfileNames(), ", "))
	}
	switch dir {
	case netem.Up:
		return linkConfigFromScenario(spec.Up)
	case netem.Down:
		return linkConfigFromScenario(spec.Down)
	}
	return netem.LinkConfig{}, fmt.Errorf("--direction %q: use up or down", dir)
}
