package calibrate_test

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/plan/calibrate"
)

var _ = Describe("Emulation", func() {
	cpuinfo := func(text string) calibrate.System {
		return calibrate.System{ReadFile: func(string) ([]byte, error) { return []byte(text), nil }}
	}
	// what an arm64 binary reads under qemu-user on this kind of host: the host's file
	x86 := "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel name\t: AMD EPYC\n"
	arm := "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\n"

	It("tells an arm64 binary on an x86 CPU, as under qemu-user", func() {
		Expect(cpuinfo(x86).Emulation("arm64")).To(ContainSubstring("qemu-user"))
	})
	It("is empty when the binary runs natively", func() {
		Expect(cpuinfo(x86).Emulation("amd64")).To(BeEmpty())
		Expect(cpuinfo(arm).Emulation("arm64")).To(BeEmpty())
	})
	It("tells an amd64 binary on an arm CPU", func() {
		Expect(cpuinfo(arm).Emulation("amd64")).NotTo(BeEmpty())
	})
	It("is empty without /proc/cpuinfo", func() {
		sys := calibrate.System{ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }}
		Expect(sys.Emulation("arm64")).To(BeEmpty())
	})
})
