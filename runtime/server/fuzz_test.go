package server_test

import (
	"bytes"
	"errors"
	"image"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/edgesim/edgesim/runtime/metrics"
	"github.com/edgesim/edgesim/runtime/pipeline"
	"github.com/edgesim/edgesim/runtime/server"
)

type nopModel struct{}
type nopRunner struct{}

func (nopModel) NewRunner() (pipeline.Runner, error) { return nopRunner{}, nil }
func (nopModel) Info() pipeline.ModelInfo            { return pipeline.ModelInfo{Name: "nop", Version: "0"} }
func (nopRunner) Detect(image.Image) ([]pipeline.Detection, error) {
	return nil, nil
}
func (nopRunner) Close() error { return nil }

// FuzzWHIPOffer posts arbitrary offers to the WHIP handler: it must answer
// 201 with an SDP answer and a Location, or a 4xx with a reason; never
// panic, never 5xx, never leave a session behind after DELETE.
func FuzzWHIPOffer(f *testing.F) {
	f.Add([]byte(vp8Offer), "cam1")
	f.Add([]byte(strings.Replace(vp8Offer, "VP8", "H264", 1)), "")
	f.Add([]byte("v=0\r\n"), "x")
	f.Add([]byte(vp8Offer+"a=fingerprint:sha-256 00:11\r\na=ice-ufrag:ab\r\na=ice-pwd:abcdefabcdefabcdefabcdef\r\na=setup:actpass\r\na=mid:0\r\n"), "cam-2")
	f.Add([]byte("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"), "c")
	m, _ := metrics.New(nil)
	p, err := pipeline.New(nopModel{}, pipeline.WithMetrics(m), pipeline.WithWorkers(1))
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	s, err := server.New(p, m, server.WithMaxSessions(1000),
		server.WithICE(server.ICEConfig{Interfaces: []string{"lo"}, IncludeLoopback: true, DisableMDNS: true}))
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	f.Fuzz(func(t *testing.T, offer []byte, camera string) {
		req := httptest.NewRequest(http.MethodPost, "/whip", bytes.NewReader(offer))
		q := req.URL.Query()
		q.Set("camera", camera)
		req.URL.RawQuery = q.Encode()
		req.Header.Set("Content-Type", "application/sdp")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, "/whip/") || !strings.HasPrefix(rec.Body.String(), "v=0") {
				t.Fatalf("201 without Location or answer: %q %q", loc, rec.Body.String())
			}
			del := httptest.NewRecorder()
			h.ServeHTTP(del, httptest.NewRequest(http.MethodDelete, loc, nil))
			if del.Code != http.StatusOK {
				t.Fatalf("DELETE %s: %d", loc, del.Code)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if strings.TrimSpace(rec.Body.String()) == "" {
				t.Fatalf("%d without a reason", rec.Code)
			}
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.String())
		}
		if n := s.Sessions(); n != 0 {
			t.Fatalf("%d sessions left behind", n)
		}
	})
}

// FuzzValidateOffer checks the offer validation on its own: any input is
// accepted or refused with ErrBadOffer, never a panic; an accepted offer
// parses as SDP with exactly one video section offering VP8; and an offer
// with a second video section appended is always refused (one decoder per
// session).
func FuzzValidateOffer(f *testing.F) {
	f.Add([]byte(vp8Offer))
	f.Add([]byte(strings.Replace(vp8Offer, "VP8", "H264", 1)))
	f.Add([]byte(vp8Offer + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"))
	f.Add([]byte("v=0\r\n"))
	f.Add([]byte(""))
	second := "m=video 9 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:97 VP8/90000\r\n"
	f.Fuzz(func(t *testing.T, offer []byte) {
		err := server.ValidateOffer(offer)
		if err != nil {
			if !errors.Is(err, server.ErrBadOffer) {
				t.Fatalf("error is not ErrBadOffer: %v", err)
			}
			return
		}
		var sd sdp.SessionDescription
		if err := sd.UnmarshalString(string(offer)); err != nil {
			t.Fatalf("accepted an offer that does not parse: %v", err)
		}
		videos := 0
		for _, md := range sd.MediaDescriptions {
			if md.MediaName.Media == "video" {
				videos++
			}
		}
		if videos != 1 {
			t.Fatalf("accepted an offer with %d video sections", videos)
		}
		body := string(offer)
		if !strings.HasSuffix(body, "\r\n") && !strings.HasSuffix(body, "\n") {
			body += "\r\n"
		}
		var two sdp.SessionDescription
		if two.UnmarshalString(body+second) == nil {
			if err := server.ValidateOffer([]byte(body + second)); err == nil {
				t.Fatal("accepted an offer with two video sections")
			}
		}
	})
}
