package scenarios

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

// maxTraceSize bounds Mahimahi trace files (the published ones are 0.3-1.2 MB).
const maxTraceSize = 256 << 20

func tierRank(k EndpointKind) int {
	switch k {
	case EndpointCameras:
		return 0
	case EndpointSite:
		return 1
	}
	return 2
}

func (c *converter) endpoint(p, s string, siteIdx map[string]int) (Endpoint, bool) {
	if s == "cloud" {
		return Endpoint{Kind: EndpointCloud}, true
	}
	kind, site, ok := strings.Cut(s, ":")
	if !ok || (kind != "cameras" && kind != "site") {
		c.errorf(p, "%q is not an endpoint; write cameras:<site>, site:<site> or cloud", s)
		return Endpoint{}, false
	}
	if _, found := siteIdx[site]; !found {
		c.errorf(p, "site %q is not defined%s", site, hint(site, slices.Sorted(mapKeys(siteIdx))))
		return Endpoint{}, false
	}
	return Endpoint{Kind: EndpointKind(kind), Site: site}, true
}

func defaultLinkName(a, b Endpoint) string {
	switch {
	case a.Kind == EndpointCameras && b.Kind == EndpointSite:
		return a.Site + "-cameras"
	case a.Kind == EndpointCameras && b.Kind == EndpointCloud:
		return a.Site + "-cameras-cloud"
	case a.Kind == EndpointSite && b.Kind == EndpointCloud:
		return a.Site + "-uplink"
	}
	return a.Site + "-" + b.Site
}

func pairKey(a, b Endpoint) string {
	x, y := a.String(), b.String()
	if x > y {
		x, y = y, x
	}
	return x + "|" + y
}

func (c *converter) links(in []v1alpha1.Link, sites []Site, siteIdx map[string]int) []Link {
	var out []Link
	pairs := map[string]bool{}
	names := map[string]bool{}
	for i, l := range in {
		p := fmt.Sprintf("spec.links[%d]", i)
		if len(l.Between) != 2 {
			if l.Between != nil {
				c.errorf(p+".between", "needs exactly two endpoints, e.g. [site:store-1, cloud]; got %d", len(l.Between))
			}
			continue
		}
		a, okA := c.endpoint(p+".between[0]", l.Between[0], siteIdx)
		b, okB := c.endpoint(p+".between[1]", l.Between[1], siteIdx)
		if !okA || !okB {
			continue
		}
		switch {
		case a == b:
			c.errorf(p+".between", "both ends are %s; a link joins two different groups", a)
			continue
		case tierRank(a.Kind) > tierRank(b.Kind):
			c.errorf(p+".between", "list the lower tier first, [%s, %s], so that up means toward the cloud", b, a)
			continue
		case a.Kind == EndpointCameras && b.Kind == EndpointSite && a.Site != b.Site:
			c.errorf(p+".between", "cameras of site %q can only link to site:%s or cloud", a.Site, a.Site)
			continue
		case a.Kind == EndpointCameras && b.Kind == EndpointCameras:
			c.errorf(p+".between", "cameras do not talk to each other; link cameras to their site or to the cloud")
			continue
		}
		if pairs[pairKey(a, b)] {
			c.errorf(p+".between", "another link already joins %s and %s", a, b)
			continue
		}
		pairs[pairKey(a, b)] = true
		link := Link{Name: l.Name, A: a, B: b, Profile: l.Profile}
		if link.Name == "" {
			link.Name = defaultLinkName(a, b)
		} else {
			c.checkName(p+".name", link.Name, "link name", 40)
		}
		if names[link.Name] {
			c.errorf(p+".name", "link name %q is used twice; give the link a name", link.Name)
		}
		names[link.Name] = true
		if l.Profile != "" {
			if spec, ok := Profile(l.Profile); ok {
				link.LinkSpec = spec
			} else {
				c.errorf(p+".profile", "unknown profile %q%s", l.Profile, hint(l.Profile, ProfileNames()))
			}
		}
		link.LinkSpec = c.applyLink(p, link.LinkSpec, l.Impairment, l.Rate, l.Trace, l.Up, l.Down)
		out = append(out, link)
	}
	// Implicit lan links for every site without an explicit one.
	lan, _ := Profile("lan")
	for _, site := range sites {
		for _, pair := range [][2]Endpoint{
			{{Kind: EndpointCameras, Site: site.Name}, {Kind: EndpointSite, Site: site.Name}},
			{{Kind: EndpointSite, Site: site.Name}, {Kind: EndpointCloud}},
		} {
			a, b := pair[0], pair[1]
			if a.Kind == EndpointCameras && (len(site.Cameras) == 0 || pairs[pairKey(a, Endpoint{Kind: EndpointCloud})]) {
				continue
			}
			if pairs[pairKey(a, b)] {
				continue
			}
			name := defaultLinkName(a, b)
			if names[name] {
				continue
			}
			names[name] = true
			out = append(out, Link{Name: name, A: a, B: b, Profile: "lan", LinkSpec: lan})
		}
	}
	return out
}

