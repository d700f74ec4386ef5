package kubeconfigprovider_test

import (
	"flag"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

func TestKubeconfigprovider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kubeconfigprovider Suite")
}

// The cluster spec builds edgesim and edgenode with kubetest.BuildBinaries.
var _ = AfterSuite(gexec.CleanupBuildArtifacts)

// updateRBAC rewrites deploy/kubeconfig/rbac.yaml from Rules.
var updateRBAC = flag.Bool("update-rbac", false, "rewrite deploy/kubeconfig/rbac.yaml from kubeconfigprovider.Rules")
