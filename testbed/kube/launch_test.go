package kube_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgenode/app"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/provider"
)

func noEnv(string) (string, bool) { return "", false }

// flagsBeforeConfigFiles is the edgenode command the manifests held
// before the configuration file, every option a flag.
func flagsBeforeConfigFiles(plan *provider.Plan, role provider.Role, upstream string) []string {
	args := []string{"/edgenode", "serve",
		"--listen", ":8080",
		"--node-id", "$(POD_NAME)",
		"--detect-fps", strconv.FormatFloat(plan.Scenario.Workload.DetectFPS, 'f', -1, 64),
		"--spool-dir", "/spool",
		"--rules", "/etc/edgesim/rules.yaml",
	}
	if role == provider.RoleCloud {
		return append(args, "--mode", "cloud", "--alerts-file", "/alerts/alerts.jsonl")
	}
	return append(args, "--mode", "edge", "--upstream", upstream)
}

var _ = Describe("the workloads' launch on Kubernetes", func() {
	DescribeTable("runs every edgenode with the options the flags gave it, from its mounted ConfigMap",
		func(example string, compare bool, cloudURL string) {
			p := kubetest.Plan(example, compare)
			c := cfg
			c.CloudURL = cloudURL
			upstream := fmt.Sprintf("http://edgenode-cloud.edgesim.svc.cluster.local.:%d", kube.EdgenodePort)
			if cloudURL != "" {
				upstream = cloudURL
			}
			objs, err := kube.Manifests(p, c)
			Expect(err).NotTo(HaveOccurred())
			b, err := kube.Render(objs)
			Expect(err).NotTo(HaveOccurred())
			d := kubetest.Docs(b)
			tiers := map[string]provider.Role{kube.EdgenodeName(""): provider.RoleCloud}
			for _, n := range p.NodesOf(provider.RoleEdge) {
				tiers[kube.EdgenodeName(n.Site)] = provider.RoleEdge
			}
			for name, role := range tiers {
				pod := kubetest.Dig(d["Deployment/"+name], "spec", "template", "spec")
				var command []string
				for _, a := range kubetest.Dig(pod, "containers", 0, "command").([]any) {
					command = append(command, a.(string))
				}
				Expect(command).To(HaveLen(6), name)
				Expect(command[:3]).To(Equal([]string{"/edgenode", "serve", "--config"}), name)

				// The pod sees its ConfigMap's files in the mounted directory:
				// put them in a temporary one instead.
				configDir, configFile := path.Split(command[3])
				var volume string
				for _, m := range kubetest.Dig(pod, "containers", 0, "volumeMounts").([]any) {
					if m.(map[string]any)["mountPath"] == path.Clean(configDir) {
						volume = m.(map[string]any)["name"].(string)
					}
				}
				var configMap string
				for _, v := range kubetest.Dig(pod, "volumes").([]any) {
					if v.(map[string]any)["name"] == volume {
						configMap = kubetest.Dig(v, "configMap", "name").(string)
					}
				}
				Expect(configMap).NotTo(BeEmpty(), "%s: no ConfigMap mounted at %s", name, configDir)
				dir := GinkgoT().TempDir()
				data := kubetest.Dig(d["ConfigMap/"+configMap], "data").(map[string]any)
				Expect(data).To(HaveKey(configFile))
				Expect(data).To(HaveKey("rules.yaml"))
				for file, content := range data {
					Expect(os.WriteFile(filepath.Join(dir, file), []byte(content.(string)), 0o644)).To(Succeed())
				}
				command[3] = filepath.Join(dir, configFile)

				got, err := app.ServeConfig(command[2:], noEnv)
				Expect(err).NotTo(HaveOccurred())
				want, err := app.ServeConfig(flagsBeforeConfigFiles(p, role, upstream)[2:], noEnv)
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(want), name)
				Expect(got.Validate()).To(Succeed())
			}
		},
		Entry("quickstart", "quickstart", false, ""),
		Entry("quickstart compared with cloud placement", "quickstart", true, ""),
		Entry("quickstart, federated", "quickstart", false, "http://10.240.0.1:30080"),
		Entry("factory-5g", "factory-5g", false, ""),
	)

	It("starts the cameras from their ConfigMap as the local provider does", func() {
		d := kubetest.Docs(rendered(kubetest.Plan("quickstart", false)))
		Expect(kubetest.Dig(d["Pod/cameras-store-1-cams"], "spec", "containers", 0, "command")).To(Equal([]any{
			"/edgesim", "fakecam", "--config", "/etc/edgesim/cameras.json", "--out", "/samples", "--quiet"}))
	})
})
