package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/testbed/nodecontainer"
	"github.com/edgesim/edgesim/testbed/provider"
)

func newImageWorkloadCmd(streams Streams) *cobra.Command {
	var (
		edgenode, arm64Dir, out string
		multiarch               bool
		push                    nodecontainer.Registry
	)
	cmd := &cobra.Command{
		Use:   "workload --out DIR",
		Short: "Build the edgenode and camera (edgesim) workload images, with no Docker",
		Long: `Builds the two workload images the kind and K3s providers load into their
nodes: edgenode, and edgesim (which runs fakecam). Each image is one layer:
the binary, its dynamic loader and the shared libraries it needs (libvpx),
taken from this host. No Docker daemon or registry is involved.

Without --multiarch: one docker-format archive per image in --out, for this
host's architecture (what kind and K3s load with "ctr images import").

With --multiarch: --out becomes an OCI image layout holding, per image, an
OCI image index of a linux/amd64 and a linux/arm64 image, named
localhost/edgesim/edgenode:<digest> and localhost/edgesim/edgesim:<digest>.
The arm64 binaries come from --arm64-dir; build them with
"go tool task cross". A registry client pushes the index as it is, e.g.
"skopeo copy --all oci:DIR:REF docker://HOST/edgesim/edgenode:TAG".

With --push REGISTRY: each image (or index) is then sent to the registry,
below its path (REGISTRY/edgesim/edgenode:<tag>), with go-containerregistry
and the credentials of ~/.docker/config.json; no Docker daemon is needed.
The pushed references, by digest, are printed. A cluster edgesim did not
create pulls the workloads from there.`,
		Example: `  go tool task build cross
  bin/edgesim image workload --multiarch --out images/
  bin/edgesim image workload --multiarch --out images/ --push registry.lab:5000/edge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out: give the directory to write the images to")
			}
			if push.Name != "" {
				if _, err := push.Ref("edgesim/check:check"); err != nil {
					return fmt.Errorf("--push: %w", err)
				}
			}
			host, err := binaries(edgenode)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !multiarch {
				for _, spec := range nodecontainer.WorkloadSpecs(host, "") {
					img, err := nodecontainer.BuildImage(ctx, spec, out)
					if err != nil {
						return err
					}
					fmt.Fprintf(streams.Out, "%s %s\n", img.Ref, img.Archive)
					if push.Name != "" {
						at, err := nodecontainer.PushImage(ctx, img, push)
						if err != nil {
							return err
						}
						fmt.Fprintf(streams.Out, "pushed %s\n", at)
					}
				}
				return nil
			}
			if runtime.GOARCH != "amd64" {
				return fmt.Errorf("--multiarch builds amd64 and arm64 from an amd64 host; this one is %s", runtime.GOARCH)
			}
			if arm64Dir == "" {
				arm64Dir = filepath.Join(filepath.Dir(host.Edgesim), "linux-arm64")
			}
			arm := provider.Binaries{Edgenode: filepath.Join(arm64Dir, "edgenode"), Edgesim: filepath.Join(arm64Dir, "edgesim")}
			for _, p := range []string{arm.Edgenode, arm.Edgesim} {
				if _, err := os.Stat(p); err != nil {
					return fmt.Errorf("no arm64 binary at %s: build them with `go tool task cross` (bin/linux-arm64) or pass --arm64-dir", p)
				}
			}
			idxs, err := nodecontainer.BuildWorkloadIndexes(ctx, map[string]provider.Binaries{"amd64": host, "arm64": arm}, out)
			if err != nil {
				return err
			}
			for _, idx := range idxs {
				fmt.Fprintf(streams.Out, "%s %s %v\n", idx.Ref, idx.Digest, idx.Platforms)
				if push.Name != "" {
					at, err := nodecontainer.PushIndex(ctx, out, idx.Ref, push)
					if err != nil {
						return err
					}
					fmt.Fprintf(streams.Out, "pushed %s\n", at)
				}
			}
			fmt.Fprintf(streams.ErrOut, "OCI image layout in %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory for the archives, or the OCI image layout with --multiarch")
	f.BoolVar(&multiarch, "multiarch", false, "write an OCI image index per image, linux/amd64 and linux/arm64")
	f.StringVar(&edgenode, "edgenode", "", "this host's edgenode binary (default: next to edgesim, then $PATH)")
	f.StringVar(&push.Name, "push", "", "send the images to this registry, HOST[:PORT][/PATH] (credentials from ~/.docker/config.json)")
	f.BoolVar(&push.Insecure, "insecure-registry", false, "with --push: the registry speaks plain HTTP (localhost always may)")
	f.StringVar(&arm64Dir, "arm64-dir", "", "directory with the arm64 edgenode and edgesim (default: linux-arm64 next to edgesim, i.e. bin/linux-arm64)")
	return cmd
}
