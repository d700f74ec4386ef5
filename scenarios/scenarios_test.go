package scenarios_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/units"
)

func mustLoad(name, text string) *scenarios.Scenario {
	GinkgoHelper()
	s, err := scenarios.Load(name, []byte(text), "")
	Expect(err).NotTo(HaveOccurred())
	return s
}

func loadErrors(text string) scenarios.ErrorList {
	GinkgoHelper()
	_, err := scenarios.Load("t.yaml", []byte(text), "")
	Expect(err).To(HaveOccurred())
	var list scenarios.ErrorList
	Expect(errors.As(err, &list)).To(BeTrue())
	return list
}

const header = `apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: t}
`

var _ = Describe("Examples", func() {
	It("embeds the five examples", func() {
		Expect(scenarios.ExampleNames()).To(Equal([]string{"factory-5g", "night-watch-4g", "quickstart", "retail-wifi", "two-models"}))
	})

	It("validates every example file on disk and embedded", func() {
		files, err := filepath.Glob("examples/*.yaml")
		Expect(err).NotTo(HaveOccurred())
		files = slices.DeleteFunc(files, scenarios.IsPlanExample) // capacity plans, not scenarios
		embedded := slices.DeleteFunc(slices.Clone(files), scenarios.IsFileExample)
		Expect(embedded).To(HaveLen(len(scenarios.ExampleNames())))
		for _, f := range files {
			s, err := scenarios.LoadFile(f)
			Expect(err).NotTo(HaveOccurred(), f)
			Expect(s.Warnings).To(BeEmpty(), f)
		}
		for _, name := range scenarios.ExampleNames() {
			s, err := scenarios.Example(name)
			Expect(err).NotTo(HaveOccurred(), name)
			Expect(s.Name).To(Equal(name))
		}
	})

	It("keeps quickstart tiny: 1 cloud node, 1 site with 2 edge nodes and 4 cameras on 4g, a kill mid-run", func() {
		s, err := scenarios.Example(scenarios.DefaultExample)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Duration).To(Equal(30 * time.Second))
		Expect(s.Cloud.Nodes).To(HaveLen(1))
		Expect(s.Sites).To(HaveLen(1))
		Expect(s.Sites[0].Nodes).To(HaveLen(2))
		Expect(s.Cameras()).To(Equal(4))
		uplink, ok := s.Link("store-1-uplink")
		Expect(ok).To(BeTrue())
		Expect(uplink.Profile).To(Equal("4g"))
		Expect(s.Faults).To(ConsistOf(HaveField("Action", scenarios.FaultKill)))
		Expect(s.Faults[0].Target.Nodes).To(Equal([]string{"store-1-edge-2"}))
		Expect(s.Faults[0].At).To(BeNumerically("~", s.Duration/2, 5*time.Second))
	})

	It("tells the night-watch story: loitering at night in zone entrance with a time-to-alert SLO", func() {
		s, err := scenarios.Example("night-watch-4g")
		Expect(err).NotTo(HaveOccurred())
		g := s.Sites[0].Cameras[0]
		Expect(g.Scene.Night).To(BeTrue())
		Expect(g.Events).To(ContainElement(And(HaveField("Kind", "loiter"), HaveField("Zone", "entrance"))))
		Expect(s.SLO.TimeToAlert).To(BeNumerically(">", 0))
		Expect(s.StartTime.Within(s.Workload.Alerts[0].Window.From, s.Workload.Alerts[0].Window.To)).To(BeTrue())
	})

	It("degrades one shop's Wi-Fi with a ramp in retail-wifi", func() {
		s, err := scenarios.Example("retail-wifi")
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Sites).To(HaveLen(2))
		Expect(s.Faults).To(HaveLen(1))
		f := s.Faults[0]
		Expect(f.Action).To(Equal(scenarios.FaultDegrade))
		Expect(f.Degrade.Ramp).To(Equal(5 * time.Second))
		Expect(f.Degrade.Links).To(ConsistOf(HaveField("Link", "shop-b-cameras")))
		l, _ := s.Link("shop-b-cameras")
		Expect(l.Profile).To(Equal("wifi"))
		Expect(f.Degrade.Links[0].To.Up.Rate).To(Equal(4 * units.Mbit))
		Expect(f.Degrade.Links[0].To.Down.Rate).To(Equal(l.Down.Rate), "down keeps the profile's rate")
	})

	It("partitions the backhaul, then restarts an edge node, in factory-5g", func() {
		s, err := scenarios.Example("factory-5g")
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Faults).To(HaveLen(2))
		Expect(s.Faults[0].Action).To(Equal(scenarios.FaultPartition))
		Expect(s.Faults[0].Target.Links).To(Equal([]string{"yard-uplink"}))
		Expect(s.Faults[1].Action).To(Equal(scenarios.FaultRestart))
		Expect(s.Faults[1].At).To(Equal(75*time.Second), "after: 30s counts from the partition at 45s")
		up, _ := s.Link("yard-uplink")
		Expect(up.Up.Rate).To(Equal(20 * units.Mbit))
		Expect(up.Up.Queue.Packets).To(Equal(200))
	})

	It("reports an unknown example with the list of names", func() {
		_, err := scenarios.Example("nope")
		Expect(err).To(MatchError(scenarios.ErrUnknownExample))
		Expect(err.Error()).To(ContainSubstring("quickstart"))
	})
})

