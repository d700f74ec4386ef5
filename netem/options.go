package netem

import (
	"hash/fnv"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

type options struct {
	reg      prometheus.Registerer
	stateDir string
	clock    Clock
	seed     int64
	name     string
	subnet   *net.IPNet
	mtu      int
	priority bool
	precise  bool
}

// Option configures an engine.
type Option func(*options)

// WithRegisterer registers the link counters on reg (none by default).
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithStateDir sets where the record of created namespaces is kept
// (default DefaultStateDir()).
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithClock sets the engine's clock (default the wall clock).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithSeed seeds every random draw of every link.
func WithSeed(seed int64) Option { return func(o *options) { o.seed = seed } }

// WithName names the testbed; it is part of every namespace name and of the
// state record's file name (see CheckName). Default: random.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithSubnet sets the IPv4 subnet hosts are numbered from (default
// 10.240.0.0/16). Every host gets a route to the whole subnet through its
// TUN device.
func WithSubnet(n *net.IPNet) Option { return func(o *options) { o.subnet = n } }

// WithMTU sets the TUN devices' MTU (default 1500).
func WithMTU(mtu int) Option { return func(o *options) { o.mtu = mtu } }

// WithForwardingPriority (true, the default) runs the forwarding threads
// at a low real-time priority while they are not saturated, where the
// process may (CAP_SYS_NICE), which keeps emulated delays exact on a busy
// machine; see prio_linux.go.
func WithForwardingPriority(on bool) Option { return func(o *options) { o.priority = on } }

// WithPreciseRelease (true, the default) makes a link's scheduler wake a
// little before a packet is due and spin for the last tens of microseconds,
// instead of relying on the timer alone, which on a virtual machine fires
// tens of microseconds late. The spin is bounded (release.go) and happens
// only when a packet is due that soon; false trades that CPU for timer
// precision.
func WithPreciseRelease(on bool) Option { return func(o *options) { o.precise = on } }

// linkSeed derives a direction's seed from the engine seed and its name, so
// adding a link does not change the draws of the others.
func linkSeed(seed int64, link, dir string) int64 {
	h := fnv.New64a()
	h.Write([]byte(link))
	h.Write([]byte{0})
	h.Write([]byte(dir))
	return seed ^ int64(h.Sum64())
}
