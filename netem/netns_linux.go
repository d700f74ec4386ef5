package netem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live (as with `ip netns`).
const NetnsDir = "/run/netns"

var (
	// ErrPermission means the engine may not create namespaces or devices.
	ErrPermission = errors.New("netem: permission denied: the userspace engine needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), or a user namespace with its own network and mount namespaces (unshare --user --map-root-user --net --mount)")
	// ErrNoTUN means /dev/net/tun is missing.
	ErrNoTUN = errors.New("netem: /dev/net/tun is missing: load the tun module (modprobe tun) or create the node (mkdir -p /dev/net && mknod /dev/net/tun c 10 200)")
)

func permErr(op string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w", op, ErrPermission)
	}
	return fmt.Errorf("netem: %s: %w", op, err)
}

// inNetns runs fn on an OS thread switched into ns, then switches back.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return permErr("enter network namespace", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with the goroutine instead of
		// running other goroutines in the wrong namespace.
		return errors.Join(ferr, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// inUserNamespace reports whether the process runs in a user namespace
// other than the initial one (rootless: unshare --user --map-root-user).
func inUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// netnsDirUsable makes sure named namespaces can be created. Rootless, in
// a user namespace with its own mount namespace, the host's /run/netns
// belongs to the real root: a private tmpfs is mounted over it, visible
// only inside this mount namespace. Never done in the initial user
// namespace.
func netnsDirUsable() error {
	err := os.MkdirAll(NetnsDir, 0o755)
	if err == nil {
		probe := filepath.Join(NetnsDir, fmt.Sprintf(".es-probe-%d", os.Getpid()))
		f, ferr := os.OpenFile(probe, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o444)
		if ferr == nil {
			f.Close()
			_ = os.Remove(probe)
			return nil
		}
		err = ferr
	}
	if !inUserNamespace() || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS)) {
		return permErr("create "+NetnsDir, err)
	}
	if merr := unix.Mount("tmpfs", NetnsDir, "tmpfs", 0, "mode=0755"); merr != nil {
		return fmt.Errorf("netem: rootless: %s is not writable and a private tmpfs cannot be mounted over it (%v): %w", NetnsDir, merr, ErrPermission)
	}
	return nil
}

// createNetns creates the named namespace and returns a handle to it. A
// name that already exists is someone else's (or another run's): it is left
// exactly as it is and the error wraps os.ErrExist. On other failures only
// what this call made is removed.
func createNetns(name string) (netns.NsHandle, error) {
	if err := netnsDirUsable(); err != nil {
		return netns.None(), err
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return netns.None(), err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	// NewNamed creates the name with O_EXCL: EEXIST means it made nothing.
	ours := !errors.Is(err, os.ErrExist)
	if serr := netns.Set(orig); serr != nil {
		if h.IsOpen() {
			h.Close()
		}
		if ours {
			_, _ = deleteNetns(name)
		}
		return netns.None(), errors.Join(err, serr) // thread stays locked and dies
	}
	runtime.UnlockOSThread()
	if !ours {
		return netns.None(), fmt.Errorf("netem: network namespace %s already exists and is not this run's; run `edgesim clean` or choose another testbed name: %w", name, os.ErrExist)
	}
	if err != nil {
		_, _ = deleteNetns(name)
		return netns.None(), permErr("create network namespace "+name, err)
	}
	return h, nil
}

// deleteNetns unmounts and removes a named namespace; removed is false when
// it did not exist.
func deleteNetns(name string) (removed bool, err error) {
	p := filepath.Join(NetnsDir, name)
	if _, err := os.Lstat(p); os.IsNotExist(err) {
		return false, nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return false, permErr("unmount "+p, err)
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return false, permErr("remove "+p, err)
	}
	return true, nil
}

// OpenTUN creates a TUN device named name (no packet information
// header) in the network namespace of the calling thread and returns its
// non-blocking descriptor; the device goes away when it is closed.
func OpenTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			return -1, ErrNoTUN
		}
		if errors.Is(err, unix.EACCES) && inUserNamespace() {
			return -1, fmt.Errorf("netem: rootless: /dev/net/tun is not readable and writable by this user (most distributions ship it with mode 0666; here: chmod 0666 /dev/net/tun as root): %w", ErrPermission)
		}
		return -1, permErr("open /dev/net/tun", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, permErr("create TUN device "+name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
