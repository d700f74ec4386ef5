package server_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/runtime/internal/testcam"
	"github.com/edgesim/edgesim/runtime/server"
)

func cheapOffer() string {
	o, err := testcam.CheapOffer()
	Expect(err).NotTo(HaveOccurred())
	return o
}

// cameraSeries counts the series that carry a camera label, by label.
func cameraSeries(reg *prometheus.Registry) map[string]int {
	mfs, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "camera" {
					out[l.GetValue()]++
				}
			}
		}
	}
	return out
}

var _ = Describe("Hostile clients", func() {
	It("refuses an offer with more than one video section, saying one video track per session", func() {
		n := newNode()
		offer := cheapOffer()
		many := offer
		for i := range 63 { // 64 video sections
			many += fmt.Sprintf("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n", i+1)
		}
		resp, msg := testcam.Post(n.http.URL+"/whip?camera=many", "application/sdp", []byte(many))
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		Expect(msg).To(ContainSubstring("64 video media sections"))
		Expect(msg).To(ContainSubstring("one video track per session"))
		Expect(server.ValidateOffer([]byte(offer))).To(Succeed(), "one video section is fine")
		Expect(n.s.Sessions()).To(BeZero())
	})

	It("lets a real camera in within 5 s while offers that never connect hold every slot", func() {
		const slots = 4
		n := newNode(server.WithMaxSessions(slots))
		offer := cheapOffer()
		for range slots {
			resp, body := testcam.Post(n.http.URL+"/whip?camera=attacker", "application/sdp", []byte(offer))
			Expect(resp.StatusCode).To(Equal(http.StatusCreated), body)
		}
		Expect(n.s.Sessions()).To(Equal(slots))

		c, err := testcam.New(320, 240)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Stop)
		t0 := time.Now()
		code, body, err := c.Publish(n.http.URL, "?camera=real", "")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusCreated), body)
		Expect(time.Since(t0)).To(BeNumerically("<", 5*time.Second))
		Eventually(c.DCOpen, "10s").Should(BeClosed())

		// more cheap offers take the unconnected slots, never the camera's
		for range 2 * slots {
			resp, _ := testcam.Post(n.http.URL+"/whip?camera=attacker", "application/sdp", []byte(offer))
			Expect(resp.StatusCode).To(Equal(http.StatusCreated))
		}
		Expect(n.s.Sessions()).To(Equal(slots))
		Expect(n.s.Remotes()).To(HaveKey("real"))
	})

	It("frees the slot of a session that does not connect within the connect timeout", func() {
		n := newNode(server.WithConnectTimeout(time.Second))
		resp, body := testcam.Post(n.http.URL+"/whip?camera=ghost", "application/sdp", []byte(cheapOffer()))
		Expect(resp.StatusCode).To(Equal(http.StatusCreated), body)
		Expect(n.s.Sessions()).To(Equal(1))
		Eventually(n.s.Sessions, "3s", "50ms").Should(BeZero())
	})

	It("closes a connected session that sends no video for the idle timeout, and keeps one that streams", func() {
		n := newNode(server.WithIdleTimeout(time.Second))
		startCamera(n, "?camera=silent", "") // connects, answers consent checks, sends no video
		live := startCamera(n, "?camera=live", "")
		stop := make(chan struct{})
		go stream(live, stop, 0)
		DeferCleanup(func() { close(stop) })
		Eventually(n.s.Remotes, "5s", "50ms").ShouldNot(HaveKey("silent"))
		Consistently(n.s.Remotes, "1500ms", "100ms").Should(HaveKey("live"))
	})

	It("keeps the camera label bounded: series of ended sessions go, cameras beyond the cap are counted as other", func() {
		n := newNode(server.WithMaxCameraSeries(2))
		// three cameras at once: the third is "other"
		var cams []*testcam.Camera
		stop := make(chan struct{})
		for _, id := range []string{"cam-0", "cam-1", "cam-2"} {
			c := startCamera(n, "?camera="+id, "")
			go stream(c, stop, 0)
			cams = append(cams, c)
		}
		Eventually(func() []string { return slices.Sorted(maps.Keys(cameraSeries(n.reg))) }, "10s").Should(Equal([]string{"cam-0", "cam-1", "other"}))
		close(stop)
		for _, c := range cams {
			c.Stop()
		}
		Eventually(func() map[string]int { return cameraSeries(n.reg) }, "5s").Should(BeEmpty())

		// sessions come and go: the series stay flat
		for i := range 5 {
			c := startCamera(n, "?camera=churn-"+string(rune('a'+i)), "")
			stop := make(chan struct{})
			go stream(c, stop, 0)
			Eventually(func() map[string]int { return cameraSeries(n.reg) }, "10s").ShouldNot(BeEmpty())
			close(stop)
			c.Stop()
			Eventually(func() map[string]int { return cameraSeries(n.reg) }, "5s").Should(BeEmpty())
		}
	})

	It("refuses cross-origin and form posts to the admin endpoint", func() {
		n := newNode()
		for _, hdr := range [][]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Origin", "http://evil.example"},
		} {
			resp, body := testcam.Post(n.http.URL+"/admin/model", "", nil, hdr...)
			Expect(resp.StatusCode).To(Equal(http.StatusForbidden), body)
			Expect(body).To(ContainSubstring("cross-origin"))
		}
		for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"} {
			resp, body := testcam.Post(n.http.URL+"/admin/model", ct, []byte("a=b"))
			Expect(resp.StatusCode).To(Equal(http.StatusUnsupportedMediaType), body)
		}
		// a tool's request (no Origin, no body) reaches the handler
		resp, body := testcam.Post(n.http.URL+"/admin/model", "", nil)
		Expect(resp.StatusCode).To(Equal(http.StatusUnprocessableEntity), body) // no loader configured
	})
})
