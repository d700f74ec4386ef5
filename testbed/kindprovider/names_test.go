package kindprovider_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/internal/naming"
	"github.com/edgesim/edgesim/netem"
	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed"
	"github.com/edgesim/edgesim/testbed/kind/cluster"
	"github.com/edgesim/edgesim/testbed/kindprovider"
	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/kube/kubetest"
	"github.com/edgesim/edgesim/testbed/provider"
	"github.com/edgesim/edgesim/wire"
)

// namedScenario is a two-site scenario with the given names and sizes.
func namedScenario(name, site, group string, count, nodes int) (*scenarios.Scenario, error) {
	q := strconv.Quote
	other := "z9"
	if site == other {
		other = "z8"
	}
	return scenarios.Load("names.yaml", fmt.Appendf(nil, `apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: %[1]s}
spec:
  duration: 10s
  cloud: {nodes: %[5]d}
  sites:
    - {name: %[2]s, nodes: %[5]d, cameras: [{name: %[3]s, count: %[4]d}]}
    - {name: %[6]s, cameras: [{}]}
  links:
    - {between: [%[7]s, %[8]s], profile: lan}
    - {between: [%[8]s, cloud], profile: 4g}
`, q(name), q(site), q(group), count, nodes, q(other), q("cameras:"+site), q("site:"+site)), "")
}

var cfg = kube.ManifestConfig{EdgenodeImage: "localhost/edgesim/edgenode:test", CamerasImage: "localhost/edgesim/edgesim:test"}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	cameraID = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
)

// derivedNameProblems lists every name a run of sc derives, on either
// provider and in either kind layout, that does not fit its limit or is
// not unique.
func derivedNameProblems(sc *scenarios.Scenario, compare bool) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	testbedName := testbed.TestbedName(sc.Name)
	if err := netem.CheckName(testbedName); err != nil {
		bad("local testbed: %v", err)
	}
	p, err := provider.NewPlan(sc, compare)
	if err != nil {
		return []string{err.Error()}
	}
	hosts := map[string]string{}
	for _, n := range p.Nodes {
		h := n.EngineHost()
		if err := netem.CheckHostName(h); err != nil {
			bad("node %s: %v", n.Name, err)
		}
		if other, dup := hosts[h]; dup {
			bad("nodes %s and %s share the host name %s", other, n.Name, h)
		}
		hosts[h] = n.Name
	}
	ids := map[string]bool{}
	for _, c := range p.Cameras {
		if len(c.ID) > wire.MaxCameraID || !cameraID.MatchString(c.ID) || ids[c.ID] {
			bad("camera id %q: not a unique id of at most %d characters", c.ID, wire.MaxCameraID)
		}
		ids[c.ID] = true
	}

	clusterName := kindprovider.ClusterName(testbedName)
	if err := netem.CheckName(kindprovider.EngineName(clusterName)); err != nil {
		bad("kind links: %v", err)
	}
	workers := map[string]cluster.Worker{}
	for _, b := range kube.Bindings(p) {
		workers[b.Node] = cluster.Worker{Tier: b.Tier, Site: b.Site}
	}
	for _, layout := range []kindprovider.Layout{kindprovider.LayoutSingle, kindprovider.LayoutFederated} {
		for _, c := range kindprovider.Clusters(p, layout, clusterName) {
			spec := cluster.Spec{Name: c.Name, Image: "node:test"}
			for i, n := range c.Nodes {
				spec.Workers = append(spec.Workers, workers[n])
				if w := cluster.WorkerName(c.Name, i); len(w) > naming.MaxDNSLabel {
					bad("%s worker %s: longer than a DNS label", layout, w)
				}
			}
			if len(spec.Name+"-control-plane") > naming.MaxDNSLabel {
				bad("%s cluster %s: its control plane's name is longer than a DNS label", layout, c.Name)
			}
			if err := spec.Validate(); err != nil {
				bad("%s cluster: %v", layout, err)
			}
		}
	}
	objs, err := kube.Manifests(p, cfg)
	if err != nil {
		return append(out, err.Error())
	}
	cams, err := kube.CameraManifests(p, cfg)
	if err != nil {
		return append(out, err.Error())
	}
	b, err := kube.Render(append(objs, cams...))
	if err != nil {
		return append(out, err.Error())
	}
	for key, d := range kubetest.Docs(b) {
		if name := kubetest.Dig(d, "metadata", "name").(string); len(name) > naming.MaxDNSLabel || !dnsLabel.MatchString(name) {
			bad("object %s: name is not a DNS label", key)
		}
		walkLabels(d, func(k, v string) {
			if len(v) > naming.MaxDNSLabel || v != "" && !dnsLabel.MatchString(strings.ToLower(strings.ReplaceAll(v, ".", "-"))) {
				bad("object %s: label %s=%q is not a label value", key, k, v)
			}
		})
	}
	return out
}

