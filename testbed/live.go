package testbed

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/reports"
)

// Live is a run's metrics while it runs, as one Prometheus Gatherer: the
// run's own progress (phase, faults fired, SLO verdicts so far), every
// link's counters, the cameras' answered frames and latency, and every
// edgenode's own metrics labelled with its node and site. Serve it with
// promhttp.HandlerFor(live, ...). A Live serves one run (Options.Live);
// before the run starts it gathers nothing.
type Live struct {
	// VerdictEvery is how often the SLO verdicts so far are recomputed
	// (default 10 s), with the run's once-a-second sample: each
	// recomputation analyses every sample so far, in the process that, on
	// the local provider, also forwards the links' packets.
	VerdictEvery time.Duration
	// ScrapeTimeout bounds the scrape of each edgenode (default 2 s; 8 s
	// on a cluster provider, whose scrapes go through the API server and,
	// on a saturated host, took more than 2 s).
	ScrapeTimeout time.Duration

	mu  sync.Mutex
	r   *runner
	reg *prometheus.Registry
	// The SLO verdicts last computed, and when.
	verdicts   []reports.SLOVerdict
	verdictsAt time.Time
	// scrapes is held (read) while edgenodes are scraped; ended is set,
	// under it, once the tear-down starts.
	scrapes sync.RWMutex
	ended   bool
}

// EdgenodeMetrics is implemented by providers that can read an edgenode's
// own /metrics (in Prometheus text format) during a run; the local
// provider does. Live labels what it reads with the node and its site.
type EdgenodeMetrics interface {
	EdgenodeMetrics(ctx context.Context, node string) (io.ReadCloser, error)
}

// Metric names of Live, beside netem's link counters (netem.MetricBytes,
// netem.MetricPackets and netem.MetricDropped, labelled here with the
// link's site, leg, placement and whether the direction is a site's
// uplink) and the edgenodes' own edgenode_* metrics.
const (
	MetricRunInfo           = "edgesim_run_info"
	MetricRunPhase          = "edgesim_run_phase"
	MetricFaultsFired       = "edgesim_run_faults_fired_total"
	MetricSLOVerdict        = "edgesim_run_slo_verdict"
	MetricCameras           = "edgesim_run_cameras"
	MetricCamerasAnswering  = "edgesim_run_cameras_answering"
	MetricCameraFrames      = "edgesim_camera_frames_total"
	MetricCameraAnswered    = "edgesim_camera_frames_answered_total"
	MetricCameraE2ELatency  = "edgesim_camera_e2e_latency_seconds"
	MetricEdgenodeUp        = "edgesim_edgenode_up"
	defaultVerdictEvery     = 10 * time.Second
	defaultEdgenodeScrapeTO = 2 * time.Second
	clusterEdgenodeScrapeTO = 8 * time.Second
)

// SLO verdict states, the verdict label of MetricSLOVerdict.
var verdictStates = []string{"pass", "fail", "not_exercised"}

var livePhases = []string{PhaseProvision, PhaseWarmUp, PhaseRun, PhaseTearDown}

var (
	descRunInfo   = prometheus.NewDesc(MetricRunInfo, "The run's scenario and provider (value 1).", []string{"scenario", "provider"}, nil)
	descRunPhase  = prometheus.NewDesc(MetricRunPhase, "1 for the phase the run is in, 0 for the others.", []string{"phase"}, nil)
	descFaults    = prometheus.NewDesc(MetricFaultsFired, "Scenario faults fired so far (a fault on several targets counts once per target), by the scenario's fault action.", []string{"kind"}, nil)
	descVerdict   = prometheus.NewDesc(MetricSLOVerdict, "1 for each SLO's verdict over the samples so far (pass, fail or not_exercised), 0 for the other states; gated=false for the comparison mirror's what-ifs and allowed unexercised gates.", []string{"slo", "verdict", "gated"}, nil)
	descCameras   = prometheus.NewDesc(MetricCameras, "Cameras the run streams (the comparison mirror's included).", nil, nil)
	descAnswering = prometheus.NewDesc(MetricCamerasAnswering, "Cameras that got detections back in the last 2 s.", nil, nil)
	descFrames    = prometheus.NewDesc(MetricCameraFrames, "Frames a camera recorded a sample for (answered or not).", []string{"camera", "site", "placement"}, nil)
	descAnswered  = prometheus.NewDesc(MetricCameraAnswered, "Frames a camera got detections back for.", []string{"camera", "site", "placement"}, nil)
	descLatency   = prometheus.NewDesc(MetricCameraE2ELatency, "Capture to detections received at the camera, per answered frame (the report's e2e latency).", []string{"site", "placement"}, nil)
	linkLabels    = []string{"link", "direction", "site", "leg", "placement", "uplink"}
	descBytes     = prometheus.NewDesc(netem.MetricBytes, "Bytes delivered by an emulated link, per direction.", linkLabels, nil)
	descPackets   = prometheus.NewDesc(netem.MetricPackets, "Packets delivered by an emulated link, per direction.", linkLabels, nil)
	descDropped   = prometheus.NewDesc(netem.MetricDropped, "Packets an emulated link dropped, per direction and reason.", append(slices.Clone(linkLabels), "reason"), nil)
)

