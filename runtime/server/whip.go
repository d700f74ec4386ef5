package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/edgesim/edgesim/wire"
)

// MaxOfferBytes bounds the SDP offer body.
const MaxOfferBytes = 64 << 10

// ErrBadOffer is wrapped by every reason an offer is refused with 4xx.
var ErrBadOffer = errors.New("whip: bad offer")

func (s *Server) cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, PATCH, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Retry-After")
}

func (s *Server) handleOptions(w http.ResponseWriter, _ *http.Request) {
	s.cors(w)
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// Realm is the edgenode's bearer realm (wire.RequireBearer).
const Realm = "edgenode"

// authorized checks the bearer token, answering 401 itself when it fails.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if wire.BearerOK(r, s.token) {
		return true
	}
	s.m.SessionsRejected.WithLabelValues("unauthorized").Inc()
	wire.Unauthorized(w, Realm)
	return false
}

// sameOrigin refuses what a web page on another site can send: a
// cross-origin request (Sec-Fetch-Site, Origin) or a form content type,
// which browsers send cross-site without a preflight. Tools (curl, the
// testbed) send neither and pass.
func sameOrigin(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused: call the admin endpoint from the node's own origin or a tool such as curl", http.StatusForbidden)
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" ||
			ct == "multipart/form-data" || ct == "text/plain" {
			http.Error(w, "form content types are refused: send no body", http.StatusUnsupportedMediaType)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

func (s *Server) reject(w http.ResponseWriter, code int, reason, msg string) {
	s.m.SessionsRejected.WithLabelValues(reason).Inc()
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter))
	}
	http.Error(w, msg, code)
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) {
	s.cors(w)
	if !s.authorized(w, r) {
		return
	}
	if s.draining.Load() {
		s.reject(w, http.StatusServiceUnavailable, "draining", "node is shutting down; publish to another node")
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/sdp" {
		s.reject(w, http.StatusUnsupportedMediaType, "bad_request", "Content-Type must be application/sdp")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxOfferBytes+1))
	if err != nil {
		s.reject(w, http.StatusBadRequest, "bad_request", "reading offer: "+err.Error())
		return
	}
	if len(body) > MaxOfferBytes {
		s.reject(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("offer larger than %d bytes", MaxOfferBytes))
		return
	}
	if err := ValidateOffer(body); err != nil {
		s.reject(w, http.StatusBadRequest, "bad_offer", err.Error())
		return
	}
	camera := r.URL.Query().Get("camera")
	if camera == "" {
		camera = "cam-" + newID()[:8]
	} else if !wire.ValidCameraID(camera) {
		s.reject(w, http.StatusBadRequest, "bad_request", "camera id: "+wire.CameraIDRule)
		return
	}

	ss, answer, err := s.openSession(r.Context(), camera, string(body))
	if errors.Is(err, errFull) {
		s.reject(w, http.StatusServiceUnavailable, "session_limit", fmt.Sprintf("session limit of %d reached; retry later or publish to another node", s.maxSessions))
		return
	}
	if errors.Is(err, ErrDraining) {
		s.reject(w, http.StatusServiceUnavailable, "draining", "node is shutting down; publish to another node")
		return
	}
	if errors.Is(err, ErrBadOffer) {
		s.reject(w, http.StatusBadRequest, "bad_offer", err.Error())
		return
	}
	if err != nil {
		s.reject(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+ss.id)
	w.Header().Set("ETag", `"`+ss.id+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.cors(w)
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	ss := s.sessions[r.PathValue("id")]
	s.mu.Unlock()
	if ss == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	ss.close()
	w.WriteHeader(http.StatusOK)
}

// handlePatch: trickle ICE and ICE restarts are not supported; the answer
// carries every candidate (RFC 9725 section 4.3.1 allows 405).
func (s *Server) handlePatch(w http.ResponseWriter, _ *http.Request) {
	s.cors(w)
	w.Header().Set("Allow", "DELETE, OPTIONS")
	http.Error(w, "trickle ICE is not supported; send every candidate in the offer", http.StatusMethodNotAllowed)
}

// ValidateOffer checks that an SDP offer parses and offers exactly one VP8
// video track.
func ValidateOffer(offer []byte) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(offer)); err != nil {
		return fmt.Errorf("%w: SDP does not parse: %w", ErrBadOffer, err)
	}
	videos, vp8 := 0, false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		videos++
		for _, a := range md.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToUpper(a.Value), "VP8/90000") {
				vp8 = true
			}
		}
	}
	switch {
	case videos > 1:
		return fmt.Errorf("%w: %d video media sections; edgenode takes one video track per session: publish each camera in its own session", ErrBadOffer, videos)
	case videos == 0:
		return fmt.Errorf("%w: no video media section; publish one VP8 video track", ErrBadOffer)
	case !vp8:
		return fmt.Errorf("%w: video is not offered as VP8; edgenode decodes VP8 only", ErrBadOffer)
	}
	return nil
}

var errFull = errors.New("session limit reached")

// gatherWait bounds waiting for ICE gathering.
func gatherWait(pc *webrtc.PeerConnection, d time.Duration) <-chan struct{} {
	done := webrtc.GatheringCompletePromise(pc)
	out := make(chan struct{})
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
		close(out)
	}()
	return out
}
