package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/runtime/cnn"
	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/server"
	"github.com/edgesim/edgesim/wire"
)

// publishPage publishes the fake camera through WHIP from another origin
// (so CORS and the exposed Location header are exercised), waits for five
// detections messages on the "edgesim" data channel, DELETEs the session
// and reports to the test server.
const publishPage = `<!doctype html><html><body><script>
const q = new URLSearchParams(location.search);
const report = (o) => fetch('/report', {method: 'POST', body: JSON.stringify(o)});
async function main() {
  const media = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240}});
  const pc = new RTCPeerConnection();
  const dc = pc.createDataChannel('edgesim', {ordered: true});
  pc.addTransceiver(media.getVideoTracks()[0], {direction: 'sendonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
    setTimeout(done, 3000);
  });
  const r = await fetch(q.get('whip'), {method: 'POST', body: pc.localDescription.sdp,
    headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + q.get('token')}});
  const answer = await r.text();
  if (r.status !== 201) return report({ok: false, status: r.status, body: answer});
  const loc = r.headers.get('Location');
  const got = [];
  dc.onmessage = async (e) => {
    const m = JSON.parse(e.data);
    if (m.type !== 'detections') return;
    got.push(m);
    if (got.length === 5) {
      const d = await fetch(new URL(loc, q.get('whip')), {method: 'DELETE', headers: {'Authorization': 'Bearer ' + q.get('token')}});
      report({ok: true, location: loc, first: got[0], deleted: d.status});
    }
  };
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
}
main().catch((e) => report({ok: false, error: String(e)}));
</script></body></html>`

type browserReport struct {
	OK       bool                    `json:"ok"`
	Status   int                     `json:"status"`
	Body     string                  `json:"body"`
	Error    string                  `json:"error"`
	Location string                  `json:"location"`
	Deleted  int                     `json:"deleted"`
	First    *wire.DetectionsMessage `json:"first"`
}

// chromium finds the browser, installing Debian's package when root.
func chromium() string {
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		Skip("needs chromium: run `sudo apt-get install -y chromium` (or run the tests as root to install it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		upd := exec.CommandContext(ctx, "apt-get", "update")
		_ = upd.Run()
		cmd = exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err = cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "apt-get install chromium: %s", out)
	}
	p, err := exec.LookPath("chromium")
	Expect(err).NotTo(HaveOccurred())
	return p
}

var _ = Describe("A browser publishing through WHIP", Label("browser"), func() {
	It("sends Chromium's fake camera to edgenode and gets real detections back on the data channel", func() {
		bin := chromium()
		model, err := cnn.Load("")
		Expect(err).NotTo(HaveOccurred())
		m, err := metrics.New(prometheus.NewRegistry())
		Expect(err).NotTo(HaveOccurred())
		p, err := pipeline.New(model, pipeline.WithMetrics(m), pipeline.WithWorkers(1))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		s, err := server.New(p, m, server.WithToken("tok"), server.WithDetectFPS(5),
			server.WithICE(server.ICEConfig{Interfaces: []string{"lo"}, IncludeLoopback: true, DisableMDNS: true,
				RemoteNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		node := httptest.NewServer(s.Handler())
		DeferCleanup(node.Close)

		reports := make(chan browserReport, 1)
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/":
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, publishPage)
			case "/report":
				var rep browserReport
				_ = json.NewDecoder(r.Body).Decode(&rep)
				select {
				case reports <- rep:
				default:
				}
			default:
				http.NotFound(w, r)
			}
		}))
		DeferCleanup(page.Close)

		target := page.URL + "/?" + url.Values{"whip": {node.URL + "/whip"}, "token": {"tok"}}.Encode()
		ctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		cmd := exec.CommandContext(ctx, bin,
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
			"--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
			"--user-data-dir="+GinkgoT().TempDir(), target)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() { cancel(); _ = cmd.Wait() })

		var rep browserReport
		Eventually(func() map[string]string { return s.Remotes() }, "60s").ShouldNot(BeEmpty())
		for _, addr := range s.Remotes() {
			Expect(addr).To(Equal("127.0.0.1"), "media stays on loopback")
		}
		Eventually(reports, "90s").Should(Receive(&rep))
		Expect(rep.Error).To(BeEmpty())
		Expect(rep.OK).To(BeTrue(), "status %d: %s", rep.Status, rep.Body)
		Expect(rep.Location).To(HavePrefix("/whip/"))
		Expect(rep.Deleted).To(Equal(http.StatusOK))
		Expect(rep.First).NotTo(BeNil())
		Expect(rep.First.Model).To(HavePrefix("edgesim-det@"))
		Expect(rep.First.Width).To(BeNumerically(">", 0))
		Expect(rep.First.Frame).To(BeZero(), "a browser sends no frame messages")
		Expect(testutil.ToFloat64(m.FramesInferred)).To(BeNumerically(">=", 5))
		Eventually(s.Sessions, "5s").Should(BeZero())
	})
})
