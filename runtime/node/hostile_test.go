package node_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/runtime/internal/testcam"
	"github.com/edgesim/edgesim/runtime/node"
)

// openFDs counts this process's open file descriptors.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	Expect(err).NotTo(HaveOccurred())
	return len(ents)
}

// metricSeries counts the series /metrics exposes.
func metricSeries(base string) int {
	resp, err := http.Get(base + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// publish publishes c through fakecam's WHIP client, which retries
// transport errors and 5xx with backoff as a real camera does.
func publish(c *testcam.Camera, endpoint string) (time.Duration, error) {
	offer, err := c.Offer()
	Expect(err).NotTo(HaveOccurred())
	w := &fakecam.WHIPClient{Retry: fakecam.Retry{Attempts: 20, Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond, RequestTimeout: 3 * time.Second}}
	t0 := time.Now()
	s, err := w.Publish(context.Background(), endpoint, offer)
	took := time.Since(t0)
	if err != nil {
		return took, err
	}
	return took, c.Answered("", s.Location, s.Answer)
}

var _ = Describe("Hostile clients", func() {
	It("lets a real camera publish within 5 s while an attacker holds every session slot and connection; descriptors and /metrics series stay bounded", func() {
		const slots, conns, idle = 4, 32, 200
		cfg := testConfig()
		cfg.MaxSessions, cfg.MaxConns = slots, conns // the default header timeout
		n, _ := start(cfg, node.WithModel(personModel{}))
		base := "http://" + n.Addr()

		// a camera comes and goes first, so that every series a session
		// leaves behind exists before the baseline
		warm := camera(n, "warm")
		halt := make(chan struct{})
		go stream(warm, halt)
		Eventually(func() int { return len(warm.Got()) }, "15s").Should(BeNumerically(">", 0))
		close(halt)
		warm.Stop()
		Eventually(n.Server().Sessions, "5s").Should(BeZero())
		series0 := metricSeries(base)

		// every session slot: offers that never connect
		offer, err := testcam.CheapOffer()
		Expect(err).NotTo(HaveOccurred())
		for range slots {
			resp, body := testcam.Post(base+"/whip?camera=attacker", "application/sdp", []byte(offer))
			Expect(resp.StatusCode).To(Equal(http.StatusCreated), body)
		}
		Expect(n.Server().Sessions()).To(Equal(slots))

		// connections: many that send nothing, then the maximum with a
		// request header that never ends
		http.DefaultClient.CloseIdleConnections()
		fd0 := openFDs()
		var held []net.Conn
		DeferCleanup(func() {
			for _, c := range held {
				_ = c.Close()
			}
		})
		for range idle {
			c, err := net.Dial("tcp", n.Addr())
			Expect(err).NotTo(HaveOccurred())
			held = append(held, c)
		}
		for range conns {
			c, err := net.Dial("tcp", n.Addr())
			Expect(err).NotTo(HaveOccurred())
			_, err = c.Write([]byte("POST /whip HTTP/1.1\r\nHost: edgenode\r\n"))
			Expect(err).NotTo(HaveOccurred())
			held = append(held, c)
		}
		// the node's own descriptors: everything beyond the attacker's
		Consistently(func() int { return openFDs() - len(held) - fd0 }, "500ms", "20ms").Should(BeNumerically("<=", conns+8))

		real, err := testcam.New(320, 240)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(real.Stop)
		took, err := publish(real, base+"/whip?camera=real")
		Expect(err).NotTo(HaveOccurred())
		Expect(took).To(BeNumerically("<", 5*time.Second))
		Eventually(real.DCOpen, "10s").Should(BeClosed())
		Expect(n.Server().Remotes()).To(HaveKey("real"))
		halt = make(chan struct{})
		go stream(real, halt)
		Eventually(func() int { return len(real.Got()) }, "15s").Should(BeNumerically(">", 0))
		close(halt)
		nodeFDs := openFDs() - len(held) - fd0
		GinkgoWriter.Printf("real camera: 201 after %s; node descriptors beyond the baseline with %d attacker connections open: %d (limit %d connections)\n", took, len(held), nodeFDs, conns)
		Expect(nodeFDs).To(BeNumerically("<=", conns+40), "a session's sockets on top of the bounded connections")

		for _, c := range held {
			_ = c.Close()
		}
		held = nil
		real.Stop()
		Eventually(func() int { return metricSeries(base) }, "15s").Should(Equal(series0), "no series is left by the sessions")
	})

	It("requires the token to read alerts when one is set", func() {
		cfg := testConfig()
		cfg.Mode, cfg.NodeID, cfg.Token = node.ModeCloud, "cloud", "s3cret"
		cfg.AlertsFile = GinkgoT().TempDir() + "/alerts.jsonl"
		n, _ := start(cfg, node.WithModel(personModel{}))
		get := func(token string) int {
			req, _ := http.NewRequest(http.MethodGet, "http://"+n.Addr()+"/v1/alerts", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			return resp.StatusCode
		}
		Expect(get("")).To(Equal(http.StatusUnauthorized))
		Expect(get("wrong")).To(Equal(http.StatusUnauthorized))
		Expect(get("s3cret")).To(Equal(http.StatusOK))
	})

	DescribeTable("knows when a bound address is reachable from other hosts (the CLI warns without a token)",
		func(addr string, exposed bool) { Expect(node.Exposed(addr)).To(Equal(exposed)) },
		Entry("IPv4 loopback", "127.0.0.1:8080", false),
		Entry("IPv6 loopback", "[::1]:8080", false),
		Entry("every interface", "[::]:8080", true),
		Entry("an interface address", "10.0.0.2:8080", true),
	)
})
