package nodeimage

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// component is one Go build: a module at a version, the packages to build
// and how. Its binaries are cached under bin/<Name>@<Version>.
type component struct {
	Name    string
	Module  string
	Version string
	// Wrapper builds the packages from a generated module that requires
	// Module; otherwise the builder copies Module's source and builds inside it.
	Wrapper  bool
	Packages []string
	Tags     []string
	CGO      bool
	LDFlags  []string
	// Replace adds replace directives to the generated wrapper module.
	Replace map[string]string
	// Require adds requirements to the generated wrapper module.
	Require map[string]string
	// Files are extra files written into the wrapper module (path -> content).
	Files map[string][]byte
	// CacheTag, when set, is part of the cache directory name, for builds
	// whose input is more than Module@Version.
	CacheTag string
	// Prepare, when set, runs in the copied module source before the build
	// (not for Wrapper builds).
	Prepare func(ctx context.Context, src string) error
	// Env is added to the go command's environment (e.g. CGO_CFLAGS).
	Env []string
}

// GoBuild is one Go build, for image builders other than the node image's.
type GoBuild = component

// BuildGo builds c the way the node image's own components are built and
// cached: under <cacheDir>/bin/<Name>@<Version>[-<CacheTag>], written to a
// temporary directory and renamed only when the build succeeded, so an
// interrupted build is never reused. It returns the directory holding the
// binaries. The caller serialises builds that share cacheDir.
func BuildGo(ctx context.Context, cacheDir string, log io.Writer, c GoBuild) (string, error) {
	return (&Builder{cacheDir: cacheDir, log: log}).buildComponent(ctx, c)
}

// cacheName names the cache directory of a component build.
func (c component) cacheName() string {
	if c.CacheTag != "" {
		return c.Name + "@" + c.Version + "-" + c.CacheTag
	}
	return c.Name + "@" + c.Version
}

// CacheDir is where a build of c is cached under cacheDir; it holds a
// .complete file once the build finished.
func (c component) CacheDir(cacheDir string) string {
	return filepath.Join(cacheDir, "bin", c.cacheName())
}

