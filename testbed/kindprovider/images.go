package kindprovider

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrImage is wrapped by every image build or load failure.
var ErrImage = errors.New("kind provider: workload image")

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

// libDirs are where the dynamic loader of a Debian amd64 system looks.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib", "/lib64", "/usr/lib64"}

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
	files := map[string][]byte{} // image path -> content
	modes := map[string]int64{}
	links := map[string]string{} // image path -> symlink target
	names := make([]string, 0, len(spec.Binaries))
	for n := range spec.Binaries {
		names = append(names, n)
	}
	sort.Strings(names)
	var queue []string // paths inside root whose ELF deps to add
	for _, n := range names {
		host := spec.Binaries[n]
		b, err := os.ReadFile(host)
		if err != nil {
			return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
		}
		files["/"+n], modes["/"+n] = b, 0o755
		deps, interp, err := elfDeps(host)
		if err != nil {
			return Image{}, fmt.Errorf("%w: %s: %v", ErrImage, host, err)
		}
		if interp != "" {
			queue = append(queue, interp)
		}
		for _, d := range deps {
			p, err := findLib(root, d)
			if err != nil {
				return Image{}, fmt.Errorf("%w: %s: %v", ErrImage, host, err)
			}
			queue = append(queue, p)
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return Image{}, err
		}
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		real, err := addFromRoot(root, p, files, modes, links)
		if err != nil {
			return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
		}
		deps, interp, err := elfDeps(filepath.Join(root, real))
		if err != nil {
			return Image{}, fmt.Errorf("%w: %s: %v", ErrImage, real, err)
		}
		if interp != "" {
			queue = append(queue, interp)
		}
		for _, d := range deps {
			lp, err := findLib(root, d)
			if err != nil {
				return Image{}, fmt.Errorf("%w: %s: %v", ErrImage, real, err)
			}
			queue = append(queue, lp)
		}
	}
	layerTar, paths, err := writeLayer(files, modes, links)
	if err != nil {
		return Image{}, err
	}
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
	return Image{Ref: ref, Archive: file, Files: paths}, nil
}

func findLib(root, lib string) (string, error) {
	for _, d := range libDirs {
		if _, err := os.Stat(filepath.Join(root, d, lib)); err == nil {
			return path.Join(d, lib), nil
		}
	}
	return "", fmt.Errorf("needs %s, which is in none of %s below %s: install the library (e.g. apt-get install libvpx-dev)", lib, strings.Join(libDirs, ", "), root)
}

// addFromRoot adds the file at p (absolute, inside root) to the layer,
// resolving symlinks of the path inside root and adding them as symlinks;
// it returns the real path inside root.
func addFromRoot(root, p string, files map[string][]byte, modes map[string]int64, links map[string]string) (string, error) {
	cur := path.Clean(p)
	for range 40 {
		// Resolve parent directories first.
		dir, base := path.Split(cur)
		realDir := path.Clean(dir)
		if realDir != "/" {
			rd, err := resolveDir(root, realDir, links)
			if err != nil {
				return "", err
			}
			realDir = rd
		}
		full := path.Join(realDir, base)
		fi, err := os.Lstat(filepath.Join(root, full))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(filepath.Join(root, full))
			if err != nil {
				return "", err
			}
			links[full] = target
			if !path.IsAbs(target) {
				target = path.Join(realDir, target)
			}
			cur = target
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, full))
		if err != nil {
			return "", err
		}
		files[full], modes[full] = b, int64(fi.Mode().Perm())
		return full, nil
	}
	return "", fmt.Errorf("%s: too many symlinks", p)
}

// resolveDir resolves symlinked directories of dir inside root (such as
// /lib -> usr/lib on merged-/usr systems), recording the links.
func resolveDir(root, dir string, links map[string]string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(dir, "/"), "/")
	cur := "/"
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(filepath.Join(root, next))
			if err != nil {
				return "", err
			}
			links[next] = target
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			rest := append(strings.Split(strings.TrimPrefix(path.Clean(target), "/"), "/"), parts[i+1:]...)
			parts, i, cur = rest, -1, "/"
			continue
		}
		cur = next
	}
	return cur, nil
}

// epoch is every entry's modification time, so equal inputs give equal
// digests.
var epoch = time.Unix(0, 0)

// writeLayer writes the layer as a tar stream: parent directories first,
// then files and symlinks, sorted; plus /tmp.
func writeLayer(files map[string][]byte, modes map[string]int64, links map[string]string) ([]byte, []string, error) {
	dirs := map[string]bool{"/tmp": true}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	for p := range links {
		if _, ok := files[p]; !ok {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, isLink := links[d]; !isLink {
				dirs[d] = true
			}
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirList {
		mode := int64(0o755)
		if d == "/tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: mode, ModTime: epoch}); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range paths {
		name := strings.TrimPrefix(p, "/")
		if t, ok := links[p]; ok {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: t, Mode: 0o777, ModTime: epoch}); err != nil {
				return nil, nil, err
			}
			continue
		}
		b := files[p]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: modes[p], Size: int64(len(b)), ModTime: epoch}); err != nil {
			return nil, nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), paths, nil
}

// elfDeps returns the DT_NEEDED libraries and the interpreter of an ELF
// file; a file that is not ELF (a script, a static blob) has none.
func elfDeps(file string) (needed []string, interp string, err error) {
	f, err := elf.Open(file)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, "", nil
		}
		return nil, "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, "", err
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.ImportedLibraries()
	return needed, interp, err
}

// LoadImage imports an image archive into a kind node's containerd, the
// way `kind load image-archive` does, through the container runtime's exec
// (runtime is "podman" or "docker").
func LoadImage(ctx context.Context, runtime, node, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, runtime, "exec", "-i", node,
		"ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests", "-")
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: load %s into node %s: %v: %s", ErrImage, filepath.Base(archive), node, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