// applyLink applies link-level settings on top of base: impairments to both
// directions, rate and trace per direction, then the up/down overrides.
func (c *converter) applyLink(p string, base LinkSpec, both v1alpha1.Impairment, rate *v1alpha1.Rate, trace *v1alpha1.Trace, up, down *v1alpha1.Impairment) LinkSpec {
	out := base
	out.Up = c.applyImpairment(p, out.Up, both)
	out.Down = c.applyImpairment(p, out.Down, both)
	if rate != nil {
		out.Up, out.Down = c.applyRate(p+".rate", out.Up, out.Down, rate)
	}
	if trace != nil {
		tp := p + ".trace"
		if trace.Up == "" && trace.Down == "" {
			c.errorf(tp, "set up, down or both to Mahimahi trace files")
		}
		keepQueue := rate != nil && rate.Queue != nil
		for _, x := range []struct {
			file, name string
			d          *Direction
		}{{trace.Up, "up", &out.Up}, {trace.Down, "down", &out.Down}} {
			if x.file == "" {
				continue
			}
			x.d.Trace, x.d.TraceOnce = c.tracePath(tp+"."+x.name, x.file), trace.Once
			x.d.Rate, x.d.Burst = 0, 0
			if !keepQueue {
				x.d.Queue = QueueLimit{} // the profile's queue was sized for its rate
			}
		}
		if rate != nil && ((trace.Up != "" && rate.Up != nil) || (trace.Down != "" && rate.Down != nil)) {
			c.errorf(tp, "a direction has both a rate and a trace; the trace gives the capacity, remove one")
		}
	}
	if up != nil {
		out.Up = c.applyImpairment(p+".up", out.Up, *up)
	}
	if down != nil {
		out.Down = c.applyImpairment(p+".down", out.Down, *down)
	}
	out.Up, out.Down = withRateDefaults(out.Up), withRateDefaults(out.Down)
	c.checkDirection(p, out.Up)
	c.checkDirection(p, out.Down)
	return out
}

func (c *converter) checkDirection(p string, d Direction) {
	if d.Reorder.Percent > 0 && d.Delay == 0 {
		c.errorf(p+".reorder", "reordering needs a delay: packets are reordered by sending some without the delay")
	}
}

