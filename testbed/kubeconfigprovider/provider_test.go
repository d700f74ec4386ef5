package kubeconfigprovider_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/agent"
	"github.com/edgesim/edgesim/testbed/kube"
	kp "github.com/edgesim/edgesim/testbed/kubeconfigprovider"
	"github.com/edgesim/edgesim/testbed/provider"
)

// execCluster records kubectl calls with their stdin and answers an
// agent's `tar` with a stream holding one file.
type execCluster struct {
	calls  [][]string
	stdins [][]byte
	fail   error
}

func (c *execCluster) Kubectl(_ context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	c.calls = append(c.calls, args)
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	c.stdins = append(c.stdins, in)
	if c.fail != nil {
		return nil, c.fail
	}
	if args[len(args)-2] == "tar" {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		Expect(tw.WriteHeader(&tar.Header{Name: "h/samples.jsonl", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})).To(Succeed())
		_, _ = tw.Write([]byte("{}\n"))
		Expect(tw.Close()).To(Succeed())
		return buf.Bytes(), nil
	}
	return nil, nil
}

func (c *execCluster) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "true")
}

var _ = Describe("the kubeconfig provider's agents", func() {
	It("run privileged in the host network of exactly the mapped nodes, pulling the edgesim image", func() {
		obj := kp.AgentManifest("es-q", "reg.lab/edgesim:1", "IfNotPresent", "r1",
			map[string]string{"cloud-1": "n2", "store-1-edge-1": "n1", "cams": "n1"}, true)
		b, err := kube.Render([]kube.Object{obj})
		Expect(err).NotTo(HaveOccurred())
		y := string(b)
		for _, want := range []string{"kind: DaemonSet", "namespace: es-q", "hostNetwork: true", "privileged: true",
			"image: reg.lab/edgesim:1", "imagePullPolicy: IfNotPresent", "- --run-id\n", "- r1\n", "path: /dev/net/tun",
			"key: metadata.name", "- n1\n", "- n2\n", "name: EDGESIM_AGENT_TOKEN\n", "key: token\n", "cpu: 200m\n"} {
			Expect(y).To(ContainSubstring(want))
		}
		Expect(strings.Count(y, "- n1\n")).To(Equal(1), "a node holding two plan nodes runs one agent")
		Expect(y).NotTo(ContainSubstring("limits:"), "a relay under CPU quota stalls every packet")
		b, err = kube.Render([]kube.Object{kp.AgentSecret("es-q", "tok")})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring("name: " + kp.AgentName + "\n"))
		Expect(string(b)).To(ContainSubstring("token: tok"))
	})

	It("ask for no privilege and no TUN device where the links are not emulated, and keep the node's network and data directory", func() {
		b, err := kube.Render([]kube.Object{kp.AgentManifest("es-q", "reg.lab/edgesim:1", "IfNotPresent", "r1", map[string]string{"cams": "n1"}, false)})
		Expect(err).NotTo(HaveOccurred())
		y := string(b)
		Expect(y).To(ContainSubstring("name: " + kp.AgentNoLinksName + "\n"))
		Expect(y).To(ContainSubstring("edgesim.dev/links: \"false\""))
		Expect(y).To(ContainSubstring("hostNetwork: true"))
		Expect(y).To(ContainSubstring("path: /var/lib/edgesim\n"))
		Expect(y).To(ContainSubstring("name: "+kp.AgentName+"\n"), "the same container, for exec")
		Expect(y).NotTo(ContainSubstring("privileged"))
		Expect(y).NotTo(ContainSubstring("/dev/net/tun"))
	})

	It("are the layer's machines: every chore is one `edgesim agent` call through kubectl exec, files as tar streams", func(ctx SpecContext) {
		c := &execCluster{}
		m := kp.Agents(c, "es-q", map[string]string{"n1": "edgesim-agent-x"})
		Expect(m.Probe(ctx, "n1", "http://10.96.0.7:8080/readyz")).To(Succeed())
		Expect(m.Symlink(ctx, "n1", "m-1", "/var/lib/edgesim/models/e/current")).To(Succeed())
		src := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(src, "manifest.json"), []byte(`{"name":"x"}`), 0o644)).To(Succeed())
		Expect(m.CopyTo(ctx, "n1", src, "/var/lib/edgesim/models/e/m-1")).To(Succeed())
		dst := GinkgoT().TempDir()
		Expect(m.CopyFrom(ctx, "n1", "/var/lib/edgesim/samples", dst)).To(Succeed())
		Expect(filepath.Join(dst, "h", "samples.jsonl")).To(BeARegularFile())
		prefix := []string{"-n", "es-q", "exec"}
		Expect(c.calls).To(Equal([][]string{
			append(prefix, "edgesim-agent-x", "-c", "edgesim-agent", "--", "/edgesim", "agent", "probe", "http://10.96.0.7:8080/readyz"),
			append(prefix, "edgesim-agent-x", "-c", "edgesim-agent", "--", "/edgesim", "agent", "symlink", "m-1", "/var/lib/edgesim/models/e/current"),
			append(prefix, "-i", "edgesim-agent-x", "-c", "edgesim-agent", "--", "/edgesim", "agent", "untar", "/var/lib/edgesim/models/e/m-1"),
			append(prefix, "edgesim-agent-x", "-c", "edgesim-agent", "--", "/edgesim", "agent", "tar", "/var/lib/edgesim/samples"),
		}))
		tr := tar.NewReader(bytes.NewReader(c.stdins[2]))
		hdr, err := tr.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(hdr.Name).To(Equal("manifest.json"))

		Expect(m.Probe(ctx, "n9", "http://x")).To(MatchError("no edgesim agent runs on node n9"))
		c.fail = fmt.Errorf("kubectl exec: command terminated with exit code 1")
		Expect(m.Exists(ctx, "n1", "/var/lib/edgesim/models/e/m-1/manifest.json")).To(BeFalse())
	})

	It("read the samples and the alerts from the agents' TCP port with the files token, and through exec once that fails", func(ctx SpecContext) {
		var auth []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth = append(auth, r.Header.Get("Authorization"))
			switch r.URL.Path {
			case "/v1/cat":
				_, _ = io.WriteString(w, "alert of "+r.URL.Query().Get("path")+"\n")
			case "/v1/tar":
				tw := tar.NewWriter(w)
				Expect(tw.WriteHeader(&tar.Header{Name: "h/latency.jsonl", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})).To(Succeed())
				_, _ = tw.Write([]byte("{}\n"))
				Expect(tw.Close()).To(Succeed())
			}
		}))
		DeferCleanup(srv.Close)
		c := &execCluster{}
		var logs []string
		logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
		files := map[string]*agent.FilesClient{"n1": agent.NewFilesClient(strings.TrimPrefix(srv.URL, "http://"), "tok", srv.Client())}
		m := kp.AgentsWithFiles(c, "es-q", map[string]string{"n1": "edgesim-agent-x", "n2": "edgesim-agent-y"}, files, logf)

		Expect(m.ReadFile(ctx, "n1", "/var/lib/edgesim/alerts/alerts.jsonl")).To(Equal([]byte("alert of /var/lib/edgesim/alerts/alerts.jsonl\n")))
		dst := GinkgoT().TempDir()
		Expect(m.CopyFrom(ctx, "n1", "/var/lib/edgesim/samples/cams", dst)).To(Succeed())
		Expect(filepath.Join(dst, "h", "latency.jsonl")).To(BeARegularFile())
		Expect(c.calls).To(BeEmpty(), "no exec while the agent answers over TCP")
		Expect(auth).To(Equal([]string{"Bearer tok", "Bearer tok"}))

		Expect(m.CopyFrom(ctx, "n2", "/var/lib/edgesim/samples/cams", dst)).To(Succeed(), "a node without a client is read through exec")
		Expect(c.calls).To(HaveLen(1))

		srv.Close()
		Expect(m.CopyFrom(ctx, "n1", "/var/lib/edgesim/samples/cams", dst)).To(Succeed())
		Expect(m.ReadFile(ctx, "n1", "/var/lib/edgesim/alerts/alerts.jsonl")).To(BeEmpty(), "exec's answer")
		Expect(c.calls).To(HaveLen(3))
		Expect(c.calls[2]).To(ContainElements("cat", "/var/lib/edgesim/alerts/alerts.jsonl"))
		Expect(logs).To(ConsistOf(ContainSubstring("reading through kubectl exec from now on")), "said once")
		Expect(auth).To(HaveLen(2), "no TCP read after the first failure")
	})
})

