package netem

import (
	"math"
	"math/rand/v2"
	"time"
)

// corrNormal draws standard normal values whose lag-1 correlation is rho
// (an AR(1) process), so the marginal distribution stays N(0,1) whatever rho
// is. tc netem's correlation shrinks the variance instead; this does not.
type corrNormal struct {
	last float64
	init bool
}

func (c *corrNormal) next(r *rand.Rand, rho float64) float64 {
	z := r.NormFloat64()
	if !c.init || rho == 0 {
		c.last, c.init = z, true
		return z
	}
	c.last = rho*c.last + math.Sqrt(1-rho*rho)*z
	return c.last
}

// phi is the standard normal CDF.
func phi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// paretoAlpha is the shape of the pareto jitter: heavy-tailed, finite variance.
const paretoAlpha = 3.0

// paretoStd maps u in (0,1) to a zero-mean, unit-variance Pareto variate.
func paretoStd(u float64) float64 {
	if u >= 1 {
		u = math.Nextafter(1, 0)
	}
	x := math.Pow(1-u, -1/paretoAlpha) // xm = 1
	mean := paretoAlpha / (paretoAlpha - 1)
	sd := math.Sqrt(paretoAlpha/(paretoAlpha-2)) / (paretoAlpha - 1)
	return (x - mean) / sd
}

// delayGen draws delays with mean Delay and standard deviation Jitter.
type delayGen struct {
	a, b corrNormal
}

func (g *delayGen) next(r *rand.Rand, c *LinkConfig) time.Duration {
	if c.Jitter == 0 {
		return c.Delay
	}
	return g.draw(r, c) // apart, so that next inlines
}

func (g *delayGen) draw(r *rand.Rand, c *LinkConfig) time.Duration {
	rho := c.DelayCorrelation / 100
	var s float64
	switch c.Distribution {
	case DistUniform:
		s = math.Sqrt(3) * (2*phi(g.a.next(r, rho)) - 1)
	case DistPareto:
		s = paretoStd(phi(g.a.next(r, rho)))
	case DistParetoNormal:
		s = math.Sqrt(0.25)*paretoStd(phi(g.a.next(r, rho))) + math.Sqrt(0.75)*g.b.next(r, rho)
	default:
		s = g.a.next(r, rho)
	}
	d := float64(c.Delay) + s*float64(c.Jitter)
	if d < 0 {
		return 0
	}
	return time.Duration(d)
}

// corrBernoulli draws events with stationary probability p whose lag-1
// correlation is rho, as a two-state Markov chain.
type corrBernoulli struct{ last bool }

func (c *corrBernoulli) next(r *rand.Rand, pct, corrPct float64) bool {
	if pct <= 0 {
		c.last = false
		return false
	}
	return c.draw(r, pct, corrPct) // apart, so that next inlines: most links draw nothing here
}

func (c *corrBernoulli) draw(r *rand.Rand, pct, corrPct float64) bool {
	p, rho := pct/100, corrPct/100
	q := p
	if rho > 0 {
		if c.last {
			q = p + rho*(1-p)
		} else {
			q = p * (1 - rho)
		}
	}
	c.last = r.Float64() < q
	return c.last
}

// lossGen draws loss decisions for one of the loss models.
type lossGen struct {
	bern  corrBernoulli
	bad   bool // Gilbert-Elliott state
	state int  // 4-state Markov: 1..4
}

func (l *lossGen) next(r *rand.Rand, c *Loss) bool {
	switch c.Model {
	case LossGilbertElliot:
		// Transition first, then lose with the new state's probability
		// (netem's order).
		if l.bad {
			if r.Float64() < c.R/100 {
				l.bad = false
			}
		} else if r.Float64() < c.P/100 {
			l.bad = true
		}
		if l.bad {
			return r.Float64() < c.LossBad/100
		}
		return c.LossGood > 0 && r.Float64() < c.LossGood/100
	case LossFourState:
		// States (Salsano et al., tc netem): 1 gap reception, 2 burst
		// reception, 3 burst loss, 4 isolated loss.
		if l.state == 0 {
			l.state = 1
		}
		u := r.Float64() * 100
		switch l.state {
		case 1:
			switch {
			case u < c.P13:
				l.state = 3
			case u < c.P13+c.P14:
				l.state = 4
			}
		case 2:
			if u < c.P23 {
				l.state = 3
			}
		case 3:
			switch {
			case u < c.P31:
				l.state = 1
			case u < c.P31+c.P32:
				l.state = 2
			}
		case 4:
			l.state = 1
		}
		return l.state == 3 || l.state == 4
	default:
		return l.bern.next(r, c.Percent, c.Correlation)
	}
}

// DrawDelays draws n delays from cfg's delay distribution (Delay, Jitter,
// Distribution, truncated at zero as a link does) with r, leaving out
// DelayCorrelation: the distribution a link's delays follow.
func DrawDelays(cfg LinkConfig, r *rand.Rand, n int) []time.Duration {
	var g delayGen
	cfg.DelayCorrelation = 0
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = g.next(r, &cfg)
	}
	return out
}
