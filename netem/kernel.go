package netem

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Engine names accepted by SelectEngine.
const (
	EngineAuto      = "auto"
	EngineUserspace = "userspace"
	EngineKernel    = "kernel"
	EngineInproc    = "inproc"
)

var (
	// ErrNoSchNetem means the kernel cannot run tc netem here.
	ErrNoSchNetem = errors.New("netem: the kernel has no sch_netem (modprobe sch_netem, or install the kernel's extra modules); use the userspace engine")
	// ErrKernelUnsupported means a LinkConfig uses something tc netem/tbf
	// cannot express through this engine.
	ErrKernelUnsupported = errors.New("netem: not supported by the kernel engine; use the userspace engine")
)

// KernelQdiscs builds the qdiscs that apply cfg to the egress of the
// interface with index ifindex: a root netem qdisc (handle 1:) for delay,
// jitter, loss, duplication, corruption and reordering, and, when RateBits is
// set, a tbf child (handle 2:, parent 1:1) for the rate and queue. It is a
// pure function; ApplyKernel installs the result.
//
// netem's jitter is the standard deviation of its normal table, as here.
// What tc netem cannot do through this engine (traces, Gilbert-Elliott and
// 4-state loss, non-normal distributions, drophead) is an error wrapping
// ErrKernelUnsupported.
func KernelQdiscs(cfg LinkConfig, ifindex int) ([]netlink.Qdisc, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	unsupported := func(what string) error { return fmt.Errorf("%s: %w", what, ErrKernelUnsupported) }
	switch {
	case cfg.Trace != nil:
		return nil, unsupported("Mahimahi traces")
	case cfg.Loss.Model != "" && cfg.Loss.Model != LossBernoulli:
		return nil, unsupported("loss model " + string(cfg.Loss.Model))
	case cfg.Distribution != "" && cfg.Distribution != DistNormal && cfg.Jitter > 0:
		return nil, unsupported("delay distribution " + string(cfg.Distribution))
	case cfg.Queue == DropHead:
		return nil, unsupported("drophead queues")
	case cfg.KeepOrder && cfg.Jitter > 0:
		return nil, unsupported("jitter without reordering")
	}
	loss := cfg.Loss.Percent
	if cfg.Partition {
		loss = 100
	}
	us := func(d interface{ Microseconds() int64 }) uint32 {
		v := d.Microseconds()
		if v > math.MaxUint32 {
			v = math.MaxUint32
		}
		return uint32(v)
	}
	limB, limP := cfg.queueLimits()
	netemLimit := uint32(1000)
	if !cfg.shaped() && limP > 0 {
		netemLimit = uint32(limP)
	}
	root := netlink.NewNetem(netlink.QdiscAttrs{
		LinkIndex: ifindex,
		Parent:    netlink.HANDLE_ROOT,
		Handle:    netlink.MakeHandle(1, 0),
	}, netlink.NetemQdiscAttrs{
		Latency:       us(cfg.Delay),
		Jitter:        us(cfg.Jitter),
		DelayCorr:     float32(cfg.DelayCorrelation),
		Limit:         netemLimit,
		Loss:          float32(loss),
		LossCorr:      float32(cfg.Loss.Correlation),
		Duplicate:     float32(cfg.Duplicate),
		DuplicateCorr: float32(cfg.DuplicateCorrelation),
		ReorderProb:   float32(cfg.Reorder.Percent),
		ReorderCorr:   float32(cfg.Reorder.Correlation),
		Gap:           uint32(cfg.Reorder.Gap),
		CorruptProb:   float32(cfg.Corrupt),
		CorruptCorr:   float32(cfg.CorruptCorrelation),
	})
	out := []netlink.Qdisc{root}
	if cfg.RateBits > 0 {
		rate := uint64(cfg.RateBits / 8) // tbf counts bytes per second
		burst := uint32(cfg.burst())
		limit := uint32(limB)
		if limit == 0 {
			limit = uint32(limP) * 1514
		}
		out = append(out, &netlink.Tbf{
			QdiscAttrs: netlink.QdiscAttrs{
				LinkIndex: ifindex,
				Parent:    netlink.MakeHandle(1, 1),
				Handle:    netlink.MakeHandle(2, 0),
			},
			Rate:   rate,
			Limit:  limit,
			Buffer: netlink.Xmittime(rate, burst),
		})
	}
	return out, nil
}

