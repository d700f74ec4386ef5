package k3simage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

var (
	// ErrNotRoot is returned when the build is started without root.
	ErrNotRoot = errors.New("the k3s image build needs root")
	// ErrMissingTool is returned when a host tool the build needs is absent.
	ErrMissingTool = errors.New("missing host tool")
	// ErrNoBaseImage is returned when the kind node image is not built.
	ErrNoBaseImage = errors.New("the kind node image is not built")
)

// host is what the builder asks of the machine, replaceable in tests.
type host struct {
	euid     func() int
	lookPath func(string) (string, error)
	// imageID returns the id of an image in the runtime's store.
	imageID func(ctx context.Context, runtime, ref string) (string, error)
}

func realHost() host {
	return host{euid: os.Geteuid, lookPath: exec.LookPath, imageID: nodeimage.ImageID}
}

// Option configures a Builder.
type Option func(*Builder)

// WithCacheDir sets the cache directory (default DefaultCacheDir).
func WithCacheDir(dir string) Option { return func(b *Builder) { b.cacheDir = dir } }

// WithLog sends progress and the output of build commands to w.
func WithLog(w io.Writer) Option { return func(b *Builder) { b.log = w } }

// WithProgress sends only the builder's own progress lines to w.
func WithProgress(w io.Writer) Option { return func(b *Builder) { b.progress = w } }

// WithRuntime selects the container runtime CLI (default "podman").
func WithRuntime(name string) Option { return func(b *Builder) { b.runtime = name } }

// WithRebuild ignores a cached image and builds it again (the k3s binary
// is still reused when its cache entry is complete).
func WithRebuild(rebuild bool) Option { return func(b *Builder) { b.rebuild = rebuild } }

// WithModuleVersion sets the github.com/k3s-io/k3s module version.
func WithModuleVersion(v string) Option { return func(b *Builder) { b.moduleVersion = v } }

// WithClock replaces time.Now for durations and progress.
func WithClock(now func() time.Time) Option { return func(b *Builder) { b.now = now } }

// WithProgressEvery sets how often a long step reports that it is still
// running (default one minute).
func WithProgressEvery(d time.Duration) Option { return func(b *Builder) { b.every = d } }

// Builder builds one K3s node image.
type Builder struct {
	moduleVersion string
	base          nodeimage.Versions
	cacheDir      string
	runtime       string
	log           io.Writer
	progress      io.Writer
	rebuild       bool
	now           func() time.Time
	every         time.Duration
	host          host
}

// New returns a Builder on the kind node image `edgesim image node` builds
// by default.
func New(opts ...Option) (*Builder, error) {
	base, err := nodeimage.ResolveVersions(nodeimage.DefaultKubernetesVersion)
	if err != nil {
		return nil, err
	}
	b := &Builder{moduleVersion: DefaultModuleVersion, base: base, cacheDir: DefaultCacheDir, runtime: "podman",
		now: time.Now, every: time.Minute, host: realHost()}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// BaseImage is the kind node image the K3s image is built on.
func (b *Builder) BaseImage() string { return b.base.Tag() }

func (b *Builder) logf(format string, args ...any) {
	for _, w := range []io.Writer{b.log, b.progress} {
		if w != nil {
			fmt.Fprintf(w, "k3simage: "+format+"\n", args...)
		}
	}
}

// Check verifies, before anything starts, that the build can run: root,
// the host tools, and the kind node image it builds on. Each error names
// what is missing and the command that provides it.
func (b *Builder) Check(ctx context.Context) error {
	if b.host.euid() != 0 {
		return fmt.Errorf("%w: storing images in %s's system store needs root; run `sudo edgesim image k3s`", ErrNotRoot, b.runtime)
	}
	var missing []string
	for _, tool := range []string{b.runtime, "go", "gcc", "nice"} {
		if _, err := b.host.lookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not on PATH; install them with hack/kind/install-deps.sh (as root)", ErrMissingTool, strings.Join(missing, ", "))
	}
	if _, err := b.host.imageID(ctx, b.runtime, b.BaseImage()); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s is not in %s's image store; build it first with `edgesim image node` (about 20 minutes cold)", ErrNoBaseImage, b.BaseImage(), b.runtime)
	}
	return nil
}