// cameraLatencyBuckets are the camera latency histogram's buckets, in
// seconds.
var cameraLatencyBuckets = []float64{.01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 1.5, 2.5, 5}

// NewLive returns a Live to give to one run in Options.Live.
func NewLive() *Live { return &Live{} }

func (l *Live) attach(r *runner) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r != nil {
		return errors.New("testbed: a Live serves one run; make a new one with NewLive")
	}
	if l.VerdictEvery <= 0 {
		l.VerdictEvery = defaultVerdictEvery
	}
	if _, cluster := r.prov.(ClusterReporter); l.ScrapeTimeout <= 0 && cluster {
		l.ScrapeTimeout = clusterEdgenodeScrapeTO
	} else if l.ScrapeTimeout <= 0 {
		l.ScrapeTimeout = defaultEdgenodeScrapeTO
	}
	l.reg = prometheus.NewRegistry()
	if err := l.reg.Register(liveCollector{l}); err != nil {
		return err
	}
	l.r = r
	return nil
}

// Gather implements prometheus.Gatherer.
func (l *Live) Gather() ([]*dto.MetricFamily, error) {
	l.mu.Lock()
	r, reg := l.r, l.reg
	l.mu.Unlock()
	if r == nil {
		return nil, nil
	}
	return prometheus.Gatherers{reg, prometheus.GathererFunc(l.edgenodes)}.Gather()
}

// liveCollector collects the run's own metrics at scrape time, from what
// the run last sampled: it never calls the provider, whose calls stay in
// the run's own goroutine.
type liveCollector struct{ l *Live }

// Describe sends nothing: the collector is unchecked (its series follow
// the run's links, cameras and SLOs).
func (liveCollector) Describe(chan<- *prometheus.Desc) {}

func (c liveCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	r := l.r
	r.mu.Lock()
	phase, scenario, prov, stats := r.current, r.run.Scenario, r.run.Provider, r.lastStats
	fired := map[string]int{}
	for _, f := range r.plan.Scenario.Faults {
		fired[string(f.Action)] = 0 // every kind the scenario uses, from the start
	}
	for _, f := range r.run.Faults {
		fired[f.Kind]++
	}
	r.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descRunInfo, prometheus.GaugeValue, 1, scenario, prov)
	for _, p := range livePhases {
		ch <- prometheus.MustNewConstMetric(descRunPhase, prometheus.GaugeValue, b2f(p == phase), p)
	}
	for kind, n := range fired {
		ch <- prometheus.MustNewConstMetric(descFaults, prometheus.CounterValue, float64(n), kind)
	}
	l.mu.Lock()
	verdicts := l.verdicts
	l.mu.Unlock()
	for _, v := range verdicts {
		state := "fail"
		switch {
		case v.NotExercised:
			state = "not_exercised"
		case v.Pass:
			state = "pass"
		}
		for _, s := range verdictStates {
			ch <- prometheus.MustNewConstMetric(descVerdict, prometheus.GaugeValue, b2f(s == state), v.Name, s, strconv.FormatBool(v.Gated))
		}
	}
	ch <- prometheus.MustNewConstMetric(descCameras, prometheus.GaugeValue, float64(len(r.plan.Cameras)))
	if t := r.tailer(); t != nil {
		c.cameras(ch, t)
	}
	for _, s := range stats {
		labels := r.linkLabels(s.Link, s.Direction)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.Bytes), labels...)
		ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.Packets), labels...)
		reasons := make([]string, 0, len(s.Drops))
		for reason := range s.Drops {
			reasons = append(reasons, reason)
		}
		sort.Strings(reasons)
		for _, reason := range reasons {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Drops[reason]), append(labels, reason)...)
		}
	}
}

