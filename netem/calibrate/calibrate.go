// Package calibrate measures an emulated link against its configuration:
// it builds two hosts joined by one link of the userspace engine, sends
// probe traffic through it (delay and loss probes with an unimpaired
// baseline, UDP and TCP throughput, a trace replay), derives the expected
// figures from the configuration and judges each within its tolerance.
package calibrate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesim/edgesim/netem"

	"github.com/edgesim/edgesim/netem/internal/rtio"
)

// Options describe one calibration run: two hosts joined by one
// link whose a->b direction carries Config.
type Options struct {
	Config netem.LinkConfig
	// Probes is the number of probe packets for delay and loss (default
	// 100,000).
	Probes int
	// ThroughputDuration is the length of the UDP and of the TCP phase
	// (default 5 s).
	ThroughputDuration time.Duration
	// TraceDuration is how much of a trace is replayed (default: one
	// period).
	TraceDuration time.Duration
	// ProbeRate is the probe packets per second (default 5000, at most a
	// quarter of the link's rate).
	ProbeRate float64
	// SkipTCP leaves out the TCP phase.
	SkipTCP bool
	Seed    int64
	// StateDir and Name are passed to the engine.
	StateDir, Name string
	// MTU of the TUN devices (default 1500).
	MTU int
	// Progress, if set, is told which phase starts.
	Progress func(phase string)
	// EngineOptions are added to the engine's options (e.g.
	// WithPreciseRelease(false) to measure without it).
	EngineOptions []netem.Option
}

// Figure is one configured-vs-measured comparison.
type Figure struct {
	Name       string  `json:"name"`
	Unit       string  `json:"unit"`
	Configured float64 `json:"configured"`
	Measured   float64 `json:"measured"`
	// Error is (measured-configured)/configured; 0 when configured is 0.
	Error     float64 `json:"relative_error"`
	Tolerance string  `json:"tolerance"`
	// Checked is false for figures shown for information only.
	Checked bool   `json:"checked"`
	OK      bool   `json:"ok"`
	Note    string `json:"note,omitempty"`
}

// TracePoint compares a trace's capacity with the measured throughput over
// one second of the replay.
type TracePoint struct {
	Second       int     `json:"second"`
	CapacityBits float64 `json:"capacity_bits_per_second"`
	MeasuredBits float64 `json:"measured_bits_per_second"`
}

// Result is the result of Run.
type Result struct {
	Figures []Figure     `json:"figures"`
	Trace   []TracePoint `json:"trace,omitempty"`
	OK      bool         `json:"ok"`
}

// Failed lists the checked figures outside their tolerance.
func (c *Result) Failed() []Figure {
	var out []Figure
	for _, f := range c.Figures {
		if f.Checked && !f.OK {
			out = append(out, f)
		}
	}
	return out
}

// ErrFailed is returned (wrapped) by callers that turn a failed
// figure into an error.
var ErrFailed = errors.New("netem: calibration outside tolerance")

func relErr(measured, configured float64) float64 {
	if configured == 0 {
		return 0
	}
	return (measured - configured) / configured
}

const (
	probePayload = 64
	ipUDPHeader  = 28
	tcpIPHeader  = 52 // IPv4 20 + TCP 20 + timestamps 12
)

