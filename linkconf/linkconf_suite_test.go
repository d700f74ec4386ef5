package linkconf_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestLinkconf(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "linkconf")
}
