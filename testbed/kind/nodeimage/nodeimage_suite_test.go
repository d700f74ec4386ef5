package nodeimage

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestNodeimage(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testbed/kind/nodeimage")
}
