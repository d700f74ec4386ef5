package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/runtime/rules"
)

// Option configures Run.
type Option func(*options)

type options struct {
	parallel int
	keep     func(site int) bool
}

// WithParallelism bounds how many sites are simulated at once (default
// GOMAXPROCS). Results do not depend on it.
func WithParallelism(n int) Option { return func(o *options) { o.parallel = n } }

// WithSites simulates only the sites (by index in Fleet.Sites) that keep
// accepts, each exactly as in a run of the whole fleet (its random streams
// come from the fleet's seed and its index): the result holds those sites
// only. Edge placement only: cloud placement shares one cloud pool between
// all sites, so a slice of them would not load it as the fleet does.
func WithSites(keep func(site int) bool) Option { return func(o *options) { o.keep = keep } }

// sim is one run's resolved inputs.
type sim struct {
	f        Fleet
	cal      *Calibration
	sites    []*site
	siteOf   []int32 // global camera -> site
	edgeSvc  []ServiceTime
	edgeWork []int
	cloudSvc ServiceTime
	cloudW   int
	killedAt [][]int64 // per site, per node (edge placement)
	backAt   [][]int64 // per site, per node: a restarted node's start again
	cloudAt  []int64   // per cloud node
	cloudUp  []int64   // per cloud node: a restarted node's start again
	pausedAt [][]int64 // per site, per node: a paused node's freeze
	resumeAt [][]int64 // per site, per node: its thaw
	end      int64
}

// Run simulates the fleet with the calibration and returns its figures.
// The result depends only on the fleet (including its seed) and the
// calibration, never on parallelism or timing.
func Run(ctx context.Context, fleet *Fleet, cal *Calibration, opts ...Option) (*Result, error) {
	if cal == nil {
		return nil, errors.New("plan: no calibration: pass one made by " + CalibrateCommand)
	}
	o := options{parallel: runtime.GOMAXPROCS(0)}
	for _, op := range opts {
		op(&o)
	}
	o.parallel = max(o.parallel, 1)
	if err := fleet.Validate(); err != nil {
		return nil, err
	}
	s, err := prepare(fleet.withDefaults(), cal)
	if err != nil {
		return nil, err
	}
	if o.keep != nil {
		if s.f.Placement != PlacementEdge {
			return nil, errors.New("plan: a slice of the sites can only be simulated with edge placement: cloud placement shares the cloud pool between all sites")
		}
		s.sites = slices.DeleteFunc(s.sites, func(st *site) bool { return !o.keep(st.idx) })
	}
	stats := make([]Stats, len(s.sites))
	if s.f.Placement == PlacementEdge {
		err = parallel(ctx, len(s.sites), o.parallel, func(i int) error {
			st, err := s.runEdge(s.sites[i])
			stats[i] = st
			return err
		})
	} else {
		arrivals := make([][]arrival, len(s.sites))
		err = parallel(ctx, len(s.sites), o.parallel, func(i int) error {
			st, arr, err := s.runCloudUp(s.sites[i])
			stats[i], arrivals[i] = st, arr
			return err
		})
		var answers [][]answer
		if err == nil {
			var cst Stats
			answers, cst = s.runCloud(arrivals)
			stats = append(stats, cst)
			err = parallel(ctx, len(s.sites), o.parallel, func(i int) error {
				st, err := s.runCloudDown(s.sites[i], answers[i])
				stats[i].Events += st.Events
				stats[i].Packets += st.Packets
				answers[i] = nil
				return err
			})
		}
	}
	if err != nil {
		return nil, err
	}
	return s.collect(stats), nil
}