var _ = Describe("Golden testdata", func() {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		base := filepath.Base(file)
		It("matches "+base+".golden", func() {
			s, err := scenarios.LoadFile(file)
			var got string
			switch {
			case strings.HasPrefix(base, "valid-"):
				Expect(err).NotTo(HaveOccurred())
				got = dumpScenario(s)
			case strings.HasPrefix(base, "invalid-"):
				Expect(err).To(MatchError(scenarios.ErrInvalid))
				got = err.Error() + "\n"
			default:
				Fail("testdata files are named valid-*.yaml or invalid-*.yaml: " + base)
			}
			golden := file + ".golden"
			if *update {
				Expect(os.WriteFile(golden, []byte(got), 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(golden)
			Expect(err).NotTo(HaveOccurred(), "run go test ./scenarios/ -args -update to create it")
			Expect(got).To(Equal(string(want)))
		})
	}
})

// dumpScenario prints a scenario as YAML with machine-specific paths
// replaced, so golden files are the same everywhere.
func dumpScenario(s *scenarios.Scenario) string {
	GinkgoHelper()
	out, err := yaml.Marshal(s)
	Expect(err).NotTo(HaveOccurred())
	text := string(out)
	if s.BaseDir != "" {
		text = strings.ReplaceAll(text, s.BaseDir, "$TESTDATA")
	}
	return text
}

var _ = Describe("Strict decoding", func() {
	It("reports the three classic mistakes at once with line:col and field path", func() {
		_, err := scenarios.LoadFile("testdata/invalid-three-mistakes.yaml")
		var list scenarios.ErrorList
		Expect(errors.As(err, &list)).To(BeTrue())
		Expect(list).To(HaveLen(3))
		Expect(list[0].Error()).To(HavePrefix(`testdata/invalid-three-mistakes.yaml:12:11: spec.sites[0].cameras[0].resolutoin: unknown field "resolutoin"; did you mean "resolution"?`))
		Expect(list[1]).To(MatchFields2(15, 14, "spec.links[0].delay", "must not be negative"))
		Expect(list[2]).To(MatchFields2(16, 18, "spec.links[0].rate.up", "10Mbit for megabits per second or 10MB/s for megabytes"))
	})

	It("lists known fields when no field is close", func() {
		list := loadErrors(header + "spec:\n  duration: 1s\n  sites: [{name: a}]\n  zzzzzzzzzzzz: 1\n")
		Expect(list).To(HaveLen(1))
		Expect(list[0].Msg).To(ContainSubstring("known fields: seed, duration"))
	})

	It("rejects duplicate keys", func() {
		list := loadErrors(header + "spec:\n  duration: 1s\n  duration: 2s\n  sites: [{name: a}]\n")
		Expect(list[0].Msg).To(ContainSubstring("appears twice"))
		Expect(list[0].Line).To(Equal(6))
	})

	It("accepts aliases but stops alias bombs", func() {
		s := mustLoad("a.yaml", header+"spec:\n  duration: &d 10s\n  warmup: *d\n  sites: [{name: a}]\n")
		Expect(s.Warmup).To(Equal(10 * time.Second))

		rep := func(ref string, n int) string { return strings.TrimSuffix(strings.Repeat(ref+", ", n), ", ") }
		bomb := header +
			"x0: &e {kind: loiter, zone: z, at: 1s, cameras: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}\n" +
			"x1: &c {count: 1, zones: [{name: z, rect: [0, 0, 1, 1]}], events: [" + rep("*e", 30) + "]}\n" +
			"x2: &s {name: a, cameras: [" + rep("*c", 30) + "]}\n" +
			"spec: {duration: 1s, sites: [" + rep("*s", 30) + "]}\n"
		_, err := scenarios.Load("bomb.yaml", []byte(bomb), "")
		Expect(err).To(MatchError(ContainSubstring("aliases expand too much")))
	})

	It("accepts shorthand scalars for loss, duplicate, corrupt and reorder", func() {
		s := mustLoad("s.yaml", header+`spec:
  duration: 10s
  sites: [{name: a}]
  links:
    - between: [site:a, cloud]
      delay: 10ms
      loss: 2%
      duplicate: 1
      reorder: 0.5%
`)
		l, _ := s.Link("a-uplink")
		Expect(l.Up.Loss).To(Equal(scenarios.Loss{Model: scenarios.LossBernoulli, Percent: 2}))
		Expect(l.Down.Duplicate.Percent).To(Equal(units.Percent(1)))
		Expect(l.Up.Reorder.Percent).To(Equal(units.Percent(0.5)))
	})

	It("keeps a link's order when asked, for one direction or both, over its profile", func() {
		s := mustLoad("s.yaml", header+`spec:
  duration: 10s
  sites: [{name: a}, {name: b}]
  links:
    - between: [site:a, cloud]
      profile: 4g
      keepOrder: true
    - between: [site:b, cloud]
      profile: 4g
      up: {keepOrder: true}
`)
		a, _ := s.Link("a-uplink")
		Expect(a.Up.KeepOrder && a.Down.KeepOrder).To(BeTrue())
		Expect(a.Up.Jitter).To(BeNumerically(">", 0), "the profile's jitter stays")
		b, _ := s.Link("b-uplink")
		Expect(b.Up.KeepOrder).To(BeTrue())
		Expect(b.Down.KeepOrder).To(BeFalse(), "netem's default: jitter reorders")
	})

	It("matches ErrInvalid and reads as one problem per line", func() {
		_, err := scenarios.LoadFile("testdata/invalid-references.yaml")
		Expect(errors.Is(err, scenarios.ErrInvalid)).To(BeTrue())
		lines := strings.Split(err.Error(), "\n")
		Expect(len(lines)).To(BeNumerically(">", 20))
		for _, l := range lines {
			Expect(l).To(MatchRegexp(`^testdata/invalid-references\.yaml:\d+:\d+: \S+: .+`))
		}
	})

	It("reports a missing file as a problem of that file", func() {
		_, err := scenarios.LoadFile("testdata/does-not-exist.yaml")
		Expect(err).To(MatchError(ContainSubstring("testdata/does-not-exist.yaml: cannot read the scenario: no such file or directory")))
	})
})

// MatchFields2 matches a FieldError's line, column, path and message part.
func MatchFields2(line, col int, path, msg string) OmegaMatcher {
	return And(HaveField("Line", line), HaveField("Col", col), HaveField("Path", path), HaveField("Msg", ContainSubstring(msg)))
}

var _ = Describe("Resolution", func() {
	It("applies defaults and adds lan links", func() {
		s, err := scenarios.LoadFile("testdata/valid-minimal.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Seed).To(Equal(int64(1)))
		Expect(s.Provider).To(Equal(scenarios.ProviderLocal))
		Expect(s.Cloud.Nodes).To(Equal([]scenarios.Node{{Name: "cloud-1"}}))
		Expect(s.Sites[0].Nodes).To(Equal([]scenarios.Node{{Name: "s1-edge-1", Site: "s1"}}))
		g := s.Sites[0].Cameras[0]
		Expect(g.CameraIDs).To(Equal([]string{"s1-cam-1"}))
		Expect([]int{g.Width, g.Height}).To(Equal([]int{640, 360}))
		Expect(s.Links).To(HaveLen(2))
		for _, l := range s.Links {
			Expect(l.Profile).To(Equal("lan"))
		}
		Expect(s.Workload.Placement).To(Equal(scenarios.PlacementEdge))
		Expect(s.Report.Dir).To(Equal("edgesim-report/minimal"))
	})

	It("layers profile, link settings, rate and per-direction overrides", func() {
		s := mustLoad("l.yaml", header+`spec:
  duration: 10s
  sites: [{name: a}]
  links:
    - between: [site:a, cloud]
      profile: 4g
      jitter: 1ms
      rate: {down: 20Mbit}
      up: {delay: 70ms}
`)
		l, ok := s.Link("a-uplink")
		Expect(ok).To(BeTrue())
		p, _ := scenarios.Profile("4g")
		Expect(l.Up.Delay).To(Equal(70 * time.Millisecond))
		Expect(l.Down.Delay).To(Equal(p.Down.Delay))
		Expect(l.Up.Jitter).To(Equal(time.Millisecond))
		Expect(l.Down.Jitter).To(Equal(time.Millisecond))
		Expect(l.Up.Rate).To(Equal(p.Up.Rate))
		Expect(l.Down.Rate).To(Equal(20 * units.Mbit))
		Expect(l.Down.Queue.Bytes).To(Equal(units.ByteSize(250000)), "100 ms at 20 Mbit/s")
		Expect(l.Down.Burst).To(Equal(units.ByteSize(2500)), "1 ms at 20 Mbit/s")
		Expect(l.Up.Loss).To(Equal(p.Up.Loss))
	})

	It("resolves relative trace paths against the scenario file", func() {
		s, err := scenarios.LoadFile("testdata/valid-full.yaml")
		Expect(err).NotTo(HaveOccurred())
		l, _ := s.Link("south-uplink")
		abs, _ := filepath.Abs("testdata/traces/4mbit.trace")
		Expect(l.Up.Trace).To(Equal(abs))
		Expect(l.Up.Rate).To(BeZero())
	})

	It("turns after into absolute times and sorts the timeline", func() {
		s, err := scenarios.LoadFile("testdata/valid-full.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Faults[1].At).To(Equal(30 * time.Second))
		Expect(s.Faults[1].Target.Nodes).To(Equal([]string{"south-edge-1"}))
		Expect(s.Faults[1].Duration).To(Equal(5*time.Second), "restart default down time")
		for i := 1; i < len(s.Faults); i++ {
			Expect(s.Faults[i].At).To(BeNumerically(">=", s.Faults[i-1].At))
		}
		part := s.Faults[3]
		Expect(part.Action).To(Equal(scenarios.FaultPartition))
		Expect(part.Target.Links).To(ConsistOf("north-uplink", "north-south"), "a site partition cuts the WAN, not the site's cameras")
	})

	It("resolves a degrade to the complete target link settings", func() {
		s, err := scenarios.LoadFile("testdata/valid-full.yaml")
		Expect(err).NotTo(HaveOccurred())
		var deg *scenarios.Degradation
		for _, f := range s.Faults {
			if f.Action == scenarios.FaultDegrade {
				deg = f.Degrade
			}
		}
		Expect(deg).NotTo(BeNil())
		Expect(deg.Ramp).To(Equal(10 * time.Second))
		Expect(deg.Links).To(HaveLen(1))
		to := deg.Links[0].To
		Expect(to.Up.Delay).To(Equal(400 * time.Millisecond))
		Expect(to.Up.Rate).To(Equal(500 * units.Kbit))
		Expect(to.Down.Rate).To(Equal(20*units.Mbit), "2.5MB/s kept from the link")
		Expect(to.Up.Loss.Model).To(Equal(scenarios.LossBernoulli))
	})

	It("checks Mahimahi traces", func() {
		dir := GinkgoT().TempDir()
		write := func(name, body string) {
			Expect(os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)).To(Succeed())
		}
		write("ok.trace", "0\n0\n5\n9\n")
		write("zero.trace", "0\n0\n")
		write("blank.trace", "1\n\n2\n")
		write("word.trace", "1\nx\n")
		doc := func(trace string) string {
			return header + "spec:\n  duration: 1s\n  sites: [{name: a}]\n  links:\n    - between: [site:a, cloud]\n      trace: {up: " + trace + "}\n"
		}
		_, err := scenarios.Load("t.yaml", []byte(doc("ok.trace")), dir)
		Expect(err).NotTo(HaveOccurred())
		for trace, msg := range map[string]string{
			"zero.trace":  "last timestamp must be above 0",
			"blank.trace": "line 2 is empty",
			"word.trace":  "line 2 is not a non-negative integer",
			"dir":         "cannot read trace",
		} {
			_, err := scenarios.Load("t.yaml", []byte(doc(trace)), dir)
			Expect(err).To(MatchError(ContainSubstring(msg)), trace)
		}
		Expect(os.Mkdir(filepath.Join(dir, "d.trace"), 0o755)).To(Succeed())
		_, err = scenarios.Load("t.yaml", []byte(doc("d.trace")), dir)
		Expect(err).To(MatchError(ContainSubstring("not a regular file")))
	})
})

var _ = Describe("Profiles", func() {
	It("documents lan, wifi, 4g, 5g and satellite with sources", func() {
		Expect(scenarios.ProfileNames()).To(Equal([]string{"lan", "wifi", "4g", "5g", "satellite"}))
		for _, p := range scenarios.Profiles() {
			Expect(p.Source).NotTo(BeEmpty(), p.Name)
			Expect(p.Spec.Up.Rate).To(BeNumerically(">", 0), p.Name)
			Expect(p.Spec.Down.Rate).To(BeNumerically(">", 0), p.Name)
			Expect(p.Spec.Up.Queue.Bytes).To(BeNumerically(">=", 16*1500), p.Name)
		}
	})

	It("returns the 4g numbers derived from the LTE traces", func() {
		p, ok := scenarios.Profile("4g")
		Expect(ok).To(BeTrue())
		Expect(p.Up.Rate).To(Equal(10 * units.Mbit))
		Expect(p.Down.Rate).To(Equal(11 * units.Mbit))
		Expect(p.Up.Delay).To(Equal(30 * time.Millisecond))
		_, ok = scenarios.Profile("6g")
		Expect(ok).To(BeFalse())
	})
})

var _ = Describe("paths from a scenario", func() {
	doc := func(trace, dir string) string {
		d := header + "spec:\n  duration: 1s\n  sites: [{name: a}]\n  links:\n    - between: [site:a, cloud]\n      trace: {up: " + trace + "}\n"
		if dir != "" {
			d += "  report: {dir: " + dir + "}\n"
		}
		return d
	}
	var root, base string
	BeforeEach(func() {
		root = GinkgoT().TempDir()
		base = filepath.Join(root, "scenario")
		Expect(os.MkdirAll(filepath.Join(base, "traces"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(base, "traces", "ok.trace"), []byte("0\n5\n"), 0o644)).To(Succeed())
		// A secret outside the scenario's tree, readable by root.
		Expect(os.WriteFile(filepath.Join(root, "shadow"), []byte("root:$6$secret-hash:19000:0:99999:7:::\n"), 0o600)).To(Succeed())
		Expect(os.Symlink(filepath.Join(root, "shadow"), filepath.Join(base, "traces", "link.trace"))).To(Succeed())
	})

	It("resolves the trace and report.dir against the scenario's directory", func() {
		s, err := scenarios.Load("t.yaml", []byte(doc("traces/ok.trace", "out/run")), base)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Report.Dir).To(Equal(filepath.Join(base, "out", "run")))
		Expect(s.Links[0].Up.Trace).To(Equal(filepath.Join(base, "traces", "ok.trace")))
	})

	DescribeTable("refuses paths that leave the scenario's tree, and never quotes the file",
		func(trace, dir, field string) {
			_, err := scenarios.Load("t.yaml", []byte(doc(trace, dir)), base)
			Expect(err).To(MatchError(ContainSubstring(field)))
			Expect(err).To(MatchError(ContainSubstring("--allow-outside-paths")))
			Expect(err.Error()).NotTo(ContainSubstring("secret-hash"))
		},
		Entry("absolute trace", filepath.Join("/tmp", "..", "etc", "shadow"), "", "trace"),
		Entry("trace through ..", "../shadow", "", "leaves the scenario's directory"),
		Entry("trace through a symbolic link", "traces/link.trace", "", "symbolic link"),
		Entry("absolute report.dir", "traces/ok.trace", "/etc/cron.d", "spec.report.dir"),
		Entry("report.dir through ..", "traces/ok.trace", "../../elsewhere", "spec.report.dir"),
	)

	It("allows them with AllowOutsidePaths, and still never quotes a line of the file", func() {
		s, err := scenarios.Load("t.yaml", []byte(doc("traces/ok.trace", "../elsewhere")), base, scenarios.AllowOutsidePaths())
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Report.Dir).To(Equal(filepath.Join(root, "elsewhere")))
		_, err = scenarios.Load("t.yaml", []byte(doc("../shadow", "")), base, scenarios.AllowOutsidePaths())
		Expect(err).To(MatchError(ContainSubstring("line 1 is not a non-negative integer")))
		Expect(err.Error()).NotTo(ContainSubstring("secret-hash"))
	})
})

var _ = Describe("node faults on one node", func() {
	doc := func(faults string) []byte {
		return []byte(header + "spec:\n  duration: 60s\n  sites: [{name: a}]\n  faults:\n" + faults)
	}
	DescribeTable("are refused when they overlap, naming both",
		func(faults string, want ...string) {
			_, err := scenarios.Load("t.yaml", doc(faults), "")
			Expect(err).To(HaveOccurred())
			for _, w := range want {
				Expect(err).To(MatchError(ContainSubstring(w)))
			}
		},
		Entry("a restart during a restart",
			"    - {at: 10s, action: restart, duration: 10s, target: {site: a}}\n    - {at: 15s, action: restart, target: {site: a}}\n",
			"spec.faults[1]: restart of node", "(15s to 20s) overlaps spec.faults[0], restart of it (10s to 20s)"),
		Entry("a restart during a pause, listed first",
			"    - {at: 12s, action: restart, target: {site: a}}\n    - {at: 10s, action: pause, duration: 5s, target: {site: a}}\n",
			"spec.faults[1]: pause of node", "overlaps spec.faults[0], restart"),
		Entry("a restart after a kill",
			"    - {at: 10s, action: kill, target: {site: a}}\n    - {at: 30s, action: restart, target: {site: a}}\n",
			"overlaps spec.faults[0], kill of it (10s to the end of the run)"),
	)

	It("are accepted one after the other", func() {
		s, err := scenarios.Load("t.yaml", doc("    - {at: 10s, action: restart, duration: 5s, target: {site: a}}\n    - {at: 15s, action: pause, duration: 5s, target: {site: a}}\n    - {at: 20s, action: restart, target: {site: a}}\n"), "")
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Faults).To(HaveLen(3))
	})
})

var _ = Describe("JSON Schema", func() {
	It("equals the committed scenarios/scenario.schema.json", func() {
		got := scenarios.JSONSchema()
		if *update {
			Expect(os.WriteFile("scenario.schema.json", got, 0o644)).To(Succeed())
		}
		want, err := os.ReadFile("scenario.schema.json")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got)).To(Equal(string(want)), "regenerate with: go test ./scenarios/ -args -update")
	})

	It("accepts every example and valid testdata file and rejects typos, as a JSON Schema validator sees it", func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(scenarios.JSONSchema()))
		Expect(err).NotTo(HaveOccurred())
		c := jsonschema.NewCompiler()
		Expect(c.AddResource("scenario.schema.json", doc)).To(Succeed())
		schema, err := c.Compile("scenario.schema.json")
		Expect(err).NotTo(HaveOccurred())
		asJSON := func(file string) any {
			data, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			var v any
			Expect(yaml.Unmarshal(data, &v)).To(Succeed())
			j, err := json.Marshal(v)
			Expect(err).NotTo(HaveOccurred())
			out, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
			Expect(err).NotTo(HaveOccurred())
			return out
		}
		valid, _ := filepath.Glob("examples/*.yaml")
		valid = slices.DeleteFunc(valid, scenarios.IsPlanExample)
		more, _ := filepath.Glob("testdata/valid-*.yaml")
		for _, f := range append(valid, more...) {
			Expect(schema.Validate(asJSON(f))).To(Succeed(), f)
		}
		for _, f := range []string{"testdata/invalid-three-mistakes.yaml", "testdata/invalid-units.yaml", "testdata/invalid-header.yaml"} {
			Expect(schema.Validate(asJSON(f))).NotTo(Succeed(), f)
		}
	})

	It("describes every field the decoder accepts, strictly", func() {
		var schema map[string]any
		Expect(json.Unmarshal(scenarios.JSONSchema(), &schema)).To(Succeed())
		Expect(schema["additionalProperties"]).To(Equal(false))
		Expect(schema["required"]).To(ConsistOf("apiVersion", "kind", "metadata", "spec"))
		defs := schema["$defs"].(map[string]any)
		link := defs["Link"].(map[string]any)["properties"].(map[string]any)
		Expect(link).To(HaveKey("delay"), "inline impairment fields appear on the link")
		Expect(link["profile"].(map[string]any)["enum"]).To(ConsistOf("lan", "wifi", "4g", "5g", "satellite"))
		Expect(defs["Loss"]).To(HaveKey("anyOf"), "loss accepts a bare percentage")
	})
})