var _ = Describe("the kubeconfig provider on a cluster it did not create", func() {
	var dir, log string
	// kubectl is a fake that logs its arguments and answers `get
	// namespace` with the JSON in $dir/ns.json.
	kubectl := func() string {
		p := filepath.Join(dir, "kubectl")
		Expect(os.WriteFile(p, []byte(fmt.Sprintf(`#!/bin/sh
echo "$@" >> %s
case "$*" in
*'get namespace'*) cat %s/ns.json 2>/dev/null;;
*'get node n3 -o jsonpath={.spec.unschedulable}'*) echo true;;
*'get node n1 --ignore-not-found'*) echo run1;;
*'get node n2 --ignore-not-found'*) echo someone-else;;
esac
`, log, dir)), 0o755)).To(Succeed())
		return p
	}
	calls := func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		log = filepath.Join(dir, "calls")
	})

	It("kills a node by cordoning it and deleting the run's pods on it, starts it by uncordoning, refuses to freeze it, and uncordons what is left at Destroy", func(ctx SpecContext) {
		p := kp.NewMapped(kubectl(), "es-q", map[string]string{"store-1-edge-2": "n2", "store-1-edge-1": "n1", "cloud-1": "n3"})
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionKill, Node: "store-1-edge-2"})).To(Succeed())
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionKill, Node: "store-1-edge-1"})).To(Succeed())
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionStart, Node: "store-1-edge-1"})).To(Succeed())
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionPause, Node: "store-1-edge-1"})).To(MatchError(ContainSubstring("cannot freeze its nodes")))
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionKill, Node: "nowhere"})).To(MatchError("kill: no node nowhere"))
		Expect(p.DescribeFault(provider.Action{Kind: provider.ActionKill, Node: "store-1-edge-2"})).To(Equal("Kubernetes: node n2 cordoned and the run's pods on it force-deleted; the node keeps running"))
		Expect(p.DescribeFault(provider.Action{Kind: provider.ActionDegrade, Link: "store-1-uplink"})).To(ContainSubstring("link engine"))
		Expect(p.Destroy(ctx)).To(Succeed())
		del := func(k string) string {
			return "--kubeconfig /k/config -n es-q delete pods --field-selector spec.nodeName=" + k + " -l app.kubernetes.io/part-of=edgesim,app.kubernetes.io/name!=edgesim-agent --grace-period=0 --force --wait=false"
		}
		Expect(calls()).To(Equal([]string{
			"--kubeconfig /k/config get node n2 -o jsonpath={.spec.unschedulable}",
			"--kubeconfig /k/config annotate --overwrite node n2 edgesim.dev/cordoned-by=r1",
			"--kubeconfig /k/config cordon n2",
			del("n2"),
			"--kubeconfig /k/config get node n1 -o jsonpath={.spec.unschedulable}",
			"--kubeconfig /k/config annotate --overwrite node n1 edgesim.dev/cordoned-by=r1",
			"--kubeconfig /k/config cordon n1",
			del("n1"),
			"--kubeconfig /k/config uncordon n1",
			"--kubeconfig /k/config annotate node n1 edgesim.dev/cordoned-by-",
			"--kubeconfig /k/config uncordon n2",
			"--kubeconfig /k/config annotate node n2 edgesim.dev/cordoned-by-",
			"--kubeconfig /k/config delete namespace es-q --wait=true --timeout=120s",
		}))
	})

	It("leaves a node someone else cordoned as it was: cordoned after the run", func(ctx SpecContext) {
		p := kp.NewMapped(kubectl(), "es-q", map[string]string{"cloud-1": "n3"})
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionKill, Node: "cloud-1"})).To(Succeed())
		Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionStart, Node: "cloud-1"})).To(Succeed())
		Expect(p.Destroy(ctx)).To(Succeed())
		Expect(calls()).NotTo(ContainElement(ContainSubstring("cordon n3")))
		Expect(calls()).NotTo(ContainElement(ContainSubstring("annotate")))
		Expect(calls()).To(ContainElement(ContainSubstring("delete pods --field-selector spec.nodeName=n3")), "the kill itself happens")
		Expect(p.DescribeFault(provider.Action{Kind: provider.ActionKill, Node: "cloud-1"})).To(HavePrefix("Kubernetes: the run's pods on node n3 force-deleted (the node was cordoned already)"))
	})

	Describe("where the cluster refuses privileged pods", func() {
		// refusing is a fake kubectl of a cluster whose admission refuses
		// privileged pods, and pods with the node's network too when
		// hostToo.
		refusing := func(hostToo bool) string {
			nolinks := `echo '{"items":[{"metadata":{"name":"edgesim-agent-nolinks-x"},"spec":{"nodeName":"n1"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}]}'`
			nolinksEvents := ":"
			if hostToo {
				nolinks = `echo '{"items":[]}'`
				nolinksEvents = `echo 'pods "edgesim-agent-nolinks-x" is forbidden: host namespaces are not allowed'`
			}
			p := filepath.Join(dir, "kubectl")
			Expect(os.WriteFile(p, []byte(fmt.Sprintf(`#!/bin/sh
echo "$@" >> %s
case "$*" in
*'create -f -'*) cat > /dev/null;;
*'get pods -l app.kubernetes.io/name=edgesim-agent,edgesim.dev/links=true '*) echo '{"items":[]}';;
*'get pods -l app.kubernetes.io/name=edgesim-agent,edgesim.dev/links=false '*) %s;;
*'involvedObject.name=edgesim-agent-nolinks '*) %s;;
*'involvedObject.name=edgesim-agent '*) echo 'pods "edgesim-agent-x" is forbidden: ValidatingAdmissionPolicy "no-privileged" denied request: privileged';;
esac
`, log, nolinks, nolinksEvents)), 0o755)).To(Succeed())
			return p
		}

		It("replaces the refused agents with unprivileged ones and goes on without link emulation, saying why", func(ctx SpecContext) {
			p := kp.NewMapped(refusing(false), "es-q", map[string]string{"cams": "n1"})
			Expect(kp.StartAgents(ctx, p, "reg.lab/edgesim:1", dir)).To(Succeed())
			Expect(p.LinksNotEmulated()).To(Equal(`the cluster refused the privileged edgesim agents: pods "edgesim-agent-x" is forbidden: ValidatingAdmissionPolicy "no-privileged" denied request: privileged`))
			Expect(calls()).To(ContainElement("--kubeconfig /k/config -n es-q delete daemonset edgesim-agent --wait=true --timeout=60s"), "the refused DaemonSet goes")
			Expect(filepath.Join(dir, "manifests-agents-nolinks.yaml")).To(BeARegularFile())
			Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionPartition, Link: "store-1-uplink"})).To(MatchError(provider.ErrLinksNotEmulated))
			Expect(p.DescribeFault(provider.Action{Kind: provider.ActionPartition, Link: "store-1-uplink"})).To(BeEmpty(), "no link engine to name")
			Expect(p.Inject(ctx, provider.Action{Kind: provider.ActionKill, Node: "cams"})).To(Succeed(), "node faults go through Kubernetes as before")
		})

		It("stops the run when the cluster refuses the agents even without privileges, saying what they need", func(ctx SpecContext) {
			p := kp.NewMapped(refusing(true), "es-q", map[string]string{"cams": "n1"})
			err := kp.StartAgents(ctx, p, "reg.lab/edgesim:1", dir)
			Expect(err).To(MatchError(kp.ErrAgentsRefused))
			Expect(err).To(MatchError(ContainSubstring("host namespaces are not allowed, also without privileges")))
			Expect(err).To(MatchError(ContainSubstring("/var/lib/edgesim")))
			Expect(err).To(MatchError(ContainSubstring(`ValidatingAdmissionPolicy "no-privileged"`)), "and why the privileged ones were refused")
			Expect(p.LinksNotEmulated()).To(BeEmpty())
		})
	})

	It("cleans the namespace of a killed run only while it carries the run's label", func(ctx SpecContext) {
		state := filepath.Join(dir, "state")
		rec, err := kp.WriteRecord(state, "es-quickstart-1", kp.Target{Kubeconfig: "/k/config"}, kubectl(), "run1", []string{"n1", "n2"})
		Expect(err).NotTo(HaveOccurred())
		// The record of a run whose process is gone.
		dead := exec.Command("true")
		Expect(dead.Run()).To(Succeed())
		var r map[string]any
		b, err := os.ReadFile(rec)
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &r)).To(Succeed())
		r["pid"] = dead.Process.Pid
		b, _ = json.Marshal(r)
		Expect(os.WriteFile(rec, b, 0o644)).To(Succeed())

		label := func(run string) {
			Expect(os.WriteFile(filepath.Join(dir, "ns.json"), []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:"edgesim",%q:%q}}}`, kp.LabelManagedBy, kp.LabelRun, run)), 0o644)).To(Succeed())
		}
		label("someone-else")
		rep, err := kp.Clean(ctx, state)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(Equal([]string{"cordon of node n1 (run run1)"}), "the node's own mark proves the cordon is the run's")
		Expect(rep.Skipped).To(ConsistOf(ContainSubstring("not this run's namespace")))
		Expect(calls()).NotTo(ContainElement(ContainSubstring("delete")))
		Expect(rec).To(BeARegularFile(), "the record stays with what it could not prove")

		label("run1")
		rep, err = kp.Clean(ctx, state)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(Equal([]string{"namespace es-quickstart-1", "cordon of node n1 (run run1)"}))
		Expect(calls()).To(ContainElement("--kubeconfig /k/config delete namespace es-quickstart-1 --wait=true --timeout=120s"))
		Expect(calls()).To(ContainElements("--kubeconfig /k/config uncordon n1", "--kubeconfig /k/config annotate node n1 edgesim.dev/cordoned-by-"),
			"the node the run cordoned, still carrying its mark")
		Expect(calls()).NotTo(ContainElement(ContainSubstring("uncordon n2")), "n2 carries someone else's mark")
		Eventually(func() error { _, err := os.Stat(rec); return err }).WithTimeout(time.Second).Should(MatchError(os.ErrNotExist))
	})
})

var _ = Describe("waiting for the agents", func() {
	pod := func(node, name, ready, waiting string) string {
		w := ""
		if waiting != "" {
			w = fmt.Sprintf(`,"containerStatuses":[{"image":"reg.lab/edgesim:1","state":{"waiting":{"reason":%q,"message":"dial tcp 10.0.0.9:5000: connection refused"}}}]`, waiting)
		}
		return fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"nodeName":%q},"status":{"conditions":[{"type":"Ready","status":%q}]%s}}`, name, node, ready, w)
	}
	list := func(pods ...string) []byte { return []byte(`{"items":[` + strings.Join(pods, ",") + `]}`) }

	It("returns the agent of every node once all are Ready, and nothing while some are coming", func() {
		ready, err := kp.AgentsReady(list(pod("n1", "a-1", "True", ""), pod("n2", "a-2", "False", "ContainerCreating")), nil, []string{"n1", "n2"})
		Expect(err).NotTo(HaveOccurred())
		Expect(ready).To(BeNil())
		ready, err = kp.AgentsReady(list(pod("n1", "a-1", "True", ""), pod("n2", "a-2", "True", ""), pod("n3", "a-3", "False", "")), nil, []string{"n1", "n2", "n1"})
		Expect(err).NotTo(HaveOccurred())
		Expect(ready).To(HaveKeyWithValue("n1", "a-1"))
		Expect(ready).To(HaveKeyWithValue("n2", "a-2"))
	})

	It("stops at once when a node cannot pull the image, naming the node, the image and what to check", func() {
		_, err := kp.AgentsReady(list(pod("n1", "a-1", "True", ""), pod("n2", "a-2", "False", "ImagePullBackOff")), nil, []string{"n1", "n2"})
		Expect(err).To(MatchError(kp.ErrImagePull))
		Expect(err).To(MatchError(ContainSubstring("node n2: ImagePullBackOff reg.lab/edgesim:1: dial tcp 10.0.0.9:5000: connection refused")))
		Expect(err).To(MatchError(ContainSubstring("--image-registry")))
	})

	It("stops at once when the cluster refuses the privileged pods, with the policy's words", func() {
		_, err := kp.AgentsReady(list(), []byte("pods \"edgesim-agent-x\" is forbidden: violates PodSecurity \"baseline:latest\": privileged\n"), []string{"n1"})
		Expect(err).To(MatchError(kp.ErrAgentsRefused))
		Expect(err).To(MatchError(ContainSubstring(`violates PodSecurity "baseline:latest"`)))
	})
})

