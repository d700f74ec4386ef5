package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// fakeKind stands in for kind's library and the runtime's CLI: nodes are
// the containers of each cluster (ID -> owner annotation).
type fakeKind struct {
	mu        sync.Mutex
	nodes     map[string]map[string]string
	createErr error
	made      map[string]string // what a create makes (ID -> annotation)
	deleted   []string
	killed    []string // the IDs killed, and "deleted <name>" when a delete came
}

func (f *fakeKind) Create(name string, _ ...kindcluster.CreateOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes[name] == nil {
		f.nodes[name] = map[string]string{}
	}
	for id, a := range f.made {
		f.nodes[name][id] = a
	}
	return f.createErr
}

func (f *fakeKind) Delete(name, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, name)
	f.killed = append(f.killed, "deleted "+name)
	delete(f.nodes, name)
	return nil
}

func (f *fakeKind) run(_ context.Context, _ Runtime, args ...string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := strings.Join(args, " ")
	switch {
	case strings.HasPrefix(a, "ps -a -q --no-trunc --filter label="+kindClusterLabel+"="):
		var ids []string
		for id := range f.nodes[strings.TrimPrefix(a, "ps -a -q --no-trunc --filter label="+kindClusterLabel+"=")] {
			ids = append(ids, id)
		}
		return []byte(strings.Join(ids, "\n")), nil
	case strings.HasPrefix(a, "inspect --format"):
		id := args[len(args)-1]
		for _, n := range f.nodes {
			if ann, ok := n[id]; ok {
				return []byte(ann + "\n"), nil
			}
		}
		return nil, errors.New("no such container")
	case strings.HasPrefix(a, "network inspect"):
		return nil, nil
	case strings.HasPrefix(a, "kill --signal KILL "):
		f.killed = append(f.killed, args[3:]...)
		return nil, nil
	}
	return nil, nil // Leftovers and the rest: nothing
}

func useFakeKind(f *fakeKind) {
	oldKind, oldRun := newKind, runtimeOutput
	newKind = func(Runtime, io.Writer) (kindAPI, error) { return f, nil }
	runtimeOutput = f.run
	DeferCleanup(func() { newKind, runtimeOutput = oldKind, oldRun })
}

var _ = Describe("cluster ownership", func() {
	spec := Spec{Name: "es-run", Image: "node:v1", Workers: DefaultWorkers()}
	var f *fakeKind
	BeforeEach(func() {
		f = &fakeKind{nodes: map[string]map[string]string{}}
		useFakeKind(f)
	})

	It("leaves a same-named cluster that existed before Create alone", func(ctx SpecContext) {
		f.nodes["es-run"] = map[string]string{"theirs1": ""}
		f.createErr = errors.New("node(s) already exist for a cluster with the name \"es-run\"")
		_, err := Create(ctx, Podman, spec)
		Expect(err).To(MatchError(ErrClusterExists))
		Expect(err).To(MatchError(ContainSubstring("choose another testbed name")))
		Expect(f.deleted).To(BeEmpty())
		Expect(f.nodes["es-run"]).To(HaveKey("theirs1"))
	})

	It("does not delete when kind says the nodes already exist (made by someone else meanwhile)", func(ctx SpecContext) {
		f.createErr = errors.New("node(s) already exist for a cluster with the name \"es-run\"")
		f.made = map[string]string{"theirs1": ""}
		_, err := Create(ctx, Podman, spec)
		Expect(err).To(MatchError(ErrClusterExists))
		Expect(f.deleted).To(BeEmpty())
	})

	It("deletes what it made when kind fails for another reason", func(ctx SpecContext) {
		f.createErr = errors.New("failed to init node with kubeadm")
		f.made = map[string]string{"ours1": ""}
		_, err := Create(ctx, Podman, spec)
		Expect(err).To(MatchError(ContainSubstring("kubeadm")))
		Expect(f.deleted).To(Equal([]string{"es-run"}))
	})

	Describe("DeleteOwned (edgesim clean)", func() {
		It("refuses a same-named cluster whose containers carry no proof, and deletes nothing", func(ctx SpecContext) {
			f.nodes["es-run"] = map[string]string{"theirs1": "", "theirs2": "dev.other"}
			err := DeleteOwned(ctx, Podman, "es-run", Proof{Owner: "run-1", IDs: []string{"ours-gone"}}, false)
			Expect(err).To(MatchError(ErrNotOwned))
			Expect(err).To(MatchError(ContainSubstring("2 of its 2 containers")))
			Expect(f.deleted).To(BeEmpty())
			Expect(f.killed).To(BeEmpty())
		})

		It("refuses when one container of several is not covered", func(ctx SpecContext) {
			f.nodes["es-run"] = map[string]string{"a": "run-1", "b": "run-2"}
			Expect(DeleteOwned(ctx, Podman, "es-run", Proof{Owner: "run-1"}, false)).To(MatchError(ErrNotOwned))
			Expect(f.deleted).To(BeEmpty())
		})

		DescribeTable("deletes a cluster the proof covers",
			func(ctx SpecContext, rt Runtime, nodes map[string]string, p Proof) {
				f.nodes["es-run"] = nodes
				Expect(DeleteOwned(ctx, rt, "es-run", p, false)).To(Succeed())
				Expect(f.deleted).To(Equal([]string{"es-run"}))
				Expect(f.killed).To(HaveLen(len(nodes)+1), "every node is killed, not stopped, first")
				Expect(f.killed[:len(nodes)]).To(ConsistOf(slices.Collect(maps.Keys(nodes))))
				Expect(f.killed[len(nodes)]).To(Equal("deleted es-run"), "then kind deletes the cluster")
			},
			Entry("by the owner annotation (a run killed during kind's create)", Podman, map[string]string{"a": "run-1", "b": "run-1"}, Proof{Owner: "run-1"}),
			Entry("by recorded container IDs (Docker has no annotation)", Docker, map[string]string{"a": "", "b": ""}, Proof{IDs: []string{"a", "b"}}),
		)

		It("never trusts an annotation on Docker", func(ctx SpecContext) {
			f.nodes["es-run"] = map[string]string{"a": "run-1"}
			Expect(DeleteOwned(ctx, Docker, "es-run", Proof{Owner: "run-1"}, false)).To(MatchError(ErrNotOwned))
		})

		It("has nothing to do for a cluster that is gone", func(ctx SpecContext) {
			Expect(DeleteOwned(ctx, Podman, "es-run", Proof{}, false)).To(Succeed())
			Expect(fmt.Sprint(f.nodes["es-run"])).To(Equal("map[]"))
		})
	})
})

var _ = Describe("kubectl children", func() {
	It("die with edgesim (a death signal on every kubectl command)", func(ctx SpecContext) {
		c := &Cluster{Spec: Spec{Name: "es-run"}, Runtime: Podman}
		cmd := c.KubectlCommand(ctx, "get", "nodes", "--watch")
		Expect(cmd.SysProcAttr).NotTo(BeNil())
		Expect(cmd.SysProcAttr.Pdeathsig).To(Equal(syscall.SIGKILL))
	})
})
