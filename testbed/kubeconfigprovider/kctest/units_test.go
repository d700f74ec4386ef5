package kctest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/edgesim/edgesim/testbed/kubeconfigprovider/kctest"
)

func decode(s string) map[string]any {
	var o map[string]any
	ExpectWithOffset(1, json.Unmarshal([]byte(s), &o)).To(Succeed())
	return o
}

var _ = Describe("object dumps", func() {
	It("keys objects by kind, group, namespace and name", func() {
		Expect(kctest.ObjectKey(decode(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"namespace":"kube-system","name":"coredns"}}`))).
			To(Equal("Deployment.apps/kube-system/coredns"))
		Expect(kctest.ObjectKey(decode(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}`))).To(Equal("Node//n1"))
	})

	It("drops status, resourceVersion and managedFields and keeps the rest", func() {
		o := decode(`{"kind":"Pod","metadata":{"name":"p","resourceVersion":"7","generation":2,"managedFields":[{}],"labels":{"a":"b"}},"spec":{"x":1},"status":{"phase":"Running"}}`)
		kctest.Normalize(o)
		Expect(o).To(Equal(decode(`{"kind":"Pod","metadata":{"name":"p","generation":2,"labels":{"a":"b"}},"spec":{"x":1}}`)))
	})

	It("lists added, removed and changed keys with the paths that changed", func() {
		before := map[string]string{"A//a": `{"spec":{"x":1,"y":[1,2]}}`, "B//b": `{}`, "C//c": `{"k":"v"}`}
		after := map[string]string{"A//a": `{"spec":{"x":2,"y":[1,3]}}`, "C//c": `{"k":"v"}`, "D//d": `{}`}
		Expect(kctest.Diff(before, after)).To(Equal([]string{
			"changed A//a: .spec.x, .spec.y[1]",
			"removed B//b",
			"added D//d",
		}))
		Expect(kctest.Diff(before, before)).To(BeEmpty())
	})
})

var _ = Describe("the cluster's registry configuration", func() {
	It("reads the IPv4 gateway of kind's network, or derives it from the subnet", func() {
		ip, err := kctest.ParseGateway([]byte(`[{"name":"kind","subnets":[{"subnet":"fc00:f853:ccd:e793::/64","gateway":"fc00:f853:ccd:e793::1"},{"subnet":"10.89.0.0/24","gateway":"10.89.0.1"}]}]`))
		Expect(err).NotTo(HaveOccurred())
		Expect(ip.String()).To(Equal("10.89.0.1"))
		ip, err = kctest.ParseGateway([]byte(`[{"name":"kind","subnets":[{"subnet":"10.90.0.0/24"}]}]`))
		Expect(err).NotTo(HaveOccurred())
		Expect(ip.String()).To(Equal("10.90.0.1"))
		_, err = kctest.ParseGateway([]byte(`[{"name":"kind","subnets":[]}]`))
		Expect(err).To(MatchError(ContainSubstring("no IPv4 subnet")))
	})

	It("serves the registry to containerd over plain HTTP", func() {
		Expect(kctest.HostsTOML("10.89.0.1:5000")).To(Equal(`server = "http://10.89.0.1:5000"

[host."http://10.89.0.1:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`))
	})

	It("mounts certs.d into every node, points containerd at it and labels the workers asked for", func() {
		cfg := kctest.KindConfig("esx-t", "img:1", 3, []kctest.Worker{{Labels: map[string]string{"k": "a"}}}, "/tmp/x/certs.d")
		Expect(cfg.Nodes).To(HaveLen(4))
		Expect(cfg.Nodes[0].Role).To(Equal(v1alpha4.ControlPlaneRole))
		for _, n := range cfg.Nodes {
			Expect(n.Image).To(Equal("img:1"))
			Expect(n.ExtraMounts).To(ConsistOf(v1alpha4.Mount{HostPath: "/tmp/x/certs.d", ContainerPath: "/etc/containerd/certs.d", Readonly: true}))
		}
		Expect(cfg.Nodes[1].Labels).To(Equal(map[string]string{"k": "a"}))
		Expect(cfg.Nodes[2].Labels).To(BeEmpty())
		Expect(cfg.ContainerdConfigPatches).To(ConsistOf(ContainSubstring(`config_path = "/etc/containerd/certs.d"`)))
	})
})

