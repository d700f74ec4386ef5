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

	It("gives a CPU-burning child in a 0.5-core group about half a core", Label("slow"), func() {
		g, err := hwlimit.New(groupName(), hwlimit.Limits{CPU: 0.5})
		Expect(err).NotTo(HaveOccurred())
		child := start("while :; do :; done")
		Expect(g.Add(child.Process.Pid)).To(Succeed())
		DeferCleanup(func() { _ = child.Process.Kill(); _ = child.Wait(); Eventually(g.Delete).Should(Succeed()) })

		// Over a 2 s window the child gets about half a core, and the quota
		// (not only other load on a shared machine) is what stopped it.
		Eventually(func(gm Gomega) {
			u0, err := g.Usage()
			gm.Expect(err).NotTo(HaveOccurred())
			t0 := time.Now()
			time.Sleep(2 * time.Second) // the measuring window
			u1, err := g.Usage()
			gm.Expect(err).NotTo(HaveOccurred())
			share := float64(u1.CPU-u0.CPU) / float64(time.Since(t0))
			gm.Expect(share).To(And(BeNumerically(">=", 0.3), BeNumerically("<=", 0.7)), "share of a core")
			gm.Expect(u1.Throttled).To(BeNumerically(">", u0.Throttled), "periods the quota stopped the child")
		}).WithTimeout(2 * time.Minute).Should(Succeed())
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

var _ = Describe("A group on cgroup v2", func() {
	// This host may have cgroup v1; the v2 path writes the same library
	// calls into a directory laid out like a cgroup2 mount. The kernel's
	// enforcement is what the specs above check on a real hierarchy.
	It("enables the controllers above it, writes cpu.max and memory.max, and deletes only its own directory", func() {
		if os.Geteuid() != 0 {
			Skip("the owner mark is a trusted.* extended attribute, which needs root")
		}
		root := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o644)).To(Succeed())
		// The kernel makes every group's control files; the fake makes the
		// parent's one the library writes.
		Expect(os.Mkdir(filepath.Join(root, hwlimit.Parent), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(root, hwlimit.Parent, "cgroup.subtree_control"), nil, 0o644)).To(Succeed())
		if err := unix.Setxattr(root, "trusted.edgesim-probe", []byte("x"), 0); err != nil {
			Skip("the temporary directory's file system keeps no trusted.* attributes: " + err.Error())
		}
		DeferCleanup(hwlimit.FakeUnified(root))

		g, err := hwlimit.New("v2-group", hwlimit.Limits{CPU: 1.5, Memory: 256 << 20})
		Expect(err).NotTo(HaveOccurred())
		dir := filepath.Join(root, hwlimit.Parent, "v2-group")
		Expect(os.ReadFile(filepath.Join(dir, "cpu.max"))).To(BeEquivalentTo("150000 100000"))
		Expect(os.ReadFile(filepath.Join(dir, "memory.max"))).To(BeEquivalentTo("268435456"))
		Expect(os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))).To(BeEquivalentTo("+cpu +memory"))
		Expect(os.ReadFile(filepath.Join(root, hwlimit.Parent, "cgroup.subtree_control"))).To(BeEquivalentTo("+cpu +memory"))
		Expect(os.WriteFile(filepath.Join(dir, "memory.stat"), []byte("anon 0\n"), 0o644)).To(Succeed()) // the kernel's
		l, err := g.Limits()
		Expect(err).NotTo(HaveOccurred())
		Expect(l).To(Equal(hwlimit.Limits{CPU: 1.5, Memory: 256 << 20}))

		_, err = hwlimit.New("v2-group", hwlimit.Limits{CPU: 1})
		Expect(err).To(MatchError(ContainSubstring("exists already")))

		Expect(g.Delete()).To(Succeed())
		Expect(dir).NotTo(BeADirectory())
		Expect(filepath.Join(root, hwlimit.Parent)).To(BeADirectory(), "edgesim did not create the parent, so it stays")
	})
})
