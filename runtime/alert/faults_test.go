package alert_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/runtime/alert"
	"github.com/edgesim/edgesim/wire"
)

// fakeClock is an injected clock the spec advances.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	fresh   int // timers asked for since one last fired
	calls   int
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.fresh++
	c.calls++
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Waiting reports whether the forwarder asked for a timer since one last
// fired: it is backing off.
func (c *fakeClock) Waiting() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.fresh > 0 }

// Calls counts the timers asked for.
func (c *fakeClock) Calls() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			c.fresh = 0
			w.ch <- c.now
			continue
		}
		keep = append(keep, w)
	}
	c.waiters = keep
}

// outage starts a forwarder with one alert queued on an injected clock and
// a cloud that is down for 60 s of that clock, one 100 ms step per try.
func outage(opts ...alert.ForwarderOption) (*cloud, *fakeClock, *alert.Forwarder) {
	c := newCloud()
	c.up.Store(false)
	clock := &fakeClock{now: t0}
	f, err := alert.NewForwarder(c.srv.URL, append(opts, alert.WithClock(clock))...)
	Expect(err).NotTo(HaveOccurred())
	Expect(f.Enqueue(mk(1))).To(Succeed())
	run(f)
	for elapsed := time.Duration(0); elapsed < 60*time.Second; elapsed += 100 * time.Millisecond {
		Eventually(clock.Waiting).Should(BeTrue())
		clock.Advance(100 * time.Millisecond)
	}
	return c, clock, f
}

// deliveredWithin advances the clock in 100 ms steps, each once the
// forwarder waits, until the cloud has n alerts; it fails past limit.
func deliveredWithin(c *cloud, clock *fakeClock, n int, limit time.Duration) {
	from := clock.Now()
	for len(c.store.List()) < n {
		Expect(clock.Now().Sub(from)).To(BeNumerically("<=", limit), "still not delivered")
		Eventually(func() bool { return clock.Waiting() || len(c.store.List()) >= n }).Should(BeTrue())
		clock.Advance(100 * time.Millisecond)
	}
}

