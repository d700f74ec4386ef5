package nodecontainer

import (
	"bytes"
	"context"
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
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

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
	if spec.Repo == "" || len(spec.Binaries) == 0 {
		return Image{}, fmt.Errorf("%w: need a repo and at least one binary (build them with `go build ./cmd/edgenode ./cmd/edgesim`)", ErrImage)
	}
	root := spec.Root
	if root == "" {
		root = "/"
	}
	l := nodeimage.NewLayer()
	l.Dir("/tmp", 0o1777)
	for _, n := range slices.Sorted(maps.Keys(spec.Binaries)) {
		if err := ctx.Err(); err != nil {
			return Image{}, err
		}
		if err := l.AddBinary(root, "/"+n, spec.Binaries[n]); err != nil {
			return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
		}
	}
	var buf bytes.Buffer
	if err := l.WriteTar(&buf); err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	layerTar := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
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
	return Image{Ref: ref, Archive: file, Files: l.Paths()}, nil
}
