package nodecontainer_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestNodecontainer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Nodecontainer Suite")
}
