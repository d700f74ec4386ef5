// Package nodeimage builds kind node images without an image registry:
// Kubernetes, etcd, CoreDNS, containerd, runc, crictl and the CNI plugins
// are built from source fetched through the Go module proxy, the OS layer
// comes from Debian packages (debootstrap), and the control-plane, CNI and
// pause images are assembled locally and preloaded into the node's
// containerd the way kind preloads them.
//
// Builds are cached under a directory keyed by every version that went into
// them (Versions.Key); a finished image is tagged Versions.Tag(), and only a
// complete build is ever tagged.
package nodeimage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultCacheDir is where builds are cached unless WithCacheDir says otherwise.
const DefaultCacheDir = "/var/cache/edgesim/kind"

// DefaultMirror is the Debian mirror debootstrap uses.
const DefaultMirror = "http://deb.debian.org/debian"

// rootfsPackages are installed into the node's OS layer, following kind's
// base image.
var rootfsPackages = []string{
	"systemd", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod",
	"libseccomp2", "pigz", "fuse-overlayfs", "bash", "ca-certificates", "curl", "jq", "procps", "busybox-static",
}

// Option configures a Builder.
type Option func(*Builder)

// WithCacheDir sets the cache directory (default DefaultCacheDir).
func WithCacheDir(dir string) Option { return func(b *Builder) { b.cacheDir = dir } }

// WithLog sends build progress and the output of build commands to w.
func WithLog(w io.Writer) Option { return func(b *Builder) { b.log = w } }

// WithProgress sends only the builder's own progress lines (steps, cache
// hits, the result) to w, without the build commands' output.
func WithProgress(w io.Writer) Option { return func(b *Builder) { b.progress = w } }

// WithRuntime selects the container runtime CLI, "podman" (default) or "docker".
func WithRuntime(name string) Option { return func(b *Builder) { b.runtime = name } }

// WithMirror sets the Debian mirror for debootstrap.
func WithMirror(url string) Option { return func(b *Builder) { b.mirror = url } }

// WithRebuild ignores a cached image and builds again.
func WithRebuild(rebuild bool) Option { return func(b *Builder) { b.rebuild = rebuild } }

// WithClock replaces time.Now for the durations in Result.
func WithClock(now func() time.Time) Option { return func(b *Builder) { b.now = now } }

// Builder builds one node image.
type Builder struct {
	v        Versions
	cacheDir string
	log      io.Writer
	progress io.Writer
	runtime  string
	mirror   string
	rebuild  bool
	now      func() time.Time
}

// New returns a Builder for the given versions (see ResolveVersions).
func New(v Versions, opts ...Option) *Builder {
	b := &Builder{v: v, cacheDir: DefaultCacheDir, runtime: "podman", mirror: DefaultMirror, now: time.Now}
	for _, o := range opts {
		o(b)
	}
	// Steps run side by side and write to the log and the progress; one
	// lock covers both, in case a caller passes one writer as both.
	mu := &sync.Mutex{}
	if b.log != nil {
		b.log = &lockedWriter{mu: mu, w: b.log}
	}
	if b.progress != nil {
		b.progress = &lockedWriter{mu: mu, w: b.progress}
	}
	return b
}

// Result describes a build.
type Result struct {
	Image    string
	Versions Versions
	// Cached is true when an existing image was reused.
	Cached bool
	// Steps are the durations of the build's steps, in the order they
	// ended. The debootstrap runs beside the Go builds, so the steps add
	// up to more than Total.
	Steps []Step
	Total time.Duration
}

// Step is one timed part of a build.
type Step struct {
	Name     string
	Duration time.Duration
}

func (b *Builder) logf(format string, args ...any) {
	for _, w := range []io.Writer{b.log, b.progress} {
		if w != nil {
			fmt.Fprintf(w, "nodeimage: "+format+"\n", args...)
		}
	}
}

// Image is the reference a finished build is tagged with.
func (b *Builder) Image() string { return b.v.Tag() }

// Cached reports whether the finished image is already in the runtime's store.
func (b *Builder) Cached(ctx context.Context) bool {
	_, err := ImageID(ctx, b.runtime, b.Image())
	return err == nil
}

