package netem

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("createNetns ownership", func() {
	It("leaves a network namespace it did not create in place when the name is taken", func() {
		if os.Geteuid() != 0 {
			Skip("needs root to create network namespaces")
		}
		name := fmt.Sprintf("%sforeign-%d", Prefix, os.Getpid())
		// Someone else's namespace under the same name, made outside edgesim.
		theirs, err := createNetns(name)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { theirs.Close(); _, _ = deleteNetns(name) })
		theirIno := nsInode(filepath.Join(NetnsDir, name))

		_, err = createNetns(name)
		Expect(err).To(MatchError(ContainSubstring("exists")))
		Expect(filepath.Join(NetnsDir, name)).To(BeAnExistingFile(), "the other namespace's name was removed")
		Expect(nsInode(filepath.Join(NetnsDir, name))).To(Equal(theirIno), "the name no longer points at the other namespace")
	})
})

// nsInode is the inode of the namespace mounted at p (0 when none is).
func nsInode(p string) uint64 {
	h, err := netns.GetFromPath(p)
	if err != nil {
		return 0
	}
	defer h.Close()
	var st unix.Stat_t
	Expect(unix.Fstat(int(h), &st)).To(Succeed())
	return st.Ino
}
