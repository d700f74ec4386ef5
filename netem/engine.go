package netem

import (
	"context"
	"net"
	"time"
)

// Engine is what a testbed provider needs of a link emulator: emulated
// hosts in groups, links between the groups, the links' counters, and
// tear-down. NewEngine returns the userspace engine as one; the kernel
// engine (ApplyKernel) shapes one existing interface and does not build
// hosts and links.
type Engine interface {
	// Name is the testbed name the engine's namespaces carry.
	Name() string
	// AddHost creates (or attaches, see HostSpec) a host.
	AddHost(ctx context.Context, spec HostSpec) (EngineHost, error)
	// Link configures the link between groups a and b: up applies from a
	// to b, down from b to a; calling it again updates the link.
	Link(ctx context.Context, a, b string, up, down LinkConfig) (EngineLink, error)
	// Stats returns the totals of every link and direction.
	Stats() []LinkStats
	// Close removes everything the engine made; it is safe to call twice.
	Close(ctx context.Context) error
}

// EngineHost is an emulated host as a provider sees it: a network
// namespace with an address on the emulated network.
type EngineHost interface {
	Name() string
	Address() net.IP
	// NetnsPath is the namespace's path (for nsenter --net or setns);
	// NetnsName its name under /run/netns, "" when attached.
	NetnsPath() string
	NetnsName() string
	// Do runs fn inside the host's network namespace.
	Do(fn func() error) error
}

// EngineLink is an emulated link as a provider's faults change it.
type EngineLink interface {
	// Name is the link's name in the engine's Stats.
	Name() string
	Update(up, down LinkConfig) error
	Ramp(ctx context.Context, up, down LinkConfig, over time.Duration) error
	Partition(on bool) error
	SetTrace(dir string, t *Trace, once bool) error
}

var (
	_ EngineHost = (*Host)(nil)
	_ EngineLink = (*Link)(nil)
)

// NewEngine returns the userspace engine (NewUserspace) as an Engine.
func NewEngine(ctx context.Context, opts ...Option) (Engine, error) {
	e, err := NewUserspace(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return userspaceEngine{e}, nil
}

// userspaceEngine gives Userspace's hosts and links as the Engine's.
type userspaceEngine struct{ *Userspace }

func (e userspaceEngine) AddHost(ctx context.Context, spec HostSpec) (EngineHost, error) {
	h, err := e.Userspace.AddHost(ctx, spec)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (e userspaceEngine) Link(ctx context.Context, a, b string, up, down LinkConfig) (EngineLink, error) {
	l, err := e.Userspace.Link(ctx, a, b, up, down)
	if err != nil {
		return nil, err
	}
	return l, nil
}
