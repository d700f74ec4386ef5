package netem

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Distribution is the shape of the delay variation around the mean delay.
type Distribution string

// Delay distributions, named like tc netem and Fogify name them.
const (
	DistNormal       Distribution = "normal"
	DistUniform      Distribution = "uniform"
	DistPareto       Distribution = "pareto"
	DistParetoNormal Distribution = "paretonormal"
)

// LossModel selects how packet losses are drawn.
type LossModel string

// Loss models. The zero value is Bernoulli (with optional correlation).
const (
	LossBernoulli     LossModel = "bernoulli"
	LossGilbertElliot LossModel = "gilbert-elliott"
	LossFourState     LossModel = "4-state"
)

// QueueDiscipline chooses which packet is dropped when the bottleneck queue
// is full.
type QueueDiscipline string

// Queue disciplines, as mahimahi names them.
const (
	DropTail QueueDiscipline = "droptail"
	DropHead QueueDiscipline = "drophead"
)

// Loss describes packet loss on one direction of a link. Percentages are in
// [0, 100].
type Loss struct {
	Model LossModel
	// Percent is the loss probability for the Bernoulli model.
	Percent float64
	// Correlation in [0, 100] is the lag-1 correlation of successive loss
	// decisions (Bernoulli); the stationary loss rate stays Percent.
	Correlation float64
	// Gilbert-Elliott: P is the good->bad and R the bad->good transition
	// probability per packet (percent); LossBad and LossGood the loss
	// probabilities in each state (tc netem's 1-h and 1-k). With LossBad=100
	// and LossGood=0 the mean burst length is 100/R packets.
	P, R, LossBad, LossGood float64
	// 4-state Markov (tc netem "loss state p13 p31 p32 p23 p14"), percent.
	P13, P31, P32, P23, P14 float64
}

// Reorder sends a share of the packets without their delay, as tc netem does.
type Reorder struct {
	Percent     float64
	Correlation float64
	// Gap: with Gap = N, only every N-th packet may be reordered (0 or 1 =
	// any packet).
	Gap int
}

// LinkConfig is the impairment of one direction of a link. The zero value is
// a perfect link.
type LinkConfig struct {
	// Delay is the mean one-way delay added to every packet.
	Delay time.Duration
	// Jitter is the standard deviation of the delay, for every
	// distribution (a uniform distribution therefore spans ±sqrt(3)·Jitter).
	Jitter time.Duration
	// DelayCorrelation in [0, 100] is the lag-1 correlation of successive
	// delays; the distribution of the delay is unchanged by it.
	DelayCorrelation float64
	Distribution     Distribution
	// KeepOrder forbids reordering by jitter: a packet never overtakes the
	// one sent before it on the same direction.
	KeepOrder bool
	Reorder   Reorder

	Loss Loss
	// Duplicate and Corrupt are percentages; a corrupted packet has one
	// random bit flipped.
	Duplicate, DuplicateCorrelation float64
	Corrupt, CorruptCorrelation     float64

	// RateBits is the capacity in bit/s (0 = unlimited, unless Trace is set).
	RateBits int64
	// BurstBytes is the token bucket depth; 0 picks max(2 * MTU, 1 ms of rate).
	BurstBytes int
	// QueueBytes and QueuePackets bound the bottleneck queue (0 = unbounded
	// unless the other is set; when RateBits or Trace is set and both are 0,
	// a 1000-packet limit is used, like a typical interface queue).
	QueueBytes, QueuePackets int
	Queue                    QueueDiscipline

	// Trace replaces RateBits with a Mahimahi delivery-opportunity trace.
	Trace *Trace
	// TraceOnce makes the end of the trace final: after it, nothing is
	// delivered (mahimahi --once) instead of wrapping around.
	TraceOnce bool

	// Partition drops every packet.
	Partition bool
}

// ErrInvalidConfig is wrapped by every LinkConfig validation error.
var ErrInvalidConfig = errors.New("netem: invalid link config")

