package calibrate_test

import (
	"context"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan/calibrate"
)

// childEnv makes the test binary act as the measuring child process.
const childEnv = "EDGESIM_CALIBRATE_TEST_CHILD"

func TestCalibrate(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		if err := calibrate.RunChild(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Calibrate Suite")
}