// linkAt opens a netlink handle in the namespace at nsPath and finds
// interface ifname there; closeH closes the handle.
func linkAt(nsPath, ifname string) (h *netlink.Handle, link netlink.Link, closeH func(), err error) {
	h, closeH, err = handleAt(nsPath)
	if err != nil {
		return nil, nil, nil, err
	}
	if link, err = h.LinkByName(ifname); err != nil {
		closeH()
		return nil, nil, nil, fmt.Errorf("netem: interface %s: %w", ifname, err)
	}
	return h, link, closeH, nil
}

// ApplyKernel replaces the qdiscs of interface ifname in the network
// namespace at nsPath ("" = the current one) with those of cfg.
func ApplyKernel(ctx context.Context, nsPath, ifname string, cfg LinkConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, link, closeH, err := linkAt(nsPath, ifname)
	if err != nil {
		return err
	}
	defer closeH()
	qs, err := KernelQdiscs(cfg, link.Attrs().Index)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if err := h.QdiscReplace(q); err != nil {
			if q.Type() == "netem" && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
				return fmt.Errorf("%s: %w", ifname, ErrNoSchNetem)
			}
			return permErr(fmt.Sprintf("tc %s on %s", q.Type(), ifname), err)
		}
	}
	return nil
}

// ClearKernel removes the root qdisc ApplyKernel installed.
func ClearKernel(ctx context.Context, nsPath, ifname string) error {
	h, link, closeH, err := linkAt(nsPath, ifname)
	if err != nil {
		return err
	}
	defer closeH()
	err = h.QdiscDel(&netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)}, QdiscType: "netem"})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return permErr("remove qdisc on "+ifname, err)
	}
	return ctx.Err()
}

func handleAt(nsPath string) (*netlink.Handle, func(), error) {
	if nsPath == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, nil, permErr("netlink", err)
		}
		return h, h.Close, nil
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, nil, permErr("open "+nsPath, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, permErr("netlink in "+nsPath, err)
	}
	return h, func() { h.Close(); ns.Close() }, nil
}

// KernelAvailable reports whether tc netem works here, by installing a
// netem qdisc on a veth pair in a throw-away namespace (nothing is
// left behind). It returns nil, ErrNoSchNetem or the reason it could not
// tell.
func KernelAvailable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := fmt.Sprintf("%sprobe-%d", Prefix, os.Getpid())
	ns, err := createNetns(name)
	if err != nil {
		return err
	}
	defer func() {
		ns.Close()
		_, _ = deleteNetns(name)
	}()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return permErr("netlink", err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "es-probe"}, PeerName: "es-probe1"}); err != nil {
		return permErr("create veth pair", err)
	}
	link, err := h.LinkByName("es-probe")
	if err != nil {
		return err
	}
	q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)},
		netlink.NetemQdiscAttrs{Latency: 1000})
	if err := h.QdiscAdd(q); err != nil {
		return fmt.Errorf("%w (tc said: %v)", ErrNoSchNetem, err)
	}
	return nil
}

// SelectEngine resolves an engine name: "auto" picks kernel only when
// KernelAvailable says so, else userspace; "kernel" fails with the reason
// when it is not available. It never falls back silently.
func SelectEngine(ctx context.Context, name string) (string, error) {
	switch name {
	case EngineUserspace, EngineInproc:
		return name, nil
	case EngineKernel:
		if err := KernelAvailable(ctx); err != nil {
			return "", err
		}
		return EngineKernel, nil
	case "", EngineAuto:
		if KernelAvailable(ctx) == nil {
			return EngineKernel, nil
		}
		return EngineUserspace, nil
	}
	return "", fmt.Errorf("netem: engine %q: use auto, userspace, kernel or inproc", name)
}
