package app_test

import (
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
)

// fakeKubectl writes a kubectl that answers as an API server would: the
// version, the node list of nodes.json beside it, and every access review
// allowed. It records its arguments in calls beside it.
func fakeKubectl(dir string) string {
	script := `#!/bin/sh
here=$(dirname "$0")
echo "$@" >> "$here/calls"
case "$*" in
*"get --raw /version"*) echo '{"major":"1","minor":"35"}' ;;
*"create -f - -o json"*) sed 's/"spec":/"status":{"allowed":true},"spec":/g' ;;
*"get nodes -o json"*) cat "$here/nodes.json" ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac
`
	p := filepath.Join(dir, "kubectl")
	Expect(os.WriteFile(p, []byte(script), 0o755)).To(Succeed())
	return p
}

// nodesJSON is a node list of Ready nodes, each with the labels given.
func nodesJSON(nodes map[string]string) string {
	s := `{"kind":"List","items":[`
	i := 0
	for name, label := range nodes {
		if i > 0 {
			s += ","
		}
		labels := "{}"
		if label != "" {
			labels = fmt.Sprintf(`{%q:%q}`, kp.LabelNode, label)
		}
		s += fmt.Sprintf(`{"metadata":{"name":%q,"labels":%s},"status":{"conditions":[{"type":"Ready","status":"True"}]}}`, name, labels)
		i++
	}
	return s + "]}"
}

var _ = Describe("edgesim cluster", func() {
	const quickstart = "../../../scenarios/examples/quickstart.yaml"
	var dir, kubectl, kubeconfig string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		kubectl = fakeKubectl(dir)
		kubeconfig = filepath.Join(dir, "config")
		Expect(os.WriteFile(kubeconfig, []byte("current-context: lab\ncontexts:\n- name: lab\n"), 0o600)).To(Succeed())
	})

	It("prints the mapping of a cluster that can hold the scenario, creating nothing", func(ctx SpecContext) {
		Expect(os.WriteFile(filepath.Join(dir, "nodes.json"), []byte(nodesJSON(map[string]string{
			"n1": "cloud-1", "n2": "store-1-edge-1", "n3": "store-1-edge-2", "n4": "store-1-cams"})), 0o644)).To(Succeed())
		code, stdout, stderr := run(ctx, "cluster", "check", quickstart, "--kubeconfig", kubeconfig, "--kubectl", kubectl)
		Expect(code).To(BeZero(), stderr)
		Expect(stdout).To(MatchRegexp(`(?m)^store-1-edge-2 +edge +store-1 +n3$`))
		Expect(stdout).To(MatchRegexp(`(?m)^cloud-1 +cloud +- +n1$`))
		Expect(stdout).To(ContainSubstring("context lab can hold quickstart"))
		calls, err := os.ReadFile(filepath.Join(dir, "calls"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(calls)).NotTo(MatchRegexp(`(?m)(apply|delete|label|create namespace)`), "a check creates nothing")
		Expect(string(calls)).To(ContainSubstring("--kubeconfig " + kubeconfig + " get nodes -o json"))
	})

	It("exits 1 with every unmapped plan node and the label lines that fix them", func(ctx SpecContext) {
		Expect(os.WriteFile(filepath.Join(dir, "nodes.json"), []byte(nodesJSON(map[string]string{
			"n1": "cloud-1", "w1": "", "w2": ""})), 0o644)).To(Succeed())
		code, _, stderr := run(ctx, "cluster", "check", quickstart, "--kubeconfig", kubeconfig, "--kubectl", kubectl)
		Expect(code).To(Equal(1))
		Expect(stderr).To(ContainSubstring("context lab: the cluster cannot hold the plan (3 problems)"))
		Expect(stderr).To(ContainSubstring("kubectl label node w1 edgesim.dev/node=store-1-edge-1"))
		Expect(stderr).To(ContainSubstring("kubectl label node w2 edgesim.dev/node=store-1-edge-2"))
		Expect(stderr).To(ContainSubstring("add a Ready node to the cluster"))
	})

	It("exits 2 for a context the kubeconfig lacks, a missing kubeconfig and a bad selector, before asking the cluster", func(ctx SpecContext) {
		code, _, stderr := run(ctx, "cluster", "check", quickstart, "--kubeconfig", kubeconfig, "--context", "prod", "--kubectl", kubectl)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`no such kubeconfig context "prod" (it has: lab)`))
		code, _, stderr = run(ctx, "cluster", "check", quickstart, "--kubectl", kubectl)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("--kubeconfig: give the cluster's kubeconfig file"))
		code, _, stderr = run(ctx, "cluster", "check", quickstart, "--kubeconfig", kubeconfig, "--node-selector", "gpu")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("--node-selector: node selector \"gpu\""))
		Expect(filepath.Join(dir, "calls")).NotTo(BeAnExistingFile())
	})

	It("prints the RBAC the repository ships", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "cluster", "rbac")
		Expect(code).To(BeZero())
		want, err := os.ReadFile("../../../deploy/kubeconfig/rbac.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(stdout).To(Equal(string(want)))
	})
})
