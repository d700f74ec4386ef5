package kube_test

import (
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/evidence"
	"github.com/edgesim/edgesim/testbed/kube"
)

var _ = Describe("the cluster watch", func() {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	planNode := func(n string) string {
		return map[string]string{"es-qs-worker2": "store-1-edge-1", "es-qs-worker3": "store-1-edge-2"}[n]
	}
	// watch feeds the objects one per clock second.
	watch := func(objs ...string) []evidence.ClusterEvent {
		i := 0
		evs, err := kube.WatchStream(strings.NewReader(strings.Join(objs, "\n")), func() time.Time {
			i++
			return t0.Add(time.Duration(i) * time.Second)
		}, planNode)
		Expect(err).NotTo(HaveOccurred())
		return evs
	}
	node := func(name, ready, reason string) string {
		return `{"kind":"Node","metadata":{"name":"` + name + `"},"status":{"conditions":[{"type":"Ready","status":"` + ready + `","reason":"` + reason + `"}]}}`
	}
	pod := func(name, node string, ready bool, deleted string) string {
		status := "False"
		if ready {
			status = "True"
		}
		meta := `"name":"` + name + `","labels":{"app.kubernetes.io/name":"edgenode-store-1"}`
		cond := `{"type":"Ready","status":"` + status + `"}`
		if deleted != "" {
			meta += `,"deletionTimestamp":"2026-11-29T12:00:00Z"`
			cond += `,{"type":"DisruptionTarget","status":"True","reason":"` + deleted + `"}`
		}
		return `{"kind":"Pod","metadata":{` + meta + `},"spec":{"nodeName":"` + node + `"},"status":{"conditions":[` + cond + `]}}`
	}

	It("records a node loss, the eviction and the replacement in order, with plan node names", func() {
		evs := watch(
			node("es-qs-worker3", "True", "KubeletReady"), // baseline: no event
			pod("edgenode-store-1-a", "es-qs-worker3", true, ""),
			node("es-qs-worker3", "Unknown", "NodeStatusUnknown"),
			pod("edgenode-store-1-a", "es-qs-worker3", false, ""),
			pod("edgenode-store-1-a", "es-qs-worker3", false, "DeletionByTaintManager"),
			pod("edgenode-store-1-b", "", false, ""),
			pod("edgenode-store-1-b", "es-qs-worker2", false, ""),
			pod("edgenode-store-1-b", "es-qs-worker2", true, ""),
			pod("edgenode-store-1-b", "es-qs-worker2", true, ""), // unchanged: no event
		)
		type row struct {
			Sec  int
			Kind evidence.ClusterEventKind
			Node string
			Pod  string
		}
		var got []row
		for _, e := range evs {
			got = append(got, row{int(e.At.Sub(t0) / time.Second), e.Kind, e.Node, e.Pod})
			if e.Pod != "" {
				Expect(e.Workload).To(Equal("edgenode-store-1"))
			}
		}
		Expect(got).To(Equal([]row{
			{2, evidence.PodScheduled, "store-1-edge-2", "edgenode-store-1-a"},
			{2, evidence.PodReady, "store-1-edge-2", "edgenode-store-1-a"},
			{3, evidence.NodeNotReady, "store-1-edge-2", ""},
			{5, evidence.PodDeleted, "store-1-edge-2", "edgenode-store-1-a"},
			{7, evidence.PodScheduled, "store-1-edge-1", "edgenode-store-1-b"},
			{8, evidence.PodReady, "store-1-edge-1", "edgenode-store-1-b"},
		}))
		Expect(evs[2].Detail).To(Equal("NodeStatusUnknown"))
		Expect(evs[3].Detail).To(Equal("DeletionByTaintManager"))
	})

	It("gives nothing for objects seen again unchanged, as after a restarted watch", func() {
		evs := watch(node("es-qs-worker2", "True", ""), node("es-qs-worker2", "True", ""),
			pod("p", "es-qs-worker2", true, ""), pod("p", "es-qs-worker2", true, ""))
		Expect(evs).To(HaveLen(2)) // the pod's binding and readiness, once
	})

	It("fails on a stream that is not JSON", func() {
		_, err := kube.WatchStream(strings.NewReader(`{"kind":"Node"} error: the server closed`), time.Now, planNode)
		Expect(err).To(MatchError(ContainSubstring("decode watched object")))
	})

	It("finds the silenced nodes not seen NotReady since their fault", func() {
		at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
		notReady := func(sec int, node string) evidence.ClusterEvent {
			return evidence.ClusterEvent{At: at(sec), Kind: evidence.NodeNotReady, Node: node}
		}
		silenced := map[string]time.Time{"edge-2": at(5), "edge-1": at(5)}
		Expect(kube.Unseen(silenced, nil)).To(Equal([]string{"edge-1", "edge-2"}))
		Expect(kube.Unseen(silenced, []evidence.ClusterEvent{notReady(15, "edge-2")})).To(Equal([]string{"edge-1"}))
		Expect(kube.Unseen(silenced, []evidence.ClusterEvent{notReady(4, "edge-2"), notReady(5, "edge-1")})).To(Equal([]string{"edge-2"}), "a NotReady before the fault is an earlier loss")
		Expect(kube.Unseen(silenced, []evidence.ClusterEvent{{At: at(15), Kind: evidence.NodeReady, Node: "edge-2"}, notReady(15, "edge-1")})).To(Equal([]string{"edge-2"}))
	})

	Describe("waiting for replacements", func() {
		ev := func(sec int, kind evidence.ClusterEventKind, node, pod, workload string) evidence.ClusterEvent {
			return evidence.ClusterEvent{At: t0.Add(time.Duration(sec) * time.Second), Kind: kind, Node: node, Pod: pod, Workload: workload}
		}
		base := []evidence.ClusterEvent{
			ev(0, evidence.PodScheduled, "edge-1", "a", "edgenode-s"),
			ev(0, evidence.PodScheduled, "edge-2", "b", "edgenode-s"),
			ev(0, evidence.PodScheduled, "cams", "c", "cameras-s"),
			ev(10, evidence.NodeNotReady, "edge-2", "", ""),
		}
		It("waits for the lost node's edgenode pods to be deleted and replaced", func() {
			Expect(kube.Unsettled(base)).To(Equal([]string{"b"}))
			evicted := append(slices.Clone(base), ev(15, evidence.PodDeleted, "edge-2", "b", "edgenode-s"))
			Expect(kube.Unsettled(evicted)).To(Equal([]string{"b"}), "deleted but not replaced")
			// the surviving replica's readiness is not a replacement
			Expect(kube.Unsettled(append(slices.Clone(evicted), ev(16, evidence.PodReady, "edge-1", "a", "edgenode-s")))).To(Equal([]string{"b"}))
			replaced := append(slices.Clone(evicted), ev(15, evidence.PodScheduled, "edge-1", "d", "edgenode-s"), ev(17, evidence.PodReady, "edge-1", "d", "edgenode-s"))
			Expect(kube.Unsettled(replaced)).To(BeEmpty())
		})
		It("stops waiting when the node comes back, and ignores camera pods and healthy clusters", func() {
			Expect(kube.Unsettled(append(slices.Clone(base), ev(20, evidence.NodeReady, "edge-2", "", "")))).To(BeEmpty())
			Expect(kube.Unsettled(base[:3])).To(BeEmpty())
			camsLost := append(slices.Clone(base[:3]), ev(10, evidence.NodeNotReady, "cams", "", ""))
			Expect(kube.Unsettled(camsLost)).To(BeEmpty())
		})
	})
})
