package nodeimage

import (
	"archive/tar"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// layerEntry is one entry of an image layer.
type layerEntry struct {
	Path     string // absolute path inside the image
	HostPath string // regular file content from the host, or
	Content  []byte // literal content
	Link     string // symlink target (Path is a symlink)
	Dir      bool
	Mode     int64
}

// Layer is an image layer of files, symlinks and directories, many taken
// from a Linux root file system with the shared libraries they need;
// parent directories are added automatically and every entry is dated to
// the epoch, so equal inputs give equal layers. The node image and
// testbed/kindprovider's workload images are built with it.
type Layer struct {
	entries map[string]layerEntry
}

// NewLayer returns an empty layer.
func NewLayer() *Layer { return &Layer{entries: map[string]layerEntry{}} }

func (l *Layer) add(e layerEntry) {
	e.Path = path.Clean("/" + e.Path)
	for d := path.Dir(e.Path); d != "/"; d = path.Dir(d) {
		if _, ok := l.entries[d]; !ok {
			l.entries[d] = layerEntry{Path: d, Dir: true, Mode: 0o755}
		}
	}
	l.entries[e.Path] = e
}

func (l *Layer) file(p, hostPath string, mode int64) {
	l.add(layerEntry{Path: p, HostPath: hostPath, Mode: mode})
}

func (l *Layer) bytes(p string, content []byte, mode int64) {
	l.add(layerEntry{Path: p, Content: content, Mode: mode})
}

func (l *Layer) symlink(p, target string) {
	l.add(layerEntry{Path: p, Link: target, Mode: 0o777})
}

func (l *Layer) dir(p string) { l.Dir(p, 0o755) }

// Dir adds a directory with the given mode (e.g. 0o1777 for /tmp).
func (l *Layer) Dir(p string, mode int64) { l.add(layerEntry{Path: p, Dir: true, Mode: mode}) }

// AddBinary adds the host file hostPath at imagePath, with the dynamic
// loader and every shared library it needs, found below root (a Linux root
// file system, "/" for this host's) the way the loader finds them.
func (l *Layer) AddBinary(root, imagePath, hostPath string) error {
	st, err := os.Stat(hostPath)
	if err != nil {
		return err
	}
	l.file(imagePath, hostPath, int64(st.Mode().Perm()|0o111))
	deps, err := elfLibs(root, hostPath)
	if err != nil {
		return err
	}
	return l.copyWithLibs(root, deps...)
}

// Paths returns the entry paths in the order they are written.
func (l *Layer) Paths() []string {
	ps := make([]string, 0, len(l.entries))
	for p := range l.entries {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// epoch is the fixed modification time of every entry, so equal inputs give
// equal layer digests.
var epoch = time.Unix(0, 0).UTC()

// WriteTar writes the layer as an uncompressed tar stream.
func (l *Layer) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, p := range l.Paths() {
		e := l.entries[p]
		name := strings.TrimPrefix(p, "/")
		hdr := &tar.Header{Name: name, Mode: e.Mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case e.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case e.Link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Link
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case e.HostPath != "":
			f, err := os.Open(e.HostPath)
			if err != nil {
				return err
			}
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				f.Close()
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("layer %s: %w", p, err)
			}
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.Content))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(e.Content); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// copyFromRoot adds the file at p inside root (a directory holding a Linux
// root file system) to the layer at the same path. Every symlink met on the
// way, in a parent directory or the file itself, is resolved inside root and
// added too, so the path works the same way in the image.
func (l *Layer) copyFromRoot(root, p string) (string, error) {
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		rest = rest[1:]
		host := filepath.Join(root, next)
		st, err := os.Lstat(host)
		if err != nil {
			return "", fmt.Errorf("%s in %s: %w", p, root, err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			if hops++; hops > 40 {
				return "", fmt.Errorf("%s in %s: too many symlinks", p, root)
			}
			target, err := os.Readlink(host)
			if err != nil {
				return "", err
			}
			l.symlink(next, target)
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			rest = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), rest...)
			cur = "/"
			continue
		}
		if len(rest) == 0 {
			if st.IsDir() {
				l.dir(next)
			} else {
				l.file(next, host, int64(st.Mode().Perm()))
			}
			return next, nil
		}
		cur = next
	}
	return cur, nil
}

// libDirs are where the dynamic loader of a Debian root looks for a
// library of an ELF file of the machine: its multiarch directories first, so
// an arm64 binary gets arm64 libraries on an amd64 host that has both.
func libDirs(m elf.Machine) []string {
	triplet := "x86_64-linux-gnu"
	if m == elf.EM_AARCH64 {
		triplet = "aarch64-linux-gnu"
	}
	return []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib", "/lib64", "/usr/lib64"}
}

// copyWithLibs adds the ELF files at paths (inside root) together with their
// interpreter and every shared library they need, transitively.
func (l *Layer) copyWithLibs(root string, paths ...string) error {
	seen := map[string]bool{}
	queue := append([]string(nil), paths...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		real, err := l.copyFromRoot(root, p)
		if err != nil {
			return err
		}
		deps, err := elfLibs(root, filepath.Join(root, real))
		if err != nil {
			return err
		}
		queue = append(queue, deps...)
	}
	return nil
}

// elfLibs returns the paths below root of the interpreter and the shared
// libraries an ELF file (a path on the host) needs directly.
func elfLibs(root, file string) ([]string, error) {
	needed, interp, machine, err := elfDeps(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []string
	if interp != "" {
		out = append(out, interp)
	}
	for _, lib := range needed {
		p, err := findLib(root, lib, machine)
		if err != nil {
			return nil, fmt.Errorf("%s %w", file, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// findLib finds a library for an ELF file of machine m below root in the
// loader's directories, skipping files built for another machine.
func findLib(root, lib string, m elf.Machine) (string, error) {
	dirs := libDirs(m)
	for _, d := range dirs {
		if _, _, got, err := elfDeps(filepath.Join(root, d, lib)); err == nil && (got == m || got == elf.EM_NONE) {
			return path.Join(d, lib), nil
		}
	}
	return "", fmt.Errorf("needs %s (%s), which is in none of %s below %s: install the library (e.g. apt-get install libvpx-dev, or libvpx-dev:arm64 for arm64)", lib, m, strings.Join(dirs, ", "), root)
}

// elfDeps returns the DT_NEEDED libraries, the interpreter and the machine
// of an ELF file; a file that is not ELF has none (machine EM_NONE).
func elfDeps(file string) (needed []string, interp string, machine elf.Machine, err error) {
	f, err := elf.Open(file)
	if err != nil {
		var fe *elf.FormatError
		if ok := asFormatError(err, &fe); ok {
			return nil, "", elf.EM_NONE, nil
		}
		return nil, "", elf.EM_NONE, err
	}
	defer f.Close()
	machine = f.Machine
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, "", machine, err
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return nil, "", machine, err
	}
	return needed, interp, machine, nil
}

func asFormatError(err error, target **elf.FormatError) bool {
	fe, ok := err.(*elf.FormatError)
	if ok {
		*target = fe
	}
	return ok
}
