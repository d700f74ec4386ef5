package agent

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Root is the directory on the node the agent's file chores are confined
// to (the host data directory mounted into the agent's pod). Paths given
// to its methods are either absolute and inside the directory, or
// relative to it; a path with a ".." element, or one that leaves the
// directory through a symbolic link, is refused (os.Root resolves every
// path component below the directory itself).
type Root struct {
	dir string
	r   *os.Root
}

// OpenRoot opens dir, which must exist, as a Root.
func OpenRoot(dir string) (*Root, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("agent: root %q is not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: open root: %w", err)
	}
	return &Root{dir: dir, r: r}, nil
}

// Dir is the directory the Root is confined to.
func (r *Root) Dir() string { return r.dir }

// Close releases the Root's directory.
func (r *Root) Close() error { return r.r.Close() }

// ErrOutside means a path is not inside the agent's root directory.
var ErrOutside = errors.New("agent: path is outside the root directory")

// rel turns p into a path relative to the root ("." for the root itself).
func (r *Root) rel(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("agent: empty path: %w", ErrOutside)
	}
	for _, e := range strings.Split(filepath.ToSlash(p), "/") {
		if e == ".." {
			return "", fmt.Errorf("agent: %q has a \"..\" element: %w", p, ErrOutside)
		}
	}
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(r.dir, filepath.Clean(p))
		if err != nil || !filepath.IsLocal(rel) {
			return "", fmt.Errorf("agent: %q is not under %s: %w", p, r.dir, ErrOutside)
		}
		return rel, nil
	}
	p = filepath.Clean(p)
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("agent: %q: %w", p, ErrOutside)
	}
	return p, nil
}

// Cat returns the contents of the file at p; a missing file reads as
// empty.
func (r *Root) Cat(p string) ([]byte, error) {
	rel, err := r.rel(p)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadFile(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Exists reports whether p exists (following symbolic links that stay
// inside the root).
func (r *Root) Exists(p string) (bool, error) {
	rel, err := r.rel(p)
	if err != nil {
		return false, err
	}
	_, err = r.r.Stat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Tar writes the contents of the directory dir to w as a tar stream of
// its directories and regular files, named relative to dir. Other kinds
// of file (symbolic links, devices, sockets) are left out.
func (r *Root) Tar(ctx context.Context, dir string, w io.Writer) error {
	rel, err := r.rel(dir)
	if err != nil {
		return err
	}
	sub, err := r.r.OpenRoot(rel)
	if err != nil {
		return fmt.Errorf("agent: tar %s: %w", dir, err)
	}
	defer sub.Close()
	tw := tar.NewWriter(w)
	fsys := sub.FS()
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == "." || !(d.IsDir() || d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, Mode: int64(info.Mode().Perm()), ModTime: info.ModTime(), Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
			return tw.WriteHeader(hdr)
		}
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, info.Size())
		return err
	})
	if err != nil {
		return fmt.Errorf("agent: tar %s: %w", dir, err)
	}
	return tw.Close()
}

// Untar extracts the tar stream rd into the directory dir, creating it
// when missing. Only directories and regular files are accepted; an entry
// of another kind (links above all), with an absolute name or with a ".."
// element fails the extraction, leaving what was extracted before it.
func (r *Root) Untar(ctx context.Context, dir string, rd io.Reader) error {
	rel, err := r.rel(dir)
	if err != nil {
		return err
	}
	if err := r.r.MkdirAll(rel, 0o755); err != nil {
		return fmt.Errorf("agent: untar into %s: %w", dir, err)
	}
	sub, err := r.r.OpenRoot(rel)
	if err != nil {
		return fmt.Errorf("agent: untar into %s: %w", dir, err)
	}
	defer sub.Close()
	tr := tar.NewReader(rd)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agent: untar into %s: %w", dir, err)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		mode := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if name == "." {
				continue
			}
			if err := sub.MkdirAll(name, mode|0o700); err != nil {
				return fmt.Errorf("agent: untar %s: %w", hdr.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archivers write TypeRegA
			if name == "." {
				return fmt.Errorf("agent: untar: a regular file named %q", hdr.Name)
			}
			if d := path.Dir(name); d != "." {
				if err := sub.MkdirAll(d, 0o755); err != nil {
					return fmt.Errorf("agent: untar %s: %w", hdr.Name, err)
				}
			}
			f, err := sub.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode|0o600)
			if err != nil {
				return fmt.Errorf("agent: untar %s: %w", hdr.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("agent: untar %s: %w", hdr.Name, err)
			}
		default:
			return fmt.Errorf("agent: untar: %q is not a regular file or a directory (type %q): refused", hdr.Name, hdr.Typeflag)
		}
	}
}

// entryName checks a tar entry's name and returns it cleaned, in slash
// form.
func entryName(n string) (string, error) {
	if n == "" || strings.HasPrefix(n, "/") || filepath.IsAbs(n) || strings.Contains(n, `\`) {
		return "", fmt.Errorf("agent: untar: entry name %q is not a relative path: refused", n)
	}
	for _, e := range strings.Split(n, "/") {
		if e == ".." {
			return "", fmt.Errorf("agent: untar: entry name %q has a \"..\" element: refused", n)
		}
	}
	return path.Clean(n), nil
}

// Symlink points the symbolic link link at target, replacing what link
// was atomically, as `ln -sfn target link.new && mv -T link.new link`
// does. target may be relative (to link's directory) or absolute; either
// way it must name a path inside the root.
func (r *Root) Symlink(target, link string) error {
	rel, err := r.rel(link)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("agent: symlink: the root itself cannot be a link: %w", ErrOutside)
	}
	resolved := target
	if !filepath.IsAbs(target) {
		resolved = filepath.Join(r.dir, filepath.Dir(rel), target)
	}
	if _, err := r.rel(target); target == "" || (err != nil && filepath.IsAbs(target)) || hasDotDot(target) {
		return fmt.Errorf("agent: symlink target %q: %w", target, ErrOutside)
	}
	if _, err := r.rel(filepath.Clean(resolved)); err != nil {
		return fmt.Errorf("agent: symlink target %q: %w", target, ErrOutside)
	}
	tmp := rel + ".new"
	if err := r.r.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("agent: symlink: %w", err)
	}
	if err := r.r.Symlink(target, tmp); err != nil {
		return fmt.Errorf("agent: symlink: %w", err)
	}
	if err := r.r.Rename(tmp, rel); err != nil {
		_ = r.r.Remove(tmp)
		return fmt.Errorf("agent: symlink: %w", err)
	}
	return nil
}

// hasDotDot reports whether p has a ".." element.
func hasDotDot(p string) bool {
	for _, e := range strings.Split(filepath.ToSlash(p), "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// ProbeTimeout bounds one Probe.
const ProbeTimeout = 2 * time.Second

// Probe GETs url and succeeds on a 2xx answer within ProbeTimeout.
func Probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("agent: probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("agent: probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("agent: probe %s: %s", url, resp.Status)
	}
	return nil
}