// Run builds two hosts joined by one link, sends probe traffic through
// it and compares what it measures with what was configured.
func Run(ctx context.Context, opt Options) (*Result, error) {
	cfg := opt.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Probes <= 0 {
		opt.Probes = 100000
	}
	if opt.ThroughputDuration <= 0 {
		opt.ThroughputDuration = 5 * time.Second
	}
	if opt.MTU == 0 {
		opt.MTU = 1500
	}
	if opt.Progress == nil {
		opt.Progress = func(string) {}
	}
	opts := []netem.Option{netem.WithSeed(opt.Seed), netem.WithMTU(opt.MTU)}
	if opt.StateDir != "" {
		opts = append(opts, netem.WithStateDir(opt.StateDir))
	}
	if opt.Name != "" {
		opts = append(opts, netem.WithName(opt.Name))
	}
	opts = append(opts, opt.EngineOptions...)
	eng, err := netem.NewUserspace(ctx, opts...)
	if err != nil {
		return nil, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	a, err := eng.AddHost(ctx, netem.HostSpec{Name: "a", Group: "a"})
	if err != nil {
		return nil, err
	}
	b, err := eng.AddHost(ctx, netem.HostSpec{Name: "b", Group: "b"})
	if err != nil {
		return nil, err
	}
	link, err := eng.Link(ctx, "a", "b", netem.LinkConfig{}, netem.LinkConfig{})
	if err != nil {
		return nil, err
	}
	c := &calib{ctx: ctx, opt: opt, eng: eng, a: a, b: b, link: link, res: &Result{}}
	if cfg.Trace == nil {
		if c.c, err = eng.AddHost(ctx, netem.HostSpec{Name: "c", Group: "a"}); err != nil {
			return nil, err
		}
	}
	opt.Progress("host timer check")
	if err := c.hostCheck(); err != nil {
		return nil, err
	}
	if cfg.Trace != nil {
		opt.Progress("trace replay")
		if err := c.trace(); err != nil {
			return nil, err
		}
	} else {
		if err := c.probes(); err != nil {
			return nil, err
		}
		if cfg.RateBits > 0 {
			opt.Progress("UDP throughput")
			if err := c.udpRate(); err != nil {
				return nil, err
			}
			if !opt.SkipTCP {
				opt.Progress("TCP throughput")
				if err := c.tcpRate(); err != nil {
					return nil, err
				}
			}
		}
	}
	c.res.OK = len(c.res.Failed()) == 0
	return c.res, nil
}

// hostCheck measures how late a forwarding-priority thread wakes from a
// 1 ms timer on this machine for one second: what precise release has to
// make up for. It is shown for information.
func (c *calib) hostCheck() error {
	t, err := rtio.NewHRTimer()
	if err != nil {
		return err
	}
	defer t.Close()
	res := make(chan []float64, 1)
	go func() {
		rtio.RaisePriority(true)
		var late []float64
		end := time.Now().Add(time.Second)
		for time.Now().Before(end) {
			due := time.Now().Add(time.Millisecond)
			t.Arm(time.Millisecond)
			if t.Wait(nil) != nil {
				break
			}
			late = append(late, float64(time.Since(due)))
		}
		res <- late
	}()
	late := <-res
	if len(late) == 0 {
		return errors.New("netem: calibration: timerfd does not fire")
	}
	slices.Sort(late)
	p99, worst := late[len(late)*99/100], late[len(late)-1]
	c.add(Figure{Name: "host timer lateness p99", Unit: "ms", Measured: p99 / 1e6, Tolerance: "-",
		Note: fmt.Sprintf("a 1 ms timer on a forwarding thread fired up to %.3f ms late (p99 %.3f ms): the link scheduler wakes early by about this much and spins (precise release); wake-ups later than that still show in the delays", worst/1e6, p99/1e6)})
	return nil
}

type calib struct {
	ctx  context.Context
	opt  Options
	eng  *netem.Userspace
	a, b *netem.Host
	link *netem.Link
	res  *Result
	// c is a second host in a's group: probes to it cross the fabric
	// unimpaired (the baseline).
	c *netem.Host
	// noiseStd (ns) is the probe path's own delay spread, measured on the
	// unimpaired flow.
	noiseStd float64
}

func (c *calib) add(f Figure) {
	f.Error = relErr(f.Measured, f.Configured)
	c.res.Figures = append(c.res.Figures, f)
}

func (c *calib) udp(port int) (snd, rcv *net.UDPConn, err error) { return c.udpTo(c.b, port) }

// udpTo opens a receiving socket on host to and a sender on host a.
func (c *calib) udpTo(to *netem.Host, port int) (snd, rcv *net.UDPConn, err error) {
	if err = to.Do(func() (err error) {
		rcv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to.Address(), Port: port})
		return err
	}); err != nil {
		return nil, nil, err
	}
	_ = rcv.SetReadBuffer(8 << 20)
	if err = c.a.Do(func() (err error) {
		snd, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: to.Address(), Port: port})
		return err
	}); err != nil {
		rcv.Close()
		return nil, nil, err
	}
	_ = snd.SetWriteBuffer(8 << 20)
	return snd, rcv, nil
}

// pace calls send(i) for i = 0.. at pps packets per second until n packets
// (n < 0: until stop is closed or ctx ends), sleeping on a timerfd. When
// smooth, it never sends more than 1 ms worth at once after a stall.
func pace(ctx context.Context, pps float64, n int, smooth bool, stop <-chan struct{}, send func(i int)) error {
	t, err := rtio.NewHRTimer()
	if err != nil {
		return err
	}
	defer t.Close()
	// A probe sender stamps packets before writing them: keep it from being
	// preempted in between. A saturating sender must not run at that
	// priority: it would starve the kernel's softirq threads.
	done := make(chan error, 1)
	go func() {
		rtio.RaisePriority(smooth)
		done <- paceLoop(ctx, t, pps, n, smooth, stop, send)
	}()
	return <-done
}

