package fakecam_test

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestFakecam(t *testing.T) {
	if os.Getenv(receiverHelperEnv) != "" {
		runReceiverHelper() // a receiver in its own process, for the benchmarks
		return
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fakecam Suite")
}