// parallel runs fn for 0..n-1 on at most workers goroutines.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func prepare(f Fleet, cal *Calibration) (*sim, error) {
	s := &sim{f: f, cal: cal, end: int64(f.Duration)}
	if f.Placement == PlacementCloud {
		svc, err := cal.Inference(f.Cloud.Class, f.Model)
		if err != nil {
			return nil, err
		}
		cl, _ := cal.Class(f.Cloud.Class)
		s.cloudSvc, s.cloudW = svc, cl.Workers
		s.cloudAt = make([]int64, f.Cloud.Nodes)
		for i := range s.cloudAt {
			s.cloudAt[i] = never
		}
		s.cloudUp = slices.Clone(s.cloudAt)
	}
	for i := range f.Sites {
		sc := &f.Sites[i]
		st := &site{idx: i, cfg: sc, seed: seedOf(uint64(f.Seed), uint64(i))}
		st.res.Name, st.res.Type = sc.Name, cmp.Or(sc.Type, sc.Name)
		groups, err := buildGroups(&f, cal, sc)
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", sc.Name, err)
		}
		var svc ServiceTime
		var workers int
		if f.Placement == PlacementEdge {
			if svc, err = cal.Inference(sc.Class, f.ModelOf(*sc)); err != nil {
				return nil, fmt.Errorf("site %s: %w", sc.Name, err)
			}
			cl, _ := cal.Class(sc.Class)
			workers = cl.Workers
		}
		s.edgeSvc, s.edgeWork = append(s.edgeSvc, svc), append(s.edgeWork, workers)
		kills := make([]int64, sc.Nodes)
		for n := range kills {
			kills[n] = never
		}
		s.killedAt = append(s.killedAt, kills)
		s.backAt = append(s.backAt, slices.Clone(kills))
		s.pausedAt, s.resumeAt = append(s.pausedAt, slices.Clone(kills)), append(s.resumeAt, slices.Clone(kills))
		r := newRand(seedOf(st.seed, tagSetup))
		for gi, g := range groups {
			for range sc.Cameras[gi].Count {
				c := camera{g: g, global: int32(len(s.siteOf)), phase: r.Int64N(g.period), rtpBase: r.Uint32()}
				c.alertAt = make([]int64, len(g.cfg.Events))
				for k := range c.alertAt {
					c.alertAt[k] = -1
				}
				st.cams = append(st.cams, c)
				s.siteOf = append(s.siteOf, int32(i))
			}
		}
		st.res.Cameras = len(st.cams)
		s.sites = append(s.sites, st)
	}
	if err := s.sessions(); err != nil {
		return nil, err
	}
	return s, nil
}

