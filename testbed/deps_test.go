package testbed_test

import (
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("What a Ginkgo suite links", func() {
	It("links no rendering code when it imports the testbed, its providers and matchers", func(ctx SpecContext) {
		cmd := exec.CommandContext(ctx, "go", "list", "-deps", ".", "./provider", "./kube", "./nodecontainer", "./kindprovider", "./k3sprovider", "./match")
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "go list: %s", exitStderr(err))
		deps := strings.Fields(string(out))
		Expect(deps).To(ContainElement("github.com/edgesim/edgesim/reports"), "the analysis is linked")
		Expect(deps).NotTo(ContainElement("github.com/edgesim/edgesim/reports/render"))
		Expect(deps).NotTo(ContainElement(HavePrefix("gonum.org/v1/plot")))
	})

	It("keeps the provider contract and the providers below the orchestrator", func(ctx SpecContext) {
		cmd := exec.CommandContext(ctx, "go", "list", "-deps", "./provider", "./kube", "./nodecontainer", "./kindprovider", "./k3sprovider")
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "go list: %s", exitStderr(err))
		deps := strings.Fields(string(out))
		Expect(deps).To(ContainElement("github.com/edgesim/edgesim/testbed/provider"))
		Expect(deps).NotTo(ContainElement("github.com/edgesim/edgesim/testbed"), "package testbed runs providers; they import only its contract")
	})

	It("keeps the shared Kubernetes layer free of any one provider", func(ctx SpecContext) {
		cmd := exec.CommandContext(ctx, "go", "list", "-deps", "./kube")
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "go list: %s", exitStderr(err))
		deps := strings.Fields(string(out))
		Expect(deps).To(ContainElement("github.com/edgesim/edgesim/testbed/provider"))
		Expect(deps).NotTo(ContainElement(HavePrefix("github.com/edgesim/edgesim/testbed/kind")), "kind is one provider on the layer, not part of it")
		Expect(deps).NotTo(ContainElement(HavePrefix("sigs.k8s.io/kind")))
	})
})

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
