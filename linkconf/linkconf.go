// Package linkconf translates a scenario's link directions into netem's
// own config type. It sits between the two (netem does not import
// scenarios, scenarios does not import netem) so that every user of a
// scenario's links (testbed, plan, the CLI) shares one translation.
package linkconf

import (
	"fmt"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
)

// Netem translates one direction of a scenario link into netem's config;
// a trace file is loaded and checked here.
func Netem(d scenarios.Direction) (netem.LinkConfig, error) {
	c := netem.LinkConfig{
		Delay:                d.Delay,
		Jitter:               d.Jitter,
		DelayCorrelation:     float64(d.DelayCorrelation),
		Distribution:         netem.Distribution(d.Distribution),
		Reorder:              netem.Reorder{Percent: float64(d.Reorder.Percent), Correlation: float64(d.Reorder.Correlation), Gap: d.Reorder.Gap},
		Duplicate:            float64(d.Duplicate.Percent),
		DuplicateCorrelation: float64(d.Duplicate.Correlation),
		Corrupt:              float64(d.Corrupt.Percent),
		CorruptCorrelation:   float64(d.Corrupt.Correlation),
		RateBits:             int64(d.Rate),
		BurstBytes:           int(d.Burst),
		QueueBytes:           int(d.Queue.Bytes),
		QueuePackets:         d.Queue.Packets,
		Queue:                netem.QueueDiscipline(d.QueueDiscipline),
		TraceOnce:            d.TraceOnce,
		KeepOrder:            d.KeepOrder,
	}
	if c.Distribution == "" && c.Jitter > 0 {
		c.Distribution = netem.DistNormal
	}
	switch d.Loss.Model {
	case scenarios.LossNone:
	case scenarios.LossBernoulli:
		c.Loss = netem.Loss{Model: netem.LossBernoulli, Percent: float64(d.Loss.Percent), Correlation: float64(d.Loss.Correlation)}
	case scenarios.LossGilbertElliott:
		ge := d.Loss.GilbertElliott
		// The scenario gives delivery probabilities (h, k); netem takes
		// loss probabilities per state.
		c.Loss = netem.Loss{Model: netem.LossGilbertElliot, P: float64(ge.P), R: float64(ge.R), LossBad: 100 - float64(ge.H), LossGood: 100 - float64(ge.K)}
	case scenarios.LossMarkov4:
		m := d.Loss.Markov4
		c.Loss = netem.Loss{Model: netem.LossFourState, P13: float64(m.P13), P31: float64(m.P31), P32: float64(m.P32), P23: float64(m.P23), P14: float64(m.P14)}
	default:
		return c, fmt.Errorf("loss model %q is not supported by netem", d.Loss.Model)
	}
	if d.Trace != "" {
		t, err := netem.LoadTrace(d.Trace)
		if err != nil {
			return netem.LinkConfig{}, err
		}
		c.Trace = t
	}
	return c, c.Validate()
}