func (c *converter) applyImpairment(p string, d Direction, im v1alpha1.Impairment) Direction {
	if im.Delay != nil {
		d.Delay = im.Delay.Std()
		if d.Delay < 0 {
			c.errorf(p+".delay", "must not be negative, got %s", d.Delay)
		} else if d.Delay > 10*time.Second {
			c.errorf(p+".delay", "%s is more than 10s", d.Delay)
		}
	}
	if im.Jitter != nil {
		d.Jitter = im.Jitter.Std()
		if d.Jitter < 0 {
			c.errorf(p+".jitter", "must not be negative, got %s", d.Jitter)
		}
	}
	if im.Correlation != nil {
		d.DelayCorrelation = *im.Correlation
	}
	if im.Distribution != "" {
		if c.enum(p+".distribution", im.Distribution, []string{"normal", "uniform", "pareto", "paretonormal"}) {
			d.Distribution = Distribution(im.Distribution)
		}
	}
	if d.Distribution == "" && d.Jitter > 0 {
		d.Distribution = DistributionNormal
	}
	if im.Loss != nil {
		d.Loss = c.loss(p+".loss", *im.Loss)
	}
	if r := im.Reorder; r != nil {
		d.Reorder = Reorder{Gap: intOr(r.Gap, 0)}
		if r.Percent != nil {
			d.Reorder.Percent = *r.Percent
		} else {
			c.errorf(p+".reorder.percent", "set the share of packets to reorder, e.g. 1%%")
		}
		if r.Correlation != nil {
			d.Reorder.Correlation = *r.Correlation
		}
		if d.Reorder.Gap < 0 {
			c.errorf(p+".reorder.gap", "must not be negative")
		}
	}
	if im.KeepOrder != nil {
		d.KeepOrder = *im.KeepOrder
	}
	if im.Duplicate != nil {
		d.Duplicate = c.probability(p+".duplicate", *im.Duplicate)
	}
	if im.Corrupt != nil {
		d.Corrupt = c.probability(p+".corrupt", *im.Corrupt)
	}
	return d
}

func (c *converter) probability(p string, in v1alpha1.Probability) Probability {
	var out Probability
	if in.Percent == nil {
		c.errorf(p+".percent", "set the share of packets, e.g. 0.1%%")
	} else {
		out.Percent = *in.Percent
	}
	if in.Correlation != nil {
		out.Correlation = *in.Correlation
	}
	return out
}

func pct(p *units.Percent, def units.Percent) units.Percent {
	if p == nil {
		return def
	}
	return *p
}

func (c *converter) loss(p string, in v1alpha1.Loss) Loss {
	set := 0
	for _, b := range []bool{in.Percent != nil, in.GilbertElliott != nil, in.Markov4 != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.errorf(p, "set exactly one loss model: percent, gilbertElliott or markov4")
		return Loss{}
	}
	switch {
	case in.Percent != nil:
		return Loss{Model: LossBernoulli, Percent: *in.Percent, Correlation: pct(in.Correlation, 0)}
	case in.Correlation != nil:
		c.errorf(p+".correlation", "only applies to percent loss; the state models carry their own memory")
	}
	if ge := in.GilbertElliott; ge != nil {
		if ge.P == nil {
			c.errorf(p+".gilbertElliott.p", "set p, the probability of entering the bad state")
			return Loss{}
		}
		out := GilbertElliott{P: *ge.P, R: pct(ge.R, 100-*ge.P), H: pct(ge.H, 0), K: pct(ge.K, 100)}
		if out.R == 0 {
			c.errorf(p+".gilbertElliott.r", "r = 0%% never leaves the bad state; the link would stay lossy forever")
		}
		return Loss{Model: LossGilbertElliott, GilbertElliott: out}
	}
	m := in.Markov4
	if m.P13 == nil {
		c.errorf(p+".markov4.p13", "set p13, the probability of entering a loss burst")
		return Loss{}
	}
	out := Markov4{P13: *m.P13, P31: pct(m.P31, 100-*m.P13), P32: pct(m.P32, 0), P23: pct(m.P23, 100), P14: pct(m.P14, 0)}
	if float64(out.P13)+float64(out.P14) > 100 {
		c.errorf(p+".markov4", "p13 + p14 = %g%%; leaving the good state cannot be more likely than 100%%", float64(out.P13+out.P14))
	}
	if float64(out.P31)+float64(out.P32) > 100 {
		c.errorf(p+".markov4", "p31 + p32 = %g%%; leaving the burst state cannot be more likely than 100%%", float64(out.P31+out.P32))
	}
	return Loss{Model: LossMarkov4, Markov4: out}
}

