package app_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgenode/app"
	"github.com/edgesim/edgesim/runtime/node"
	"github.com/edgesim/edgesim/runtime/node/nodeconfig"
)

func noEnv(string) (string, bool) { return "", false }

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func writeConfig(content string) string {
	path := filepath.Join(GinkgoT().TempDir(), "edgenode.yaml")
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
	return path
}

var _ = Describe("serve --config", func() {
	It("has a key for every serve flag and no other", func() {
		var keys []string
		t := reflect.TypeFor[nodeconfig.File]()
		for i := range t.NumField() {
			keys = append(keys, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
		}
		var help bytes.Buffer
		Expect(app.Run(context.Background(), app.Streams{Out: &help, ErrOut: &help}, []string{"serve", "--help"})).To(Succeed())
		_, flagHelp, ok := strings.Cut(help.String(), "\nFlags:\n")
		Expect(ok).To(BeTrue(), help.String())
		var flags []string
		for _, line := range strings.Split(flagHelp, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], "--") && f[0] != "--config" && f[0] != "--help" {
				flags = append(flags, strings.TrimPrefix(f[0], "--"))
			}
		}
		Expect(flags).To(HaveLen(26))
		Expect(keys).To(ConsistOf(flags))
	})

	It("sets every option from the file", func() {
		path := writeConfig(`
listen: 127.0.0.1:9090
node-id: store-1-edge-1
mode: cloud
token: t
max-conns: 64
header-timeout: 2s
max-sessions: 4
detect-fps: 0
workers: 2
queue-depth: 8
max-frame-age: 1.5s
rules: /etc/edgesim/rules.yaml
upstream: http://10.0.0.1:8080
upstream-token: u
spool-dir: /spool
spool-bound: 10
alerts-file: /alerts/alerts.jsonl
ice-ports: 50000-50100
ice-interface: [eth0, eth1]
public-ip: [10.0.0.2]
ice-allow-remote: [10.0.0.0/8]
ice-loopback: true
no-mdns: true
model: /models/v2
drain-timeout: 3s
log-level: debug
`)
		cfg, err := app.ServeConfig([]string{"--config", path}, noEnv)
		Expect(err).NotTo(HaveOccurred())
		want := node.DefaultConfig()
		want.Listen, want.NodeID, want.Mode, want.Token = "127.0.0.1:9090", "store-1-edge-1", "cloud", "t"
		want.MaxConns, want.HeaderTimeout = 64, 2*time.Second
		want.MaxSessions, want.DetectFPS, want.Workers, want.QueueDepth, want.MaxFrameAge = 4, 0, 2, 8, 1500*time.Millisecond
		want.RulesFile, want.Upstream, want.UpstreamToken = "/etc/edgesim/rules.yaml", "http://10.0.0.1:8080", "u"
		want.SpoolDir, want.SpoolBound, want.AlertsFile = "/spool", 10, "/alerts/alerts.jsonl"
		want.ICE.PortMin, want.ICE.PortMax = 50000, 50100
		want.ICE.Interfaces, want.ICE.PublicIPs = []string{"eth0", "eth1"}, []string{"10.0.0.2"}
		want.ICE.RemoteNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		want.ICE.IncludeLoopback, want.ICE.DisableMDNS = true, true
		want.ModelDir, want.DrainTimeout = "/models/v2", 3*time.Second
		Expect(cfg).To(Equal(want))
	})

	It("lets flags win over the environment, and both over the file", func() {
		path := writeConfig("node-id: from-file\ndetect-fps: 1\nmode: cloud\npublic-ip: [10.0.0.2]\nmax-sessions: 3\n")
		cfg, err := app.ServeConfig([]string{"--config", path, "--node-id", "from-flag", "--public-ip", "10.0.0.9"},
			env(map[string]string{"EDGENODE_NODE_ID": "from-env", "EDGENODE_DETECT_FPS": "2"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.NodeID).To(Equal("from-flag"))
		Expect(cfg.DetectFPS).To(Equal(2.0))
		Expect(cfg.ICE.PublicIPs).To(Equal([]string{"10.0.0.9"}))
		Expect(cfg.Mode).To(Equal("cloud"))
		Expect(cfg.MaxSessions).To(Equal(3))
	})

	It("takes the file from EDGENODE_CONFIG too", func() {
		path := writeConfig("node-id: from-file\n")
		cfg, err := app.ServeConfig(nil, env(map[string]string{"EDGENODE_CONFIG": path}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.NodeID).To(Equal("from-file"))
	})

	It("without a file, runs with the defaults and the flags", func() {
		cfg, err := app.ServeConfig([]string{"--detect-fps", "2"}, noEnv)
		Expect(err).NotTo(HaveOccurred())
		want := node.DefaultConfig()
		want.DetectFPS = 2
		Expect(cfg).To(Equal(want))
	})

	It("refuses an unknown key, naming the file and the line", func() {
		path := writeConfig("node-id: a\nnodeid: b\n")
		_, err := app.ServeConfig([]string{"--config", path}, noEnv)
		Expect(err).To(MatchError(And(ContainSubstring(path), ContainSubstring("line 2: field nodeid not found"))))
	})

	It("refuses a bad value the way its flag does", func() {
		_, err := app.ServeConfig([]string{"--config", writeConfig("ice-ports: 5-\n")}, noEnv)
		Expect(err).To(MatchError(ContainSubstring(`--ice-ports "5-": want LOW-HIGH`)))
		_, err = app.ServeConfig([]string{"--config", writeConfig("ice-allow-remote: [nonsense]\n")}, noEnv)
		Expect(err).To(MatchError(ContainSubstring(`--ice-allow-remote "nonsense"`)))
	})

	It("starts nothing when the file is bad", func() {
		var out bytes.Buffer
		err := app.Run(context.Background(), app.Streams{Out: &out, ErrOut: &out},
			[]string{"serve", "--config", writeConfig("listen: 127.0.0.1:0\nmode: nonsense\n")})
		Expect(err).To(MatchError(ContainSubstring(`--mode "nonsense": use edge or cloud`)))
		Expect(out.String()).NotTo(ContainSubstring("listening"))
	})
})