// readyzCluster answers /readyz with its answers in turn, then with the
// last one.
type readyzCluster struct {
	mu      sync.Mutex
	answers []error
	calls   int
}

func (c *readyzCluster) Kubectl(_ context.Context, _ io.Reader, args ...string) ([]byte, error) {
	if strings.Join(args[:3], " ") != "get --raw /readyz" {
		return nil, fmt.Errorf("unexpected kubectl %v", args)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return nil, c.answers[min(c.calls, len(c.answers))-1]
}

func (c *readyzCluster) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "true")
}

var _ = Describe("the watch on the API server during a run", func() {
	gone := fmt.Errorf("kubectl get: %w: connection refused", kp.ErrUnreachable)
	clock := func() func() time.Time {
		var mu sync.Mutex
		t := time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)
		return func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			t = t.Add(time.Second)
			return t
		}
	}

	It("ends the run after failed answers in a row, dated at the first of them; an answer in between starts the count again", func() {
		c := &readyzCluster{answers: []error{nil, gone, nil, gone, gone, gone}}
		events := make(chan provider.ObservedEvent, 2)
		stop := kp.WatchAPI(c, time.Millisecond, 3, clock(), func(e provider.ObservedEvent) { events <- e })
		defer stop()
		var e provider.ObservedEvent
		Eventually(events).WithTimeout(5 * time.Second).Should(Receive(&e))
		Expect(e.Ends).To(BeTrue())
		Expect(e.Kind).To(Equal("api-server-lost"))
		Expect(e.Target).To(Equal("context lab"))
		Expect(e.At).To(Equal(time.Date(2026, 12, 6, 16, 0, 2, 0, time.UTC)), "the first failure of the last run of them (the clock is read once per run of failures)")
		Expect(e.Detail).To(ContainSubstring("3 times in a row"))
		Expect(e.Detail).To(ContainSubstring("edgesim clean --provider kubeconfig"))
		stop()
		Expect(c.calls).To(Equal(6), "the watch stops once it has told the run")
		Expect(events).NotTo(Receive())
	})

	It("tells nothing while the API server answers, and stops when asked", func() {
		c := &readyzCluster{answers: []error{nil}}
		told := make(chan provider.ObservedEvent, 1)
		stop := kp.WatchAPI(c, time.Millisecond, 1, clock(), func(e provider.ObservedEvent) { told <- e })
		Eventually(func() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }).Should(BeNumerically(">=", 5))
		stop()
		Expect(told).NotTo(Receive())
	})
})