// cameras collects the cameras' frames and latency as the run's tailer
// read them.
func (c liveCollector) cameras(ch chan<- prometheus.Metric, t *tailer) {
	r := c.l.r
	counts := t.counts()
	answering := 0
	type group struct{ site, placement string }
	hist := map[group]*latencyCounts{}
	for _, cam := range r.plan.Cameras {
		n, ok := counts[cam.ID]
		if !ok {
			continue
		}
		if n.answering {
			answering++
		}
		placement := string(cam.Placement)
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(n.frames), cam.ID, cam.ReportSite, placement)
		ch <- prometheus.MustNewConstMetric(descAnswered, prometheus.CounterValue, float64(n.answered), cam.ID, cam.ReportSite, placement)
		g := group{cam.ReportSite, placement}
		if hist[g] == nil {
			hist[g] = &latencyCounts{}
		}
		hist[g].add(n.latency)
	}
	ch <- prometheus.MustNewConstMetric(descAnswering, prometheus.GaugeValue, float64(answering))
	for g, h := range hist {
		ch <- prometheus.MustNewConstHistogram(descLatency, h.count, h.sum, h.cumulative(), g.site, g.placement)
	}
}

// latencyCounts is a latency histogram: one camera's so far, or a
// group's sum.
type latencyCounts struct {
	count   uint64
	sum     float64
	buckets []uint64 // per bucket of cameraLatencyBuckets, not cumulative
}

func (h *latencyCounts) add(o latencyCounts) {
	if h.buckets == nil {
		h.buckets = make([]uint64, len(cameraLatencyBuckets))
	}
	h.count += o.count
	h.sum += o.sum
	for i, n := range o.buckets {
		h.buckets[i] += n
	}
}

func (h *latencyCounts) cumulative() map[float64]uint64 {
	out := map[float64]uint64{}
	var acc uint64
	for i, ub := range cameraLatencyBuckets {
		if i < len(h.buckets) {
			acc += h.buckets[i]
		}
		out[ub] = acc
	}
	return out
}

func (h *latencyCounts) observe(d time.Duration) {
	if h.buckets == nil {
		h.buckets = make([]uint64, len(cameraLatencyBuckets))
	}
	s := d.Seconds()
	h.count++
	h.sum += s
	if i := sort.SearchFloat64s(cameraLatencyBuckets, s); i < len(h.buckets) {
		h.buckets[i]++
	}
}

// linkLabels are the live labels of a plan link's direction.
func (r *runner) linkLabels(link, dir string) []string {
	for _, pl := range r.plan.Links {
		if pl.Name == link {
			return []string{link, dir, pl.Site, pl.Leg, string(pl.Placement), strconv.FormatBool(pl.Uplink && dir == "up")}
		}
	}
	return []string{link, dir, "", "", "", "false"}
}

func (r *runner) tailer() *tailer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tail
}

// refresh recomputes the SLO verdicts over the samples so far when the
// last are VerdictEvery old (the run calls it with each sample).
func (l *Live) refresh(ctx context.Context, r *runner, now time.Time) {
	l.mu.Lock()
	due := l.verdicts == nil || now.Sub(l.verdictsAt) >= l.VerdictEvery
	l.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // the provider's read of the alerts
	defer cancel()
	if res := r.soFar(ctx, now); res != nil {
		l.mu.Lock()
		l.verdicts, l.verdictsAt = res.SLOs, now
		l.mu.Unlock()
	}
}

// endScrapes waits for the edgenode scrapes under way and lets no other
// start.
func (l *Live) endScrapes() {
	l.scrapes.Lock()
	defer l.scrapes.Unlock()
	l.ended = true
}

