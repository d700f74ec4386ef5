package app

import (
	"errors"
	"fmt"
	"os/exec"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kind/nodeimage"
	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

func newClusterCmd(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Prepare a cluster edgesim did not create: check that it can hold a scenario, print the RBAC it needs",
		Long: `Commands for a Kubernetes cluster edgesim reaches through a kubeconfig
(an edge lab's K3s boxes, a MicroK8s or CRI-O cluster, a cloud cluster).
Running scenarios there (provider kubeconfig) is not available yet; these
commands prepare the cluster for it.`,
	}
	cmd.AddCommand(newClusterCheckCmd(streams), newClusterRBACCmd(streams))
	return cmd
}

func newClusterCheckCmd(streams Streams) *cobra.Command {
	var (
		target    kp.Target
		kubectl   string
		selectors []string
		registry  nodecontainer.Registry
	)
	cmd := &cobra.Command{
		Use:   "check SCENARIO --kubeconfig FILE",
		Short: "Check that a cluster can hold a scenario: it answers, the account may do what a run does, every plan node has a node",
		Long: `check reaches the cluster through the kubeconfig (--kubeconfig, else the
scenario's spec.kubeconfig) and creates nothing. It checks that

  - the context exists and the API server answers and takes the credentials;
  - the account may do everything a run does (deploy/kubeconfig/rbac.yaml,
    asked in one request of SelfSubjectAccessReviews);
  - every plan node maps onto a Ready node of its own: the node labelled
    edgesim.dev/node=<plan node>, else one a --node-selector picks;
  - with --image-registry, that this machine can push the workload images
    there (whether the nodes can pull them shows when a run's agents start:
    the run stops at once, naming the node and the image).

It prints the mapping, or every problem at once with the commands that fix
them (the kubectl label lines name free workers first).

Exit status: 0 when the cluster can hold the scenario, 1 when it cannot,
2 when the check itself failed (unreadable kubeconfig, no such context,
API server unreachable, credentials refused).`,
		Example: `  # which labels are missing?
  edgesim cluster check scenarios/examples/quickstart.yaml --kubeconfig ~/.kube/lab.yaml

  # a context of your kubeconfig, nodes picked by pool and rack
  edgesim cluster check site.yaml --kubeconfig ~/.kube/config --context lab \
    --node-selector tier=edge:pool=edge --node-selector site=store-1:rack=7`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("cluster check needs one scenario file, e.g. edgesim cluster check scenarios/examples/quickstart.yaml --kubeconfig FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var sels []kp.Selector
			for _, s := range selectors {
				sel, err := kp.ParseSelector(s)
				if err != nil {
					return fmt.Errorf("--node-selector: %w", err)
				}
				sels = append(sels, sel)
			}
			sc, err := scenarios.LoadFile(args[0])
			if err != nil {
				return err
			}
			if target.Kubeconfig == "" {
				target.Kubeconfig = sc.Kubeconfig
			}
			if target.Kubeconfig == "" {
				return errors.New("--kubeconfig: give the cluster's kubeconfig file (or set spec.kubeconfig in the scenario)")
			}
			context, err := kp.CheckKubeconfig(target)
			if err != nil {
				return err
			}
			if kubectl == "" {
				if kubectl, err = kp.FindKubectl(exec.LookPath, nodeimage.DefaultCacheDir); err != nil {
					return err
				}
			}
			plan, err := testbed.NewPlan(sc, false)
			if err != nil {
				return err
			}
			const ns = "edgesim-check" // a run's namespace is of its own; RBAC answers alike for any not yet created
			mapping, err := kp.Preflight(cmd.Context(), &kp.Kubectl{Path: kubectl, Target: target}, plan, ns, sels, registry)
			var pe *kp.PreflightError
			if errors.As(err, &pe) {
				return ExitError{Code: 1, Err: fmt.Errorf("context %s: %w", context, err)}
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PLAN NODE\tROLE\tSITE\tCLUSTER NODE")
			for _, n := range plan.Nodes {
				site := n.Site
				if site == "" {
					site = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Role, site, mapping[n.Name])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			pushed := ""
			if registry.Name != "" {
				pushed = ", and this machine can push to " + registry.Name
			}
			fmt.Fprintf(streams.Out, "context %s can hold %s: every plan node has a Ready node of its own, the account may do what a run does%s\n", context, sc.Name, pushed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target.Kubeconfig, "kubeconfig", "", "the cluster's kubeconfig file (default: the scenario's spec.kubeconfig)")
	f.StringVar(&target.Context, "context", "", "the kubeconfig context (default: its current-context)")
	f.StringVar(&kubectl, "kubectl", "", "the kubectl binary (default: kubectl on PATH, else the one `edgesim image node` built)")
	f.StringVar(&registry.Name, "image-registry", "", "also check that this machine can push to this registry (HOST[:PORT][/PATH]), as a run does")
	f.BoolVar(&registry.Insecure, "insecure-registry", false, "--image-registry speaks plain HTTP")
	f.StringArrayVar(&selectors, "node-selector", nil, "pick nodes for a tier or site no edgesim.dev/node label names: tier=TIER:LABEL=VALUE[,...] or site=SITE:LABEL=VALUE[,...] (repeatable)")
	return cmd
}

func newClusterRBACCmd(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "rbac",
		Short: "Print the ClusterRole of what a run does on a cluster (deploy/kubeconfig/rbac.yaml)",
		Example: `  edgesim cluster rbac | kubectl apply -f -
  kubectl create clusterrolebinding edgesim --clusterrole=edgesim --user=YOU`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b, err := kp.RBAC()
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(b)
			return err
		},
	}
}
