package hwlimit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/edgesim/edgesim/hwlimit"
)

func requireCgroups() {
	if err := hwlimit.Available(); err != nil {
		Skip(err.Error())
	}
}

var groupN int

// groupName is a name no other test process uses.
func groupName() string {
	groupN++
	return fmt.Sprintf("test-%d-%d", os.Getpid(), groupN)
}

// start runs a shell command and kills it when the spec ends.
func start(script string) *exec.Cmd {
	cmd := exec.Command("sh", "-c", script)
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// cgroupLines returns the lines of /proc/<pid>/cgroup.
func cgroupLines(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	Expect(err).NotTo(HaveOccurred())
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// groupDirs are the directories of group name in every hierarchy.
func groupDirs(name string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + hwlimit.Parent + "/" + name)
	if d := "/sys/fs/cgroup/" + hwlimit.Parent + "/" + name; exists(d) {
		dirs = append(dirs, d)
	}
	return dirs
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// markOwner writes an owner mark naming pid into every directory of the group.
func markOwner(name string, pid int) {
	b, _ := json.Marshal(map[string]any{"pid": pid, "token": "elsewhere", "created": time.Now()})
	for _, d := range groupDirs(name) {
		Expect(unix.Setxattr(d, hwlimit.OwnerXattr, b, 0)).To(Succeed())
	}
}

var _ = Describe("Names and limits", func() {
	It("rejects names that are not [a-z0-9-] or do not fit", func() {
		for _, bad := range []string{"", "Big", "a/b", "-a", "a-", "a_b", "..", strings.Repeat("a", hwlimit.MaxName+1)} {
			_, err := hwlimit.New(bad, hwlimit.Limits{CPU: 1})
			Expect(err).To(MatchError(ContainSubstring("group name")), bad)
		}
		Expect(hwlimit.ValidName(strings.Repeat("a", hwlimit.MaxName))).To(Succeed())
	})

	It("rejects negative limits and a CPU quota below the kernel's 1 ms", func() {
		_, err := hwlimit.New("x", hwlimit.Limits{CPU: -1})
		Expect(err).To(MatchError(ContainSubstring("negative")))
		_, err = hwlimit.New("x", hwlimit.Limits{Memory: -1})
		Expect(err).To(MatchError(ContainSubstring("negative")))
		_, err = hwlimit.New("x", hwlimit.Limits{CPU: 0.005})
		Expect(err).To(MatchError(ContainSubstring("smallest quota")))
	})
})

var _ = Describe("A group", func() {
	BeforeEach(requireCgroups)

	It("holds the CPU quota and memory limit, confines a child process and is deleted once the child is gone", func() {
		name := groupName()
		g, err := hwlimit.New(name, hwlimit.Limits{CPU: 0.5, Memory: 64 << 20})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = g.Delete() })
		Expect(g.Path()).To(Equal("/edgesim/" + name))

		l, err := g.Limits()
		Expect(err).NotTo(HaveOccurred())
		Expect(l).To(Equal(hwlimit.Limits{CPU: 0.5, Memory: 64 << 20}))

		child := start("exec sleep 60")
		Expect(g.Add(child.Process.Pid)).To(Succeed())
		lines := cgroupLines(child.Process.Pid)
		Expect(lines).To(ContainElement(MatchRegexp(`:(.*,)?cpu(,.*)?:` + g.Path() + `$|^0::` + g.Path() + `$`)))
		Expect(lines).To(ContainElement(MatchRegexp(`:memory:` + g.Path() + `$|^0::` + g.Path() + `$`)))

		Expect(g.Delete()).To(MatchError(ContainSubstring("stop them first")))
		Expect(groupDirs(name)).NotTo(BeEmpty())

		Expect(child.Process.Kill()).To(Succeed())
		_ = child.Wait()
		Eventually(g.Delete).Should(Succeed())
		Expect(groupDirs(name)).To(BeEmpty())
	})

	It("refuses to create a group that exists already", func() {
		name := groupName()
		g, err := hwlimit.New(name, hwlimit.Limits{CPU: 1})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = g.Delete() })
		_, err = hwlimit.New(name, hwlimit.Limits{CPU: 1})
		Expect(err).To(MatchError(ContainSubstring("edgesim clean")))
		Expect(groupDirs(name)).NotTo(BeEmpty())
	})

	It("gives a CPU-burning child in a 0.5-core group about half a core", func() {
		g, err := hwlimit.New(groupName(), hwlimit.Limits{CPU: 0.5})
		Expect(err).NotTo(HaveOccurred())
		child := start("while :; do :; done")
		Expect(g.Add(child.Process.Pid)).To(Succeed())
		DeferCleanup(func() { _ = child.Process.Kill(); _ = child.Wait(); Eventually(g.Delete).Should(Succeed()) })

		share := func() float64 {
			u0, err := g.Usage()
			Expect(err).NotTo(HaveOccurred())
			t0 := time.Now()
			time.Sleep(2 * time.Second) // the measuring window
			u1, err := g.Usage()
			Expect(err).NotTo(HaveOccurred())
			return float64(u1.CPU-u0.CPU) / float64(time.Since(t0))
		}
		Eventually(share).WithTimeout(30 * time.Second).Should(And(BeNumerically(">=", 0.3), BeNumerically("<=", 0.7)))
		u, err := g.Usage()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Throttled).To(BeNumerically(">", 0), "the quota stopped the child")
	})

	It("kills a process that outgrows the memory limit", func() {
		g, err := hwlimit.New(groupName(), hwlimit.Limits{Memory: 32 << 20})
		Expect(err).NotTo(HaveOccurred())
		// The shell waits to be moved into the group before tail starts
		// holding 128 MiB.
		cmd := exec.Command("sh", "-c", "read x; head -c 134217728 /dev/zero | tail -c 134217728 >/dev/null")
		in, err := cmd.StdinPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); Eventually(g.Delete).Should(Succeed()) })
		Expect(g.Add(cmd.Process.Pid)).To(Succeed())
		_, err = in.Write([]byte("go\n"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() uint64 {
			u, err := g.Usage()
			Expect(err).NotTo(HaveOccurred())
			return u.OOMKills
		}).WithTimeout(20 * time.Second).Should(BeNumerically(">", 0))
	})

	It("is not deleted when what is at its path is not what New created", func() {
		name := groupName()
		g, err := hwlimit.New(name, hwlimit.Limits{CPU: 1})
		Expect(err).NotTo(HaveOccurred())
		dirs := groupDirs(name)
		Expect(dirs).NotTo(BeEmpty())
		// Someone else replaces the group with one of their own.
		for _, d := range dirs {
			Expect(unix.Rmdir(d)).To(Succeed())
			Expect(os.Mkdir(d, 0o755)).To(Succeed())
		}
		DeferCleanup(func() {
			for _, d := range dirs {
				_ = unix.Rmdir(d)
			}
		})
		Expect(g.Delete()).To(MatchError(ContainSubstring("edgesim did not create it")))
		for _, d := range dirs {
			Expect(d).To(BeADirectory())
		}
		// Nor when it carries another edgesim group's mark.
		markOwner(name, os.Getpid())
		Expect(g.Delete()).To(MatchError(ContainSubstring("another owner's mark")))
		for _, d := range dirs {
			Expect(d).To(BeADirectory())
		}
	})
})

