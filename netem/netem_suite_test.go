package netem_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/netem"
)

// helperEnv makes the test binary act as an engine owner that never exits
// on its own, so a spec can SIGKILL it mid-run.
const helperEnv = "EDGESIM_NETEM_HELPER_STATE_DIR"

func TestNetem(t *testing.T) {
	if dir := os.Getenv(helperEnv); dir != "" {
		runHelper(dir)
		return
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "netem")
}

func runHelper(dir string) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	ctx := context.Background()
	e, err := netem.NewUserspace(ctx, netem.WithStateDir(dir), netem.WithName(os.Getenv("EDGESIM_NETEM_HELPER_NAME")))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	for _, h := range []netem.HostSpec{{Name: "a", Group: "x"}, {Name: "b", Group: "y"}} {
		if _, err := e.AddHost(ctx, h); err != nil {
			fmt.Println("error:", err)
			_ = e.Close(ctx)
			os.Exit(3)
		}
	}
	fmt.Println("ready")
	<-ch
	_ = e.Close(ctx)
	os.Exit(0)
}
