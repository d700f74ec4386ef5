package kubeconfigprovider_test

import (
	"flag"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestKubeconfigprovider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kubeconfigprovider Suite")
}

// updateRBAC rewrites deploy/kubeconfig/rbac.yaml from Rules.
var updateRBAC = flag.Bool("update-rbac", false, "rewrite deploy/kubeconfig/rbac.yaml from kubeconfigprovider.Rules")