func paceLoop(ctx context.Context, t *rtio.HRTimer, pps float64, n int, smooth bool, stop <-chan struct{}, send func(i int)) error {
	start := time.Now()
	maxBurst := int(pps/1000) + 1 // 1 ms worth
	for i := 0; n < 0 || i < n; {
		due := int(time.Since(start).Seconds()*pps) + 1
		if smooth && due > i+maxBurst {
			// Behind after a stall: shift the schedule instead of bursting.
			start = time.Now().Add(-time.Duration(float64(i+maxBurst) / pps * 1e9))
			due = i + maxBurst
		}
		for ; i < due && (n < 0 || i < n); i++ {
			send(i)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-stop:
			return nil
		default:
		}
		next := start.Add(time.Duration(float64(i) / pps * 1e9))
		if d := time.Until(next); d > 20*time.Microsecond {
			t.Arm(d)
			if err := t.Wait(nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// probeFlow is one stream of probes from host a to one host, and what
// arrived of it.
type probeFlow struct {
	to     *netem.Host
	port   int
	delays []float64 // ns: kernel receive stamp minus sender stamp
	sent   []int64   // ns: sender stamp
	got    []bool
	recvN  atomic.Int64
}

// probeRun sends n sequence-numbered, timestamped probes at pps on every
// flow, interleaved: probe i goes to each flow's host in turn before probe
// i+1, so that the flows cross the sender, host a's TUN device and its
// reader thread at the same moments and under the same load.
func (c *calib) probeRun(n int, pps float64, wait time.Duration, flows ...*probeFlow) error {
	snds := make([]*net.UDPConn, len(flows))
	var wg sync.WaitGroup
	defer wg.Wait()
	for k, f := range flows {
		snd, rcv, err := c.udpTo(f.to, f.port)
		if err != nil {
			return err
		}
		defer snd.Close()
		defer rcv.Close()
		snds[k] = snd
		f.delays, f.got, f.sent = make([]float64, n), make([]bool, n), make([]int64, n)
		sr, err := rtio.NewStampedConn(rcv)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				k, at, err := sr.Read(buf)
				if err != nil {
					return
				}
				if k < 16 {
					continue
				}
				seq := binary.BigEndian.Uint64(buf)
				if seq >= uint64(n) || f.got[seq] {
					continue // corrupted beyond recognition, or a duplicate
				}
				f.got[seq] = true
				f.delays[seq] = float64(at.UnixNano() - int64(binary.BigEndian.Uint64(buf[8:])))
				f.recvN.Add(1)
			}
		}()
	}
	payload := make([]byte, probePayload)
	// The pacer must not burst after a stall: the burst would queue at the
	// bottleneck and be measured as delay.
	// The first probe of a round wakes host a's reader thread, the others
	// find it awake: a random order per round (seeded) gives every flow
	// the same mixture of the two, so their path noise has one
	// distribution.
	rng := rand.New(rand.NewPCG(uint64(c.opt.Seed), 3))
	order := make([]int, len(snds))
	for k := range order {
		order[k] = k
	}
	if err := pace(c.ctx, pps, n, true, nil, func(i int) {
		binary.BigEndian.PutUint64(payload, uint64(i))
		rng.Shuffle(len(order), func(x, y int) { order[x], order[y] = order[y], order[x] })
		for _, k := range order {
			now := time.Now().UnixNano()
			flows[k].sent[i] = now
			binary.BigEndian.PutUint64(payload[8:], uint64(now))
			_, _ = snds[k].Write(payload)
		}
	}); err != nil {
		return err
	}
	// Wait for stragglers: well past the largest plausible delay.
	deadline := time.Now().Add(wait)
	for _, f := range flows {
		for time.Now().Before(deadline) && f.recvN.Load() < int64(n) {
			select {
			case <-c.ctx.Done():
				return c.ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil // the deferred closes end the receivers
}

func (f *probeFlow) arrived() []float64 {
	var ds []float64
	for i, ok := range f.got {
		if ok {
			ds = append(ds, f.delays[i])
		}
	}
	return ds
}

// addBaseline shows the probe path's own figures, measured on the flow to
// host c: the same sender, host a's TUN device and reader thread as the
// probes through the link, at the same moments, but to a host of a's own
// group, which the fabric forwards unimpaired. What it sees is the sockets,
// the TUN devices and the reader thread on this machine, not the link
// scheduler's timing (which the link's flow includes and nothing
// subtracts). Its variance is the measurement's own noise.
func (c *calib) addBaseline(f *probeFlow, pps float64) error {
	ds := f.arrived()
	if len(ds) < len(f.got)/2 {
		return fmt.Errorf("netem: calibration: only %d of %d baseline probes arrived over an unimpaired path", len(ds), len(f.got))
	}
	mean, std := meanStd(ds)
	slices.Sort(ds)
	c.noiseStd = std
	c.add(Figure{Name: "probe path (unimpaired) mean", Unit: "ms", Measured: mean / 1e6, Tolerance: "-",
		Note: fmt.Sprintf("%d probes at %.0f/s, interleaved with the link's, from host a to a host of its own group (unimpaired): p50 %.3f ms, p99 %.3f ms, max %.3f ms; the sockets, TUN devices and reader thread, not the link",
			len(ds), pps, ds[len(ds)/2]/1e6, ds[(len(ds)-1)*99/100]/1e6, ds[len(ds)-1]/1e6)})
	c.add(Figure{Name: "probe path noise (stddev)", Unit: "ms", Measured: std / 1e6, Tolerance: "-"})
	return nil
}

// probes sends sequence-numbered, timestamped packets well below the rate
// and measures one-way delay, jitter, loss and loss bursts.
func (c *calib) probes() error {
	cfg := c.opt.Config
	n := c.opt.Probes
	pps := c.opt.ProbeRate
	if pps <= 0 {
		pps = 5000
	}
	if cfg.RateBits > 0 {
		// A quarter of the rate, so the bottleneck queue stays empty.
		pps = math.Min(pps, 0.25*float64(cfg.RateBits)/8/(probePayload+ipUDPHeader))
	}
	c.opt.Progress("delay and loss probes (and an unimpaired baseline)")
	if err := c.link.UpdateDirection(netem.Up, cfg); err != nil {
		return err
	}
	if err := c.link.ResetReleaseLateness(netem.Up); err != nil {
		return err
	}
	main, base := &probeFlow{to: c.b, port: 9901}, &probeFlow{to: c.c, port: 9900}
	if err := c.probeRun(n, pps, cfg.Delay+10*cfg.Jitter+500*time.Millisecond, main, base); err != nil {
		return err
	}
	if err := c.addBaseline(base, pps); err != nil {
		return err
	}
	got := main.got
	rel, err := c.link.ReleaseLateness(netem.Up)
	if err != nil {
		return err
	}
	ds := main.arrived()
	if len(ds) < 2 {
		return fmt.Errorf("netem: calibration: only %d of %d probes arrived", len(ds), n)
	}
	rawMean, rawStd := meanStd(ds)
	slices.Sort(ds)
	exp := expectedDelays(cfg, c.opt.Seed)
	ms := func(v float64) float64 { return v / 1e6 }
	if rel.Packets > 0 {
		c.add(Figure{Name: "link release lateness p99", Unit: "ms", Measured: rel.P99.Seconds() * 1e3, Tolerance: "-",
			Note: fmt.Sprintf("how late the link scheduler released %d packets after the model's due time: mean %.1f µs, stddev %.1f µs, p50 %d µs, p90 %d µs, p99 %d µs, max %.3f ms (engine timing; part of every measured delay)",
				rel.Packets, float64(rel.Mean)/1e3, float64(rel.Std)/1e3, rel.P50.Microseconds(), rel.P90.Microseconds(), rel.P99.Microseconds(), rel.Max.Seconds()*1e3)})
	}
	ls, bs, thr, left := stallFiltered(main, base, exp.p99)
	stallNote := fmt.Sprintf("over the %d probes clear of machine stalls (%d left out: in flight while an unimpaired probe took more than %.3f ms, or while the sender was frozen that long)", len(ls), left, ms(thr))
	if len(ls) < 2 || len(bs) < 2 || len(ls) < len(ds)/2 {
		for _, f := range []struct {
			name string
			exp  float64
		}{{"delay mean", exp.mean}, {"delay p50", exp.p50}, {"delay p99", exp.p99}, {"jitter (stddev)", exp.std}} {
			c.add(Figure{Name: f.name, Unit: "ms", Configured: ms(f.exp), Tolerance: "-", Checked: true,
				Note: fmt.Sprintf("%d of %d probes were in flight during a stall of the machine (an unimpaired probe took more than %.3f ms): too busy to measure the link", left, len(ds), ms(thr))})
		}
	} else {
		mean, lstd := meanStd(ls)
		slices.Sort(ls)
		tolMean := math.Max(0.3e6, 0.02*exp.mean)
		c.add(Figure{Name: "delay mean", Unit: "ms", Configured: ms(exp.mean), Measured: ms(mean),
			Tolerance: "max(0.3 ms, 2%)", Checked: true, OK: math.Abs(mean-exp.mean) <= tolMean, Note: stallNote})
		for _, q := range []struct {
			name string
			q    float64
			exp  float64
		}{{"delay p50", 0.50, exp.p50}, {"delay p99", 0.99, exp.p99}} {
			m := ls[int(q.q*float64(len(ls)-1))]
			tol := math.Max(0.5e6, 0.05*q.exp)
			c.add(Figure{Name: q.name, Unit: "ms", Configured: ms(q.exp), Measured: ms(m),
				Tolerance: "max(0.5 ms, 5%)", Checked: true, OK: math.Abs(m-q.exp) <= tol})
		}
		bmean, bstd := meanStd(bs)
		c.add(Figure{Name: "delay mean − probe path mean", Unit: "ms", Configured: ms(exp.mean), Measured: ms(mean - bmean), Tolerance: "-",
			Note: "what the link itself adds on average: the stall-free mean less the unimpaired flow's mean over the same probes; shown for information"})
		c.addJitter(exp, lstd, bstd)
	}
	rawNote := "every probe, including the probe path's own noise and machine stalls; shown for information"
	c.add(Figure{Name: "delay mean, raw", Unit: "ms", Configured: ms(exp.mean), Measured: ms(rawMean), Tolerance: "-", Note: rawNote})
	c.add(Figure{Name: "delay p99, raw", Unit: "ms", Configured: ms(exp.p99), Measured: ms(ds[int(0.99*float64(len(ds)-1))]), Tolerance: "-"})
	c.add(Figure{Name: "jitter (stddev), raw", Unit: "ms", Configured: ms(exp.std), Measured: ms(rawStd), Tolerance: "-"})
	lost := n - len(ds)
	c.add(lossFigure(cfg, n, lost))
	if lost > 0 || expectedLoss(cfg) > 0 {
		c.add(burstFigure(cfg, got))
	}
	return nil
}

// burstFigure judges the mean length of the runs of lost probes (got[i]
// is false when probe i never arrived) against the loss model's, within
// 10% where the model has a closed form.
func burstFigure(cfg netem.LinkConfig, got []bool) Figure {
	lost, bursts, inBurst := 0, 0, false
	for _, ok := range got {
		if !ok {
			lost++
			if !inBurst {
				bursts++
			}
		}
		inBurst = !ok
	}
	mb := 0.0
	if bursts > 0 {
		mb = float64(lost) / float64(bursts)
	}
	eb, known := expectedBurst(cfg)
	f := Figure{Name: "loss burst length (mean)", Unit: "packets", Configured: eb, Measured: mb}
	if known && expectedLoss(cfg) > 0 {
		f.Tolerance, f.Checked, f.OK = "10%", true, math.Abs(mb-eb) <= 0.1*eb
	} else {
		f.Tolerance, f.Note = "-", "no closed form for this loss model; shown for information"
	}
	return f
}

// lossFigure judges lost of n probes against the loss cfg configures: a
// 99% binomial interval, widened for correlated losses; none when no
// loss is configured.
func lossFigure(cfg netem.LinkConfig, n, lost int) Figure {
	p := expectedLoss(cfg)
	measured := float64(lost) / float64(n)
	half := 2.576 * math.Sqrt(p*(1-p)/float64(n)) * math.Sqrt(lossVarianceFactor(cfg))
	f := Figure{Name: "loss", Unit: "%", Configured: 100 * p, Measured: 100 * measured,
		Tolerance: "99% binomial interval", Checked: true}
	f.OK = math.Abs(measured-p) <= half || (p == 0 && lost == 0)
	if p == 0 {
		f.Tolerance = "0 packets"
	}
	if cfg.Corrupt > 0 {
		f.Note = "includes corrupted packets the receiving kernel drops"
	}
	return f
}

type delayExpect struct{ mean, std, p50, p99 float64 }

// expectedDelays derives the delay distribution's figures from the
// configuration by sampling the distribution itself (not the engine): the
// configured mean and standard deviation, and quantiles (which have no
// closed form for paretonormal), truncated at zero as the engine does.
func expectedDelays(cfg netem.LinkConfig, seed int64) delayExpect {
	r := rand.New(rand.NewPCG(uint64(seed)+1, 2))
	const n = 200000
	x := make([]float64, n)
	for i, d := range netem.DrawDelays(cfg, r, n) {
		x[i] = float64(d)
	}
	mean, std := meanStd(x)
	slices.Sort(x)
	if cfg.Jitter == 0 {
		std = 0
	}
	return delayExpect{mean: mean, std: std, p50: x[n/2], p99: x[(n-1)*99/100]}
}

func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	if len(x) > 1 {
		std = math.Sqrt(std / float64(len(x)-1))
	}
	return mean, std
}

// ExpectedLoss is the long-run share of packets a loss model drops.
func ExpectedLoss(l netem.Loss) float64 {
	switch l.Model {
	case netem.LossGilbertElliot:
		if l.P+l.R == 0 {
			return l.LossGood / 100
		}
		bad := l.P / (l.P + l.R)
		return bad*l.LossBad/100 + (1-bad)*l.LossGood/100
	case netem.LossFourState:
		P := [4][4]float64{
			{1 - (l.P13+l.P14)/100, 0, l.P13 / 100, l.P14 / 100},
			{0, 1 - l.P23/100, l.P23 / 100, 0},
			{l.P31 / 100, l.P32 / 100, 1 - (l.P31+l.P32)/100, 0},
			{1, 0, 0, 0},
		}
		pi := [4]float64{1, 0, 0, 0}
		for k := 0; k < 20000; k++ {
			var nx [4]float64
			for i := range 4 {
				for j := range 4 {
					nx[j] += pi[i] * P[i][j]
				}
			}
			pi = nx
		}
		return pi[2] + pi[3]
	default:
		return l.Percent / 100
	}
}

func expectedLoss(cfg netem.LinkConfig) float64 {
	return 1 - (1-ExpectedLoss(cfg.Loss))*(1-cfg.Corrupt/100)
}

// lossVarianceFactor widens the binomial interval for correlated losses.
func lossVarianceFactor(cfg netem.LinkConfig) float64 {
	l := cfg.Loss
	switch l.Model {
	case netem.LossGilbertElliot, netem.LossFourState:
		eb, _ := expectedBurst(cfg)
		if eb < 1 {
			eb = 1
		}
		return 2*eb - 1
	default:
		rho := l.Correlation / 100
		return (1 + rho) / (1 - rho)
	}
}

// expectedBurst is the mean number of consecutive losses, where it has a
// closed form.
func expectedBurst(cfg netem.LinkConfig) (float64, bool) {
	l := cfg.Loss
	switch l.Model {
	case netem.LossGilbertElliot:
		if l.LossBad == 100 && l.LossGood == 0 && l.R > 0 {
			return 100 / l.R, true
		}
		return 0, false
	case netem.LossFourState:
		return 0, false
	default:
		p, rho := l.Percent/100, l.Correlation/100
		if cfg.Corrupt > 0 {
			return 0, false
		}
		q := p + rho*(1-p)
		if q >= 1 {
			return 0, false
		}
		return 1 / (1 - q), true
	}
}

// udpRate offers 110% of the rate in MTU-sized datagrams and measures what
// arrives after the first half second.
func (c *calib) udpRate() error {
	cfg := c.opt.Config
	if err := c.link.UpdateDirection(netem.Up, cfg); err != nil {
		return err
	}
	snd, rcv, err := c.udp(9902)
	if err != nil {
		return err
	}
	defer snd.Close()
	defer rcv.Close()
	size := c.opt.MTU - ipUDPHeader
	pps := 1.1 * float64(cfg.RateBits) / 8 / float64(c.opt.MTU)
	m := newRateMeter(500 * time.Millisecond)
	done, err := receiveAll(rcv, m.add)
	if err != nil {
		return err
	}
	payload := make([]byte, size)
	stop := make(chan struct{})
	timer := time.AfterFunc(c.opt.ThroughputDuration, func() { close(stop) })
	defer timer.Stop()
	var sent atomic.Int64
	start := time.Now()
	before := c.link.Stats()[netem.Up].OfferedBytes
	if err := pace(c.ctx, pps, -1, false, stop, func(int) {
		if _, err := snd.Write(payload); err == nil {
			sent.Add(1)
		}
	}); err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	offered := float64(sent.Load()*int64(c.opt.MTU)*8) / elapsed
	atLink := float64((c.link.Stats()[netem.Up].OfferedBytes-before)*8) / elapsed
	time.Sleep(cfg.Delay + 5*cfg.Jitter + 200*time.Millisecond)
	_ = rcv.Close()
	<-done
	c.add(udpFigure(float64(cfg.RateBits), m.rate(), offered, atLink))
	return nil
}

// udpFigure judges the UDP throughput got (bit/s) against rate when the
// sender offered offered and atLink reached the link: within 2%, or only
// "not above the rate" when the sender could not offer more than the
// rate.
func udpFigure(rate, got, offered, atLink float64) Figure {
	f := Figure{Name: "UDP throughput", Unit: "Mbit/s", Configured: rate / 1e6, Measured: got / 1e6,
		Tolerance: "-2%..+2%", Checked: true}
	f.OK = math.Abs(got-rate) <= 0.02*rate
	switch {
	case offered < rate*1.02:
		f.Note = fmt.Sprintf("sender reached only %.1f Mbit/s: the result is sender-bound; only 'not above the rate' is checked", offered/1e6)
		f.OK = got <= 1.02*rate
	case atLink < rate:
		f.Note = fmt.Sprintf("the sender wrote %.1f Mbit/s but only %.1f Mbit/s reached the link: the fabric's reader could not keep up on this machine (the TUN device dropped the rest)", offered/1e6, atLink/1e6)
	}
	return f
}

// tcpRate measures TCP goodput over the rate and delay of the config with
// loss, corruption, duplication and reordering switched off (those measure
// TCP's congestion control, not the link).
func (c *calib) tcpRate() error {
	cfg := c.opt.Config
	cfg.Loss = netem.Loss{}
	cfg.Corrupt, cfg.Duplicate = 0, 0
	cfg.Reorder = netem.Reorder{}
	cfg.KeepOrder = true
	if err := c.link.UpdateDirection(netem.Up, cfg); err != nil {
		return err
	}
	var ln net.Listener
	if err := c.b.Do(func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(c.b.Address().String(), "9903"))
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	warm := time.Second + 20*(2*cfg.Delay)
	m := newRateMeter(warm)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 256<<10)
		for {
			k, err := conn.Read(buf)
			if k > 0 {
				m.add(time.Now(), k)
			}
			if err != nil {
				return
			}
		}
	}()
	var conn net.Conn
	if err := c.a.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err = d.DialContext(c.ctx, "tcp4", net.JoinHostPort(c.b.Address().String(), "9903"))
		return err
	}); err != nil {
		return err
	}
	// Sample the bottleneck backlog: if it stays empty, something other
	// than the link (sender CPU, TCP windows) limited the flow.
	stopSampling := make(chan struct{})
	var samples, queued atomic.Int64
	go func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				samples.Add(1)
				if c.link.Stats()[netem.Up].QueuePackets >= 2 {
					queued.Add(1)
				}
			}
		}
	}()
	buf := make([]byte, 256<<10)
	deadline := time.Now().Add(warm + c.opt.ThroughputDuration)
	_ = conn.SetWriteDeadline(deadline)
	for time.Now().Before(deadline) && c.ctx.Err() == nil {
		if _, err := conn.Write(buf); err != nil {
			break
		}
	}
	conn.Close()
	wg.Wait()
	close(stopSampling)
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	c.add(tcpFigure(cfg.RateBits, c.opt.MTU, m.rate(), samples.Load(), queued.Load()))
	return nil
}