var _ = Describe("Documentation", func() {
	It("shows only valid complete scenarios in README.md and docs/scenarios.md", func() {
		checked := 0
		for _, doc := range []string{"../README.md", "../docs/scenarios.md"} {
			data, err := os.ReadFile(doc)
			Expect(err).NotTo(HaveOccurred())
			blocks := strings.Split(string(data), "```yaml\n")
			for _, b := range blocks[1:] {
				block, _, _ := strings.Cut(b, "```")
				if !strings.HasPrefix(block, "apiVersion:") {
					continue
				}
				_, err := scenarios.Load(doc, []byte(block), "")
				Expect(err).NotTo(HaveOccurred(), doc)
				checked++
			}
		}
		Expect(checked).To(BeNumerically(">=", 2))
	})

	It("lists every profile with its rates in docs/scenarios.md", func() {
		data, err := os.ReadFile("../docs/scenarios.md")
		Expect(err).NotTo(HaveOccurred())
		for _, p := range scenarios.Profiles() {
			row := "| `" + p.Name + "` |"
			Expect(string(data)).To(ContainSubstring(row))
			line := strings.SplitN(strings.SplitN(string(data), row, 2)[1], "\n", 2)[0]
			Expect(line).To(ContainSubstring("| "+p.Spec.Up.Rate.String()+" | "+p.Spec.Down.Rate.String()+" |"), p.Name)
		}
	})
})

