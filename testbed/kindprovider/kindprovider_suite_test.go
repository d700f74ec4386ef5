package kindprovider_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestKindprovider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kindprovider Suite")
}