// tcpFigure judges the TCP goodput got (bit/s) over a link of rateBits
// and mtu, when queued of samples found the link's queue holding at least
// two packets: -5%..+2% of the rate less headers, or only "not above"
// when the queue was mostly empty (TCP was limited before the link).
func tcpFigure(rateBits int64, mtu int, got float64, samples, queued int64) Figure {
	linkBound := samples > 0 && float64(queued) >= 0.5*float64(samples)
	goodput := float64(rateBits) * float64(mtu-tcpIPHeader) / float64(mtu)
	f := Figure{Name: "TCP goodput", Unit: "Mbit/s", Configured: goodput / 1e6, Measured: got / 1e6,
		Tolerance: "-5%..+2%", Checked: true,
		Note: fmt.Sprintf("configured = rate x %d/%d (TCP/IP headers); loss and reordering off", mtu-tcpIPHeader, mtu)}
	f.OK = got >= 0.95*goodput && got <= 1.02*goodput
	if !linkBound && !f.OK {
		f.Note += fmt.Sprintf("; the link's queue was empty %.0f%% of the time: TCP was limited before the link (sender CPU, windows), so only 'not above' is checked",
			100-100*float64(queued)/float64(max(samples, 1)))
		f.OK = got <= 1.02*goodput
	}
	return f
}