// soFar analyses a copy of the run as if it ended now; nil before the
// cameras started, or when the alerts or samples cannot be read or
// analysed.
func (r *runner) soFar(ctx context.Context, now time.Time) *reports.Result {
	r.mu.Lock()
	if r.tail == nil {
		r.mu.Unlock()
		return nil
	}
	run := *r.run
	run.Phases = slices.Clone(r.run.Phases)
	if r.current != "" && (len(run.Phases) == 0 || run.Phases[len(run.Phases)-1].Name != r.current) {
		run.Phases = append(run.Phases, reports.Phase{Name: r.current, Start: r.currentStart, End: now})
	}
	run.Faults = slices.Clone(r.run.Faults)
	run.ObservedFaults = slices.Clone(r.run.ObservedFaults)
	run.Links = slices.Clone(r.run.Links)
	run.Warnings = slices.Clone(r.run.Warnings)
	r.mu.Unlock()
	run.End = now
	cams, events, _ := collectCameras(r.plan, r.tail.dir)
	run.Cameras, run.Events = cams, events
	alerts, err := r.prov.Alerts(ctx)
	if err != nil {
		return nil // without the alerts so far, time to alert would be wrong: keep the last verdicts
	}
	run.Alerts = parseAlerts(alerts)
	res, err := reports.Analyze(&run)
	if err != nil {
		return nil
	}
	return res
}

// edgenodes scrapes every edgenode the provider can read, adding node and
// site labels, and says which answered in MetricEdgenodeUp.
func (l *Live) edgenodes() ([]*dto.MetricFamily, error) {
	r := l.r
	src, ok := r.prov.(EdgenodeMetrics)
	if !ok {
		return nil, nil
	}
	// Scraped from warm-up to the end of the run only: before, they are
	// not deployed; during the tear-down the provider removes what a
	// scrape goes through (on the local provider, the namespaces).
	l.scrapes.RLock()
	defer l.scrapes.RUnlock()
	r.mu.Lock()
	deployed := !l.ended && (r.current == PhaseWarmUp || r.current == PhaseRun)
	r.mu.Unlock()
	nodes := append(r.plan.NodesOf(RoleCloud), r.plan.NodesOf(RoleEdge)...)
	type scraped struct {
		fams map[string]*dto.MetricFamily
		err  error
	}
	out := make([]scraped, len(nodes))
	ctx, cancel := context.WithTimeout(context.Background(), l.ScrapeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, n := range nodes {
		if !deployed {
			out[i].err = errors.New("not deployed")
			continue
		}
		wg.Go(func() {
			body, err := src.EdgenodeMetrics(ctx, n.Name)
			if err != nil {
				out[i].err = err
				return
			}
			defer body.Close()
			p := expfmt.NewTextParser(model.UTF8Validation)
			out[i].fams, out[i].err = p.TextToMetricFamilies(body)
		})
	}
	wg.Wait()
	merged := map[string]*dto.MetricFamily{}
	up := &dto.MetricFamily{Name: new(MetricEdgenodeUp), Help: new("1 when the node's edgenode answered the scrape of its /metrics, else 0."),
		Type: dto.MetricType_GAUGE.Enum()}
	for i, n := range nodes {
		extra := []*dto.LabelPair{{Name: new("node"), Value: new(n.Name)}, {Name: new("site"), Value: new(n.Site)}}
		up.Metric = append(up.Metric, &dto.Metric{Label: extra, Gauge: &dto.Gauge{Value: new(b2f(out[i].err == nil))}})
		if out[i].err != nil {
			continue
		}
		for name, f := range out[i].fams {
			m := merged[name]
			if m == nil {
				m = &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type}
				merged[name] = m
			}
			for _, metric := range f.Metric {
				metric.Label = withLabels(metric.Label, extra)
				m.Metric = append(m.Metric, metric)
			}
		}
	}
	fams := []*dto.MetricFamily{up}
	for _, f := range merged {
		fams = append(fams, f)
	}
	return fams, nil
}

// withLabels returns labels with extra set (replacing labels of the same
// name), sorted by name.
func withLabels(labels, extra []*dto.LabelPair) []*dto.LabelPair {
	out := slices.DeleteFunc(slices.Clone(labels), func(p *dto.LabelPair) bool {
		return slices.ContainsFunc(extra, func(e *dto.LabelPair) bool { return e.GetName() == p.GetName() })
	})
	out = append(out, extra...)
	slices.SortFunc(out, func(a, b *dto.LabelPair) int {
		switch {
		case a.GetName() < b.GetName():
			return -1
		case a.GetName() > b.GetName():
			return 1
		}
		return 0
	})
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