// countPosts counts POSTs reaching the cloud and the alerts in each.
func countPosts(h http.Handler, posts *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

func spoolFiles(dir string) []string {
	n, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return n
}

var _ = Describe("Forwarder faults", func() {
	fast := alert.WithBackoff(5*time.Millisecond, 20*time.Millisecond)

	DescribeTable("keeps alerts queued, logged and counted on an answer that does not name them invalid",
		func(code int, body string) {
			var answer atomic.Bool
			answer.Store(true)
			c := newCloud()
			real := c.srv.Config.Handler
			c.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if answer.Load() {
					w.WriteHeader(code)
					_, _ = io.WriteString(w, body)
					return
				}
				real.ServeHTTP(w, r)
			})
			reg := prometheus.NewRegistry()
			dir := GinkgoT().TempDir()
			var logs bytes.Buffer
			var logMu sync.Mutex
			f, err := alert.NewForwarder(c.srv.URL, fast, alert.WithSpoolDir(dir), alert.WithRegisterer(reg),
				alert.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))))
			Expect(err).NotTo(HaveOccurred())
			for i := 1; i <= 3; i++ {
				Expect(f.Enqueue(mk(i))).To(Succeed())
			}
			run(f)
			Eventually(func() float64 {
				return testutil.ToFloat64(mustCounterVec(reg, "edgenode_alert_delivery_failures_total", strconv.Itoa(code)))
			}).Should(BeNumerically(">=", 3))
			Expect(f.Pending()).To(Equal(3))
			Expect(spoolFiles(dir)).To(HaveLen(3))
			Expect(testutil.ToFloat64(mustCounterVec(reg, "edgenode_alerts_dropped_total", "rejected"))).To(BeZero())
			logMu.Lock()
			Expect(logs.String()).To(ContainSubstring(strconv.Itoa(code)))
			logMu.Unlock()
			answer.Store(false) // the operator fixes the token, path or limit
			Eventually(func() []string { return ids(c.store.List()) }).Should(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID}))
			Eventually(func() []string { return spoolFiles(dir) }).Should(BeEmpty())
		},
		Entry("401: wrong token", http.StatusUnauthorized, "missing or wrong bearer token"),
		Entry("403", http.StatusForbidden, ""),
		Entry("404: wrong path", http.StatusNotFound, "404 page not found"),
		Entry("413: too large", http.StatusRequestEntityTooLarge, ""),
		Entry("400 naming no alert", http.StatusBadRequest, "bad"),
		Entry("422 naming another alert", http.StatusUnprocessableEntity, `{"invalid":[{"id":"someone-else","error":"x"}]}`),
		Entry("422 without a rejection body", http.StatusUnprocessableEntity, "unprocessable"),
	)

	It("drops only the alerts a 422 names invalid and counts them", func() {
		c := newCloud()
		bad := mk(2).ID
		c.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var as []wire.Alert
			Expect(json.NewDecoder(r.Body).Decode(&as)).To(Succeed())
			rej := alert.Rejection{}
			var keep []wire.Alert
			for _, a := range as {
				if a.ID == bad {
					rej.Invalid = append(rej.Invalid, alert.InvalidAlert{ID: a.ID, Error: "a newer cloud refuses it"})
					continue
				}
				keep = append(keep, a)
			}
			_, err := c.store.AddAll(keep)
			Expect(err).NotTo(HaveOccurred())
			if len(rej.Invalid) == 0 {
				w.WriteHeader(http.StatusCreated)
				return
			}
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(rej)
		})
		reg := prometheus.NewRegistry()
		dir := GinkgoT().TempDir()
		f, err := alert.NewForwarder(c.srv.URL, fast, alert.WithSpoolDir(dir), alert.WithRegisterer(reg))
		Expect(err).NotTo(HaveOccurred())
		for i := 1; i <= 3; i++ {
			Expect(f.Enqueue(mk(i))).To(Succeed())
		}
		run(f)
		Eventually(f.Pending).Should(BeZero())
		Expect(ids(c.store.List())).To(Equal([]string{mk(1).ID, mk(3).ID}))
		Expect(spoolFiles(dir)).To(BeEmpty())
		Expect(testutil.ToFloat64(mustCounterVec(reg, "edgenode_alerts_dropped_total", "rejected"))).To(Equal(1.0))
		Expect(testutil.ToFloat64(mustCounter(reg, "edgenode_alerts_delivered_total"))).To(Equal(2.0))
	})

	It("resumes delivery within 2 s of the link healing after a 60 s outage (injected clock)", func() {
		c, clock, _ := outage()
		c.up.Store(true)
		deliveredWithin(c, clock, 1, 2*time.Second)
	})

	It("cuts a long backoff short when a new alert arrives", func() {
		c, clock, f := outage(alert.WithBackoff(100*time.Millisecond, time.Hour))
		// now backing off for tens of seconds
		c.up.Store(true)
		calls := clock.Calls()
		Expect(f.Enqueue(mk(2))).To(Succeed())
		Eventually(clock.Calls).Should(BeNumerically(">", calls), "the new alert re-arms the wait")
		deliveredWithin(c, clock, 2, time.Second)
	})

	It("drains a 500-alert backlog in a few batched round trips", func() {
		c := newCloud()
		c.up.Store(false)
		var posts atomic.Int64
		c.srv.Config.Handler = countPosts(c.srv.Config.Handler, &posts)
		f, err := alert.NewForwarder(c.srv.URL, fast, alert.WithSpoolDir(GinkgoT().TempDir()))
		Expect(err).NotTo(HaveOccurred())
		for i := 1; i <= 500; i++ {
			Expect(f.Enqueue(mk(i))).To(Succeed())
		}
		run(f)
		Eventually(posts.Load).Should(BeNumerically(">=", 2))
		c.up.Store(true)
		before := posts.Load()
		Eventually(func() int { return len(c.store.List()) }, "10s").Should(Equal(500))
		Expect(posts.Load()-before).To(BeNumerically("<=", 7), "one probe that may race the heal, one more, then 5 batches of 100")
		Expect(ids(c.store.List())[499]).To(Equal(mk(500).ID))
	})

	It("halves the batch when the upstream answers 413", func() {
		c := newCloud()
		real := c.srv.Config.Handler
		c.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if strings.Count(string(b), `"id"`) > 30 {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			real.ServeHTTP(w, r)
		})
		f, err := alert.NewForwarder(c.srv.URL, fast)
		Expect(err).NotTo(HaveOccurred())
		for i := 1; i <= 100; i++ {
			Expect(f.Enqueue(mk(i))).To(Succeed())
		}
		run(f)
		Eventually(func() int { return len(c.store.List()) }, "5s").Should(Equal(100))
	})

	It("fsyncs the spool directory after the rename", func() {
		dir := GinkgoT().TempDir()
		var synced []string
		DeferCleanup(alert.SetSyncDir(func(d string) error {
			synced = append(synced, fmt.Sprintf("%s:%d", d, len(spoolFiles(d))))
			return nil
		}))
		f, err := alert.NewForwarder("http://127.0.0.1:1", alert.WithSpoolDir(dir))
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Enqueue(mk(1))).To(Succeed())
		Expect(f.Enqueue(mk(2))).To(Succeed())
		Expect(synced).To(Equal([]string{dir + ":1", dir + ":2"}), "each sync sees the renamed file")
	})
})

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var _ = Describe("Store durability", func() {
	post := func(url, body string) (int, string) {
		resp, err := http.Post(url+"/v1/alerts", "application/json", strings.NewReader(body))
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	line := func(a wire.Alert) string { b, _ := json.Marshal(a); return string(b) }

	It("answers 422 naming an invalid alert, and records the valid rest of a batch", func() {
		c := newCloud()
		code, body := post(c.srv.URL, `{"id":"x","node":"n","camera":"c","raised":"bad"}`)
		Expect(code).To(Equal(http.StatusUnprocessableEntity))
		var rej alert.Rejection
		Expect(json.Unmarshal([]byte(body), &rej)).To(Succeed())
		Expect(rej.Invalid).To(HaveLen(1))
		Expect(rej.Invalid[0].ID).To(Equal("x"))

		bad := mk(2)
		bad.Camera = ""
		code, body = post(c.srv.URL, "["+line(mk(1))+","+line(bad)+","+line(mk(3))+"]")
		Expect(code).To(Equal(http.StatusUnprocessableEntity))
		Expect(json.Unmarshal([]byte(body), &rej)).To(Succeed())
		Expect(rej.Invalid).To(ConsistOf(HaveField("ID", bad.ID)))
		Expect(rej.New).To(Equal(2))
		Expect(ids(c.store.List())).To(Equal([]string{mk(1).ID, mk(3).ID}))
	})

	It("accepts a batch and still a single alert, each id once", func() {
		c := newCloud()
		code, body := post(c.srv.URL, "["+line(mk(1))+","+line(mk(2))+","+line(mk(1))+"]")
		Expect(code).To(Equal(http.StatusCreated))
		Expect(body).To(MatchJSON(`{"new":2,"duplicate":1}`))
		code, _ = post(c.srv.URL, line(mk(2)))
		Expect(code).To(Equal(http.StatusOK))
		code, _ = post(c.srv.URL, line(mk(3)))
		Expect(code).To(Equal(http.StatusCreated))
		Expect(ids(c.store.List())).To(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID}))
	})

	It("fsyncs the alerts file before it answers", func() {
		path := filepath.Join(GinkgoT().TempDir(), "alerts.jsonl")
		var synced []int
		DeferCleanup(alert.SetSyncFile(func(f *os.File) error {
			b, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			synced = append(synced, strings.Count(string(b), "\n"))
			return f.Sync()
		}))
		c := newCloud(alert.WithJSONL(path))
		code, _ := post(c.srv.URL, "["+line(mk(1))+","+line(mk(2))+"]")
		Expect(code).To(Equal(http.StatusCreated))
		Expect(synced).To(Equal([]int{2}), "one sync for the batch, after both records")
		code, _ = post(c.srv.URL, line(mk(1)))
		Expect(code).To(Equal(http.StatusOK))
		Expect(synced).To(Equal([]int{2}), "a duplicate writes nothing")
	})

	It("recovers from torn lines without losing the alert that follows", func() {
		path := filepath.Join(GinkgoT().TempDir(), "alerts.jsonl")
		// a crash tore a record in the middle (old code appended the next
		// one to it) and another at the end
		Expect(os.WriteFile(path, []byte(line(mk(1))+"\n"+`{"id":"torn","node":"e`+line(mk(2))+"\n"+line(mk(3))+"\n"+`{"id":"tail","no`), 0o600)).To(Succeed())
		s, err := alert.NewStore(alert.WithJSONL(path))
		Expect(err).NotTo(HaveOccurred())
		Expect(ids(s.List())).To(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID}))
		dup, err := s.Add(mk(4))
		Expect(err).NotTo(HaveOccurred())
		Expect(dup).To(BeFalse())
		Expect(s.Close()).To(Succeed())
		again, err := alert.NewStore(alert.WithJSONL(path))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(again.Close)
		Expect(ids(again.List())).To(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID, mk(4).ID}))
		raw, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
		var last wire.Alert
		Expect(json.Unmarshal([]byte(lines[len(lines)-1]), &last)).To(Succeed(), "the new record starts a line of its own")
		Expect(last.ID).To(Equal(mk(4).ID))
	})

	It("bounds its memory and serves every alert from disk", func() {
		path := filepath.Join(GinkgoT().TempDir(), "alerts.jsonl")
		c := newCloud(alert.WithJSONL(path), alert.WithStoreMemory(10, 50))
		var all []wire.Alert
		for i := 1; i <= 125; i++ {
			all = append(all, mk(i))
		}
		_, err := c.store.AddAll(all)
		Expect(err).NotTo(HaveOccurred())
		Expect(ids(c.store.List())).To(Equal(ids(all[115:])))
		dup, err := c.store.Add(mk(100))
		Expect(err).NotTo(HaveOccurred())
		Expect(dup).To(BeTrue(), "within the id window")
		resp, err := http.Get(c.srv.URL + "/v1/alerts")
		Expect(err).NotTo(HaveOccurred())
		var got []wire.Alert
		Expect(json.NewDecoder(resp.Body).Decode(&got)).To(Succeed())
		resp.Body.Close()
		Expect(ids(got)).To(Equal(ids(all)))
		dup, err = c.store.Add(mk(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(dup).To(BeFalse(), "beyond the id window the id is forgotten: the cap is enforced")
	})

	It("reads the files of several replicas, torn or not, each id once", func() {
		a := line(mk(1)) + "\n" + line(mk(2)) + "\n" + `{"id":"torn","no`
		b := line(mk(2)) + "\n" + line(mk(3)) + "\n"
		Expect(ids(alert.ReadAlerts([]byte(a + b)))).To(Equal([]string{mk(1).ID, mk(2).ID, mk(3).ID}))
	})
})

