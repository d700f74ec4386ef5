package plan_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/plan"
)

var _ = Describe("JobManifest", func() {
	It("ships what the shard pods need, and the shards they run merge into the local report", func() {
		p, err := plan.LoadPlan("testdata/plan-two-stores.yaml")
		Expect(err).NotTo(HaveOccurred())
		cal, err := os.ReadFile(p.Calibration)
		Expect(err).NotTo(HaveOccurred())
		text, err := plan.JobManifest(p, cal, plan.JobOptions{Image: "edgesim:test", Shards: 3})
		Expect(err).NotTo(HaveOccurred())

		byKind := map[string][]map[string]any{}
		dec := yaml.NewDecoder(strings.NewReader(text))
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else {
				Expect(err).NotTo(HaveOccurred())
			}
			byKind[obj["kind"].(string)] = append(byKind[obj["kind"].(string)], obj)
		}
		Expect(byKind).To(HaveKey("PersistentVolumeClaim"))
		Expect(byKind["Job"]).To(HaveLen(2))
		shards := byKind["Job"][0]["spec"].(map[string]any)
		Expect(shards["completionMode"]).To(Equal("Indexed"))
		Expect(shards["completions"]).To(Equal(3))
		container := shards["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		Expect(container["command"]).To(ContainElements("--shard", "$(JOB_COMPLETION_INDEX)/3"))
		merge := byKind["Job"][1]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		Expect(merge["command"]).To(ContainElements("merge", "--wait", "--json"))

		By("running each shard from the ConfigMap's files, as pod i would")
		dir := GinkgoT().TempDir()
		for name, data := range byKind["ConfigMap"][0]["data"].(map[string]any) {
			Expect(os.WriteFile(filepath.Join(dir, name), []byte(data.(string)), 0o644)).To(Succeed())
		}
		shipped, err := plan.LoadPlan(filepath.Join(dir, "plan.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(shipped.Calibration).To(Equal(filepath.Join(dir, "calibration.yaml")))
		Expect(shipped.ScenarioFile).To(Equal(filepath.Join(dir, "scenario.yaml")))
		var parts []*plan.CapacityReport
		for i := range 3 {
			parts = append(parts, runPlan(shipped, plan.RunOptions{Shard: &plan.Shard{Index: i, Count: 3}}))
		}
		merged, err := plan.MergeReports(parts)
		Expect(err).NotTo(HaveOccurred())
		local := runPlan(p, plan.RunOptions{})
		// the calibration's path differs (the ConfigMap's copy); nothing else
		merged.Calibration.Path = local.Calibration.Path
		for i, w := range merged.Warnings {
			merged.Warnings[i] = strings.ReplaceAll(w, filepath.Join(dir, "calibration.yaml"), local.Calibration.Path)
		}
		Expect(comparable(merged)).To(Equal(comparable(local)))
	})

	It("pins every pod to one node with a host directory, and refuses one without the other", func() {
		p, err := plan.LoadPlan("testdata/plan-two-stores.yaml")
		Expect(err).NotTo(HaveOccurred())
		text, err := plan.JobManifest(p, []byte("cal"), plan.JobOptions{Image: "i", Shards: 2, HostPath: "/var/lib/x", Node: "w1"})
		Expect(err).NotTo(HaveOccurred())
		Expect(text).NotTo(ContainSubstring("PersistentVolumeClaim"))
		Expect(bytes.Count([]byte(text), []byte("kubernetes.io/hostname: w1"))).To(Equal(2))
		_, err = plan.JobManifest(p, []byte("cal"), plan.JobOptions{Image: "i", Shards: 2, HostPath: "/var/lib/x"})
		Expect(err).To(MatchError(ContainSubstring("--node")))
	})
})