var _ = Describe("Alert checks", func() {
	doc := func(startTime, window, eventLabel string) string {
		return header + `spec:
  duration: 60s
  startTime: "` + startTime + `"
  sites:
    - name: a
      cameras:
        - zones: [{name: door, rect: [0, 0, 1, 1]}]
          events: [{kind: loiter, zone: door, label: ` + eventLabel + `, at: 10s, duration: 20s}]
  workload:
    alerts: [{zone: door, labels: [person], timeOfDay: ` + window + `}]
  slo: {timeToAlert: 5s}
`
	}
	It("accepts a night rule when the run is at night", func() {
		mustLoad("n.yaml", doc("23:30", `{from: "20:00", to: "06:00"}`, "person"))
		mustLoad("n.yaml", doc("19:59:50", `{from: "20:00", to: "06:00"}`, "person"))
	})
	It("rejects a rule that is never active during the run", func() {
		list := loadErrors(doc("12:00", `{from: "20:00", to: "06:00"}`, "person"))
		Expect(list.Error()).To(ContainSubstring("the rule is never active: the run covers 12:00-12:01 and the window is 20:00-06:00; set spec.startTime"))
	})
	It("rejects a time-to-alert SLO no event can meet", func() {
		list := loadErrors(doc("23:00", `{from: "20:00", to: "06:00"}`, "vehicle"))
		Expect(list).To(HaveLen(1))
		Expect(list[0].Path).To(Equal("spec.slo.timeToAlert"))
		Expect(list[0].Msg).To(ContainSubstring("no scripted event can raise an alert"))
	})
	It("rejects vehicle_stop events about persons", func() {
		list := loadErrors(header + "spec:\n  duration: 9s\n  sites:\n    - name: a\n      cameras:\n        - zones: [{name: z, rect: [0, 0, 1, 1]}]\n          events: [{kind: vehicle_stop, zone: z, label: person, at: 1s}]\n")
		Expect(list[0].Msg).To(ContainSubstring("vehicle_stop event is about a vehicle"))
	})
})