// The crash target: a partition with 500 alerts queued, a SIGKILL of the
// edge's forwarder mid-drain, a restart on the same spool, a cloud restart
// and a second cloud replica: zero alerts lost, none recorded twice.

const childEnv = "EDGESIM_ALERT_FORWARDER_CHILD"

// forwarderChild runs in a child process: it queues $ENQUEUE alerts on the
// spool, says so, then forwards until killed.
func forwarderChild() int {
	n, _ := strconv.Atoi(os.Getenv("ENQUEUE"))
	f, err := alert.NewForwarder(os.Getenv("UPSTREAM"), alert.WithSpoolDir(os.Getenv("SPOOL")),
		alert.WithBackoff(5*time.Millisecond, 50*time.Millisecond), alert.WithTimeout(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := 1; i <= n; i++ {
		if err := f.Enqueue(mk(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("queued", f.Pending())
	_ = f.Run(context.Background())
	return 0
}

// link is a loopback TCP proxy to the cloud replicas (round robin) that a
// spec cuts: cut connections are closed, new ones held open unanswered.
type link struct {
	ln      net.Listener
	up      atomic.Bool
	mu      sync.Mutex
	conns   map[net.Conn]bool
	targets []string
	next    int
	tries   atomic.Int64
}

func newLink() *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	l := &link{ln: ln, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.tries.Add(1)
			go l.serve(c)
		}
	}()
	DeferCleanup(func() { _ = ln.Close(); l.cut() })
	return l
}

func (l *link) track(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[c] = true
}

func (l *link) serve(c net.Conn) {
	l.track(c)
	if !l.up.Load() {
		_, _ = io.Copy(io.Discard, c) // a black hole until cut or closed
		_ = c.Close()
		return
	}
	l.mu.Lock()
	target := l.targets[l.next%len(l.targets)]
	l.next++
	l.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	l.track(up)
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

// setTargets routes the next connections round robin, the first to t[0].
func (l *link) setTargets(t ...string) { l.mu.Lock(); l.targets, l.next = t, 0; l.mu.Unlock() }

// cut partitions the link: every open connection dies.
func (l *link) cut() {
	l.up.Store(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.conns = map[net.Conn]bool{}
}

func startChild(upstream, spool string, enqueue int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestAlert$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "UPSTREAM="+upstream, "SPOOL="+spool, "ENQUEUE="+strconv.Itoa(enqueue))
	cmd.Stderr = GinkgoWriter
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	Expect(err).NotTo(HaveOccurred())
	Expect(line).To(HavePrefix("queued "))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd
}

// replica is one cloud edgenode's store behind a real loopback server,
// whose handler can hold its answers after recording.
type replica struct {
	path  string
	store *alert.Store
	srv   *httptest.Server
	posts atomic.Int64
	hold  atomic.Int64 // answer this POST only after release
	held  chan struct{}
	free  chan struct{}
}

func newReplica(path string) *replica {
	r := &replica{path: path, held: make(chan struct{}, 1), free: make(chan struct{})}
	var err error
	r.store, err = alert.NewStore(alert.WithJSONL(path))
	Expect(err).NotTo(HaveOccurred())
	h := r.store.Handler()
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.posts.Add(1)
		if n != r.hold.Load() {
			h.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req) // recorded and fsynced; the answer waits
		r.held <- struct{}{}
		select {
		case <-r.free:
		case <-req.Context().Done():
		}
	}))
	// one request per connection, so the link spreads them over replicas
	r.srv.Config.SetKeepAlivesEnabled(false)
	r.srv.Start()
	DeferCleanup(func() { r.srv.Close(); _ = r.store.Close() })
	return r
}

func (r *replica) stop() {
	r.srv.CloseClientConnections()
	r.srv.Close()
	Expect(r.store.Close()).To(Succeed())
}

func fileIDs(paths ...string) (lines int, unique []string) {
	var all []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		Expect(err).NotTo(HaveOccurred())
		all = append(all, b...)
		lines += bytes.Count(b, []byte("\n"))
	}
	return lines, ids(alert.ReadAlerts(all))
}

