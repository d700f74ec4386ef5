package kubeconfigprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/edgesim/edgesim/testbed/kube"
)

// Rule is one RBAC rule a run needs: the verbs on the resources of an API
// group, cluster-wide or in the run's namespace. Rules is the one list both
// the permission check and the ClusterRole (RBAC) are made from.
type Rule struct {
	Group      string // "" is the core group
	Resources  []string
	Verbs      []string
	Namespaced bool
}

// Rules are what a run does on a cluster: it reads the nodes, watches
// them for the failover breakdown and cordons the node a kill fault names
// (and uncordons it), creates and deletes its own namespace,
// applies its workloads there (apply = get, create, patch), watches and
// deletes pods, execs into its agents, reads logs and each edgenode's
// /metrics through the API server's pod proxy, and reads events and
// endpoints for its diagnosis.
var Rules = []Rule{
	{Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "patch"}},
	{Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "create", "delete"}},
	{Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "create", "delete"}, Namespaced: true},
	{Resources: []string{"pods/exec"}, Verbs: []string{"create"}, Namespaced: true},
	{Resources: []string{"pods/log", "pods/proxy"}, Verbs: []string{"get"}, Namespaced: true},
	{Resources: []string{"services", "configmaps", "secrets"}, Verbs: []string{"get", "list", "create", "patch", "delete"}, Namespaced: true},
	{Resources: []string{"events"}, Verbs: []string{"list", "watch"}, Namespaced: true},
	{Group: "apps", Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}, Namespaced: true},
	{Group: "policy", Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "create", "patch", "delete"}, Namespaced: true},
	{Group: "discovery.k8s.io", Resources: []string{"endpointslices"}, Verbs: []string{"get", "list"}, Namespaced: true},
}

// RoleName is the ClusterRole RBAC defines.
const RoleName = "edgesim"

// clusterRole is rbac.authorization.k8s.io/v1 ClusterRole.
type clusterRole struct {
	kube.Meta `yaml:",inline"`
	Rules     []policyRule `yaml:"rules"`
}

type policyRule struct {
	APIGroups []string `yaml:"apiGroups"`
	Resources []string `yaml:"resources"`
	Verbs     []string `yaml:"verbs"`
}

// RBAC is the ClusterRole holding Rules, as deploy/kubeconfig/rbac.yaml
// ships it, with how to bind an account to it.
func RBAC() ([]byte, error) {
	role := clusterRole{Meta: kube.Meta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole",
		Metadata: kube.ObjectMeta{Name: RoleName, Labels: map[string]string{"app.kubernetes.io/part-of": "edgesim"}}}}
	for _, r := range Rules {
		role.Rules = append(role.Rules, policyRule{APIGroups: []string{r.Group}, Resources: r.Resources, Verbs: r.Verbs})
	}
	b, err := kube.Render([]kube.Object{role})
	if err != nil {
		return nil, err
	}
	head := "# What `edgesim run --provider kubeconfig` does on a cluster, as RBAC\n" +
		"# (testbed/kubeconfigprovider.Rules; a spec keeps this file equal to it).\n" +
		"# The namespaced rules are used only in the namespaces edgesim creates,\n" +
		"# one per run, labelled with the run's id. Bind an account to it:\n" +
		"#   kubectl apply -f deploy/kubeconfig/rbac.yaml\n" +
		"#   kubectl create clusterrolebinding edgesim --clusterrole=edgesim --user=USER\n" +
		"# (or --serviceaccount=NAMESPACE:NAME, or --group=GROUP).\n"
	return append([]byte(head), b...), nil
}

// review is authorization.k8s.io/v1 SelfSubjectAccessReview, as sent and
// as answered.
type review struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		ResourceAttributes attributes `json:"resourceAttributes"`
	} `json:"spec"`
	// Status is the answer (nil in a question).
	Status *struct {
		Allowed bool `json:"allowed"`
	} `json:"status,omitempty"`
}

type attributes struct {
	Namespace   string `json:"namespace,omitempty"`
	Verb        string `json:"verb"`
	Group       string `json:"group"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
}

func (a attributes) String() string {
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Group != "" {
		r += "." + a.Group
	}
	return a.Verb + " " + r
}

// CheckPermissions asks the API server, in one request per rule and verb
// sent as one list of SelfSubjectAccessReviews, whether the account may do
// everything Rules says, namespaced rules in namespace ns (which need not
// exist yet). It returns one problem naming everything refused, nil when
// nothing is.
func CheckPermissions(ctx context.Context, cl kube.Cluster, ns string) ([]Problem, error) {
	var items []review
	for _, r := range Rules {
		for _, res := range r.Resources {
			name, sub, _ := strings.Cut(res, "/")
			for _, v := range r.Verbs {
				rv := review{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"}
				rv.Spec.ResourceAttributes = attributes{Verb: v, Group: r.Group, Resource: name, Subresource: sub}
				if r.Namespaced {
					rv.Spec.ResourceAttributes.Namespace = ns
				}
				items = append(items, rv)
			}
		}
	}
	list, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		return nil, err
	}
	out, err := cl.Kubectl(ctx, bytes.NewReader(list), "create", "-f", "-", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("check permissions: %w", err)
	}
	answers, err := decodeReviews(out)
	if err != nil {
		return nil, fmt.Errorf("check permissions: cannot read the API server's answer: %w", err)
	}
	if len(answers) != len(items) {
		return nil, fmt.Errorf("check permissions: asked %d questions, got %d answers", len(items), len(answers))
	}
	var refused []string
	for _, a := range answers {
		if a.Status == nil || !a.Status.Allowed {
			refused = append(refused, a.Spec.ResourceAttributes.String())
		}
	}
	if len(refused) == 0 {
		return nil, nil
	}
	return []Problem{{
		What: fmt.Sprintf("the account may not %s (namespaced ones in %s)", strings.Join(refused, ", "), ns),
		Fix:  "kubectl apply -f deploy/kubeconfig/rbac.yaml && kubectl create clusterrolebinding edgesim --clusterrole=edgesim --user=USER",
	}}, nil
}

// decodeReviews reads kubectl's printed answers: one List of them, or
// one JSON object after another.
func decodeReviews(out []byte) ([]review, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var reviews []review
	for dec.More() {
		var v struct {
			Kind  string   `json:"kind"`
			Items []review `json:"items"`
			review
		}
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if v.Kind == "List" {
			reviews = append(reviews, v.Items...)
		} else {
			reviews = append(reviews, v.review)
		}
	}
	return reviews, nil
}
