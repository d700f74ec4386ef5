package testbed_test

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/reports"
	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/scenarios"
)

// promisedVerdict reads the verdict an example's opening comment promises:
// "# Verdict with `edgesim run` defaults (--compare): pass."
var promisedVerdict = regexp.MustCompile("(?m)^# Verdict with `edgesim run` defaults[^:]*: (pass|fail)\\b")

// Every shipped example, run the way a new user runs it: the CLI with its
// defaults (the comparison mirror included), on the local provider. Each
// must end with the verdict its comment promises. About 6 minutes in all.
var _ = Describe("the shipped examples through the CLI", Label("e2e", "slow", "examples"), func() {
	files, _ := filepath.Glob(filepath.Join("..", "scenarios", "examples", "*.yaml"))
	files = slices.DeleteFunc(files, scenarios.IsPlanExample) // capacity plans run with edgesim plan

	It("finds the examples", func() { Expect(files).To(HaveLen(7)) })

	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		It(name+" ends with the verdict its comment promises", func(ctx SpecContext) {
			if os.Geteuid() != 0 {
				Skip("the local provider needs root to create network namespaces")
			}
			text, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			m := promisedVerdict.FindSubmatch(text)
			Expect(m).NotTo(BeNil(), "%s must say in its opening comment which verdict `edgesim run` gives", file)
			want := map[string]int{"pass": 0, "fail": 1}[string(m[1])]

			bins := binaries()
			results := GinkgoT().TempDir()
			cmd := exec.CommandContext(ctx, bins.Edgesim, "run", "--plain", "--edgenode", bins.Edgenode, "--results", results, file)
			s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(s).WithContext(ctx).WithTimeout(6 * time.Minute).Should(gexec.Exit())
			if s.ExitCode() != want {
				md, _ := filepath.Glob(filepath.Join(results, "*", "report.md"))
				for _, f := range md {
					b, _ := os.ReadFile(f)
					GinkgoWriter.Printf("==> %s <==\n%s\n", f, b)
				}
			}
			Expect(s.ExitCode()).To(Equal(want), "%s promises %s", name, m[1])

			// every answer carries the node's share of its latency through
			// the data channel, the camera's samples and the report
			js, err := filepath.Glob(filepath.Join(results, "*", "report.json"))
			Expect(err).NotTo(HaveOccurred())
			Expect(js).To(HaveLen(1))
			b, err := os.ReadFile(js[0])
			Expect(err).NotTo(HaveOccurred())
			var r reports.Result
			Expect(json.Unmarshal(b, &r)).To(Succeed())
			for _, ro := range r.Rollouts {
				// a rollout example must end the way its comment says: a
				// failing one because its gate rolled it back, with a reason
				if want == 1 {
					Expect(ro.Outcome).To(Equal(reports.RolloutRolledBack), ro.Name)
					Expect(ro.Reason).To(ContainSubstring("gate after batch"), ro.Name)
				} else {
					Expect(ro.Outcome).To(Equal(reports.RolloutCompleted), ro.Name)
				}
			}
			Expect(r.Latencies.Breakdown).To(HaveLen(len(reports.BreakdownParts)))
			for _, g := range r.Latencies.Breakdown {
				Expect(g.Count).To(Equal(r.Latencies.Overall.Count), g.Name)
			}

			// a site on its own model: each answer names the model that
			// made it, and the report breaks latency and accuracy down by it
			sc, err := scenarios.LoadFile(file)
			Expect(err).NotTo(HaveOccurred())
			models := map[string]bool{}
			for _, site := range sc.Sites {
				m, err := detector.LoadOrDefault(sc.SiteModel(site.Name).Ref())
				Expect(err).NotTo(HaveOccurred())
				models[m.Manifest.ID()] = true
			}
			if len(models) > 1 {
				var lat, acc []string
				for _, g := range r.Latencies.Models {
					lat = append(lat, g.Name)
				}
				for _, g := range r.AccuracyBy {
					if g.Scope == "model" {
						acc = append(acc, g.Name)
					}
				}
				want := slices.Sorted(maps.Keys(models))
				Expect(lat).To(Equal(want), "latency rows per model")
				Expect(acc).To(Equal(want), "accuracy rows per model")
			}
		}, NodeTimeout(7*time.Minute))
	}
})
