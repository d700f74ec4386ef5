package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios/v1alpha1"
	"github.com/edgesim/edgesim/units"
)

var _ = Describe("QueueLimit", func() {
	DescribeTable("parses bytes or packets and prints them back",
		func(in string, want v1alpha1.QueueLimit, str string) {
			var q v1alpha1.QueueLimit
			Expect(q.UnmarshalText([]byte(in))).To(Succeed())
			Expect(q).To(Equal(want))
			Expect(q.String()).To(Equal(str))
		},
		Entry(nil, "100KB", v1alpha1.QueueLimit{Bytes: 100 * units.KB}, "100KB"),
		Entry(nil, "64KiB", v1alpha1.QueueLimit{Bytes: 64 * units.KiB}, "64KiB"),
		Entry(nil, "200packets", v1alpha1.QueueLimit{Packets: 200}, "200packets"),
		Entry(nil, "1 packet", v1alpha1.QueueLimit{Packets: 1}, "1packets"),
	)
	DescribeTable("rejects",
		func(in, msg string) {
			var q v1alpha1.QueueLimit
			Expect(q.UnmarshalText([]byte(in))).To(MatchError(ContainSubstring(msg)))
		},
		Entry(nil, "0packets", "positive number of packets"),
		Entry(nil, "lots", "write bytes as 100KB"),
		Entry(nil, "100", "write bytes as 100KB"),
		Entry(nil, "0B", "must be positive"),
	)
})

var _ = Describe("Resolution", func() {
	It("parses WIDTHxHEIGHT", func() {
		var r v1alpha1.Resolution
		Expect(r.UnmarshalText([]byte("1280x720"))).To(Succeed())
		Expect(r).To(Equal(v1alpha1.Resolution{Width: 1280, Height: 720}))
		out, err := r.MarshalText()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal("1280x720"))
	})
	DescribeTable("rejects",
		func(in, msg string) {
			var r v1alpha1.Resolution
			Expect(r.UnmarshalText([]byte(in))).To(MatchError(ContainSubstring(msg)))
		},
		Entry(nil, "640*360", "WIDTHxHEIGHT"),
		Entry(nil, "641x360", "even"),
		Entry(nil, "8x8", "from 16x16"),
		Entry(nil, "7680x4320", "to 3840x2160"),
	)
})
