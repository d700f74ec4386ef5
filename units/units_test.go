package units_test

import (
	"encoding/json"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/units"
)

var _ = Describe("BitRate", func() {
	DescribeTable("parses explicit units",
		func(in string, want units.BitRate) {
			got, err := units.ParseBitRate(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("bit", "1200bit", units.BitRate(1200)),
		Entry("Kbit", "800Kbit", 800*units.Kbit),
		Entry("kbit (tc)", "800kbit", 800*units.Kbit),
		Entry("Mbit", "10Mbit", 10*units.Mbit),
		Entry("mbit (tc)", "10mbit", 10*units.Mbit),
		Entry("Mbit/s", "10Mbit/s", 10*units.Mbit),
		Entry("Mb/s", "10Mb/s", 10*units.Mbit),
		Entry("fraction", "1.5Gbit", 1500*units.Mbit),
		Entry("space", "2 Mbit", 2*units.Mbit),
		Entry("bytes per second", "12.5MB/s", 100*units.Mbit),
		Entry("KB/s", "1KB/s", 8*units.Kbit),
		Entry("KiB/s", "1KiB/s", units.BitRate(8192)),
		Entry("zero", "0bit", units.BitRate(0)),
	)

	DescribeTable("rejects ambiguous or malformed rates with a hint",
		func(in, hint string) {
			_, err := units.ParseBitRate(in)
			Expect(err).To(MatchError(units.ErrSyntax))
			Expect(err.Error()).To(ContainSubstring(hint))
		},
		Entry("tc mbps", "10mbps", "write 10Mbit for megabits per second or 10MB/s for megabytes per second"),
		Entry("Mbps", "10Mbps", "ambiguous"),
		Entry("kbps", "64kbps", "64Kbit"),
		Entry("bps", "100bps", "ambiguous"),
		Entry("bare number", "1000000", "needs a unit"),
		Entry("size not rate", "10MB", "10MB/s"),
		Entry("negative", "-1Mbit", "negative"),
		Entry("unknown unit", "10furlongs", "unknown unit"),
		Entry("empty", "", "write bits per second"),
		Entry("not a number", "fast", "write bits per second"),
	)

	DescribeTable("prints canonically and round-trips",
		func(r units.BitRate, want string) {
			Expect(r.String()).To(Equal(want))
			back, err := units.ParseBitRate(want)
			Expect(err).NotTo(HaveOccurred())
			Expect(back).To(Equal(r))
		},
		Entry(nil, units.BitRate(0), "0bit"),
		Entry(nil, 10*units.Mbit, "10Mbit"),
		Entry(nil, 1500*units.Kbit, "1500Kbit"),
		Entry(nil, 2*units.Gbit, "2Gbit"),
		Entry(nil, units.BitRate(1234567), "1234567bit"),
	)

	It("converts to bytes per second", func() {
		Expect(units.MustParseBitRate("8Mbit").BytesPerSecond()).To(Equal(1e6))
	})

	It("decodes from YAML and JSON through text marshalling", func() {
		var v struct {
			Rate units.BitRate `yaml:"rate" json:"rate"`
		}
		Expect(yaml.Unmarshal([]byte("rate: 5Mbit\n"), &v)).To(Succeed())
		Expect(v.Rate).To(Equal(5 * units.Mbit))
		Expect(yaml.Unmarshal([]byte("rate: 5mbps\n"), &v)).To(MatchError(ContainSubstring("ambiguous")))
		out, err := json.Marshal(v)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal(`{"rate":"5Mbit"}`))
		Expect(json.Unmarshal([]byte(`{"rate":"1Gbit"}`), &v)).To(Succeed())
		Expect(v.Rate).To(Equal(units.Gbit))
	})

	It("works as a flag value", func() {
		var r units.BitRate
		Expect(r.Set("3Mbit")).To(Succeed())
		Expect(r).To(Equal(3 * units.Mbit))
		Expect(r.Type()).To(Equal("bitrate"))
	})
})

var _ = Describe("ByteSize", func() {
	DescribeTable("parses",
		func(in string, want units.ByteSize) {
			got, err := units.ParseByteSize(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry(nil, "1500B", units.ByteSize(1500)),
		Entry(nil, "100KB", 100*units.KB),
		Entry(nil, "100kB", 100*units.KB),
		Entry(nil, "64KiB", 64*units.KiB),
		Entry(nil, "512Mi", 512*units.MiB),
		Entry(nil, "2G", 2*units.GB),
		Entry(nil, "1.5MB", 1500*units.KB),
	)
	DescribeTable("rejects",
		func(in, hint string) {
			_, err := units.ParseByteSize(in)
			Expect(err).To(MatchError(units.ErrSyntax))
			Expect(err.Error()).To(ContainSubstring(hint))
		},
		Entry("bits", "100kb", "bits"),
		Entry("Mbit", "1Mbit", "bits"),
		Entry("bare", "100", "needs a unit"),
		Entry("negative", "-5KB", "negative"),
		Entry("unknown", "5XB", "unknown unit"),
	)
	DescribeTable("prints canonically and round-trips",
		func(b units.ByteSize, want string) {
			Expect(b.String()).To(Equal(want))
			Expect(units.MustParseByteSize(want)).To(Equal(b))
		},
		Entry(nil, units.ByteSize(0), "0B"),
		Entry(nil, units.ByteSize(1500), "1500B"),
		Entry(nil, 100*units.KB, "100KB"),
		Entry(nil, 2*units.KiB, "2KiB"),
		Entry(nil, units.GiB, "1GiB"),
	)
})

var _ = Describe("Percent", func() {
	DescribeTable("parses",
		func(in string, want units.Percent) {
			got, err := units.ParsePercent(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry(nil, "1.5%", units.Percent(1.5)),
		Entry(nil, "0%", units.Percent(0)),
		Entry(nil, "100%", units.Percent(100)),
		Entry("bare number is percent", "2", units.Percent(2)),
	)
	DescribeTable("rejects",
		func(in string) {
			_, err := units.ParsePercent(in)
			Expect(err).To(MatchError(units.ErrSyntax))
		},
		Entry(nil, "101%"), Entry(nil, "-1%"), Entry(nil, "5x"), Entry(nil, "%"),
	)
	It("converts to a probability and prints", func() {
		Expect(units.MustParsePercent("25%").Fraction()).To(Equal(0.25))
		Expect(units.Percent(0.5).String()).To(Equal("0.5%"))
	})
})

var _ = Describe("Duration", func() {
	DescribeTable("parses values with units",
		func(in string, want time.Duration) {
			got, err := units.ParseDuration(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Std()).To(Equal(want))
		},
		Entry(nil, "20ms", 20*time.Millisecond),
		Entry(nil, "1.5s", 1500*time.Millisecond),
		Entry(nil, "2m30s", 150*time.Second),
		Entry(nil, "-5ms", -5*time.Millisecond),
		Entry("zero alone", "0", time.Duration(0)),
	)
	DescribeTable("rejects bare numbers with a clear message",
		func(in, hint string) {
			_, err := units.ParseDuration(in)
			Expect(err).To(MatchError(units.ErrSyntax))
			Expect(err.Error()).To(ContainSubstring(hint))
		},
		Entry(nil, "20", "a bare number has no unit"),
		Entry(nil, "1.5", "a bare number has no unit"),
		Entry(nil, "soon", "e.g. 20ms"),
		Entry(nil, "20 parsecs", "e.g. 20ms"),
	)
	It("round-trips through YAML", func() {
		var v struct {
			D units.Duration `yaml:"d"`
		}
		Expect(yaml.Unmarshal([]byte("d: 250ms"), &v)).To(Succeed())
		out, err := yaml.Marshal(v)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal("d: 250ms\n"))
		Expect(yaml.Unmarshal([]byte("d: 250"), &v)).To(MatchError(ContainSubstring("bare number")))
	})
})

var _ = Describe("MilliCPU", func() {
	DescribeTable("parses",
		func(in string, want units.MilliCPU, str string) {
			got, err := units.ParseMilliCPU(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
			Expect(got.String()).To(Equal(str))
		},
		Entry(nil, "500m", units.MilliCPU(500), "500m"),
		Entry(nil, "2", units.MilliCPU(2000), "2"),
		Entry(nil, "1.5", units.MilliCPU(1500), "1500m"),
	)
	It("rejects other units", func() {
		_, err := units.ParseMilliCPU("2GHz")
		Expect(err).To(MatchError(units.ErrSyntax))
	})
})

var _ = Describe("TimeOfDay", func() {
	It("parses and prints", func() {
		t, err := units.ParseTimeOfDay("22:30")
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Since()).To(Equal(22*time.Hour + 30*time.Minute))
		Expect(t.String()).To(Equal("22:30"))
		t, err = units.ParseTimeOfDay("06:00:15")
		Expect(err).NotTo(HaveOccurred())
		Expect(t.String()).To(Equal("06:00:15"))
	})
	DescribeTable("rejects", func(in string) {
		_, err := units.ParseTimeOfDay(in)
		var pe *units.ParseError
		Expect(errors.As(err, &pe)).To(BeTrue())
	}, Entry(nil, "24:00"), Entry(nil, "7pm"), Entry(nil, "12:3"), Entry(nil, "12:60"), Entry(nil, ""))
	DescribeTable("windows wrap past midnight",
		func(t, from, to string, in bool) {
			p := func(s string) units.TimeOfDay {
				v, err := units.ParseTimeOfDay(s)
				Expect(err).NotTo(HaveOccurred())
				return v
			}
			Expect(p(t).Within(p(from), p(to))).To(Equal(in))
		},
		Entry(nil, "23:00", "22:00", "06:00", true),
		Entry(nil, "03:00", "22:00", "06:00", true),
		Entry(nil, "12:00", "22:00", "06:00", false),
		Entry(nil, "12:00", "09:00", "17:00", true),
		Entry(nil, "17:00", "09:00", "17:00", false),
		Entry(nil, "17:00", "00:00", "00:00", true),
	)
})

var _ = Describe("FormatMeasured", func() {
	DescribeTable("renders a measured rate in the unit that suits it",
		func(bps float64, want string) { Expect(units.FormatMeasured(bps)).To(Equal(want)) },
		Entry("bits", 591.4, "591 bit/s"),
		Entry("just under a kilobit", 999.4, "999 bit/s"),
		Entry("kilobits, one decimal", 3_940.0, "3.9 kbit/s"),
		Entry("megabits, two decimals", 3_210_000.0, "3.21 Mbit/s"),
		Entry("gigabits", 1_050_000_000.0, "1.05 Gbit/s"),
	)
})