// ImageID is the ID of image ref in the store of the container runtime CLI
// runtime (an error when the store does not have it).
func ImageID(ctx context.Context, runtime, ref string) (string, error) {
	out, err := exec.CommandContext(ctx, runtime, "image", "inspect", "--format", "{{.Id}}", ref).Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Check verifies, quickly and before any long step, that the build can run:
// root, the host tools, and that the Kubernetes release exists on the Go
// module proxy.
func (b *Builder) Check(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: debootstrap, chroot and the container runtime's image store need root; run as root", ErrNotRoot)
	}
	var missing []string
	for _, tool := range []string{"go", "gcc", "pkg-config", "debootstrap", "chroot", "tar", "nice", b.runtime} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not on PATH; install them with hack/kind/install-deps.sh (as root)", ErrMissingTool, strings.Join(missing, ", "))
	}
	if _, err := os.Stat("/usr/include/seccomp.h"); err != nil {
		return fmt.Errorf("%w: libseccomp-dev (runc is built with seccomp); install it with hack/kind/install-deps.sh", ErrMissingTool)
	}
	module := "k8s.io/kubernetes@" + b.v.Kubernetes
	if b.v.Source != "" {
		module = b.v.Source
	}
	out, err := output(ctx, nil, command{step: "check " + module, env: goEnv(false), name: "go",
		args: []string{"list", "-m", "-json", module}})
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && ctx.Err() == nil {
			return &VersionError{Version: b.v.Kubernetes, Reason: "the Go module proxy does not serve " + module + ": " + strings.TrimSpace(lastLine(ce.Output))}
		}
		return err
	}
	var info struct{ Error *struct{ Err string } }
	if json.Unmarshal(out, &info) == nil && info.Error != nil {
		return &VersionError{Version: b.v.Kubernetes, Reason: "the Go module proxy does not serve " + module + ": " + info.Error.Err}
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Build returns the cached image if there is one, and otherwise builds it.
func (b *Builder) Build(ctx context.Context) (Result, error) {
	start := b.now()
	res := Result{Image: b.Image(), Versions: b.v}
	if !b.rebuild && b.Cached(ctx) {
		res.Cached = true
		b.logf("image %s is cached", res.Image)
		return res, nil
	}
	if err := b.Check(ctx); err != nil {
		return res, err
	}
	unlock, err := b.lock(ctx)
	if err != nil {
		return res, err
	}
	defer unlock()
	if !b.rebuild && b.Cached(ctx) {
		res.Cached = true
		return res, nil
	}
	var mu sync.Mutex // the first two steps run side by side
	timed := func(name string, f func() error) error {
		t := b.now()
		b.logf("step %s", name)
		err := f()
		mu.Lock()
		res.Steps = append(res.Steps, Step{Name: name, Duration: b.now().Sub(t)})
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("node image %s: %s: %w", b.v.Kubernetes, name, err)
		}
		return nil
	}

	work, err := os.MkdirTemp(b.cacheDir, "work-"+b.v.Key()+"-")
	if err != nil {
		if err := os.MkdirAll(b.cacheDir, 0o755); err != nil {
			return res, err
		}
		if work, err = os.MkdirTemp(b.cacheDir, "work-"+b.v.Key()+"-"); err != nil {
			return res, err
		}
	}
	defer os.RemoveAll(work)

	// Debian's root file system (mostly downloads and disk) is made beside
	// the Go builds (CPU): neither needs the other before the rootfs is
	// assembled. In the cold CI run this made the build 28 min 53 s
	// instead of 30 min 50 s (docs/k3s.md, CI).
	base := ""
	bins := map[string]string{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return timed("debootstrap (concurrent)", func() error {
			var err error
			base, err = b.debootstrap(gctx)
			return err
		})
	})
	g.Go(func() error { return timed("go builds", func() error { return b.buildAll(gctx, bins) }) })
	if err := g.Wait(); err != nil {
		return res, err
	}
	var refs imageRefs
	if err := timed("check kubeadm images", func() error { refs, err = b.imageRefs(ctx, bins); return err }); err != nil {
		return res, err
	}
	rootfs := filepath.Join(work, "rootfs")
	if err := timed("assemble rootfs", func() error { return b.assembleRootfs(ctx, base, rootfs, bins) }); err != nil {
		return res, err
	}
	archives := filepath.Join(work, "images")
	var preloaded []string
	if err := timed("preload image archives", func() error { preloaded, err = b.writeImages(ctx, rootfs, bins, refs, archives); return err }); err != nil {
		return res, err
	}
	if err := timed("import and commit", func() error { return b.commit(ctx, rootfs, archives, preloaded) }); err != nil {
		return res, err
	}
	res.Total = b.now().Sub(start)
	rec, _ := json.MarshalIndent(res, "", "  ")
	_ = os.MkdirAll(filepath.Join(b.cacheDir, "images"), 0o755)
	_ = os.WriteFile(filepath.Join(b.cacheDir, "images", b.v.Key()+".json"), rec, 0o644)
	b.logf("image %s built in %s", res.Image, res.Total.Round(time.Second))
	return res, nil
}

