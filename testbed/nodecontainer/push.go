package nodecontainer

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is where Push sends images: a registry host with an optional
// path below it ("registry.lab:5000" or "registry.lab:5000/team").
type Registry struct {
	// Name is the host[:port][/path].
	Name string
	// Insecure allows plain HTTP (localhost and 127.0.0.1 get it anyway).
	Insecure bool
}

// Ref is where an image of ref (e.g. localhost/edgesim/edgenode:<tag>,
// as BuildImage and BuildIndex name them) goes in r: the repository below
// r's path, e.g. registry.lab:5000/team/edgesim/edgenode:<tag>.
func (r Registry) Ref(ref string) (name.Reference, error) {
	if strings.TrimSpace(r.Name) == "" || strings.Contains(r.Name, "://") {
		return nil, fmt.Errorf("%w: registry %q: want HOST[:PORT][/PATH], with no scheme", ErrImage, r.Name)
	}
	repo := ref
	if host, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		repo = rest
	}
	opts := []name.Option{name.StrictValidation}
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	dst, err := name.NewTag(strings.TrimSuffix(r.Name, "/")+"/"+repo, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: registry %q: %v", ErrImage, r.Name, err)
	}
	return dst, nil
}

func pushOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// PushIndex sends the index named ref in the OCI image layout at dir
// (BuildIndex) to r with every image it holds, and returns where it went
// (by digest). Credentials come from the Docker config
// (~/.docker/config.json), as for any registry client; no daemon is involved.
func PushIndex(ctx context.Context, dir, ref string, r Registry) (string, error) {
	dst, err := r.Ref(ref)
	if err != nil {
		return "", err
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", fmt.Errorf("%w: OCI layout %s: %v", ErrImage, dir, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		return "", fmt.Errorf("%w: OCI layout %s: %v", ErrImage, dir, err)
	}
	var found *v1.Hash
	for _, d := range m.Manifests {
		if d.Annotations[refName] == ref {
			found = &d.Digest
		}
	}
	if found == nil {
		return "", fmt.Errorf("%w: the OCI layout %s has no index %s (build it with `edgesim image workload --multiarch`)", ErrImage, dir, ref)
	}
	idx, err := top.ImageIndex(*found)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrImage, ref, err)
	}
	if err := remote.WriteIndex(dst, idx, pushOptions(ctx)...); err != nil {
		return "", fmt.Errorf("%w: push %s to %s: %v", ErrImage, ref, dst, err)
	}
	return dst.Context().Digest(found.String()).String(), nil
}

// PushImage sends the image of a docker-format archive (BuildImage) to r
// and returns where it went (by digest).
func PushImage(ctx context.Context, img Image, r Registry) (string, error) {
	dst, err := r.Ref(img.Ref)
	if err != nil {
		return "", err
	}
	tag, err := name.NewTag(img.Ref, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrImage, img.Ref, err)
	}
	im, err := tarball.ImageFromPath(img.Archive, &tag)
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %v", ErrImage, img.Archive, err)
	}
	digest, err := im.Digest()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrImage, img.Ref, err)
	}
	if err := remote.Write(dst, im, pushOptions(ctx)...); err != nil {
		return "", fmt.Errorf("%w: push %s to %s: %v", ErrImage, img.Ref, dst, err)
	}
	return dst.Context().Digest(digest.String()).String(), nil
}

// CheckPush asks r whether this machine can push there, without pushing:
// the registry's /v2/ answers over the scheme r allows, and a registry
// that hands out tokens grants the credentials a push scope on the
// repository the edgenode image would go to.
func (r Registry) CheckPush(ctx context.Context) error {
	dst, err := r.Ref("edgesim/edgenode:check")
	if err != nil {
		return err
	}
	repo := dst.Context()
	auth, err := authn.DefaultKeychain.Resolve(repo.Registry)
	if err != nil {
		return fmt.Errorf("%w: credentials for %s: %v", ErrImage, repo.RegistryStr(), err)
	}
	if _, err := transport.NewWithContext(ctx, repo.Registry, auth, remote.DefaultTransport, []string{repo.Scope(transport.PushScope)}); err != nil {
		return fmt.Errorf("%w: registry %s: %v", ErrImage, repo.RegistryStr(), err)
	}
	return nil
}
