package fakecam_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestFakecam(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fakecam Suite")
}