// walkLabels calls f with every label of a rendered object: its labels,
// its pod template's, its selectors' and its node selector's.
func walkLabels(d any, f func(k, v string)) {
	switch t := d.(type) {
	case map[string]any:
		for k, v := range t {
			if m, ok := v.(map[string]any); ok && (k == "labels" || k == "matchLabels" || k == "selector" || k == "nodeSelector") {
				for lk, lv := range m {
					if s, ok := lv.(string); ok {
						f(lk, s)
					}
				}
			}
			walkLabels(v, f)
		}
	case []any:
		for _, v := range t {
			walkLabels(v, f)
		}
	}
}

var _ = Describe("names a run derives", func() {
	DescribeTable("fit their limits for every scenario that validates",
		func(name, site, group string, count, nodes int) {
			sc, err := namedScenario(name, site, group, count, nodes)
			Expect(err).NotTo(HaveOccurred())
			for _, compare := range []bool{false, true} {
				Expect(derivedNameProblems(sc, compare)).To(BeEmpty(), "compare=%v", compare)
			}
		},
		Entry("the shortest names", "q", "s", "c", 1, 1),
		Entry("a 20-character site", "quickstart", "flagship-store-north", "cam", 4, 2),
		Entry("an 18-character scenario", "flagship-store-run", "store-1", "cam", 4, 2),
		Entry("the longest names and most nodes and cameras", strings.Repeat("n", 40), strings.Repeat("s", 30), strings.Repeat("g", 20), 256, 16),
	)

	It("let a run of an 18-character scenario make its kind links' engine", func() {
		eng, err := kindprovider.NewEngine(context.Background(), testbed.TestbedName("flagship-store-run"), GinkgoT().TempDir(), prometheus.NewRegistry())
		Expect(err).NotTo(HaveOccurred())
		Expect(len(eng.Name())).To(BeNumerically("<=", netem.MaxName))
		Expect(eng.Close(context.Background())).To(Succeed())
	})
})

// FuzzDerivedNames: whatever names validate, every name a run derives from
// them fits.
//
//	go test -run '^$' -fuzz FuzzDerivedNames -fuzztime 60s ./testbed/kindprovider/
func FuzzDerivedNames(f *testing.F) {
	f.Add("quickstart", "flagship-store-north", "cam", uint8(4), uint8(2))
	f.Add(strings.Repeat("n", 40), strings.Repeat("s", 30), strings.Repeat("g", 20), uint8(255), uint8(16))
	f.Fuzz(func(t *testing.T, name, site, group string, count, nodes uint8) {
		sc, err := namedScenario(name, site, group, int(count), int(nodes))
		if err != nil {
			t.Skip("does not validate")
		}
		for _, compare := range []bool{false, true} {
			if problems := derivedNameProblems(sc, compare); len(problems) > 0 {
				t.Fatalf("compare=%v: %s", compare, strings.Join(problems, "; "))
			}
		}
	})
}
