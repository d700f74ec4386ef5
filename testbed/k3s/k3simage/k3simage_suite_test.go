package k3simage

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestK3simage(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testbed/k3s/k3simage")
}
