package app

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/testbed/k3s/k3simage"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
)

func newImageCmd(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build container images edgesim needs",
	}
	cmd.AddCommand(newImageNodeCmd(streams), newImageK3sCmd(streams), newImageWorkloadCmd(streams))
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

Kubernetes 1.35 (the default) is K3s's fork, v1.35.1-k3s1, built with
containerd and crictl inside K3s's module graph and with K3s's build tags,
so that the K3s build (edgesim image k3s) reuses the compiled packages.
1.34 is built from the upstream modules.

The image is cached, keyed by every version that went into it, and rebuilt
only when one of them changes. A cold build takes tens of minutes and about
10 GB of Go caches; run it as root. Install the host tools first with
hack/kind/install-deps.sh.

Where a registry is reachable you can skip this and give kind an upstream
kindest/node image instead.`,
		Example: `  edgesim image node
  edgesim image node --kubernetes-version v1.34.4 --plan   # upstream 1.34`,
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
			printBuild(streams, res.Image, res.Cached, res.Steps, res.Total)
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

func newImageK3sCmd(streams Streams) *cobra.Command {
	var (
		moduleVersion, cacheDir string
		rebuild, plan, verbose  bool
	)
	cmd := &cobra.Command{
		Use:   "k3s",
		Short: "Build a K3s node image from source, on the kind node image",
		Long: `Builds K3s from the Go module github.com/k3s-io/k3s, with nothing but the Go
module proxy, and lays it onto the kind node image that "edgesim image node"
builds. Build that first: the K3s image reuses its systemd, containerd, runc,
CNI plugins, pod network and preloaded pause and CoreDNS images, so a K3s
node never pulls an image.

How k3s is built (what upstream's scripts/build does, minus what the node
image already has): the module is copied to a writable directory under
--cache-dir and built as the main module (its go.mod has replace directives,
so "go install" refuses it), with CGO for sqlite, the tags
` + "`" + `ctrd netcgo osusergo providerless urfave_cli_no_docs sqlite_omit_load_extension` + "`" + `,
the packaged manifests embedded, and -ldflags stamping K3s's version, the
Kubernetes version and the Go version. K3s refuses to start unless that Go
version equals the one that built it; it is the local Go, newer than the one
upstream tests with.

Traefik, ServiceLB, metrics-server and local-storage are disabled when the
cluster starts: the testbed uses none of them and each would pull images.

The k3s binary is cached by module version, Go version, tags and flags; the
image by the binary, the kind node image's id and the files added. Both are
written under temporary names and only renamed or tagged when complete, so
an interrupted build is never reused. The node image builds its Kubernetes,
containerd and crictl in the same module graph with the same tags, so after
"edgesim image node" the Go build cache holds most of k3s: with every other
cache cold the command then took 3 min 45 s and 4 min 7 s in two runs on
two idle cores (about 15 without that head start). Run as root.`,
		Example: `  edgesim image node && edgesim image k3s
  edgesim image k3s --plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts := []k3simage.Option{k3simage.WithCacheDir(cacheDir), k3simage.WithModuleVersion(moduleVersion), k3simage.WithRebuild(rebuild)}
			if verbose {
				opts = append(opts, k3simage.WithLog(streams.ErrOut))
			} else {
				opts = append(opts, k3simage.WithProgress(streams.ErrOut))
			}
			b, err := k3simage.New(opts...)
			if err != nil {
				return err
			}
			if err := b.Check(ctx); err != nil {
				return err
			}
			if plan {
				s, err := b.Resolve(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "image %s\n%s", s.Tag(), s.String())
				return nil
			}
			restore, err := cluster.UsePodmanConf(cacheDir, "")
			if err != nil {
				return err
			}
			defer restore()
			res, err := b.Build(ctx)
			if err != nil {
				return err
			}
			printBuild(streams, res.Image, res.Cached, res.Steps, res.Total)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&moduleVersion, "module-version", k3simage.DefaultModuleVersion, "github.com/k3s-io/k3s module version to build (a pseudo-version; the proxy refuses +k3s release tags)")
	f.StringVar(&cacheDir, "cache-dir", k3simage.DefaultCacheDir, "where the k3s binary and build records are cached")
	f.BoolVar(&rebuild, "rebuild", false, "build the image even when it is cached (a complete cached k3s binary is still reused)")
	f.BoolVar(&plan, "plan", false, "print the image tag and everything that goes into it, and build nothing")
	f.BoolVarP(&verbose, "verbose", "v", false, "show the output of every build command")
	return cmd
}

// printBuild reports an image build: the image on stdout, the step
// durations on stderr.
func printBuild(streams Streams, image string, cached bool, steps []nodeimage.Step, total time.Duration) {
	if cached {
		fmt.Fprintf(streams.Out, "%s (cached)\n", image)
		return
	}
	for _, s := range steps {
		fmt.Fprintf(streams.ErrOut, "  %-24s %s\n", s.Name, s.Duration.Round(time.Second))
	}
	fmt.Fprintf(streams.Out, "%s (built in %s)\n", image, total.Round(time.Second))
}