var _ = Describe("Rate shorthand", func() {
	It("reads rate: 10Mbit as the same rate both ways", func() {
		s := mustLoad("r.yaml", header+"spec:\n  duration: 1s\n  sites: [{name: a}, {name: b}]\n  links:\n    - between: [site:a, site:b]\n      rate: 10Mbit\n")
		l, ok := s.Link("a-b")
		Expect(ok).To(BeTrue())
		Expect(l.Up.Rate).To(Equal(10 * units.Mbit))
		Expect(l.Down.Rate).To(Equal(10 * units.Mbit))
	})
	It("rejects a mix of both and one direction", func() {
		list := loadErrors(header + "spec:\n  duration: 1s\n  sites: [{name: a}]\n  links:\n    - between: [site:a, cloud]\n      rate: {both: 1Mbit, up: 2Mbit}\n")
		Expect(list).To(HaveLen(1))
		Expect(list[0].Path).To(Equal("spec.links[0].rate.both"))
	})
})

var _ = Describe("Hints from peer tools' vocabulary", func() {
	It("maps netem, Chaos Mesh and Fogify words to edgesim fields", func() {
		list := loadErrors(header + "spec:\n  duration: 1s\n  sites: [{name: a}]\n  links:\n    - between: [site:a, cloud]\n      latency: 20ms\n      bandwidth: 10Mbit\n")
		Expect(list).To(HaveLen(2))
		Expect(list[0].Msg).To(Equal(`unknown field "latency"; did you mean "delay"? (netem and Chaos Mesh call it latency)`))
		Expect(list[1].Msg).To(ContainSubstring(`did you mean "rate"?`))
	})
})

var _ = Describe("Gates nothing exercised", func() {
	doc := func(slo string) string {
		return header + "spec:\n  duration: 1s\n  sites: [{name: a}]\n  slo: " + slo + "\n"
	}
	It("fail the run by default and pass it with allowNotExercised", func() {
		Expect(mustLoad("s.yaml", doc("{uplinkMax: 1Mbit}")).SLO.AllowNotExercised).To(BeFalse())
		Expect(mustLoad("s.yaml", doc("{uplinkMax: 1Mbit, allowNotExercised: true}")).SLO.AllowNotExercised).To(BeTrue())
	})
	It("rejects allowNotExercised without a gate, or not a boolean, at its line", func() {
		list := loadErrors(doc("{allowNotExercised: true}"))
		Expect(list).To(HaveLen(1))
		Expect(list[0].Path).To(Equal("spec.slo.allowNotExercised"))
		Expect(list[0].Msg).To(ContainSubstring("there is no gate to allow"))
		Expect(list[0].Line).To(Equal(7))

		list = loadErrors(doc("{uplinkMax: 1Mbit, allowNotExercised: maybe}"))
		Expect(list).To(HaveLen(1))
		Expect(list[0].Path).To(Equal("spec.slo.allowNotExercised"))
	})
})