// sessions lays out which node each camera streams to over time, from the
// fault timeline: a camera on a killed node keeps sending until it notices
// (detect), has no session while it reconnects, then streams to the next
// node that is alive, round robin.
func (s *sim) sessions() error {
	f := &s.f
	edge := f.Placement == PlacementEdge
	for _, st := range s.sites {
		for ci := range st.cams {
			c := &st.cams[ci]
			n := int32(c.global) % int32(max(f.Cloud.Nodes, 1))
			if edge {
				n = int32(ci % st.cfg.Nodes)
			}
			c.segs = []segment{{from: 0, to: never, node: n}}
		}
	}
	type kill struct {
		fault      int
		site, node int
		at         int64
		pause      int64 // a pause's length: cameras that notice none keep their session
	}
	var kills []kill
	for i, ft := range f.Faults {
		if ft.Action != FaultKill && ft.Action != FaultRestart && ft.Action != FaultPause {
			continue
		}
		si, n, _ := f.parseNode(ft.Node)
		if edge != (si >= 0) {
			continue // a node of the other tier carries no video here
		}
		k := kill{fault: i, site: si, node: n, at: int64(ft.At)}
		if ft.Action == FaultPause { // of an edge node (Validate)
			s.pausedAt[si][n], s.resumeAt[si][n] = k.at, never
			if ft.Duration > 0 {
				s.resumeAt[si][n] = int64(ft.At + ft.Duration)
			}
			k.pause = s.resumeAt[si][n] - k.at
			kills = append(kills, k)
			continue
		}
		var killed, back *int64
		if si >= 0 {
			killed, back = &s.killedAt[si][n], &s.backAt[si][n]
		} else {
			killed, back = &s.cloudAt[n], &s.cloudUp[n]
		}
		*killed = k.at // one kill or restart per node (Validate)
		if ft.Action == FaultRestart {
			*back = int64(ft.At + ft.Duration)
		}
		kills = append(kills, k)
	}
	var fo *FailoverCost
	if len(kills) > 0 {
		var err error
		if fo, err = s.cal.FailoverFor(f.Provider); err != nil {
			return err
		}
	}
	slices.SortStableFunc(kills, func(a, b kill) int { return cmp.Compare(a.at, b.at) })
	rngs := make([]*rand.Rand, len(s.sites))
	rr := make([]int, len(s.sites)+1) // round-robin cursor per site, last = cloud
	for _, k := range kills {
		for _, st := range s.sites {
			if k.site >= 0 && st.idx != k.site {
				continue
			}
			if rngs[st.idx] == nil {
				rngs[st.idx] = newRand(seedOf(st.seed, tagFailover))
			}
			r := rngs[st.idx]
			down := []downtime{{s.cloudAt, s.cloudUp}}
			cursor := &rr[len(s.sites)]
			if k.site >= 0 {
				down = []downtime{{s.killedAt[st.idx], s.backAt[st.idx]}, {s.pausedAt[st.idx], s.resumeAt[st.idx]}}
				cursor = &rr[st.idx]
			}
			nodes := len(down[0].from)
			for ci := range st.cams {
				c := &st.cams[ci]
				last := &c.segs[len(c.segs)-1]
				if int(last.node) != k.node || last.from > k.at || last.to <= k.at {
					continue
				}
				st.addTracker(k.fault, int32(ci), k.at)
				detect := int64(fo.DetectSeconds.Draw(r) * float64(time.Second))
				if k.pause > 0 && k.pause <= detect {
					continue // thawed before the camera gave the session up
				}
				noticed := k.at + detect
				back := noticed + int64(fo.ReconnectSeconds.Draw(r)*float64(time.Second))
				last.to = noticed
				found := false
				for range nodes {
					cand := *cursor % nodes
					*cursor++
					if upFrom(down, cand, back) == back {
						c.segs = append(c.segs, segment{from: back, to: never, node: int32(cand)})
						found = true
						break
					}
				}
				if !found {
					// Every node is down: the camera keeps trying and
					// reconnects to the first one up again (restarted or
					// thawed) once it is.
					first, at := -1, never
					for n := range nodes {
						if t := upFrom(down, n, back); t < at {
							first, at = n, t
						}
					}
					if first >= 0 {
						from := at + int64(fo.ReconnectSeconds.Draw(r)*float64(time.Second))
						c.segs = append(c.segs, segment{from: from, to: never, node: int32(first)})
					}
				}
			}
		}
	}
	for fi, ft := range f.Faults {
		if ft.Action != FaultPartition || (ft.Link == LinkWAN && edge) {
			continue // in edge placement the WAN carries alerts only
		}
		for _, st := range s.sites {
			if st.cfg.Name == ft.Site {
				for ci := range st.cams {
					st.addTracker(fi, int32(ci), int64(ft.At))
				}
			}
		}
	}
	return nil
}

// downtime is when nodes are down: from from[n] until to[n] (never: for
// good).
type downtime struct{ from, to []int64 }

// upFrom is the first time at or after t at which node n is up.
func upFrom(down []downtime, n int, t int64) int64 {
	for _, d := range down {
		if t >= d.from[n] && t < d.to[n] {
			t = d.to[n]
		}
	}
	return t
}

func (st *site) addTracker(fault int, ci int32, at int64) {
	st.trackers = append(st.trackers, tracker{fault: fault, cam: ci, at: at, bestCap: never})
	c := &st.cams[ci]
	c.trackers = append(c.trackers, int32(len(st.trackers)-1))
}