// ConfigError names the bad field and says what is allowed.
type ConfigError struct {
	Field string
	Value any
	Want  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("netem: invalid link config: %s = %v: %s", e.Field, e.Value, e.Want)
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func checkPercent(field string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 100 {
		return &ConfigError{Field: field, Value: v, Want: "must be a percentage between 0 and 100"}
	}
	return nil
}

// Validate returns the first problem of c, or nil.
func (c LinkConfig) Validate() error {
	if c.Delay < 0 {
		return &ConfigError{"Delay", c.Delay, "must not be negative"}
	}
	if c.Jitter < 0 {
		return &ConfigError{"Jitter", c.Jitter, "must not be negative"}
	}
	switch c.Distribution {
	case "", DistNormal, DistUniform, DistPareto, DistParetoNormal:
	default:
		return &ConfigError{"Distribution", c.Distribution, "use normal, uniform, pareto or paretonormal"}
	}
	pcts := []struct {
		f string
		v float64
	}{
		{"DelayCorrelation", c.DelayCorrelation},
		{"Reorder.Percent", c.Reorder.Percent}, {"Reorder.Correlation", c.Reorder.Correlation},
		{"Loss.Percent", c.Loss.Percent}, {"Loss.Correlation", c.Loss.Correlation},
		{"Loss.P", c.Loss.P}, {"Loss.R", c.Loss.R}, {"Loss.LossBad", c.Loss.LossBad}, {"Loss.LossGood", c.Loss.LossGood},
		{"Loss.P13", c.Loss.P13}, {"Loss.P31", c.Loss.P31}, {"Loss.P32", c.Loss.P32}, {"Loss.P23", c.Loss.P23}, {"Loss.P14", c.Loss.P14},
		{"Duplicate", c.Duplicate}, {"DuplicateCorrelation", c.DuplicateCorrelation},
		{"Corrupt", c.Corrupt}, {"CorruptCorrelation", c.CorruptCorrelation},
	}
	for _, p := range pcts {
		if err := checkPercent(p.f, p.v); err != nil {
			return err
		}
	}
	if c.DelayCorrelation >= 100 && c.Jitter > 0 {
		return &ConfigError{"DelayCorrelation", c.DelayCorrelation, "must be below 100 (100 would freeze the delay)"}
	}
	switch c.Loss.Model {
	case "", LossBernoulli, LossGilbertElliot, LossFourState:
	default:
		return &ConfigError{"Loss.Model", c.Loss.Model, "use bernoulli, gilbert-elliott or 4-state"}
	}
	if c.Loss.Model == LossFourState && c.Loss.P13+c.Loss.P14 > 100 {
		return &ConfigError{"Loss.P13+P14", c.Loss.P13 + c.Loss.P14, "must not exceed 100"}
	}
	if c.Loss.Model == LossFourState && c.Loss.P31+c.Loss.P32 > 100 {
		return &ConfigError{"Loss.P31+P32", c.Loss.P31 + c.Loss.P32, "must not exceed 100"}
	}
	if c.Reorder.Gap < 0 {
		return &ConfigError{"Reorder.Gap", c.Reorder.Gap, "must not be negative"}
	}
	if c.RateBits < 0 {
		return &ConfigError{"RateBits", c.RateBits, "must be positive (bit/s), or 0 for no limit"}
	}
	if c.BurstBytes < 0 || c.QueueBytes < 0 || c.QueuePackets < 0 {
		return &ConfigError{"BurstBytes/QueueBytes/QueuePackets", fmt.Sprint(c.BurstBytes, c.QueueBytes, c.QueuePackets), "must not be negative"}
	}
	switch c.Queue {
	case "", DropTail, DropHead:
	default:
		return &ConfigError{"Queue", c.Queue, "use droptail or drophead"}
	}
	return nil
}

// ValidateRate is Validate plus the rule that a configured rate must not be
// zero: use it where a rate was explicitly given (a CLI flag, a profile).
func ValidateRate(bits int64) error {
	if bits <= 0 {
		return &ConfigError{"RateBits", bits, "must be greater than zero; leave the rate unset for an unlimited link"}
	}
	return nil
}

func (c LinkConfig) shaped() bool { return c.RateBits > 0 || c.Trace != nil }

func (c LinkConfig) queueLimits() (bytes, packets int) {
	bytes, packets = c.QueueBytes, c.QueuePackets
	if c.shaped() && bytes == 0 && packets == 0 {
		packets = 1000
	}
	return bytes, packets
}

func (c LinkConfig) burst() float64 {
	if c.BurstBytes > 0 {
		return float64(c.BurstBytes)
	}
	b := float64(c.RateBits) / 8 / 1000 // 1 ms of rate
	if b < 2*1514 {
		b = 2 * 1514
	}
	return b
}

// String describes the configuration in tc-like words, omitting what is
// off.
func (c LinkConfig) String() string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if c.Partition {
		add("partitioned")
	}
	if c.Delay > 0 || c.Jitter > 0 {
		d := "normal"
		if c.Distribution != "" {
			d = string(c.Distribution)
		}
		add("delay %s", c.Delay)
		if c.Jitter > 0 {
			add("jitter %s (%s, stddev)", c.Jitter, d)
		}
		if c.DelayCorrelation > 0 {
			add("delay-correlation %g%%", c.DelayCorrelation)
		}
		if c.KeepOrder {
			add("keep-order")
		}
	}
	switch c.Loss.Model {
	case LossGilbertElliot:
		add("loss gilbert-elliott p=%g%% r=%g%% bad=%g%% good=%g%%", c.Loss.P, c.Loss.R, c.Loss.LossBad, c.Loss.LossGood)
	case LossFourState:
		add("loss 4-state p13=%g%% p31=%g%% p32=%g%% p23=%g%% p14=%g%%", c.Loss.P13, c.Loss.P31, c.Loss.P32, c.Loss.P23, c.Loss.P14)
	default:
		if c.Loss.Percent > 0 {
			add("loss %g%%", c.Loss.Percent)
			if c.Loss.Correlation > 0 {
				add("loss-correlation %g%%", c.Loss.Correlation)
			}
		}
	}
	if c.Reorder.Percent > 0 {
		add("reorder %g%%", c.Reorder.Percent)
	}
	if c.Duplicate > 0 {
		add("duplicate %g%%", c.Duplicate)
	}
	if c.Corrupt > 0 {
		add("corrupt %g%%", c.Corrupt)
	}
	if c.Trace != nil {
		add("trace %s (mean %.2f Mbit/s, period %s)", c.Trace.Name, c.Trace.MeanRateBits()/1e6, c.Trace.Period())
		if c.TraceOnce {
			add("once")
		}
	} else if c.RateBits > 0 {
		add("rate %.6g Mbit/s", float64(c.RateBits)/1e6)
		if c.BurstBytes > 0 {
			add("burst %d B", c.BurstBytes)
		}
	}
	if c.shaped() {
		b, p := c.queueLimits()
		q := "droptail"
		if c.Queue != "" {
			q = string(c.Queue)
		}
		if b > 0 {
			add("queue %d B %s", b, q)
		}
		if p > 0 {
			add("queue %d packets %s", p, q)
		}
	}
	if len(parts) == 0 {
		return "no impairment"
	}
	return strings.Join(parts, ", ")
}