var _ = Describe("Alert path under a partition and a SIGKILL", func() {
	It("loses none of 500 alerts queued through a partition and a SIGKILL mid-drain, and records none twice", func() {
		dir := GinkgoT().TempDir()
		spool := filepath.Join(dir, "spool")
		cloud1 := newReplica(filepath.Join(dir, "cloud-1.jsonl"))
		cloud1.hold.Store(3) // probe, one batch, then the kill lands while the next is answered
		l := newLink()
		l.setTargets(cloud1.srv.Listener.Addr().String())
		upstream := "http://" + l.ln.Addr().String()

		// the partition: 500 alerts queued on disk, tries go unanswered
		edge := startChild(upstream, spool, 500)
		Eventually(l.tries.Load, "10s").Should(BeNumerically(">=", 2))
		Expect(spoolFiles(spool)).To(HaveLen(500))

		// the link heals; the edge dies mid-drain (SIGKILL), after the
		// cloud recorded a batch it never heard acknowledged
		l.cut()
		l.up.Store(true)
		Eventually(cloud1.held, "10s").Should(Receive())
		Expect(edge.Process.Signal(syscall.SIGKILL)).To(Succeed())
		_ = edge.Wait()
		close(cloud1.free)
		recorded := len(cloud1.store.List())
		Expect(recorded).To(BeNumerically(">", 100))
		Expect(recorded).To(BeNumerically("<", 500))
		Expect(len(spoolFiles(spool))+recorded).To(BeNumerically(">", 500), "the unacknowledged batch is still spooled")

		// the cloud restarts too, and a second replica joins behind the link
		cloud1.stop()
		cloud1b := newReplica(cloud1.path)
		cloud2 := newReplica(filepath.Join(dir, "cloud-2.jsonl"))
		l.cut()
		l.setTargets(cloud1b.srv.Listener.Addr().String(), cloud2.srv.Listener.Addr().String())
		l.up.Store(true)

		// the edge restarts on its spool: it resends the batch cloud-1
		// recorded, first to cloud-1 (restarted), then to both replicas
		startChild(upstream, spool, 0)
		Eventually(func() []string { return spoolFiles(spool) }, "20s").Should(BeEmpty())
		want := make([]string, 0, 500)
		for i := 1; i <= 500; i++ {
			want = append(want, mk(i).ID)
		}
		_, unique := fileIDs(cloud1.path, cloud2.path)
		Expect(unique).To(ConsistOf(want), "zero alerts lost")
		for _, p := range []string{cloud1.path, cloud2.path} {
			lines, u := fileIDs(p)
			Expect(lines).To(Equal(len(u)), "each replica records an id once across its restart: %s", p)
		}
	})
})
