package kctest_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestKctest(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testbed/kubeconfigprovider/kctest")
}