// Resolve works out the Spec: the Go version, the K3s version from the
// module (downloading it into the module cache if needed), and the base
// image's id.
func (b *Builder) Resolve(ctx context.Context) (Spec, error) {
	s := Spec{ModuleVersion: b.moduleVersion, BaseImage: b.BaseImage(),
		Pause: "registry.k8s.io/pause:" + b.base.Pause, CoreDNS: "registry.k8s.io/coredns/coredns:" + b.base.CoreDNS}
	gov, err := goOutput(ctx, "env", "GOVERSION")
	if err != nil {
		return s, err
	}
	s.GoVersion = strings.TrimSpace(string(gov))
	dir, err := moduleDir(ctx, Module, b.moduleVersion)
	if err != nil {
		return s, err
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return s, err
	}
	if s.Version, s.Commit, err = VersionFromModule(b.moduleVersion, gomod); err != nil {
		return s, err
	}
	coredns, err := os.ReadFile(filepath.Join(dir, "manifests", "coredns.yaml"))
	if err != nil {
		return s, err
	}
	if s.K3sCoreDNS, err = K3sCoreDNSImage(coredns); err != nil {
		return s, err
	}
	if s.BaseImageID, err = b.host.imageID(ctx, b.runtime, s.BaseImage); err != nil {
		return s, fmt.Errorf("%w: %s; build it with `edgesim image node`", ErrNoBaseImage, s.BaseImage)
	}
	return s, s.Validate()
}

func goOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func moduleDir(ctx context.Context, module, version string) (string, error) {
	out, err := goOutput(ctx, "mod", "download", "-json", module+"@"+version)
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("the Go module proxy does not serve %s@%s: %s", module, version, info.Error)
	}
	if err != nil {
		return "", err
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s named no directory", module, version)
	}
	return info.Dir, nil
}

// Result describes a build.
type Result struct {
	Image string
	Spec  Spec
	// Cached is true when an existing image was reused.
	Cached bool
	// BinaryCached is true when the k3s binary came from the cache.
	BinaryCached bool
	Steps        []nodeimage.Step
	Total        time.Duration
}

// Cached reports whether the image of s is in the runtime's store.
func (b *Builder) Cached(ctx context.Context, s Spec) bool {
	_, err := b.host.imageID(ctx, b.runtime, s.Tag())
	return err == nil
}

// Build returns the cached image if there is one, and otherwise builds it.
func (b *Builder) Build(ctx context.Context) (Result, error) {
	start := b.now()
	var res Result
	if err := b.Check(ctx); err != nil {
		return res, err
	}
	s, err := b.Resolve(ctx)
	if err != nil {
		return res, err
	}
	res.Spec, res.Image = s, s.Tag()
	if !b.rebuild && b.Cached(ctx, s) {
		res.Cached = true
		b.logf("image %s is cached", res.Image)
		return res, nil
	}
	unlock, err := nodeimage.LockDir(ctx, b.cacheDir, func() { b.logf("waiting for another build using %s", b.cacheDir) })
	if err != nil {
		return res, err
	}
	defer unlock()
	if !b.rebuild && b.Cached(ctx, s) {
		res.Cached = true
		return res, nil
	}
	timed := func(name string, f func() error) error {
		t := b.now()
		b.logf("step %s", name)
		err := f()
		res.Steps = append(res.Steps, nodeimage.Step{Name: name, Duration: b.now().Sub(t)})
		if err != nil {
			return fmt.Errorf("k3s image: %s: %w", name, err)
		}
		return nil
	}
	var binDir string
	if err := timed("go build k3s", func() error { binDir, res.BinaryCached, err = b.buildBinary(ctx, s); return err }); err != nil {
		return res, err
	}
	if err := timed("build image", func() error { return b.buildImage(ctx, s, filepath.Join(binDir, "server")) }); err != nil {
		return res, err
	}
	res.Total = b.now().Sub(start)
	rec, _ := json.MarshalIndent(res, "", "  ")
	_ = os.MkdirAll(filepath.Join(b.cacheDir, "images"), 0o755)
	_ = os.WriteFile(filepath.Join(b.cacheDir, "images", s.Key()+".json"), rec, 0o644)
	b.logf("image %s built in %s", res.Image, res.Total.Round(time.Second))
	return res, nil
}

