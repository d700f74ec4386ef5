package app

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

func newImageCmd(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build container images edgesim needs",
	}
	cmd.AddCommand(newImageNodeCmd(streams))
	return cmd
}

func newImageNodeCmd(streams Streams) *cobra.Command {
	var (
		kubeVersion, cacheDir, runtime, mirror string
		rebuild, plan, verbose                 bool
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Build a kind node image from source, with no image registry",
		Long: `Builds a kind-compatible node image for a pinned Kubernetes release without
any image registry: Kubernetes, etcd, CoreDNS, containerd, runc, crictl and
the CNI plugins are built from source fetched through the Go module proxy,
the OS layer comes from Debian packages (debootstrap), and the control-plane,
CNI and pause images are assembled locally and preloaded into the node.

The image is cached, keyed by every version that went into it, and rebuilt
only when one of them changes. A cold build takes tens of minutes and about
10 GB of Go caches; run it as root. Install the host tools first with
hack/kind/install-deps.sh.

Where a registry is reachable you can skip this and give kind an upstream
kindest/node image instead.`,
		Example: `  edgesim image node
  edgesim image node --kubernetes-version v1.34.4 --plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := nodeimage.ResolveVersions(kubeVersion)
			if err != nil {
				return err
			}
			if plan {
				fmt.Fprintf(streams.Out, "image %s\n%s", v.Tag(), v.String())
				return nil
			}
			rt, err := cluster.DetectRuntime(ctx, cluster.Runtime(runtime))
			if err != nil {
				return err
			}
			if rt == cluster.Podman {
				restore, err := cluster.UsePodmanConf(cacheDir, "")
				if err != nil {
					return err
				}
				defer restore()
			}
			opts := []nodeimage.Option{nodeimage.WithCacheDir(cacheDir), nodeimage.WithRuntime(string(rt)),
				nodeimage.WithMirror(mirror), nodeimage.WithRebuild(rebuild)}
			if verbose {
				opts = append(opts, nodeimage.WithLog(streams.ErrOut))
			} else {
				opts = append(opts, nodeimage.WithProgress(streams.ErrOut))
			}
			res, err := nodeimage.New(v, opts...).Build(ctx)
			if err != nil {
				return err
			}
			if res.Cached {
				fmt.Fprintf(streams.Out, "%s (cached)\n", res.Image)
				return nil
			}
			for _, s := range res.Steps {
				fmt.Fprintf(streams.ErrOut, "  %-24s %s\n", s.Name, s.Duration.Round(time.Second))
			}
			fmt.Fprintf(streams.Out, "%s (built in %s)\n", res.Image, res.Total.Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeVersion, "kubernetes-version", nodeimage.DefaultKubernetesVersion, "Kubernetes release to build (supported minors: "+fmt.Sprint(nodeimage.SupportedMinors())+")")
	f.StringVar(&cacheDir, "cache-dir", nodeimage.DefaultCacheDir, "where built binaries, the Debian root and build records are cached")
	f.StringVar(&runtime, "runtime", "", `container runtime whose image store receives the image: "podman", "docker" or empty to detect`)
	f.StringVar(&mirror, "mirror", nodeimage.DefaultMirror, "Debian mirror for debootstrap")
	f.BoolVar(&rebuild, "rebuild", false, "build even when the image is cached")
	f.BoolVar(&plan, "plan", false, "print the image tag and every version that goes into it, and build nothing")
	f.BoolVarP(&verbose, "verbose", "v", false, "show the output of every build command")
	return cmd
}