func (c *converter) applyRate(p string, up, down Direction, r *v1alpha1.Rate) (Direction, Direction) {
	if r.Both != nil {
		if r.Up != nil || r.Down != nil {
			c.errorf(p+".both", "set both, or up and down, not a mix")
		}
		rr := *r
		rr.Up, rr.Down = r.Both, r.Both
		r = &rr
	}
	for _, x := range []struct {
		name string
		v    *units.BitRate
		d    *Direction
	}{{"up", r.Up, &up}, {"down", r.Down, &down}} {
		if x.v == nil {
			continue
		}
		if *x.v < 8*units.Kbit {
			c.errorf(p+"."+x.name, "%s is too low; the smallest useful rate is 8Kbit", *x.v)
		}
		x.d.Rate = *x.v
		x.d.Trace = ""
		// Derived from the old rate: recomputed unless given below.
		x.d.Queue, x.d.Burst = QueueLimit{}, 0
	}
	for _, d := range []*Direction{&up, &down} {
		if r.Queue != nil {
			d.Queue = QueueLimit{Bytes: r.Queue.Bytes, Packets: r.Queue.Packets}
		}
		if r.QueueDiscipline != "" && c.enum(p+".queueDiscipline", r.QueueDiscipline, []string{"droptail", "drophead"}) {
			d.QueueDiscipline = QueueDiscipline(r.QueueDiscipline)
		}
		if r.Burst != nil {
			d.Burst = *r.Burst
			if d.Burst < mtu {
				c.errorf(p+".burst", "%s is below one packet (1500B); the link could never send a full-size packet", d.Burst)
			}
		}
	}
	if r.Up == nil && r.Down == nil && up.Rate == 0 && down.Rate == 0 {
		c.errorf(p, "set up, down or both, e.g. {up: 10Mbit, down: 50Mbit}")
	}
	return up, down
}

func (c *converter) tracePath(p, rel string) string {
	abs, ok := c.inTree(p, rel, "trace")
	if !ok {
		return abs
	}
	if err := checkMahimahiTrace(abs, rel); err != nil {
		c.errorf(p, "%v", err)
	}
	return abs
}

// checkMahimahiTrace verifies that path is a Mahimahi mm-link trace: one
// non-negative integer millisecond per line, non-decreasing, no empty
// lines, last value above zero.
func checkMahimahiTrace(file, path string) error {
	info, err := os.Stat(file)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read trace %s: %v", path, unwrapPathError(err))
	case !info.Mode().IsRegular():
		return fmt.Errorf("trace %s is not a regular file", path)
	case info.Size() > maxTraceSize:
		return fmt.Errorf("trace %s is %d bytes; traces are limited to %d", path, info.Size(), maxTraceSize)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read trace %s: %v", path, unwrapPathError(err))
	}
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return fmt.Errorf("trace %s is empty; a Mahimahi trace has one millisecond timestamp per line", path)
	}
	prev := int64(-1)
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		v, err := strconv.ParseInt(line, 10, 64)
		switch {
		case line == "":
			return fmt.Errorf("trace %s line %d is empty; Mahimahi traces have no empty lines", path, i+1)
		case err != nil || v < 0:
			// Never the line itself: the file may be anything root can read.
			return fmt.Errorf("trace %s line %d is not a non-negative integer number of milliseconds", path, i+1)
		case v < prev:
			return fmt.Errorf("trace %s line %d is before the previous timestamp; timestamps must not decrease", path, i+1)
		}
		prev = v
	}
	if prev <= 0 {
		return fmt.Errorf("trace %s: the last timestamp must be above 0 (it is the period of the trace)", path)
	}
	return nil
}
