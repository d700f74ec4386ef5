// Package k3simage builds K3s node images without an image registry: the k3s
// binary is built from the github.com/k3s-io/k3s module fetched through the
// Go module proxy (as the main module of a writable copy, because its go.mod
// has replace directives), and laid onto the kind node image that
// `edgesim image node` builds. That image already carries systemd,
// containerd, runc, the shim, the CNI plugins, edgesim's pod network and
// the pause and CoreDNS images, so K3s runs against the node's containerd
// and never pulls.
//
// The k3s binary and the image are cached by content (Spec.BinaryKey,
// Spec.Key); both are written under a temporary name and only renamed or
// tagged when complete, so an interrupted build is never reused.
package k3simage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

// Module is the Go module K3s is built from.
const Module = nodeimage.K3sModule

// DefaultModuleVersion is the K3s module version built when none is given.
// The kind node image builds its Kubernetes inside the same module graph,
// so the two builds share the Go build cache.
const DefaultModuleVersion = nodeimage.K3sModuleVersion

// DefaultCacheDir is where k3s binaries and build records are cached.
const DefaultCacheDir = "/var/cache/edgesim/k3s"

// ImageRepository is where finished K3s node images are tagged.
const ImageRepository = "localhost/edgesim/k3s-node"

// recipeRevision changes whenever the way the binary or the image is made
// changes, so that a cache entry made by an older recipe is not reused.
const recipeRevision = "1"

// Tags are upstream's build tags for Linux without apparmor and seccomp,
// which only the embedded containerd would use: the node's own containerd
// runs the containers.
var Tags = nodeimage.K3sTags

// CgoCFlags are upstream's sqlite settings.
const CgoCFlags = nodeimage.K3sCgoCFlags

// Disabled are the packaged components the testbed does not use; K3s is
// started with --disable for each. Traefik and ServiceLB would pull images
// and claim host ports, metrics-server and local-storage pull images and
// nothing in a scenario reads them.
var Disabled = []string{"traefik", "servicelb", "metrics-server", "local-storage"}

// Spec is everything that goes into a K3s node image. Two builds with
// equal Specs produce interchangeable images.
type Spec struct {
	// ModuleVersion is the github.com/k3s-io/k3s module version.
	ModuleVersion string
	// Version is the version K3s reports, e.g. "v1.35.1+k3s-c5b15879",
	// derived from the module as upstream's scripts/version.sh does for an
	// untagged commit (see VersionFromModule).
	Version string
	// Commit is the K3s commit the module version names.
	Commit string
	// GoVersion is runtime.Version() of the Go that builds k3s; K3s refuses
	// to start unless it is stamped into the binary.
	GoVersion string
	// BaseImage and BaseImageID are the kind node image the K3s image is
	// built on.
	BaseImage, BaseImageID string
	// Pause and CoreDNS are image references preloaded in the base image.
	Pause, CoreDNS string
	// K3sCoreDNS is the CoreDNS reference K3s's own manifest asks for; the
	// preloaded CoreDNS is tagged with it at node start.
	K3sCoreDNS string
}

var pseudoRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-(?:0\.)?[0-9]{14}-([0-9a-f]{12})$`)
var kubeReplaceRE = regexp.MustCompile(`(?m)^\s*(?:replace\s+)?k8s\.io/kubernetes\s+=>\s+\S+\s+(v[0-9]+\.[0-9]+\.[0-9]+)(?:-k3s[0-9]*)?\s*$`)

// VersionFromModule derives the version K3s reports and its commit from the
// module version (a pseudo-version naming the commit) and the module's
// go.mod (whose k8s.io/kubernetes replacement names the Kubernetes release),
// the way scripts/version.sh names an untagged build:
// "<kubernetes>+k3s-<commit[:8]>".
func VersionFromModule(moduleVersion string, goMod []byte) (version, commit string, err error) {
	m := pseudoRE.FindStringSubmatch(moduleVersion)
	if m == nil {
		return "", "", fmt.Errorf("k3s module version %q: want a pseudo-version such as %s (the proxy refuses release tags with +k3s build metadata)", moduleVersion, DefaultModuleVersion)
	}
	k := kubeReplaceRE.FindSubmatch(goMod)
	if k == nil {
		return "", "", fmt.Errorf("k3s module %s: go.mod has no k8s.io/kubernetes replacement to take the Kubernetes release from", moduleVersion)
	}
	return string(k[1]) + "+k3s-" + m[1][:8], m[1], nil
}

// LDFlags are the -ldflags -X stamps of the k3s binary: K3s's version, its
// commit and the Go version it is built with (pkg/cli/cmds refuses to
// start without it), and the Kubernetes version that kubectl and the
// components report, as upstream's scripts/build sets them.
func LDFlags(s Spec) []string {
	flags := []string{
		"-X", Module + "/pkg/version.Version=" + s.Version,
		"-X", Module + "/pkg/version.GitCommit=" + short(s.Commit),
		"-X", Module + "/pkg/version.UpstreamGolang=" + s.GoVersion,
	}
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+s.Version,
			"-X", pkg+".gitCommit="+s.Commit,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return flags
}

func short(commit string) string {
	if len(commit) > 8 {
		return commit[:8]
	}
	return commit
}

// Validate reports a Spec that cannot be built.
func (s Spec) Validate() error {
	var missing []string
	for _, f := range [][2]string{
		{"module version", s.ModuleVersion}, {"version", s.Version}, {"commit", s.Commit},
		{"Go version", s.GoVersion}, {"base image", s.BaseImage}, {"base image id", s.BaseImageID},
		{"pause image", s.Pause}, {"CoreDNS image", s.CoreDNS}, {"K3s CoreDNS image", s.K3sCoreDNS},
	} {
		if f[1] == "" {
			missing = append(missing, f[0])
		} else if strings.ContainsAny(f[1], " \t\n'\"") {
			return fmt.Errorf("k3s image spec: %s %q contains white space or quotes", f[0], f[1])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("k3s image spec: %s not set", strings.Join(missing, ", "))
	}
	return nil
}

// BinaryKey digests everything the k3s binary depends on: module, version
// stamps, Go version, tags, C flags and the recipe.
func (s Spec) BinaryKey() string {
	return digest("recipe="+recipeRevision, "module="+Module+"@"+s.ModuleVersion, "go="+s.GoVersion,
		"tags="+strings.Join(Tags, ","), "cflags="+CgoCFlags, "ldflags="+strings.Join(LDFlags(s), " "))
}

// Key digests everything the image depends on: the binary, the base image
// (by id, so a rebuilt node image makes a new K3s image), the preloaded
// image names and the files the image adds.
func (s Spec) Key() string {
	files := imageFiles(s)
	parts := []string{"binary=" + s.BinaryKey(), "base=" + s.BaseImageID, "pause=" + s.Pause,
		"coredns=" + s.CoreDNS, "k3scoredns=" + s.K3sCoreDNS, "containerfile=" + containerfile(s, "BASE", "KEY")}
	for _, name := range sortedNames(files) {
		parts = append(parts, "file "+name+"="+files[name])
	}
	return digest(parts...)
}

// Tag is the reference a finished image is stored under, e.g.
// "localhost/edgesim/k3s-node:v1.35.1-k3s-c5b15879-0123456789ab".
func (s Spec) Tag() string {
	return ImageRepository + ":" + strings.ReplaceAll(s.Version, "+", "-") + "-" + s.Key()
}

// String lists the Spec one field per line, as --plan prints it.
func (s Spec) String() string {
	return fmt.Sprintf("module=%s@%s\nversion=%s\ncommit=%s\ngo=%s\ntags=%s\nbase=%s (%s)\npause=%s\ncoredns=%s as %s\ndisabled=%s\nbinary-key=%s\nrecipe=%s\n",
		Module, s.ModuleVersion, s.Version, s.Commit, s.GoVersion, strings.Join(Tags, ","), s.BaseImage, short12(s.BaseImageID),
		s.Pause, s.CoreDNS, s.K3sCoreDNS, strings.Join(Disabled, ","), s.BinaryKey(), recipeRevision)
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

var coreDNSImageRE = regexp.MustCompile(`(?m)^\s*image:\s*"?(?:%\{SYSTEM_DEFAULT_REGISTRY\}%)?([^"\s]*coredns[^"\s]*)"?\s*$`)

// K3sCoreDNSImage finds the CoreDNS image in K3s's coredns manifest and
// returns it fully qualified, as containerd names it.
func K3sCoreDNSImage(manifest []byte) (string, error) {
	m := coreDNSImageRE.FindSubmatch(manifest)
	if m == nil {
		return "", fmt.Errorf("the k3s coredns manifest names no coredns image")
	}
	ref := string(m[1])
	first, _, _ := strings.Cut(ref, "/")
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		ref = "docker.io/" + ref
	}
	return ref, nil
}
