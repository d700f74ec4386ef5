package scenarios

import (
	"slices"
	"time"

	"github.com/edgesim/edgesim/units"
)

// ProfileInfo documents a named link profile: its numbers and where they
// come from.
type ProfileInfo struct {
	Name        string
	Description string
	Source      string
	Spec        LinkSpec
}

// Up is toward the cloud (a camera or site sending), Down toward the edge.
var profiles = []ProfileInfo{
	{
		Name:        "lan",
		Description: "Switched Gigabit Ethernet inside a site.",
		Source: "Line rate of 1000BASE-T; sub-millisecond one-way delay is what a switched LAN " +
			"shows in ping. An engineering assumption, not a measurement study.",
		Spec: symmetric(Direction{
			Delay: 200 * time.Microsecond, Jitter: 50 * time.Microsecond, Distribution: DistributionNormal,
		}, units.Gbit, units.Gbit),
	},
	{
		Name:        "wifi",
		Description: "One Wi-Fi 5 (802.11ac) hop in a busy building, e.g. cameras to a store's edge box.",
		Source: "Rounded typical figures, not one study: a few ms one-way with a long tail, as " +
			"Sui et al., 'Characterizing and Improving WiFi Latency in Large-Scale Operational " +
			"Networks' (MobiSys 2016) describe for the Wi-Fi hop; rates are well below the PHY rate " +
			"because the medium is shared. Replace with a site survey when you have one.",
		Spec: symmetric(Direction{
			Delay: 4 * time.Millisecond, Jitter: 3 * time.Millisecond, Distribution: DistributionNormal,
			DelayCorrelation: 25,
			Loss:             Loss{Model: LossBernoulli, Percent: 0.5, Correlation: 25},
		}, 40*units.Mbit, 80*units.Mbit),
	},
	{
		Name:        "4g",
		Description: "A fixed LTE router at a site (uplink-bound, tens of ms).",
		Source: "Rates: mean capacity of the Verizon and T-Mobile LTE Saturator traces shipped with " +
			"Mahimahi (Winstein et al., 'Stochastic Forecasts Achieve High Throughput and Low Delay " +
			"over Cellular Networks', NSDI 2013): uplink 5.95 and 13.3 Mbit/s (mean 9.6, rounded to 10Mbit), " +
			"downlink 5.0 and 16.7 Mbit/s (mean 10.9, rounded to 11Mbit), measured with " +
			"`awk` over the files (docs/scenarios.md). Delay 30 ms one-way (60 ms RTT) and 0.1% residual " +
			"loss are typical published LTE figures (crowd-sourced reports give 4G RTT medians of roughly " +
			"40-70 ms; HARQ/RLC retransmission hide most radio loss), rounded, not from one study. " +
			"For time-varying capacity use the traces themselves (trace:).",
		Spec: symmetric(Direction{
			Delay: 30 * time.Millisecond, Jitter: 8 * time.Millisecond, Distribution: DistributionParetoNormal,
			DelayCorrelation: 25,
			Loss:             Loss{Model: LossBernoulli, Percent: 0.1},
		}, 10*units.Mbit, 11*units.Mbit),
	},
	{
		Name:        "5g",
		Description: "Commercial mid-band 5G (NSA) at a fixed site.",
		Source: "3GPP TR 38.913 sets a 4 ms one-way user-plane latency target for eMBB, a lower bound; " +
			"commercial measurements (Narayanan et al., 'A First Look at Commercial 5G Performance on " +
			"Smartphones', WWW 2020) found RTTs in the 20-30 ms range and uplink far below downlink. " +
			"Rounded to 12 ms one-way, 50 Mbit/s up, 300 Mbit/s down; an assumption, not one measurement.",
		Spec: symmetric(Direction{
			Delay: 12 * time.Millisecond, Jitter: 3 * time.Millisecond, Distribution: DistributionNormal,
			DelayCorrelation: 25,
			Loss:             Loss{Model: LossBernoulli, Percent: 0.05},
		}, 50*units.Mbit, 300*units.Mbit),
	},
	{
		Name:        "satellite",
		Description: "A geostationary (GEO) VSAT link.",
		Source: "Delay from geometry: 35,786 km up and down at the speed of light is ~239 ms one-way " +
			"before any processing; GEO services typically show 550-650 ms RTT, hence 300 ms one-way. " +
			"Rates (2 Mbit/s up, 20 Mbit/s down) and 0.5% loss are typical of consumer/enterprise VSAT " +
			"plans, an assumption. Low-orbit constellations are far faster: use 4g-like numbers or a trace.",
		Spec: symmetric(Direction{
			Delay: 300 * time.Millisecond, Jitter: 15 * time.Millisecond, Distribution: DistributionNormal,
			DelayCorrelation: 25,
			Loss:             Loss{Model: LossBernoulli, Percent: 0.5},
		}, 2*units.Mbit, 20*units.Mbit),
	},
}

func symmetric(d Direction, up, down units.BitRate) LinkSpec {
	u, dn := d, d
	u.Rate, dn.Rate = up, down
	return LinkSpec{Up: withRateDefaults(u), Down: withRateDefaults(dn)}
}

// Profile returns the named link profile ("lan", "wifi", "4g", "5g",
// "satellite") with every default applied.
func Profile(name string) (LinkSpec, bool) {
	for _, p := range profiles {
		if p.Name == name {
			return p.Spec, true
		}
	}
	return LinkSpec{}, false
}

// Profiles lists every link profile with its numbers and sources, in a
// stable order.
func Profiles() []ProfileInfo {
	return slices.Clone(profiles)
}

// ProfileNames lists the profile names.
func ProfileNames() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

const mtu = 1500

// withRateDefaults fills queue, discipline and burst of a rate-limited
// direction: a queue of 100 ms at the rate (at least 16 packets) and a burst
// of 1 ms at the rate (at least one MTU).
func withRateDefaults(d Direction) Direction {
	if d.Rate <= 0 && d.Trace == "" {
		return d
	}
	if d.QueueDiscipline == "" {
		d.QueueDiscipline = DropTail
	}
	if d.Queue.Bytes == 0 && d.Queue.Packets == 0 {
		q := units.ByteSize(float64(d.Rate) / 8 * 0.1)
		if d.Trace != "" {
			q = 0
		}
		if q < 16*mtu {
			q = 16 * mtu
		}
		d.Queue.Bytes = q
	}
	if d.Burst == 0 && d.Rate > 0 {
		b := units.ByteSize(float64(d.Rate) / 8 / 1000)
		if b < mtu {
			b = mtu
		}
		d.Burst = b
	}
	return d
}
