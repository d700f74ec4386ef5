package app_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/edgesim/edgesim/hwlimit"
)

var _ = Describe("edgesim clean with cgroups", func() {
	It("removes the cgroup a killed run left and leaves one it did not create", func(ctx SpecContext) {
		if err := hwlimit.Available(); err != nil {
			Skip(err.Error())
		}
		// A group as a killed run leaves it: made by edgesim, its owner gone.
		name := fmt.Sprintf("clean-test-%d", os.Getpid())
		_, err := hwlimit.New(name, hwlimit.Limits{CPU: 1})
		Expect(err).NotTo(HaveOccurred())
		dead := exec.Command("true")
		Expect(dead.Run()).To(Succeed())
		mark, _ := json.Marshal(map[string]any{"pid": dead.Process.Pid, "token": "killed-run"})
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/edgesim/" + name)
		if d := "/sys/fs/cgroup/edgesim/" + name; unix.Access(d, unix.F_OK) == nil {
			dirs = append(dirs, d)
		}
		Expect(dirs).NotTo(BeEmpty())
		for _, d := range dirs {
			Expect(unix.Setxattr(d, hwlimit.OwnerXattr, mark, 0)).To(Succeed())
		}
		// A group edgesim did not create, beside it.
		foreign := filepath.Join(filepath.Dir(dirs[0]), name+"-foreign")
		Expect(os.Mkdir(foreign, 0o755)).To(Succeed())
		DeferCleanup(func() { _ = unix.Rmdir(foreign) })

		code, stdout, _ := run(ctx, "clean", "--state-dir", GinkgoT().TempDir())
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("removed cgroup /edgesim/" + name + "\n"))
		for _, d := range dirs {
			Expect(d).NotTo(BeADirectory())
		}
		Expect(foreign).To(BeADirectory())
	})
})
