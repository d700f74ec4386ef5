package nodeconfig_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestNodeconfig(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "nodeconfig")
}