func (s *sim) newDomain(st *site, ph phase, tag uint64) *domain {
	d := &domain{f: &s.f, s: st, ph: ph, end: s.end, rng: newRand(seedOf(st.seed, tag)), cloudDead: s.cloudAt, cloudBack: s.cloudUp}
	d.senders = make([]sender, len(st.cams))
	for i := range d.senders {
		for k := range d.senders[i].ring {
			d.senders[i].ring[k] = -1
		}
		d.senders[i].in.session = -1
		d.senders[i].nackAt, d.senders[i].asmAt = -1, -1
		d.senders[i].forceKey = true // a session starts with a keyframe
	}
	return d
}

func (s *sim) schedule(d *domain, st *site, captures bool) {
	if captures {
		for ci := range st.cams {
			d.q.push(event{at: st.cams[ci].phase, kind: evCapture, a: int32(ci)})
		}
	}
	for i, ft := range s.f.Faults {
		switch {
		case (ft.Action == FaultKill || ft.Action == FaultRestart) && d.ph == phaseEdge:
			if si, _, _ := s.f.parseNode(ft.Node); si == st.idx {
				d.q.push(event{at: int64(ft.At), kind: evFault, a: int32(i)})
			}
		case ft.Action == FaultPause && d.ph == phaseEdge && ft.Duration > 0:
			if si, _, _ := s.f.parseNode(ft.Node); si == st.idx {
				// the thaw, before anything deferred to it
				d.q.push(event{at: int64(ft.At + ft.Duration), kind: evFault, a: int32(i), b: 1})
			}
		case ft.Site == st.cfg.Name && (ft.Action == FaultPartition || ft.Action == FaultDegrade):
			d.q.push(event{at: int64(ft.At), kind: evFault, a: int32(i)})
			if ft.Duration > 0 {
				d.q.push(event{at: int64(ft.At + ft.Duration), kind: evFault, a: int32(i), b: 1})
			}
		case ft.Site == st.cfg.Name && ft.Action == FaultTraceSwitch:
			d.q.push(event{at: int64(ft.At), kind: evFault, a: int32(i)})
		}
	}
}

func (s *sim) runEdge(st *site) (Stats, error) {
	d := s.newDomain(st, phaseEdge, tagSite)
	sc := st.cfg
	d.lanUp = d.newLink(LinkLAN, sc.LANUp, 1, true)
	d.lanDown = d.newLink(LinkLAN, sc.LANDown, 2, false)
	d.wanUp = d.newLink(LinkWAN, sc.WANUp, 3, true)
	d.pliWait = int64(sc.LANDown.Delay)
	d.pipe = &pipeline{maxAge: s.f.MaxAge, rng: d.rng, streams: make([]pstream, len(st.cams)),
		counts: func(int32) *FrameCounts { return &st.res.Frames },
		sched: func(at int64, n, w int32, gen uint32) {
			d.q.push(event{at: at, kind: evDone, a: n, b: w, c: gen})
		},
		result: d.edgeResult, newEng: d.newEngine}
	for i := range d.pipe.streams {
		d.pipe.streams[i].session = -1
	}
	for n := range sc.Nodes {
		d.pipe.nodes = append(d.pipe.nodes, newNode(s.edgeWork[st.idx], s.f.QueueDepth, s.edgeSvc[st.idx],
			s.killedAt[st.idx][n], s.backAt[st.idx][n], s.pausedAt[st.idx][n], s.resumeAt[st.idx][n]))
	}
	s.schedule(d, st, true)
	if err := d.open(); err != nil {
		return Stats{}, err
	}
	d.run()
	st.res.Uplink = totals(d.wanUp, s.f.Duration)
	return d.stats, nil
}