// imageRefs names the preloaded images after the built kubeadm's list and
// kind's containerd config, checked against the version pins.
func (b *Builder) imageRefs(ctx context.Context, bins map[string]string) (imageRefs, error) {
	out, err := output(ctx, nil, command{step: "kubeadm config images list", name: filepath.Join(bins["kubernetes"], "kubeadm"),
		args: []string{"config", "images", "list", "--kubernetes-version", b.v.Kubernetes}})
	if err != nil {
		return imageRefs{}, err
	}
	kindDir, err := b.moduleDir(ctx, "sigs.k8s.io/kind", b.v.Kind)
	if err != nil {
		return imageRefs{}, err
	}
	cfg, err := os.ReadFile(filepath.Join(kindDir, "images", "base", "files", "etc", "containerd", "config.toml"))
	if err != nil {
		return imageRefs{}, err
	}
	sandbox, err := sandboxImage(cfg)
	if err != nil {
		return imageRefs{}, err
	}
	return refsFrom(b.v, out, sandbox)
}

func (b *Builder) buildAll(ctx context.Context, bins map[string]string) error {
	var staging map[string]string
	if b.v.Source == "" {
		kdir, err := b.moduleDir(ctx, "k8s.io/kubernetes", b.v.Kubernetes)
		if err != nil {
			return err
		}
		gomod, err := os.ReadFile(filepath.Join(kdir, "go.mod"))
		if err != nil {
			return err
		}
		if staging = stagingModules(gomod, b.v.Staging); len(staging) == 0 {
			return fmt.Errorf("k8s.io/kubernetes@%s: go.mod lists no staging modules", b.v.Kubernetes)
		}
	}
	comps, err := components(b.v, staging)
	if err != nil {
		return err
	}
	for _, c := range comps {
		dir, err := b.buildComponent(ctx, c)
		if err != nil {
			return err
		}
		bins[c.Name] = dir
	}
	if b.v.Source != "" {
		// One build in the source's graph made containerd and crictl too.
		bins["containerd"], bins["crictl"] = bins["kubernetes"], bins["kubernetes"]
	}
	return nil
}

// debootstrap returns a cached Debian root file system with rootfsPackages,
// creating it when needed.
func (b *Builder) debootstrap(ctx context.Context) (string, error) {
	key := shortHash(b.v.Debian + "\n" + b.mirror + "\n" + strings.Join(rootfsPackages, ","))
	final := filepath.Join(b.cacheDir, "rootfs", b.v.Debian+"-"+key)
	if _, err := os.Stat(filepath.Join(final, ".edgesim-complete")); err == nil {
		b.logf("reuse Debian %s root file system", b.v.Debian)
		return final, nil
	}
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return "", err
	}
	err := run(ctx, b.log, command{step: "debootstrap", nice: true, name: "debootstrap",
		args: []string{"--variant=minbase", "--include=" + strings.Join(rootfsPackages, ","), b.v.Debian, tmp, b.mirror}})
	if err != nil {
		unmountUnder(tmp)
		_ = os.RemoveAll(tmp)
		return "", err
	}
	for _, junk := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		_ = clearDir(filepath.Join(tmp, junk))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".edgesim-complete"), nil, 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(final)
	return final, os.Rename(tmp, final)
}

// unmountUnder lazily unmounts anything debootstrap left mounted below dir.
func unmountUnder(dir string) {
	for _, m := range []string{"proc", "sys", "dev/pts", "dev"} {
		_ = exec.Command("umount", "-l", filepath.Join(dir, m)).Run()
	}
}

func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() == "partial" {
			continue
		}
		if !e.IsDir() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

// lock takes an exclusive lock on the cache directory, so that two builds
// never write the same cache entries; it waits while another build runs.
func (b *Builder) lock(ctx context.Context) (unlock func(), err error) {
	return LockDir(ctx, b.cacheDir, func() { b.logf("waiting for another build using %s", b.cacheDir) })
}

