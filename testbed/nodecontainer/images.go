package nodecontainer

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

// ErrImage is wrapped by every image build or load failure.
var ErrImage = errors.New("workload image")

// ImageSpec describes a single-layer workload image: host binaries copied
// to the image root together with the dynamic loader and every shared
// library they need (libvpx for VP8), found on this host the way the
// loader finds them. No Docker daemon or registry is involved.
type ImageSpec struct {
	// Repo is the image name without tag, e.g. "localhost/edgesim/edgenode";
	// the tag is derived from the content.
	Repo string
	// Binaries maps a file name in the image root ("edgenode") to the
	// host file to copy.
	Binaries map[string]string
	// Entrypoint, e.g. ["/edgenode"]; empty leaves it to the pod's command.
	Entrypoint []string
	// Root is where shared libraries are looked up ("/" by default).
	Root string
	// Arch is the image's GOARCH, "amd64" or "arm64"; empty is this host's.
	// The binaries must be built for it; their libraries are taken from
	// its multiarch directories (/usr/lib/aarch64-linux-gnu for arm64).
	Arch string
}

// Image is a written image archive.
type Image struct {
	// Ref is Repo:<first 12 hex digits of the image digest>.
	Ref string
	// Archive is the docker-format archive ("ctr images import" reads it).
	Archive string
	// Files are the paths in the image, sorted.
	Files []string
}

// BuildImage writes spec's image as an archive in dir and returns it. Equal
// inputs give the same Ref.
func BuildImage(ctx context.Context, spec ImageSpec, dir string) (Image, error) {
	img, files, err := spec.build(ctx, false)
	if err != nil {
		return Image{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	ref := spec.Repo + ":" + digest.Hex[:12]
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return Image{}, fmt.Errorf("%w: repo %q: %v", ErrImage, spec.Repo, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Image{}, err
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		_ = os.Remove(tmp)
		return Image{}, fmt.Errorf("%w: write %s: %v", ErrImage, ref, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return Image{}, err
	}
	return Image{Ref: ref, Archive: file, Files: files}, nil
}

// elfMachines are the ELF machines of the architectures images are built for.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// arch is the image's GOARCH.
func (spec ImageSpec) arch() string {
	if spec.Arch == "" {
		return runtime.GOARCH
	}
	return spec.Arch
}

// checkArch refuses binaries built for another machine than the image's.
func (spec ImageSpec) checkArch() error {
	want, ok := elfMachines[spec.arch()]
	if !ok {
		return fmt.Errorf("%w: architecture %q: use one of %s", ErrImage, spec.arch(), strings.Join(slices.Sorted(maps.Keys(elfMachines)), ", "))
	}
	for _, n := range slices.Sorted(maps.Keys(spec.Binaries)) {
		f, err := elf.Open(spec.Binaries[n])
		if err != nil {
			continue // a missing file or a script: AddBinary says what is wrong
		}
		got := f.Machine
		f.Close()
		if got != want {
			hint := "build it with `go build`"
			if spec.arch() == "arm64" {
				hint = "cross-build it with `go tool task cross` (bin/linux-arm64)"
			}
			return fmt.Errorf("%w: %s is a %s binary, not %s: %s", ErrImage, spec.Binaries[n], got, spec.arch(), hint)
		}
	}
	return nil
}

// build assembles the image in memory (with OCI media types when oci) and
// returns it with the paths it holds.
func (spec ImageSpec) build(ctx context.Context, oci bool) (v1.Image, []string, error) {
	if spec.Repo == "" || len(spec.Binaries) == 0 {
		return nil, nil, fmt.Errorf("%w: need a repo and at least one binary (build them with `go build ./cmd/edgenode ./cmd/edgesim`)", ErrImage)
	}
	if err := spec.checkArch(); err != nil {
		return nil, nil, err
	}
	root := spec.Root
	if root == "" {
		root = "/"
	}
	l := nodeimage.NewLayer()
	l.Dir("/tmp", 0o1777)
	for _, n := range slices.Sorted(maps.Keys(spec.Binaries)) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if err := l.AddBinary(root, "/"+n, spec.Binaries[n]); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
		}
	}
	var buf bytes.Buffer
	if err := l.WriteTar(&buf); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	layerTar := buf.Bytes()
	var layerOpts []tarball.LayerOption
	base := empty.Image
	if oci {
		layerOpts = append(layerOpts, tarball.WithMediaType(types.OCILayer))
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil }, layerOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", spec.arch()
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	return img, l.Paths(), nil
}

// Index is a multi-architecture image: an OCI image index in an OCI image
// layout directory.
type Index struct {
	// Ref is Repo:<first 12 hex digits of the index digest>; the layout's
	// index.json names the index with it (org.opencontainers.image.ref.name).
	Ref string
	// Digest is the index's digest ("sha256:...").
	Digest string
	// Platforms are the images' platforms, in the order given ("linux/amd64").
	Platforms []string
}

// refName is the OCI annotation that names an index in a layout.
const refName = "org.opencontainers.image.ref.name"

// BuildIndex builds one image per spec (one Repo, one spec per Arch) and
// writes their index into the OCI image layout at dir, created if needed; an
// index of the same Ref already there is replaced. Equal inputs give the same
// Ref. No daemon or registry is involved: `skopeo copy oci:DIR:REF
// docker://...` or `crane push` (go-containerregistry) push it.
func BuildIndex(ctx context.Context, specs []ImageSpec, dir string) (Index, error) {
	if len(specs) == 0 {
		return Index{}, fmt.Errorf("%w: an index needs at least one image", ErrImage)
	}
	var adds []mutate.IndexAddendum
	out := Index{}
	seen := map[string]bool{}
	for _, spec := range specs {
		if spec.Repo != specs[0].Repo {
			return Index{}, fmt.Errorf("%w: one index holds one repo, got %q and %q", ErrImage, specs[0].Repo, spec.Repo)
		}
		if seen[spec.arch()] {
			return Index{}, fmt.Errorf("%w: %s: two images for %s", ErrImage, spec.Repo, spec.arch())
		}
		seen[spec.arch()] = true
		img, _, err := spec.build(ctx, true)
		if err != nil {
			return Index{}, err
		}
		plat := v1.Platform{OS: "linux", Architecture: spec.arch()}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
		out.Platforms = append(out.Platforms, plat.String())
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	digest, err := idx.Digest()
	if err != nil {
		return Index{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	out.Ref, out.Digest = specs[0].Repo+":"+digest.Hex[:12], digest.String()
	if _, err := name.NewTag(out.Ref, name.WeakValidation); err != nil {
		return Index{}, fmt.Errorf("%w: repo %q: %v", ErrImage, specs[0].Repo, err)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		if lp, err = layout.Write(dir, empty.Index); err != nil {
			return Index{}, fmt.Errorf("%w: OCI layout %s: %v", ErrImage, dir, err)
		}
	}
	if err := lp.ReplaceIndex(idx, match.Annotation(refName, out.Ref), layout.WithAnnotations(map[string]string{refName: out.Ref})); err != nil {
		return Index{}, fmt.Errorf("%w: write %s to %s: %v", ErrImage, out.Ref, dir, err)
	}
	return out, nil
}