var _ = Describe("Clean", func() {
	BeforeEach(requireCgroups)

	It("removes edgesim's groups of dead processes and leaves running owners' and foreign groups alone", func() {
		dead := exec.Command("true")
		Expect(dead.Run()).To(Succeed())

		leftover := groupName()
		_, err := hwlimit.New(leftover, hwlimit.Limits{CPU: 1})
		Expect(err).NotTo(HaveOccurred())
		markOwner(leftover, dead.Process.Pid) // as if a killed run had made it

		mine := groupName()
		g, err := hwlimit.New(mine, hwlimit.Limits{CPU: 1})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = g.Delete() })

		// A group edgesim did not create, in edgesim's parent.
		foreign := groupName()
		var foreignDirs []string
		for _, d := range groupDirs(mine) {
			f := filepath.Join(filepath.Dir(d), foreign)
			Expect(os.Mkdir(f, 0o755)).To(Succeed())
			foreignDirs = append(foreignDirs, f)
		}
		DeferCleanup(func() {
			for _, d := range foreignDirs {
				_ = unix.Rmdir(d)
			}
		})

		rep, err := hwlimit.Clean(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(ContainElement("cgroup /edgesim/" + leftover))
		Expect(groupDirs(leftover)).To(BeEmpty())
		Expect(rep.Skipped).To(ContainElement(ContainSubstring("/edgesim/" + mine + " (pid")))
		Expect(rep.Skipped).To(ContainElement("cgroup /edgesim/" + foreign + " (not created by edgesim)"))
		Expect(groupDirs(mine)).NotTo(BeEmpty())
		for _, d := range foreignDirs {
			Expect(d).To(BeADirectory())
		}
	})
})
