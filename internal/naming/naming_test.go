package naming_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/internal/naming"
)

var _ = Describe("Fit", func() {
	It("keeps a name that fits as it is", func() {
		Expect(naming.Fit("store-1-cams", 32)).To(Equal("store-1-cams"))
		Expect(naming.Fit(strings.Repeat("a", 32), 32)).To(Equal(strings.Repeat("a", 32)))
	})

	It("shortens a long name to its limit, keeping its start readable and the result stable", func() {
		got := naming.Fit("flagship-store-north-via-cloud-cams", 32)
		Expect(got).To(MatchRegexp(`^flagship-store-north-via-[0-9a-f]{6}$`))
		Expect(len(naming.Fit("flagship-store-north-via-cloud-cams", 30))).To(Equal(30))
		Expect(naming.Fit("flagship-store-north-via-cloud-cams", 32)).To(Equal(got))
	})

	It("keeps two long names with the same start apart", func() {
		a := naming.Fit("flagship-store-north-via-cloud-cams", 24)
		b := naming.Fit("flagship-store-north-via-cloud-edge", 24)
		Expect(a).NotTo(Equal(b))
		Expect(a[:17]).To(Equal(b[:17]))
	})

	It("never ends the kept start with a separator", func() {
		// The cut falls right after "-": the result has no "--".
		got := naming.Fit("abcdefghi-klmnopqrstuvwxyz", 17)
		Expect(got).To(MatchRegexp(`^abcdefghi-[0-9a-f]{6}$`))
	})

	It("refuses a limit with no room for the hash", func() {
		Expect(func() { naming.Fit("a-long-name", 7) }).To(Panic())
	})
})
