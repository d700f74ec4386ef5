package hwlimit_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestHwlimit(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hwlimit")
}
