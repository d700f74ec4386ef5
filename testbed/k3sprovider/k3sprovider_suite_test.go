package k3sprovider_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

func TestK3sprovider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "K3sprovider Suite")
}

// The cluster specs share one build of edgesim and edgenode
// (kubetest.BuildBinaries).
var _ = AfterSuite(gexec.CleanupBuildArtifacts)
