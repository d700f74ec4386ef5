package vp8_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestVP8(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VP8 Suite")
}
