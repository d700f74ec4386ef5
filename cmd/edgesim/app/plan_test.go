package app_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgesim/app"
	"github.com/edgesim/edgesim/plan"
)

var _ = Describe("the validation table edgesim plan --validate prints", func() {
	It("gives each row's target, none for a reported-only row whether or not it was exercised, and the verdict with its note", func() {
		var out bytes.Buffer
		Expect(app.PrintValidation(&out, &plan.Validation{Rows: []plan.ValidationRow{
			{Scenario: "s", CamerasPerNode: 1, Site: "a", Figure: "latency p50", Unit: "s", ErrorKind: plan.ErrorRelative,
				Emulated: 0.02, Simulated: 0.022, Error: 0.1, Target: 0.05, Exercised: true, Note: "drift"},
			{Scenario: "s", CamerasPerNode: 1, Site: "a", Figure: "node inference p50", Unit: "s", ErrorKind: plan.ErrorRelative,
				Emulated: 0.012, Simulated: 0.011, Error: 0.083, Exercised: true},
			{Scenario: "s", CamerasPerNode: 2, Site: "a", Figure: "frames dropped", Unit: "frames", ErrorKind: plan.ErrorAbsolute,
				Emulated: 3, Simulated: 4, Error: 1, Note: "saturated"},
		}})).To(Succeed())
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		Expect(lines).To(HaveLen(4))
		Expect(strings.Fields(lines[1])).To(ContainElements("10.0%", "5%", "MISSED", "(drift)"))
		Expect(strings.Fields(lines[2])).To(ContainElements("8.3%", "-", "reported"))
		Expect(strings.Fields(lines[2])).NotTo(ContainElement("0%"))
		Expect(lines[3]).To(ContainSubstring("not exercised (saturated)"))
		Expect(strings.Fields(lines[3])).NotTo(ContainElement("0"), "no target of 0 frames")
	})
})

var _ = Describe("edgesim plan", func() {
	const planFile = "../../../plan/testdata/plan-two-stores.yaml"

	It("writes report.json, and three shards merge into the same figures", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, stdout, stderr := run(ctx, "plan", planFile, "--out", filepath.Join(dir, "whole"))
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(ContainSubstring("knee"))
		Expect(stderr).To(BeEmpty(), "no progress when not on a terminal")
		for _, s := range []string{"0/3", "1/3", "2/3"} {
			code, _, stderr := run(ctx, "plan", planFile, "--shard", s, "--out", filepath.Join(dir, "shards"))
			Expect(code).To(Equal(0), stderr)
		}
		code, _, stderr = run(ctx, "plan", "merge", filepath.Join(dir, "shards"), "--out", filepath.Join(dir, "merged"))
		Expect(code).To(Equal(0), stderr)
		read := func(p string) map[string]any {
			b, err := os.ReadFile(filepath.Join(dir, p, "report.json"))
			Expect(err).NotTo(HaveOccurred())
			var m map[string]any
			Expect(json.Unmarshal(b, &m)).To(Succeed())
			delete(m, "stats")
			delete(m, "generated")
			return m
		}
		Expect(read("merged")).To(Equal(read("whole")))
	})

	It("refuses a bad shard, a missing shard and a missing plan with what to do", func(ctx SpecContext) {
		code, _, stderr := run(ctx, "plan", planFile, "--shard", "3/3")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("0 <= i < N"))
		dir := GinkgoT().TempDir()
		code, _, stderr = run(ctx, "plan", planFile, "--shard", "0/2", "--out", dir)
		Expect(code).To(Equal(0), stderr)
		code, _, stderr = run(ctx, "plan", "merge", dir)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("shards missing: 1/2"))
		code, _, stderr = run(ctx, "plan")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("plan needs one plan file"))
		out := filepath.Join(GinkgoT().TempDir(), "never")
		code, _, stderr = run(ctx, "plan", planFile, "--validate", "--validate-repeat", "0", "--out", out)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("--validate-repeat 0: emulate each point at least once"))
		code, _, stderr = run(ctx, "plan", planFile, "--validate", "--validate-sim-runs", "0", "--out", out)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("--validate-sim-runs 0: simulate each point at least once"))
		_, err := os.Stat(out)
		Expect(os.IsNotExist(err)).To(BeTrue(), "refused before simulating: no report")
	})

	It("is checked by edgesim validate, located like a scenario's problems", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "validate", planFile, "../../../scenarios/examples/plan-fleet.yaml")
		Expect(code).To(Equal(0), stdout)
		Expect(stdout).To(ContainSubstring("(plan-fleet)"))
		bad := filepath.Join(GinkgoT().TempDir(), "bad.yaml")
		Expect(os.WriteFile(bad, []byte("apiVersion: edgesim.dev/v1alpha1\nkind: Plan\nmetadata: {name: x}\nspec:\n  scenario: nope.yaml\n  sweep: {camerasPerNode: [0]}\n"), 0o644)).To(Succeed())
		code, stdout, _ = run(ctx, "validate", bad)
		Expect(code).To(Equal(1))
		Expect(stdout).To(ContainSubstring(bad + ":6:28: spec.sweep.camerasPerNode[0]: must be at least 1"))
	})

	It("teaches shards, merge and the Kubernetes job in its help", func(ctx SpecContext) {
		code, stdout, _ := run(ctx, "plan", "--help")
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("--shard 0/3"))
		Expect(stdout).To(ContainSubstring("edgesim plan merge"))
		Expect(stdout).To(ContainSubstring("edgesim plan job"))
	})
})