var _ = Describe("waiting for the nodes", func() {
	node := func(name, ready string, taints ...string) string {
		ts := ""
		for i, t := range taints {
			if i > 0 {
				ts += ","
			}
			ts += `{"key":"` + t + `","effect":"NoSchedule"}`
		}
		return `{"metadata":{"name":"` + name + `"},"spec":{"taints":[` + ts + `]},"status":{"conditions":[{"type":"Ready","status":"` + ready + `"}]}}`
	}
	list := func(nodes ...string) []byte {
		s := `{"items":[`
		for i, n := range nodes {
			if i > 0 {
				s += ","
			}
			s += n
		}
		return []byte(s + `]}`)
	}

	It("waits for every node to be registered, Ready and rid of the not-ready taint", func() {
		cp := node("cp", "True", "node-role.kubernetes.io/control-plane")
		Expect(kctest.NodesReady(list(cp, node("w", "True")), 2)).To(Succeed())
		Expect(kctest.NodesReady(list(cp), 2)).To(MatchError(ContainSubstring("1 of 2 nodes registered")))
		Expect(kctest.NodesReady(list(cp, node("w", "False")), 2)).To(MatchError(ContainSubstring("[w]")))
		Expect(kctest.NodesReady(list(cp, node("w", "True", "node.kubernetes.io/not-ready")), 2)).To(MatchError(ContainSubstring("[w]")))
	})
})

var _ = Describe("DumpObjects with a stand-in kubectl", func() {
	fake := func(getAll string) string {
		p := filepath.Join(GinkgoT().TempDir(), "kubectl")
		script := `#!/bin/sh
# args: --kubeconfig FILE VERB ...
case "$3 $4" in
"api-resources "*) printf 'pods\nevents\nleases.coordination.k8s.io\nwidgets.example.com\n' ;;
"get pods,widgets.example.com") ` + getAll + ` ;;
"get pods") echo '{"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"ns","name":"p","resourceVersion":"3"},"spec":{},"status":{"phase":"Running"}}]}' ;;
"get widgets.example.com") echo 'Error from server (ServiceUnavailable): the server is currently unable to handle the request' >&2; exit 1 ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
`
		Expect(os.WriteFile(p, []byte(script), 0o755)).To(Succeed())
		return p
	}

	It("lists every listable resource but events and leases in one kubectl and normalises the objects", func(ctx SpecContext) {
		objs, err := kctest.DumpObjects(ctx, fake(`echo '{"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"ns","name":"p","resourceVersion":"3"},"spec":{},"status":{}},{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}]}'`), "kc")
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(2))
		Expect(decode(objs["Pod/ns/p"])).To(Equal(decode(`{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"ns","name":"p"},"spec":{}}`)))
		Expect(objs).To(HaveKey("Widget.example.com//w"))
	})

	It("names the resource that cannot be listed", func(ctx SpecContext) {
		_, err := kctest.DumpObjects(ctx, fake(`exit 1`), "kc")
		Expect(err).To(MatchError(And(ContainSubstring("kubectl get widgets.example.com"), ContainSubstring("ServiceUnavailable"))))
		Expect(err).NotTo(MatchError(ContainSubstring("get pods")))
	})
})

var _ = Describe("the API server's proxy", func() {
	It("forwards through a kubeconfig's copy, refuses while cut and forwards again once restored", func() {
		up, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(up.Close)
		go func() {
			defer GinkgoRecover()
			for {
				c, err := up.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
			}
		}()
		dir := GinkgoT().TempDir()
		orig := filepath.Join(dir, "kubeconfig")
		Expect(os.WriteFile(orig, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: kind-x\n  cluster:\n    server: https://"+up.Addr().String()+"\n    certificate-authority-data: Zm9v\ncurrent-context: kind-x\n"), 0o600)).To(Succeed())
		path, p, err := kctest.Proxied(orig, dir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring("server: https://" + p.Addr() + "\n"))
		Expect(string(b)).To(ContainSubstring("certificate-authority-data: Zm9v"))

		echo := func() error {
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			if string(buf) != "ping" {
				return fmt.Errorf("got %q", buf)
			}
			return nil
		}
		Expect(echo()).To(Succeed())
		held, err := net.Dial("tcp", p.Addr())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(held.Close)
		Eventually(p.Conns).Should(Equal(2), "the held connection and its upstream")
		p.Cut()
		Expect(echo()).To(MatchError(syscall.ECONNREFUSED))
		_, err = held.Read(make([]byte, 1))
		Expect(err).To(MatchError(io.EOF), "a connection through the proxy ends with the cut")
		Expect(p.Restore()).To(Succeed())
		Expect(echo()).To(Succeed())
	})
})