// LockDir takes an exclusive lock on dir (creating it), calling waiting
// once if another holder makes it wait. unlock releases it.
func LockDir(ctx context.Context, dir string, waiting func()) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if !waited && waiting != nil {
			waiting()
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// assembleRootfs copies the Debian base into rootfs and adds kind's base
// files, the built binaries and the node's manifests.
func (b *Builder) assembleRootfs(ctx context.Context, base, rootfs string, bins map[string]string) error {
	if err := run(ctx, b.log, command{step: "copy rootfs", name: "cp", args: []string{"-a", base, rootfs}}); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(rootfs, ".edgesim-complete"))
	kindDir, err := b.moduleDir(ctx, "sigs.k8s.io/kind", b.v.Kind)
	if err != nil {
		return err
	}
	files := filepath.Join(kindDir, "images", "base", "files")
	err = filepath.WalkDir(files, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(files, p)
		mode := os.FileMode(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
			mode = 0o755
		}
		return copyFile(p, filepath.Join(rootfs, rel), mode)
	})
	if err != nil {
		return fmt.Errorf("kind base files: %w", err)
	}
	// What kind's base Dockerfile does after installing packages.
	for _, glob := range []string{
		"lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
		"lib/systemd/system/multi-user.target.wants/*", "etc/systemd/system/*.wants/*",
		"lib/systemd/system/local-fs.target.wants/*", "lib/systemd/system/sockets.target.wants/*udev*",
		"lib/systemd/system/sockets.target.wants/*initctl*", "lib/systemd/system/basic.target.wants/*",
	} {
		matches, _ := filepath.Glob(filepath.Join(rootfs, glob))
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
	if err := appendFile(filepath.Join(rootfs, "etc/systemd/journald.conf"), "ReadKMsg=no\n"); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(rootfs, "sbin/init"))
	if err := os.Symlink("/lib/systemd/systemd", filepath.Join(rootfs, "sbin/init")); err != nil {
		return err
	}
	chroot := func(step string, args ...string) ([]byte, error) {
		return output(ctx, b.log, command{step: step, name: "chroot", args: append([]string{rootfs}, args...)})
	}
	if _, err := chroot("enable services", "systemctl", "enable", "kubelet.service", "containerd.service", "undo-mount-hacks.service"); err != nil {
		return err
	}
	if _, err := chroot("mask binfmt", "systemctl", "mask", "systemd-binfmt.service"); err != nil {
		return err
	}
	for _, d := range []string{"etc/kubernetes/manifests", "opt/cni/bin", "kind/manifests"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	place := map[string][]string{
		"usr/bin":        {"kubernetes/kubeadm", "kubernetes/kubelet", "kubernetes/kubectl"},
		"usr/local/bin":  {"containerd/containerd", "containerd/ctr", "containerd/containerd-shim-runc-v2", "crictl/crictl"},
		"usr/local/sbin": {"runc/runc"},
		"opt/cni/bin":    {"cni-plugins/host-local", "cni-plugins/loopback", "cni-plugins/ptp", "cni-plugins/portmap"},
	}
	for dir, list := range place {
		for _, item := range list {
			comp, file, _ := strings.Cut(item, "/")
			if err := copyFile(filepath.Join(bins[comp], file), filepath.Join(rootfs, dir, file), 0o755); err != nil {
				return err
			}
		}
	}
	spec, err := chroot("ctr oci spec", "/usr/local/bin/ctr", "oci", "spec")
	if err != nil {
		return err
	}
	criBase, err := criBaseSpec(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/containerd/cri-base.json"), criBase, 0o644); err != nil {
		return err
	}
	cfgPath := filepath.Join(rootfs, "etc/containerd/config.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	if cfg, err = patchContainerdConfig(cfg, b.v.Source != ""); err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}
	cni, err := CNIManifest(cniImage(b.v))
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		"kind/version":                    []byte(b.v.Kubernetes),
		"kind/edgesim-versions":           []byte(b.v.String()),
		"kind/manifests/default-cni.yaml": cni,
	} {
		if err := os.WriteFile(filepath.Join(rootfs, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst)
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

func appendFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeImages writes one archive per preloaded image into dir.
func (b *Builder) writeImages(ctx context.Context, rootfs string, bins map[string]string, r imageRefs, dir string) ([]string, error) {
	out, err := output(ctx, nil, command{step: "busybox --list", name: filepath.Join(rootfs, "bin/busybox"), args: []string{"--list"}})
	if err != nil {
		return nil, err
	}
	applets := strings.Fields(string(out))
	imgs, err := preloadImages(r, bins, rootfs, applets)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	refs := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := writeArchive(img, filepath.Join(dir, archiveName(img.Ref))); err != nil {
			return nil, err
		}
		refs = append(refs, img.Ref)
	}
	return refs, nil
}

func randomSuffix() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// commit imports rootfs as a base image, starts a build container from it,
// imports the preload archives into its containerd, and commits the result.
// Only the last step tags the final name; everything temporary is removed,
// also when ctx is cancelled.
func (b *Builder) commit(ctx context.Context, rootfs, archives string, refs []string) (err error) {
	id := b.v.Key() + "-" + randomSuffix()
	baseTag := "localhost/edgesim/kind-node-build:base-" + id
	builtTag := "localhost/edgesim/kind-node-build:" + id
	container := "edgesim-kind-build-" + id
	cleanup := context.WithoutCancel(ctx)
	rt := func(ctx context.Context, step string, args ...string) ([]byte, error) {
		return output(ctx, nil, command{step: step, name: b.runtime, args: args})
	}
	defer func() {
		cctx, cancel := context.WithTimeout(cleanup, 2*time.Minute)
		defer cancel()
		_, _ = rt(cctx, "remove build container", "rm", "-f", "-v", container)
		if _, err := rt(cctx, "remove base image", "rmi", "-f", baseTag); err != nil {
			// The committed image still uses the base layers; drop the name.
			_, _ = rt(cctx, "untag base image", "untag", baseTag)
		}
		_, _ = rt(cctx, "remove temporary tag", "rmi", builtTag)
	}()

	pipe := fmt.Sprintf("tar --numeric-owner --xattrs --xattrs-include='*' -C %s -cf - . | %s import "+
		"--change 'ENTRYPOINT [\"/usr/local/bin/entrypoint\", \"/sbin/init\"]' --change 'ENV container=docker' "+
		"--change 'STOPSIGNAL SIGRTMIN+3' - %s", shellQuote(rootfs), b.runtime, baseTag)
	if err := run(ctx, nil, command{step: "import rootfs", nice: true, name: "bash", args: []string{"-o", "pipefail", "-c", pipe}}); err != nil {
		return err
	}
	if _, err := rt(ctx, "start build container", "run", "-d", "--name", container, "--entrypoint", `["sleep","infinity"]`,
		"--security-opt", "seccomp=unconfined", "-v", archives+":/kind-preload:ro", baseTag); err != nil {
		return err
	}
	exec := func(step string, args ...string) ([]byte, error) {
		return rt(ctx, step, append([]string{"exec", container}, args...)...)
	}
	if _, err := exec("start containerd", "bash", "-c", "nohup containerd >/tmp/containerd.log 2>&1 &"); err != nil {
		return err
	}
	var ready error
	for i := 0; i < 60; i++ {
		if _, ready = exec("wait for containerd", "ctr", "version"); ready == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if ready != nil {
		log, _ := exec("containerd log", "cat", "/tmp/containerd.log")
		return fmt.Errorf("containerd in the build container never became ready: %w\n%s", ready, log)
	}
	entries, err := os.ReadDir(archives)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tar") {
			continue
		}
		if _, err := exec("import "+e.Name(), "ctr", "--namespace=k8s.io", "images", "import",
			"--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "/kind-preload/"+e.Name()); err != nil {
			return err
		}
	}
	listed, err := exec("list images", "ctr", "--namespace=k8s.io", "images", "list", "-q")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(string(listed)) {
		have[l] = true
	}
	var missing []string
	for _, r := range refs {
		if !have[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("containerd did not list the imported images %s; it has: %s", strings.Join(missing, ", "), strings.Join(strings.Fields(string(listed)), ", "))
	}
	// sleep is PID 1 and reaps nothing, so a stopped containerd stays a
	// zombie: wait until no live containerd process is left.
	if _, err := exec("stop containerd", "bash", "-c", "pkill -x containerd; for i in $(seq 50); do ps -C containerd -o stat= | grep -qv '^Z' || exit 0; sleep 0.2; done; exit 1"); err != nil {
		return err
	}
	if _, err := exec("tidy", "rm", "-rf", "/run/containerd", "/tmp/containerd.log"); err != nil {
		return err
	}
	if _, err := rt(ctx, "stop build container", "stop", "-t", "1", container); err != nil {
		return err
	}
	if _, err := rt(ctx, "commit", "commit",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
		"--change", `ENV container=docker`, "--change", "STOPSIGNAL SIGRTMIN+3",
		container, builtTag); err != nil {
		return err
	}
	_, err = rt(ctx, "tag", "tag", builtTag, b.Image())
	return err
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
