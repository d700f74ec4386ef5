package testbed_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/cmd/edgenode/app"
	"github.com/edgesim/edgesim/runtime/node/nodeconfig"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/provider"
)

func noEnv(string) (string, bool) { return "", false }

// flagsBeforeConfigFiles is the edgenode command line the local provider
// wrote before the configuration file, every option a flag.
func flagsBeforeConfigFiles(plan *testbed.Plan, n testbed.Node, dir, cloudURL string) []string {
	args := []string{"serve",
		"--listen", ":8080",
		"--node-id", n.Name,
		"--detect-fps", strconv.FormatFloat(plan.Scenario.Workload.DetectFPS, 'f', -1, 64),
		"--spool-dir", filepath.Join(dir, "spool-"+n.Name),
	}
	if p := plan.Scenario.Workload.Model.Path; p != "" {
		args = append(args, "--model", p)
	}
	args = append(args, "--rules", filepath.Join(dir, "rules-"+n.Name+".yaml"))
	switch n.Role {
	case testbed.RoleCloud:
		args = append(args, "--mode", "cloud", "--alerts-file", filepath.Join(dir, "alerts.jsonl"))
	case testbed.RoleEdge:
		args = append(args, "--mode", "edge", "--upstream", cloudURL)
	}
	return args
}

var _ = Describe("the workloads' launch on the local provider", func() {
	const cloudURL = "http://10.0.0.1:8080"

	quickstart := func(compare bool) *testbed.Plan {
		sc, err := scenarios.Example("quickstart")
		Expect(err).NotTo(HaveOccurred())
		p, err := testbed.NewPlan(sc, compare)
		Expect(err).NotTo(HaveOccurred())
		return p
	}

	DescribeTable("runs every edgenode with the options the flags gave it",
		func(compare bool, change func(*scenarios.Scenario)) {
			plan := quickstart(compare)
			change(plan.Scenario)
			dir := GinkgoT().TempDir()
			var checked int
			for _, n := range plan.Nodes {
				if n.Role == testbed.RoleCamera {
					continue
				}
				args, err := testbed.LocalEdgenodeLaunch(plan, dir, n.Name, cloudURL)
				Expect(err).NotTo(HaveOccurred())
				configFile := filepath.Join(dir, "edgenode-"+n.Name+".yaml")
				Expect(args).To(Equal([]string{"serve", "--config", configFile}))
				got, err := app.ServeConfig(args[1:], noEnv)
				Expect(err).NotTo(HaveOccurred())
				want, err := app.ServeConfig(flagsBeforeConfigFiles(plan, n, dir, cloudURL)[1:], noEnv)
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(want), n.Name)
				Expect(got.Validate()).To(Succeed())

				rules, err := os.ReadFile(filepath.Join(dir, "rules-"+n.Name+".yaml"))
				Expect(err).NotTo(HaveOccurred())
				wantRules, err := yaml.Marshal(provider.RulesFor(plan, n))
				Expect(err).NotTo(HaveOccurred())
				Expect(string(rules)).To(Equal(string(wantRules)))
				checked++
			}
			Expect(checked).To(Equal(len(plan.Nodes) - len(plan.NodesOf(testbed.RoleCamera))))
		},
		Entry("quickstart", false, func(*scenarios.Scenario) {}),
		Entry("quickstart compared with cloud placement", true, func(*scenarios.Scenario) {}),
		Entry("every frame and a model directory", false, func(sc *scenarios.Scenario) {
			sc.Workload.DetectFPS = 0
			sc.Workload.Model.Path = "/models/v2"
		}),
	)

	It("writes only what the plan decides into the file", func() {
		plan := quickstart(false)
		n, _ := plan.Node("store-1-edge-1")
		f := provider.EdgenodeConfig(plan, n, provider.EdgenodeEnv{NodeID: n.Name, RulesFile: "/r.yaml", SpoolDir: "/spool", CloudURL: cloudURL})
		b, err := f.Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal(fmt.Sprintf("listen: :%d\nnode-id: store-1-edge-1\nmode: edge\ndetect-fps: 5\nrules: /r.yaml\nupstream: %s\nspool-dir: /spool\n",
			provider.EdgenodePort, cloudURL)))
		Expect(nodeconfig.Parse(b)).To(Equal(f))
	})

	It("gives each edgenode a fresh run token through the environment, never on the command line", func() {
		plan := quickstart(false)
		token := provider.NewRunToken()
		Expect(token).To(HaveLen(26))
		Expect(provider.NewRunToken()).NotTo(Equal(token), "one per run")
		dir := GinkgoT().TempDir()
		for _, name := range []string{"cloud-1", "store-1-edge-1"} {
			n, ok := plan.Node(name)
			Expect(ok).To(BeTrue(), name)
			args, err := testbed.LocalEdgenodeLaunch(plan, dir, n.Name, cloudURL)
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Join(args, " ")).NotTo(ContainSubstring(token))
			env := map[string]string{}
			for _, e := range provider.EdgenodeTokenEnv(token, n.Role) {
				k, v, _ := strings.Cut(e, "=")
				env[k] = v
			}
			cfg, err := app.ServeConfig(args[1:], func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			Expect(err).NotTo(HaveOccurred())
			Expect(cfg.Token).To(Equal(token), name)
			if n.Role == testbed.RoleEdge {
				Expect(cfg.UpstreamToken).To(Equal(token), "the edge sends it to the cloud")
			}
		}
		Expect(provider.CamerasTokenEnv(token)).To(Equal([]string{"FAKECAM_TOKEN=" + token}))
	})
})