// goBuild is the k3s build: ./cmd/server of the module, as its main module,
// with CGO (sqlite), upstream's tags and the version stamps. Its cache
// directory name carries BinaryKey.
func goBuild(s Spec) nodeimage.GoBuild {
	return nodeimage.GoBuild{
		Name: "k3s", Module: Module, Version: s.ModuleVersion, CacheTag: s.BinaryKey(),
		CGO: true, Packages: []string{"./cmd/server"}, Tags: Tags, LDFlags: LDFlags(s),
		Env: []string{"CGO_CFLAGS=" + CgoCFlags}, Prepare: stageManifests,
	}
}

// stageManifests does what scripts/build does before compiling: the
// packaged manifests (CoreDNS, RBAC, and the components Disabled lists)
// are embedded from pkg/deploy/embed, which the module ships empty.
func stageManifests(_ context.Context, src string) error {
	return copyTree(filepath.Join(src, "manifests"), filepath.Join(src, "pkg", "deploy", "embed"))
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// buildBinary builds (or reuses) the k3s binary, reporting progress while
// the long compile runs.
func (b *Builder) buildBinary(ctx context.Context, s Spec) (dir string, cached bool, err error) {
	c := goBuild(s)
	final := c.CacheDir(b.cacheDir)
	if _, err := os.Stat(filepath.Join(final, ".complete")); err == nil {
		b.logf("reuse k3s binary %s", final)
		return final, true, nil
	}
	b.logf("build k3s %s (%s) with %s; about 4 minutes on 2 idle cores after `edgesim image node` filled the Go build cache, about 15 without", s.Version, s.ModuleVersion, s.GoVersion)
	done := make(chan struct{})
	defer close(done)
	go func() {
		start := b.now()
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.logf("still building k3s (%s elapsed)", b.now().Sub(start).Round(time.Second))
			}
		}
	}()
	dir, err = nodeimage.BuildGo(ctx, b.cacheDir, b.log, c)
	return dir, false, err
}

// buildImage builds the image under a temporary tag and tags it with its
// final name only when complete.
func (b *Builder) buildImage(ctx context.Context, s Spec, binary string) (err error) {
	if err := os.MkdirAll(b.cacheDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(b.cacheDir, "image-"+s.Key()+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Link(binary, filepath.Join(work, "k3s")); err != nil {
		if err := copyFile(binary, filepath.Join(work, "k3s")); err != nil {
			return err
		}
	}
	for name, content := range imageFiles(s) {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(work, "Containerfile"), []byte(containerfile(s, s.BaseImageID, s.Key())), 0o644); err != nil {
		return err
	}
	tmp := ImageRepository + "-build:" + s.Key() + "-" + filepath.Base(work)[len("image-"+s.Key()+"-"):]
	tmp = strings.ToLower(tmp)
	defer func() {
		// The final tag keeps a finished image; a failed one goes entirely.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err != nil {
			_ = exec.CommandContext(cctx, b.runtime, "rmi", "-f", tmp).Run()
			return
		}
		// With one name, untag would drop every name of the image.
		_ = exec.CommandContext(cctx, b.runtime, "untag", s.Tag(), tmp).Run()
	}()
	if err := b.runtimeRun(ctx, "build", "--pull=never", "--layers=false", "--network=none", "-f", filepath.Join(work, "Containerfile"), "-t", tmp, work); err != nil {
		return err
	}
	return b.runtimeRun(ctx, "tag", tmp, s.Tag())
}

func (b *Builder) runtimeRun(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, b.runtime, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if b.log != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, b.log), io.MultiWriter(&out, b.log)
	}
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 4000 {
			tail = "..." + tail[len(tail)-4000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", b.runtime, strings.Join(args, " "), err, tail)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
