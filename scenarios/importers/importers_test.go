package importers_test

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/scenarios/importers"
	"github.com/edgesim/edgesim/units"
)

func maps(entries ...string) []importers.MapEntry {
	var out []importers.MapEntry
	for _, e := range entries {
		m, err := importers.ParseMapEntry(e)
		if err != nil {
			panic(err) // fixtures' maps are written by hand
		}
		out = append(out, m)
	}
	return out
}

func input(name string) importers.Input {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	Expect(err).NotTo(HaveOccurred())
	return importers.Input{Name: name, Data: data}
}

// load imports name and loads the output with edgesim's scenario loader.
func load(format, name string, opts importers.Options) (*importers.Result, *scenarios.Scenario) {
	res, err := importers.Import(format, []importers.Input{input(name)}, opts)
	Expect(err).NotTo(HaveOccurred())
	s, err := scenarios.Load(name+".yaml", res.YAML, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred(), string(res.YAML))
	return res, s
}

func link(s *scenarios.Scenario, name string) scenarios.Link {
	for _, l := range s.Links {
		if l.Name == name {
			return l
		}
	}
	Fail("no link " + name)
	return scenarios.Link{}
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

var _ = Describe("Chaos Mesh NetworkChaos", func() {
	m := maps("app=edgenode:site:store-1", "app=cloud-api:cloud", "app=camera:cameras:store-1")

	It("reads bandwidth rate in BYTES per second: 1mbps is 8Mbit, limit and buffer are bytes", func() {
		res, s := load("chaosmesh", "chaosmesh-bandwidth.yaml", importers.Options{Map: m})
		Expect(s.Faults).To(HaveLen(1))
		f := s.Faults[0]
		Expect(f.Action).To(BeEquivalentTo("degrade"))
		Expect(f.Target.Links).To(Equal([]string{"store-1-uplink"}))
		Expect(f.At).To(Equal(time.Duration(0)))
		Expect(f.Duration).To(Equal(30 * time.Second))
		// 1mbps = 1,000,000 bytes/s = 8,000,000 bit/s; direction to: edge -> cloud = up.
		Expect(string(res.YAML)).To(ContainSubstring("up: 8Mbit"))
		Expect(string(res.YAML)).To(ContainSubstring("queue: 20MiB")) // 20971520 = 20 x 1048576
		Expect(string(res.YAML)).To(ContainSubstring("burst: 10KB"))  // 10000 bytes
		Expect(string(res.YAML)).To(ContainSubstring("BYTES per second"))
		Expect(s.Duration).To(Equal(60 * time.Second)) // 30s of fault + 30s recovery
		Expect(res.Approximations()).To(BeEmpty())
	})

	It("maps a netem experiment without duration to the link, both directions, for the whole run", func() {
		res, s := load("chaosmesh", "chaosmesh-netem.yaml", importers.Options{Map: m})
		l := link(s, "store-1-cameras")
		for _, d := range []scenarios.Direction{l.Up, l.Down} {
			Expect(d.Delay).To(Equal(50 * time.Millisecond))
			Expect(d.Jitter).To(Equal(10 * time.Millisecond))
			Expect(d.DelayCorrelation).To(Equal(units.Percent(25)))
			Expect(d.Distribution).To(Equal(scenarios.DistributionNormal))
			Expect(d.Loss.Percent).To(Equal(units.Percent(2.5)))
			Expect(d.Loss.Correlation).To(Equal(units.Percent(25)))
			Expect(d.Reorder).To(Equal(scenarios.Reorder{Percent: 1, Correlation: 10, Gap: 5}))
			Expect(d.Duplicate.Percent).To(Equal(units.Percent(0.5)))
			Expect(d.Corrupt.Percent).To(Equal(units.Percent(0.1)))
		}
		Expect(s.Faults).To(BeEmpty())
		Expect(res.Approximations()).To(BeEmpty())
	})

	It("marks a one-way partition of some pods without a target as approximate, in comments", func() {
		res, s := load("chaosmesh", "chaosmesh-partition.yaml", importers.Options{Map: m, To: "cloud"})
		Expect(s.Faults).To(HaveLen(1))
		Expect(s.Faults[0].Action).To(BeEquivalentTo("partition"))
		Expect(s.Faults[0].Duration).To(Equal(10 * time.Second))
		var fields []string
		for _, n := range res.Approximations() {
			fields = append(fields, n.Field)
			Expect(string(res.YAML)).To(ContainSubstring(n.String()))
		}
		Expect(fields).To(ConsistOf("spec.mode", "spec.target", "spec.direction"))
	})

	It("refuses an unknown action, naming the field and its line", func() {
		_, err := importers.Import("chaosmesh", []importers.Input{input("chaosmesh-unknown-action.yaml")}, importers.Options{Map: m})
		Expect(err).To(MatchError(ContainSubstring(`chaosmesh-unknown-action.yaml:6: spec.action: unknown action "stress"`)))
	})

	It("refuses a selector with no mapping, naming the field, its line and the flag to add", func() {
		_, err := importers.Import("chaosmesh", []importers.Input{input("chaosmesh-unmapped.yaml")}, importers.Options{Map: m})
		Expect(err).To(MatchError(ContainSubstring("chaosmesh-unmapped.yaml:10: spec.selector.labelSelectors: no mapping for app=web-show; add --map app=web-show:site:NAME")))
	})

	It("maps direction from to what the target sends: cloud -> store-1 is the uplink's down direction", func() {
		_, s := load("chaosmesh", "chaosmesh-from.yaml", importers.Options{Map: m})
		l := link(s, "store-1-uplink")
		Expect(l.Down.Delay).To(Equal(10 * time.Millisecond))
		Expect(l.Up.Delay).To(BeZero())
	})

	It("marks a timed one-way delay APPROXIMATE: a degrade fault sets both directions", func() {
		res, s := load("chaosmesh", "chaosmesh-timed-oneway.yaml", importers.Options{Map: m})
		Expect(s.Faults).To(HaveLen(1))
		to := s.Faults[0].Degrade.Links[0].To
		Expect(to.Up.Delay).To(Equal(100 * time.Millisecond))
		Expect(s.Faults[0].Duration).To(Equal(20 * time.Second))
		Expect(res.Approximations()).To(ConsistOf(HaveField("Field", "spec.direction")))
	})

	It("never drops a field silently: one it does not know is an APPROXIMATE note at its line", func() {
		res, s := load("chaosmesh", "chaosmesh-typo.yaml", importers.Options{Map: m})
		Expect(link(s, "store-1-uplink").Up.Jitter).To(BeZero())
		Expect(res.Approximations()).To(HaveLen(1))
		Expect(res.Approximations()[0].String()).To(Equal("chaosmesh-typo.yaml:18 spec.delay.jiter: APPROXIMATE: dropped: not a field edgesim maps"))
	})

	It("reads every object of a multi-document file; different fields of one direction add up", func() {
		res, s := load("chaosmesh", "chaosmesh-two.yaml", importers.Options{Map: m})
		l := link(s, "store-1-uplink")
		Expect(l.Up.Delay).To(Equal(20 * time.Millisecond))
		Expect(l.Up.Loss.Percent).To(Equal(units.Percent(1)))
		Expect(l.Down.Delay).To(BeZero())
		Expect(res.Approximations()).To(BeEmpty())
	})

	It("says so when a later input overrides a value an earlier one set", func() {
		res, err := importers.Import("chaosmesh", []importers.Input{input("chaosmesh-two.yaml"), input("chaosmesh-delay-40.yaml")}, importers.Options{Map: m})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Approximations()).To(HaveLen(1))
		Expect(res.Approximations()[0].String()).To(ContainSubstring("chaosmesh-delay-40.yaml:6 spec.action: APPROXIMATE: overrides delay"))
		s, err := scenarios.Load("x.yaml", res.YAML, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(link(s, "store-1-uplink").Up.Delay).To(Equal(40 * time.Millisecond))
	})

	It("needs --to when the experiment has no target", func() {
		_, err := importers.Import("chaosmesh", []importers.Input{input("chaosmesh-partition.yaml")}, importers.Options{Map: m})
		Expect(err).To(MatchError(ContainSubstring("spec.target: the experiment has no target")))
	})
})

var _ = Describe("Testground LinkShape", func() {
	It("reads Bandwidth in BYTES per second and Latency in nanoseconds, on the instance's outbound direction", func() {
		res, s := load("testground", "testground-shape.json", importers.Options{From: "site:store-1", To: "cloud"})
		l := link(s, "store-1-uplink")
		Expect(l.Up.Rate).To(Equal(10 * units.Mbit)) // 1,250,000 B/s x 8
		Expect(l.Up.Delay).To(Equal(25 * time.Millisecond))
		Expect(l.Up.Jitter).To(Equal(5 * time.Millisecond))
		Expect(l.Up.Loss.Percent).To(Equal(units.Percent(1.5)))
		Expect(l.Up.Duplicate).To(Equal(scenarios.Probability{Percent: 0.2, Correlation: 10}))
		Expect(l.Down.Delay).To(BeZero())
		Expect(l.Down.Rate).To(BeZero())
		Expect(res.Approximations()).To(BeEmpty())
	})

	It("needs --from and --to", func() {
		_, err := importers.Import("testground", []importers.Input{input("testground-shape.json")}, importers.Options{})
		Expect(err).To(MatchError(ContainSubstring("testground-shape.json:4: LinkShape: a LinkShape does not say which link")))
	})
})

var _ = Describe("containerlab tools netem set", func() {
	m := maps("node=clab-edge-store1:site:store-1", "node=clab-edge-cloud:cloud")

	It("reads --rate in kbit/s (5000 = 5Mbit), each line on its node's egress", func() {
		res, s := load("containerlab", "containerlab-netem.sh", importers.Options{Map: m})
		l := link(s, "store-1-uplink")
		Expect(l.Up.Delay).To(Equal(30 * time.Millisecond))
		Expect(l.Up.Jitter).To(Equal(5 * time.Millisecond))
		Expect(l.Up.Loss.Percent).To(Equal(units.Percent(0.5)))
		Expect(l.Up.Rate).To(Equal(5 * units.Mbit))
		Expect(l.Down.Delay).To(Equal(35 * time.Millisecond))
		Expect(l.Down.Corrupt.Percent).To(Equal(units.Percent(0.01)))
		Expect(l.Down.Rate).To(Equal(20 * units.Mbit))
		Expect(res.Approximations()).To(BeEmpty())
	})

	It("refuses an unknown flag, naming it and its line", func() {
		_, err := importers.Import("containerlab", []importers.Input{input("containerlab-bad-flag.sh")}, importers.Options{Map: m})
		Expect(err).To(MatchError(ContainSubstring("containerlab-bad-flag.sh:2: --bandwidth: unknown flag")))
	})
})

var _ = Describe("Fogify x-fogify", func() {
	m := maps("label=cloud-server:cloud", "label=mec-svc-1:site:store-1", "label=cam:cameras:store-1")

	It("adds the sender's uplink side and the receiver's downlink side into one-way values", func() {
		res, s := load("fogify", "fogify-compose.yaml", importers.Options{Map: m})
		cams := link(s, "store-1-cameras")
		// bidirectional 4ms, 2ms, 2%: each side gets 2ms, 1ms, 1%.
		for _, d := range []scenarios.Direction{cams.Up, cams.Down} {
			Expect(d.Delay).To(Equal(4 * time.Millisecond))       // 2ms + 2ms
			Expect(d.Jitter).To(Equal(ms(1.414)))                 // sqrt(1^2 + 1^2) ms
			Expect(d.Loss.Percent).To(Equal(units.Percent(1.99))) // 1-(0.99)(0.99)
			Expect(d.Rate).To(Equal(100 * units.Mbit))
		}
		wan := link(s, "store-1-uplink")
		for _, d := range []scenarios.Direction{wan.Up, wan.Down} {
			Expect(d.Delay).To(Equal(50 * time.Millisecond)) // uplink 20ms + downlink 30ms
			Expect(d.Jitter).To(Equal(6 * time.Millisecond))
			Expect(d.DelayCorrelation).To(Equal(units.Percent(25)))
			Expect(d.Loss.Percent).To(Equal(units.Percent(1)))
			// uplink 5Mbps is 5 MB/s = 40Mbit to tc; the downlink's 10mbit is slower.
			Expect(d.Rate).To(Equal(10 * units.Mbit))
		}
		Expect(string(res.YAML)).To(ContainSubstring("BYTES per second"))

		Expect(s.Faults).To(HaveLen(1))
		f := s.Faults[0]
		Expect(f.At).To(Equal(30 * time.Second))
		Expect(f.Target.Links).To(Equal([]string{"store-1-uplink"}))
		// mec-svc-1's new side: 100ms, 5% each way. Up: 100ms + cloud's downlink 30ms.
		to := f.Degrade.Links[0].To
		Expect(to.Up.Delay).To(Equal(130 * time.Millisecond))
		Expect(to.Up.Loss.Percent).To(Equal(units.Percent(5))) // 1-(1-5%)(1-0%)
		Expect(to.Up.Rate).To(Equal(10 * units.Mbit))          // cloud's downlink, 10mbit
		Expect(to.Down.Rate).To(Equal(40 * units.Mbit))        // cloud's uplink, 5Mbps = 5 MB/s
		// The way back would be 20ms + 100ms with 1-(0.99)(0.95) = 5.95% loss: approximated, and said so.
		Expect(string(res.YAML)).To(ContainSubstring("120ms, loss 1-(1-1%)(1-5%) = 5.95%"))

		var fields []string
		for _, n := range res.Approximations() {
			fields = append(fields, n.Field)
		}
		Expect(fields).To(ContainElements("x-fogify.nodes", "x-fogify.scenarios[0].actions[1].action.type", "x-fogify.scenarios[0].actions[0]"))
	})

	It("links every mapped pair on a network but cameras and cloud, which edgesim would connect directly", func() {
		res, s := load("fogify", "fogify-flat.yaml", importers.Options{Map: m})
		Expect(link(s, "store-1-cameras").Up.Delay).To(Equal(15 * time.Millisecond)) // 10ms + 5ms
		Expect(link(s, "store-1-uplink").Down.Delay).To(Equal(15 * time.Millisecond))
		for _, l := range s.Links {
			Expect(l.Name).NotTo(Equal("store-1-cameras-cloud"))
		}
		Expect(res.Approximations()).To(ContainElement(HaveField("Msg", ContainSubstring("dropped for cloud-server and cam"))))
	})

	It("refuses a service with no mapping, naming its line", func() {
		_, err := importers.Import("fogify", []importers.Input{input("fogify-compose.yaml")}, importers.Options{Map: m[:2]})
		Expect(err).To(MatchError(ContainSubstring("fogify-compose.yaml:46: x-fogify.topology[2]: no mapping for service cam")))
	})
})

var _ = Describe("Import", func() {
	It("rejects an unknown format with the list of known ones", func() {
		_, err := importers.Import("ns3", nil, importers.Options{})
		Expect(err).To(MatchError(ContainSubstring("chaosmesh, fogify, containerlab, testground")))
	})

	DescribeTable("ParseMapEntry",
		func(in, want string) {
			m, err := importers.ParseMapEntry(in)
			if want == "" {
				Expect(err).To(HaveOccurred())
				return
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(m.String()).To(Equal(want))
		},
		Entry(nil, "app=camera:site:store-1", "app=camera:site:store-1"),
		Entry(nil, "app.kubernetes.io/name=edge:cloud", "app.kubernetes.io/name=edge:cloud"),
		Entry(nil, "app=camera:node:store-1-edge-1", ""),
		Entry(nil, "app:site:store-1", ""),
	)

	It("writes comments for every note", func() {
		res, err := importers.Import("fogify", []importers.Input{input("fogify-compose.yaml")},
			importers.Options{Map: maps("label=cloud-server:cloud", "label=mec-svc-1:site:store-1", "label=cam:cameras:store-1")})
		Expect(err).NotTo(HaveOccurred())
		for _, n := range res.Notes {
			Expect(strings.Contains(string(res.YAML), n.String())).To(BeTrue(), n.String())
		}
	})
})

var _ = DescribeTable("every importer's output loads with edgesim's scenario loader, from a file",
	func(format, fixture string, opts importers.Options) {
		res, err := importers.Import(format, []importers.Input{input(fixture)}, opts)
		Expect(err).NotTo(HaveOccurred())
		f := filepath.Join(GinkgoT().TempDir(), "imported.yaml")
		Expect(os.WriteFile(f, res.YAML, 0o644)).To(Succeed())
		s, err := scenarios.LoadFile(f)
		Expect(err).NotTo(HaveOccurred(), string(res.YAML))
		Expect(s.Links).NotTo(BeEmpty())
		Expect(string(res.YAML)).To(HavePrefix("# Imported by `edgesim import " + format))
	},
	Entry("chaosmesh", "chaosmesh", "chaosmesh-netem.yaml", importers.Options{Map: maps("app=camera:cameras:store-1", "app=edgenode:site:store-1")}),
	Entry("fogify", "fogify", "fogify-compose.yaml", importers.Options{Map: maps("label=cloud-server:cloud", "label=mec-svc-1:site:store-1", "label=cam:cameras:store-1")}),
	Entry("containerlab", "containerlab", "containerlab-netem.sh", importers.Options{Map: maps("node=clab-edge-store1:site:store-1", "node=clab-edge-cloud:cloud")}),
	Entry("testground", "testground", "testground-shape.json", importers.Options{From: "site:store-2", To: "site:store-1"}),
)

var _ = DescribeTable("tc's rate units, as Chaos Mesh and Fogify hand them to tc",
	func(in string, want units.BitRate, bytes bool) {
		got, why, err := importers.TCRate(in)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(want))
		Expect(why != "").To(Equal(bytes), "a byte unit explains its conversion")
	},
	Entry("bps is bytes: 1mbps = 1,000,000 B/s x 8", "1mbps", 8*units.Mbit, true),
	Entry("case does not matter to tc", "1MBps", 8*units.Mbit, true),
	Entry("100kbps = 100,000 B/s x 8", "100kbps", 800*units.Kbit, true),
	Entry("1kibps = 1024 B/s x 8", "1kibps", units.BitRate(8192), true),
	Entry("mbit is bits", "1mbit", units.Mbit, false),
	Entry("1kibit = 1024 bit", "1kibit", units.BitRate(1024), false),
	Entry("2.5gbit", "2.5gbit", units.BitRate(2_500_000_000), false),
)

var _ = DescribeTable("tc rates without a tc unit are refused",
	func(in string) {
		_, _, err := importers.TCRate(in)
		Expect(err).To(HaveOccurred())
	},
	Entry(nil, "1000000"),
	Entry(nil, "10MB/s"),
	Entry(nil, "fast"),
)
