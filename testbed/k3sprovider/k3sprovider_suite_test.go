package k3sprovider_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestK3sprovider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "K3sprovider Suite")
}