func (s *sim) runCloudUp(st *site) (Stats, []arrival, error) {
	d := s.newDomain(st, phaseCloudUp, tagUp)
	sc := st.cfg
	d.lanUp = d.newLink(LinkLAN, sc.LANUp, 1, true)
	d.wanUp = d.newLink(LinkWAN, sc.WANUp, 3, true)
	d.lanUp.next = d.wanUp
	d.pliWait = int64(sc.LANDown.Delay + sc.WANDown.Delay)
	s.schedule(d, st, true)
	if err := d.open(); err != nil {
		return Stats{}, nil, err
	}
	d.run()
	st.res.Uplink = totals(d.wanUp, s.f.Duration)
	slices.SortStableFunc(d.arrivals, func(a, b arrival) int {
		return cmp.Or(cmp.Compare(a.submit, b.submit), cmp.Compare(a.cam, b.cam))
	})
	return d.stats, d.arrivals, nil
}

// runCloud runs the shared cloud tier on the sampled frames of every site,
// merged in time order (ties by site), and returns each site's answers.
func (s *sim) runCloud(arrivals [][]arrival) ([][]answer, Stats) {
	var q events
	var stats Stats
	answers := make([][]answer, len(s.sites))
	base := make([]int32, len(s.sites))
	total := int32(0)
	for i, st := range s.sites {
		base[i] = total
		total += int32(len(st.cams))
	}
	rng := newRand(seedOf(uint64(s.f.Seed), tagCloud))
	p := &pipeline{maxAge: s.f.MaxAge, rng: rng, streams: make([]pstream, total)}
	for i := range p.streams {
		p.streams[i].session = -1
	}
	local := func(g int32) (*site, int32) { st := s.sites[s.siteOf[g]]; return st, g - base[st.idx] }
	p.counts = func(g int32) *FrameCounts { st, _ := local(g); return &st.res.Frames }
	p.sched = func(at int64, n, w int32, gen uint32) { q.push(event{at: at, kind: evDone, a: n, b: w, c: gen}) }
	p.newEng = func(g int32) *rules.Engine { st, ci := local(g); return newEngine(st.cams[ci].g) }
	p.result = func(j job, ps *pstream, now int64) {
		st, ci := local(j.cam)
		answers[st.idx] = append(answers[st.idx], answer{cam: ci, capture: j.capture, done: now})
		if ps.engine == nil {
			return
		}
		c := &st.cams[ci]
		for _, h := range ps.engine.Observe(observation(c.g, j.capture)) {
			if ev := h.TrackID - 1; c.alertAt[ev] < 0 {
				c.alertAt[ev] = now // raised at the cloud: no link to cross
			}
		}
	}
	for n := range s.f.Cloud.Nodes {
		p.nodes = append(p.nodes, newNode(s.cloudW, s.f.QueueDepth, s.cloudSvc, s.cloudAt[n], s.cloudUp[n], never, never))
	}
	next := make([]int, len(s.sites))
	for i, a := range arrivals {
		if len(a) > 0 {
			q.push(event{at: a[0].submit, kind: evArrival, a: int32(i)})
		}
	}
	for i, ft := range s.f.Faults {
		if si, n, _ := s.f.parseNode(ft.Node); (ft.Action == FaultKill || ft.Action == FaultRestart) && si < 0 {
			q.push(event{at: int64(ft.At), kind: evFault, a: int32(n), c: uint32(i)})
		}
	}
	for q.len() > 0 {
		e := q.pop()
		if e.at > s.end {
			break
		}
		stats.Events++
		switch e.kind {
		case evArrival:
			si := e.a
			a := arrivals[si][next[si]]
			next[si]++
			if next[si] < len(arrivals[si]) {
				q.push(event{at: arrivals[si][next[si]].submit, kind: evArrival, a: si})
			}
			p.submit(e.at, a.node, job{cam: base[si] + a.cam, session: a.session, capture: a.capture, arrived: a.arrived})
		case evDone:
			p.done(e.at, e.a, e.b, e.c)
		case evFault:
			p.kill(e.a)
		}
	}
	return answers, stats
}