// rateMeter measures a throughput from the first byte after a warm-up to
// the last byte.
type rateMeter struct {
	mu          sync.Mutex
	warm        time.Duration
	first       time.Time
	start, last time.Time
	bytes       int64
}

func newRateMeter(warm time.Duration) *rateMeter { return &rateMeter{warm: warm} }

func (m *rateMeter) add(now time.Time, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first.IsZero() {
		m.first = now
	}
	if now.Sub(m.first) < m.warm {
		return
	}
	if m.start.IsZero() {
		m.start = now // this packet marks the start; its bytes are not counted
		return
	}
	m.bytes += int64(n)
	m.last = now
}

func (m *rateMeter) rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last.IsZero() || !m.last.After(m.start) {
		return 0
	}
	return float64(m.bytes*8) / m.last.Sub(m.start).Seconds()
}

// trace saturates a trace-driven link and compares the throughput of every
// second with the trace's capacity in that second.
func (c *calib) trace() error {
	cfg := c.opt.Config
	tr := cfg.Trace
	dur := c.opt.TraceDuration
	if dur <= 0 || dur > tr.Period() {
		dur = tr.Period()
	}
	if dur < 3*time.Second {
		return fmt.Errorf("netem: calibration: replay at least 3 s of the trace (got %s)", dur)
	}
	// Offer 120% of the busiest 50 ms of the trace, so the queue never
	// runs dry.
	peak := int64(0)
	for t := time.Duration(0); t < tr.Period(); t += 50 * time.Millisecond {
		peak = max(peak, tr.CapacityBetween(t, t+50*time.Millisecond))
	}
	pps := 1.2 * float64(peak) / 0.05 / float64(c.opt.MTU)
	if cfg.QueueBytes == 0 && cfg.QueuePackets == 0 {
		cfg.QueuePackets = 1000
	}
	snd, rcv, err := c.udp(9904)
	if err != nil {
		return err
	}
	defer snd.Close()
	defer rcv.Close()
	secs := int(dur / time.Second)
	bins := make([]int64, secs+1)
	var start time.Time
	var mu sync.Mutex
	done, err := receiveAll(rcv, func(at time.Time, ipBytes int) {
		mu.Lock()
		if i := int(at.Sub(start) / time.Second); i >= 0 && i < len(bins) {
			bins[i] += int64(ipBytes)
		}
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	mu.Lock()
	start = time.Now()
	mu.Unlock()
	if err := c.link.UpdateDirection(netem.Up, cfg); err != nil {
		return err
	}
	stop := make(chan struct{})
	timer := time.AfterFunc(dur, func() { close(stop) })
	defer timer.Stop()
	payload := make([]byte, c.opt.MTU-ipUDPHeader)
	if err := pace(c.ctx, pps, -1, false, stop, func(int) { _, _ = snd.Write(payload) }); err != nil {
		return err
	}
	time.Sleep(cfg.Delay + 5*cfg.Jitter + 200*time.Millisecond)
	_ = rcv.Close()
	<-done
	points, f := traceFigure(tr, bins)
	c.res.Trace = append(c.res.Trace, points...)
	c.add(f)
	return nil
}

// traceFigure compares the bytes that arrived in each second of a
// saturated replay of tr (bins[s]: second s) with the trace's capacity in
// that second, leaving out second 0 (it fills the queue) and the last bin
// (cut short): the whole is within 5% or fails.
func traceFigure(tr *netem.Trace, bins []int64) ([]TracePoint, Figure) {
	var points []TracePoint
	var capSum, gotSum float64
	secs := len(bins) - 1
	for s := 1; s < secs; s++ {
		capBits := float64(tr.CapacityBetween(time.Duration(s)*time.Second, time.Duration(s+1)*time.Second) * 8)
		gotBits := float64(bins[s] * 8)
		points = append(points, TracePoint{Second: s, CapacityBits: capBits, MeasuredBits: gotBits})
		capSum += capBits
		gotSum += gotBits
	}
	n := float64(max(secs-1, 1))
	f := Figure{Name: "trace throughput (saturated)", Unit: "Mbit/s", Configured: capSum / n / 1e6, Measured: gotSum / n / 1e6,
		Tolerance: "5%", Checked: true, OK: capSum > 0 && math.Abs(gotSum-capSum) <= 0.05*capSum,
		Note: fmt.Sprintf("%s, seconds 1..%d of the replay", tr.Name, secs-1)}
	return points, f
}

// addJitter checks the delay's standard deviation. The measured spread is
// the link's plus the probe path's own: the sender's and receiver's
// sockets, the TUN devices and the fabric's reader thread. That noise is
// independent of the delay the link draws, so the variances add, and the
// link's own standard deviation is sqrt(measured² − baseline²), with the
// baseline measured on the interleaved unimpaired flow (same sender, same
// reader thread, same moments). The link scheduler's release lateness is
// not in the baseline: it stays in the checked figure. Both spreads are
// taken over the same stall-free probes (stallFiltered).
func (c *calib) addJitter(exp delayExpect, lstd, bstd float64) {
	ms := func(v float64) float64 { return v / 1e6 }
	c.noiseStd = bstd
	corrected := math.Sqrt(math.Max(0, lstd*lstd-bstd*bstd))
	jf := Figure{Name: "jitter (stddev)", Unit: "ms", Configured: ms(exp.std), Measured: ms(corrected),
		Note: fmt.Sprintf("noise-corrected: sqrt(link² − probe path²) = sqrt(%.4f² − %.4f²) ms, both over the same stall-free probes; the probe path's noise is independent of the link's delay, so variances add",
			ms(lstd), ms(bstd))}
	if exp.std > 0 {
		jf.Tolerance, jf.Checked = "10%", true
		jf.OK = math.Abs(corrected-exp.std) <= 0.1*exp.std
	} else {
		// Nothing configured: the engine must add no more than 0.3 ms of
		// spread to what the probe path has anyway.
		jf.Tolerance, jf.Checked, jf.OK = "<= 0.3 ms", true, corrected <= 0.3e6
	}
	c.add(jf)
}

// A stall of the machine (an unimpaired probe taking far longer than
// usual) puts milliseconds into whatever is in flight; the mean, the p99
// and above all the variance of a few such outliers say nothing about the
// link and are too unstable to subtract. So the checked delay figures leave
// out the probes whose flight overlaps a stall seen on the unimpaired flow.
// Which probes are left out depends only on the unimpaired flow and on send
// times, never on the delay the link drew, so the link's distribution over
// what remains is unchanged. The raw figures (every probe) are shown beside
// them, and a note says how many were left out.
//
// stallFiltered returns the delays (ns) of the link's and the unimpaired
// flow's probes that were not in flight during a stall of the machine,
// the stall threshold, and how many link probes it left out. A stall is
// an unimpaired probe slower than max(0.5 ms, 10x the unimpaired median),
// spanning that probe's own flight, or a gap between two successive sends
// longer than the usual gap plus that threshold (the sender was frozen),
// spanning the gap. A probe pair is left out when the
// window from its send time to span later overlaps a stall, span being the
// configured p99 delay plus the threshold.
func stallFiltered(link, base *probeFlow, p99 float64) (ls, bs []float64, thr float64, left int) {
	bd := base.arrived()
	if len(bd) == 0 {
		return nil, nil, 0, len(link.got)
	}
	slices.Sort(bd)
	thr = math.Max(0.5e6, 10*bd[len(bd)/2])
	type span struct{ from, to int64 }
	var stalls []span
	for j, ok := range base.got {
		if ok && base.delays[j] > thr {
			stalls = append(stalls, span{base.sent[j], base.sent[j] + int64(base.delays[j])})
		}
	}
	// A stall that freezes the sender too delays no unimpaired probe (none
	// is sent meanwhile): it shows as a gap in the send times instead.
	var gaps []int64
	for j := 1; j < len(base.sent); j++ {
		gaps = append(gaps, base.sent[j]-base.sent[j-1])
	}
	if len(gaps) > 0 {
		sorted := slices.Clone(gaps)
		slices.Sort(sorted)
		limit := sorted[len(sorted)/2] + int64(thr)
		for j, g := range gaps {
			if g > limit {
				stalls = append(stalls, span{base.sent[j], base.sent[j+1]})
			}
		}
	}
	slices.SortFunc(stalls, func(a, b span) int { return cmpInt64(a.from, b.from) })
	var merged []span
	for _, s := range stalls {
		if k := len(merged) - 1; k >= 0 && s.from <= merged[k].to {
			merged[k].to = max(merged[k].to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	window := int64(p99 + thr)
	k := 0
	for i := range link.got {
		if !link.got[i] {
			continue
		}
		from := link.sent[i]
		to := from + window
		for k < len(merged) && merged[k].to < from {
			k++
		}
		if k < len(merged) && merged[k].from <= to {
			left++
			continue
		}
		ls = append(ls, link.delays[i])
		if base.got[i] {
			bs = append(bs, base.delays[i])
		}
	}
	return ls, bs, thr, left
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// receiveAll reads every datagram arriving on rcv until it is closed and
// tells got its kernel arrival time and its size on the wire (with IP and
// UDP headers); the returned channel closes when it has stopped.
func receiveAll(rcv *net.UDPConn, got func(at time.Time, ipBytes int)) (<-chan struct{}, error) {
	sr, err := rtio.NewStampedConn(rcv)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			k, at, err := sr.Read(buf)
			if err != nil {
				return
			}
			got(at, k+ipUDPHeader)
		}
	}()
	return done, nil
}