// toolsDigest is a short digest of edgesim's own embedded programs.
func toolsDigest() string {
	h := sha256.New()
	_ = fs.WalkDir(toolSources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := toolSources.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// kubeLDFlags stamps the Kubernetes version into component-base and
// client-go, without which kubeadm rejects the binaries.
func kubeLDFlags(v Versions) []string {
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+v.Kubernetes,
			"-X", pkg+".gitMajor=1",
			"-X", fmt.Sprintf("%s.gitMinor=%d", pkg, v.Minor()),
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return flags
}

// kubeBinaries are built from k8s.io/kubernetes. The first three go on the
// node; the others become control-plane images.
var kubeBinaries = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

//go:embed kindcni/main.go pause/main.go
var toolSources embed.FS

// components lists every Go build of a node image, given the staging module
// list of k8s.io/kubernetes (module path -> replacement version).
func components(v Versions, staging map[string]string) ([]component, error) {
	tools := map[string][]byte{}
	err := fs.WalkDir(toolSources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := toolSources.ReadFile(p)
		tools[p] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	kubePkgs := make([]string, len(kubeBinaries))
	for i, b := range kubeBinaries {
		kubePkgs[i] = "k8s.io/kubernetes/cmd/" + b
	}
	containerdLD := []string{"-X", containerdModule + "/version.Version=" + v.Containerd,
		"-X", containerdModule + "/version.Package=" + containerdModule}
	crictlLD := []string{"-X", "sigs.k8s.io/cri-tools/pkg/version.Version=" + v.Crictl}
	var first []component
	if v.Source != "" {
		first = []component{sourceBuild(v, kubePkgs, containerdLD, crictlLD)}
	} else {
		first = []component{
			{Name: "kubernetes", Module: "k8s.io/kubernetes", Version: v.Kubernetes, Wrapper: true,
				Packages: kubePkgs, LDFlags: kubeLDFlags(v), Replace: staging},
			{Name: "containerd", Module: containerdModule, Version: v.Containerd, CGO: true,
				Packages: []string{"./cmd/containerd", "./cmd/ctr", "./cmd/containerd-shim-runc-v2"},
				Tags:     []string{"no_aufs", "no_zfs", "no_btrfs", "no_devmapper"}, LDFlags: containerdLD},
			{Name: "crictl", Module: "sigs.k8s.io/cri-tools", Version: v.Crictl, Packages: []string{"./cmd/crictl"},
				LDFlags: crictlLD},
		}
	}
	return append(first, []component{
		{Name: "etcd", Module: "go.etcd.io/etcd/server/v3", Version: v.Etcd, Packages: []string{"."}},
		{Name: "coredns", Module: "github.com/coredns/coredns", Version: v.CoreDNS, Packages: []string{"."},
			CacheTag: "without-" + strings.Join(coreDNSLeftOut, "-"), Prepare: leaveOutCoreDNSPlugins},
		{Name: "runc", Module: "github.com/opencontainers/runc", Version: v.Runc, CGO: true,
			Packages: []string{"."}, Tags: []string{"seccomp"},
			LDFlags: []string{"-X", "main.version=" + strings.TrimPrefix(v.Runc, "v")}},
		{Name: "cni-plugins", Module: "github.com/containernetworking/plugins", Version: v.CNIPlugins,
			Packages: []string{"./plugins/ipam/host-local", "./plugins/main/loopback", "./plugins/main/ptp", "./plugins/meta/portmap"},
			LDFlags:  []string{"-X", "github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=" + v.CNIPlugins}},
		{Name: "edgesim-tools", Module: "github.com/vishvananda/netlink", Version: v.Netlink, Wrapper: true, CacheTag: v.Tools,
			Packages: []string{"./kindcni", "./pause"}, Files: tools},
	}...), nil
}

const containerdModule = "github.com/containerd/containerd/v2"

// coreDNSLeftOut are the CoreDNS plugins the node image's CoreDNS is built
// without: the cloud-DNS backends and the tracer pull in the AWS, Azure,
// Google Cloud, Nomad and Datadog SDKs (v1.13.1 compiled cold on 2 cores
// in 226 s with them, 176 s without), and neither kubeadm's, kind's nor
// K3s's Corefile uses them. Older versions lack some (v1.12.1 has no
// nomad).
var coreDNSLeftOut = []string{"azure", "clouddns", "nomad", "route53", "trace"}

// coreDNSPluginList is CoreDNS's generated list of the plugins it links.
const coreDNSPluginList = "core/plugin/zplugin.go"

// leaveOutCoreDNSPlugins removes those of coreDNSLeftOut that the CoreDNS
// source in src links from its plugin list. It fails if the list holds
// none of them, so that a version that moved the list or renamed them
// is noticed, not silently built whole.
func leaveOutCoreDNSPlugins(_ context.Context, src string) error {
	p := filepath.Join(src, coreDNSPluginList)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	out, removed := string(b), 0
	for _, name := range coreDNSLeftOut {
		line := "\t_ \"github.com/coredns/coredns/plugin/" + name + "\"\n"
		if strings.Contains(out, line) {
			out = strings.Replace(out, line, "", 1)
			removed++
		}
	}
	if removed == 0 {
		return fmt.Errorf("%s imports none of the plugins edgesim leaves out (%s): the list moved or they were renamed; update coreDNSLeftOut",
			coreDNSPluginList, strings.Join(coreDNSLeftOut, ", "))
	}
	return os.WriteFile(p, []byte(out), 0o644)
}

// sourceBuild is the one build that makes Kubernetes, containerd and
// crictl inside v.Source's module graph (its module as the main module),
// with the K3s build's tags, cgo and C flags, so that both builds compile
// every shared package identically. The binaries are linked statically:
// the control-plane images hold nothing but their binary.
func sourceBuild(v Versions, kubePkgs, containerdLD, crictlLD []string) component {
	mod, ver, _ := strings.Cut(v.Source, "@")
	var pkgs []string
	for _, p := range kubePkgs {
		if _, own := sourceMains[path.Base(p)]; !own {
			pkgs = append(pkgs, p)
		}
	}
	for _, name := range sortedKeys(sourceMains) {
		pkgs = append(pkgs, "./"+sourceMainDir+"/"+name)
	}
	pkgs = append(pkgs, containerdModule+"/cmd/containerd", containerdModule+"/cmd/ctr", containerdModule+"/cmd/containerd-shim-runc-v2")
	ld := append(append(append(kubeLDFlags(v), containerdLD...), crictlLD...), "-linkmode", "external", "-extldflags", "-static")
	return component{Name: "kubernetes", Module: mod, Version: ver, CGO: true, Tags: K3sTags,
		Env: []string{"CGO_CFLAGS=" + K3sCgoCFlags}, Packages: pkgs, LDFlags: ld,
		CacheTag: v.Kubernetes + "-" + shortHash(strings.Join(pkgs, " ")+"\n"+strings.Join(ld, " ")+"\n"+mainsDigest()),
		Prepare: func(ctx context.Context, src string) error {
			if err := checkGraph(ctx, src, v); err != nil {
				return err
			}
			return writeSourceMains(src)
		}}
}

// sourceMainDir holds, in the source copy, main packages of edgesim's for
// the programs whose K3s fork has no usable main: K3s runs them inside its
// own binary, never alone.
const sourceMainDir = "edgesim"

// sourceMains are those main packages, by binary name.
//   - crictl: the cri-tools fork makes cmd/crictl a library (for `k3s
//     crictl`) whose Main is upstream's main.
//   - kube-apiserver: the fork's main sets up the signal handler and then
//     NewAPIServerCommand sets it up again, which panics ("close of closed
//     channel"); this one lets the command set it up once. The command does
//     not read its stop channel; it stops on the signal context.
var sourceMains = map[string]string{
	"crictl": `// Package main is crictl, from the cri-tools fork K3s embeds.
package main

import "sigs.k8s.io/cri-tools/cmd/crictl"

func main() { crictl.Main() }
`,
	"kube-apiserver": `// Package main is kube-apiserver, from the Kubernetes fork K3s embeds.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand(nil))) }
`,
}

func mainsDigest() string {
	var b strings.Builder
	for _, name := range sortedKeys(sourceMains) {
		b.WriteString(name + "\n" + sourceMains[name])
	}
	return b.String()
}

func writeSourceMains(src string) error {
	for name, content := range sourceMains {
		dir := filepath.Join(src, sourceMainDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// checkGraph fails when the source module's graph selects other versions of
// Kubernetes, containerd or cri-tools than the pins name, so that the
// image's version record never lies.
func checkGraph(ctx context.Context, src string, v Versions) error {
	out, err := output(ctx, nil, command{step: "go list -m", dir: src, env: goEnv(false), name: "go",
		args: []string{"list", "-m", "-f", "{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}",
			"k8s.io/kubernetes", containerdModule, "sigs.k8s.io/cri-tools"}})
	if err != nil {
		return err
	}
	return graphDrift(v, out)
}

// graphDrift compares `go list -m` lines ("path version") with the pins.
func graphDrift(v Versions, list []byte) error {
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if mod, ver, ok := strings.Cut(line, " "); ok {
			got[mod] = ver
		}
	}
	var drift []string
	if k := got["k8s.io/kubernetes"]; k != v.Kubernetes && !strings.HasPrefix(k, v.Kubernetes+"-") {
		drift = append(drift, "k8s.io/kubernetes "+k+" (pinned "+v.Kubernetes+")")
	}
	for mod, want := range map[string]string{containerdModule: v.Containerd, "sigs.k8s.io/cri-tools": v.Crictl} {
		if got[mod] != want {
			drift = append(drift, mod+" "+got[mod]+" (pinned "+want+")")
		}
	}
	if len(drift) > 0 {
		sort.Strings(drift)
		return fmt.Errorf("%s selects %s; update the version pins in testbed/kind/nodeimage/versions.go", v.Source, strings.Join(drift, ", "))
	}
	return nil
}

// wrapperGoMod renders the go.mod of a generated wrapper module.
func wrapperGoMod(c component) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "module edgesim.local/build/%s\n\ngo 1.24.0\n\nrequire %s %s\n", c.Name, c.Module, c.Version)
	for _, mod := range sortedKeys(c.Require) {
		fmt.Fprintf(&b, "require %s %s\n", mod, c.Require[mod])
	}
	if len(c.Replace) > 0 {
		b.WriteString("\n")
	}
	for _, mod := range sortedKeys(c.Replace) {
		fmt.Fprintf(&b, "replace %s => %s %s\n", mod, mod, c.Replace[mod])
	}
	return []byte(b.String())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var stagingReplaceRE = regexp.MustCompile(`(?m)^\s*(?:replace\s+)?(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/`)

// stagingModules finds the k8s.io/<staging> modules that k8s.io/kubernetes
// replaces with its own staging/ tree (absent from its module zip) and maps
// each to the published version that matches the release.
func stagingModules(kubernetesGoMod []byte, stagingVersion string) map[string]string {
	out := map[string]string{}
	for _, m := range stagingReplaceRE.FindAllSubmatch(kubernetesGoMod, -1) {
		out[string(m[1])] = stagingVersion
	}
	return out
}

// goEnv is the environment of every Go build: modules resolved freshly
// (no vendor/), the local toolchain, no workspace.
func goEnv(cgo bool) []string {
	env := []string{"GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off"}
	if cgo {
		return append(env, "CGO_ENABLED=1")
	}
	return append(env, "CGO_ENABLED=0")
}

// moduleDir asks the go command where a module version is (downloading it
// into the module cache if needed).
func (b *Builder) moduleDir(ctx context.Context, module, version string) (string, error) {
	out, err := output(ctx, nil, command{step: "download " + module, env: goEnv(false), name: "go",
		args: []string{"mod", "download", "-json", module + "@" + version}})
	if err != nil {
		return "", err
	}
	var info struct{ Dir, GoMod, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("download %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// buildComponent builds c into bin/<name>@<version> under the cache, unless
// a complete earlier build is there. It builds into a temporary directory
// and renames it at the end, so an interrupted build is never reused.
func (b *Builder) buildComponent(ctx context.Context, c component) (string, error) {
	final := c.CacheDir(b.cacheDir)
	if _, err := os.Stat(filepath.Join(final, ".complete")); err == nil {
		b.logf("reuse %s %s", c.Name, c.Version)
		return final, nil
	}
	b.logf("build %s %s (%s)", c.Name, c.Version, strings.Join(c.Packages, " "))
	src := filepath.Join(b.cacheDir, "src", c.cacheName())
	if err := os.RemoveAll(src); err != nil {
		return "", err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if c.Wrapper {
		if err := os.WriteFile(filepath.Join(src, "go.mod"), wrapperGoMod(c), 0o644); err != nil {
			return "", err
		}
		for name, content := range c.Files {
			p := filepath.Join(src, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				return "", err
			}
		}
	} else {
		dir, err := b.moduleDir(ctx, c.Module, c.Version)
		if err != nil {
			return "", err
		}
		if err := copyModule(dir, src); err != nil {
			return "", err
		}
		// Relative replace directives point at sibling modules that the
		// zip does not hold; the required versions are used instead.
		if err := dropRelativeReplaces(filepath.Join(src, "go.mod")); err != nil {
			return "", err
		}
		if c.Prepare != nil {
			if err := c.Prepare(ctx, src); err != nil {
				return "", fmt.Errorf("prepare %s: %w", c.Name, err)
			}
		}
	}
	tmp := final + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	args := []string{"build", "-trimpath", "-o", tmp + "/"}
	if len(c.Tags) > 0 {
		args = append(args, "-tags", strings.Join(c.Tags, ","))
	}
	ld := append([]string{"-s", "-w"}, c.LDFlags...)
	args = append(args, "-ldflags", strings.Join(ld, " "))
	args = append(args, c.Packages...)
	if len(c.Packages) == 1 && c.Packages[0] == "." {
		// "go build -o dir/ ." names the binary after the module's last
		// element, which for etcd is "v3".
		args[3] = filepath.Join(tmp, binaryName(c))
	}
	if err := run(ctx, b.log, command{step: "go build " + c.Name, dir: src, env: append(goEnv(c.CGO), c.Env...), nice: true, name: "go", args: args}); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(c.Module+"@"+c.Version+"\n"), 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	_ = os.RemoveAll(src)
	return final, nil
}

// binaryName is the file a single-package component is built to.
func binaryName(c component) string {
	switch c.Name {
	case "etcd":
		return "etcd"
	case "coredns":
		return "coredns"
	case "runc":
		return "runc"
	}
	return c.Name
}

var relativeReplaceRE = regexp.MustCompile(`(?m)^([ \t]*(?:replace[ \t]+)?[^\s()]+(?:[ \t]+v[^\s]+)?[ \t]+=>[ \t]+\.{1,2}/[^\s]*[ \t]*)$`)

// dropRelativeReplaces comments out replace directives whose target is a
// relative directory.
func dropRelativeReplaces(goMod string) error {
	b, err := os.ReadFile(goMod)
	if err != nil {
		return err
	}
	out := relativeReplaceRE.ReplaceAll(b, []byte("// dropped by edgesim: $1"))
	return os.WriteFile(goMod, out, 0o644)
}

// copyModule copies a read-only module from the module cache into dst,
// leaving out vendor/ (containerd's zip carries an empty one that breaks
// -mod=mod builds).
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "vendor" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
