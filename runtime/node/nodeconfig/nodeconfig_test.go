package nodeconfig_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/node/nodeconfig"
)

var _ = Describe("File", func() {
	full := nodeconfig.File{
		Listen: new(":8080"), NodeID: new("store-1-edge-1"), Mode: new("cloud"), Token: new("t"),
		MaxSessions: new(4), DetectFPS: new(0.0), Workers: new(2), QueueDepth: new(8),
		MaxFrameAge: new(1500 * time.Millisecond), Rules: new("/etc/edgesim/rules.yaml"),
		Upstream: new("http://10.0.0.1:8080"), UpstreamToken: new("u"), SpoolDir: new("/spool"),
		SpoolBound: new(10), AlertsFile: new("/alerts/alerts.jsonl"), ICEPorts: new("50000-50100"),
		ICEInterface: []string{"eth0", "eth1"}, PublicIP: []string{"10.0.0.2"}, ICEAllowRemote: []string{"10.0.0.0/8"},
		ICELoopback: new(false), NoMDNS: new(true), Model: new("/models/v2"), DrainTimeout: new(10 * time.Second),
		LogLevel: new("debug"),
	}

	It("reads back what it writes, explicit zero values included", func() {
		b, err := full.Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring("detect-fps: 0\n"))
		Expect(string(b)).To(ContainSubstring("max-frame-age: 1.5s\n"))
		got, err := nodeconfig.Parse(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(full))
	})

	It("writes only the keys that are set", func() {
		b, err := nodeconfig.File{DetectFPS: new(5.0)}.Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal("detect-fps: 5\n"))
	})

	It("gives the keys that are set as flag text, in order", func() {
		s, err := nodeconfig.File{MaxFrameAge: new(time.Second), DetectFPS: new(2.5), PublicIP: []string{"10.0.0.2", "10.0.0.3"}, NoMDNS: new(true)}.Settings()
		Expect(err).NotTo(HaveOccurred())
		Expect(s).To(Equal([]nodeconfig.Setting{
			{Flag: "detect-fps", Values: []string{"2.5"}},
			{Flag: "max-frame-age", Values: []string{"1s"}},
			{Flag: "public-ip", Values: []string{"10.0.0.2", "10.0.0.3"}},
			{Flag: "no-mdns", Values: []string{"true"}},
		}))
		s, err = nodeconfig.File{}.Settings()
		Expect(err).NotTo(HaveOccurred())
		Expect(s).To(BeEmpty())
	})

	It("takes an empty file as setting nothing", func() {
		f, err := nodeconfig.Parse([]byte("# nothing\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(f).To(Equal(nodeconfig.File{}))
	})

	DescribeTable("rejects what it does not know, naming the line and the way out",
		func(content string, want ...string) {
			path := filepath.Join(GinkgoT().TempDir(), "edgenode.yaml")
			Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
			_, err := nodeconfig.Load(path)
			Expect(err).To(HaveOccurred())
			for _, w := range append(want, path) {
				Expect(err.Error()).To(ContainSubstring(w))
			}
		},
		Entry("an unknown key", "listen: :8080\ndetect_fps: 5\n", "line 2: field detect_fps not found", "without their leading dashes"),
		Entry("a flag with its dashes", "--detect-fps: 5\n", "field --detect-fps not found"),
		Entry("a number that is text", "detect-fps: fast\n", "line 1", "float64"),
		Entry("a duration without unit", "drain-timeout: 10\n", "line 1", "time.Duration"),
		Entry("a list where a value goes", "listen: [a, b]\n", "line 1"),
		Entry("not a map", "- listen\n", "line 1"),
	)

	It("says which file is missing", func() {
		_, err := nodeconfig.Load("/nonexistent/edgenode.yaml")
		Expect(err).To(MatchError(ContainSubstring("edgenode config: open /nonexistent/edgenode.yaml")))
	})
})