func (s *sim) runCloudDown(st *site, answers []answer) (Stats, error) {
	d := s.newDomain(st, phaseCloudDown, tagDown)
	sc := st.cfg
	d.wanDown = d.newLink(LinkWAN, sc.WANDown, 4, false)
	d.lanDown = d.newLink(LinkLAN, sc.LANDown, 2, false)
	d.wanDown.next = d.lanDown
	d.answers = answers
	if len(answers) > 0 {
		d.q.push(event{at: answers[0].done, kind: evAnswer})
	}
	s.schedule(d, st, false)
	if err := d.open(); err != nil {
		return Stats{}, err
	}
	d.run()
	st.res.Downlink = totals(d.wanDown, s.f.Duration)
	return d.stats, nil
}

func totals(l *link, dur time.Duration) LinkTotals {
	st := l.m.Stats()
	if l.direct || l.departs {
		st.Packets, st.Bytes = l.packets, l.bytes // it counted what arrived
	}
	var drops uint64
	for _, n := range st.Drops {
		drops += n
	}
	return LinkTotals{OfferedBytes: st.OfferedBytes, Bytes: st.Bytes, Packets: st.Packets, Dropped: drops,
		BitsPerSec: float64(st.Bytes) * 8 / dur.Seconds()}
}

// collect turns the sites' state into the result, in site order.
func (s *sim) collect(stats []Stats) *Result {
	r := &Result{Seed: s.f.Seed, Duration: s.f.Duration, Placement: s.f.Placement}
	for _, st := range stats {
		r.Stats.Events += st.Events
		r.Stats.Packets += st.Packets
	}
	types := map[string]*TypeResult{}
	for _, st := range s.sites {
		res := &st.res
		for ci := range st.cams {
			c := &st.cams[ci]
			for ei, e := range c.g.cfg.Events {
				if !c.g.covered[ei] {
					continue
				}
				res.AlertsExpected++
				if at := c.alertAt[ei]; at >= 0 {
					res.Alerted++
					res.tta.Add(time.Duration(at - int64(e.Start)))
				}
			}
		}
		for _, t := range st.trackers {
			if !t.before {
				continue // like the reports: a camera that never worked has no failover to measure
			}
			g := FailoverGap{Fault: t.fault, Site: st.cfg.Name, Camera: int(t.cam), Recovered: t.bestCap != never}
			end := s.end
			if g.Recovered {
				end = t.recAt
			}
			g.Gap = time.Duration(end - t.at)
			for _, c := range st.cams[t.cam].sent {
				if c >= t.at && c < t.bestCap {
					g.FramesLost++
				}
			}
			r.Failover = append(r.Failover, g)
		}
		res.LatencyP50, res.LatencyP95 = res.latency.Quantile(0.50), res.latency.Quantile(0.95)
		tr := types[res.Type]
		if tr == nil {
			tr = &TypeResult{Type: res.Type}
			types[res.Type] = tr
		}
		tr.Sites++
		tr.Cameras += res.Cameras
		tr.Frames.add(res.Frames)
		tr.latency.Merge(&res.latency)
		tr.tta.Merge(&res.tta)
		tr.AlertsExpected += res.AlertsExpected
		tr.Alerted += res.Alerted
		tr.UplinkMeanBits += res.Uplink.BitsPerSec
		tr.UplinkMaxBits = max(tr.UplinkMaxBits, res.Uplink.BitsPerSec)
		r.Sites = append(r.Sites, *res)
		res.latency, res.tta = Histogram{}, Histogram{}
	}
	for _, tr := range types {
		tr.UplinkMeanBits /= float64(tr.Sites)
		tr.LatencyP50, tr.LatencyP95 = tr.latency.Quantile(0.50), tr.latency.Quantile(0.95)
		tr.TimeToAlertP50, tr.TimeToAlertP95 = tr.tta.Quantile(0.50), tr.tta.Quantile(0.95)
		r.Types = append(r.Types, *tr)
	}
	slices.SortFunc(r.Types, func(a, b TypeResult) int { return cmp.Compare(a.Type, b.Type) })
	return r
}
