package vp8

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	vpx_image_t img;
	int initialised;
} fc_enc;

static fc_enc *fc_enc_new(int w, int h, int fps_num, int fps_den, int kbps, int kf_max, int speed, char **err) {
	fc_enc *e = calloc(1, sizeof(fc_enc));
	if (!e) { *err = "out of memory"; return NULL; }
	if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &e->cfg, 0)) { *err = "vpx_codec_enc_config_default failed"; free(e); return NULL; }
	e->cfg.g_w = w;
	e->cfg.g_h = h;
	e->cfg.g_timebase.num = fps_den; // one tick per frame
	e->cfg.g_timebase.den = fps_num;
	e->cfg.g_threads = 1;
	e->cfg.g_lag_in_frames = 0;
	e->cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	e->cfg.g_pass = VPX_RC_ONE_PASS;
	e->cfg.rc_end_usage = VPX_CBR;
	e->cfg.rc_target_bitrate = kbps;
	e->cfg.rc_min_quantizer = 2;
	e->cfg.rc_max_quantizer = 56;
	e->cfg.rc_undershoot_pct = 25;
	e->cfg.rc_overshoot_pct = 15;
	e->cfg.rc_buf_sz = 1000;
	e->cfg.rc_buf_initial_sz = 500;
	e->cfg.rc_buf_optimal_sz = 600;
	e->cfg.rc_dropframe_thresh = 0;
	e->cfg.rc_resize_allowed = 0;
	e->cfg.kf_mode = VPX_KF_AUTO;
	e->cfg.kf_min_dist = 0;
	e->cfg.kf_max_dist = kf_max;
	if (vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &e->cfg, 0)) { *err = (char *)vpx_codec_error(&e->ctx); free(e); return NULL; }
	e->initialised = 1;
	vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, speed);
	vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1);
	vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 450);
	vpx_img_wrap(&e->img, VPX_IMG_FMT_I420, w, h, 1, (unsigned char *)1); // planes are set per frame
	return e;
}

static int fc_enc_set_rate(fc_enc *e, int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(&e->ctx, &e->cfg);
}

// fc_enc_encode encodes one frame and copies the compressed data into out
// (cap bytes); it returns the size, 0 if the encoder dropped the frame, -1
// on error, -2 if out is too small. *key is set for keyframes.
static int fc_enc_encode(fc_enc *e, unsigned char *y, unsigned char *u, unsigned char *v, int ys, int cs,
		long long pts, int force_kf, unsigned char *out, int cap, int *key) {
	e->img.planes[VPX_PLANE_Y] = y;
	e->img.planes[VPX_PLANE_U] = u;
	e->img.planes[VPX_PLANE_V] = v;
	e->img.stride[VPX_PLANE_Y] = ys;
	e->img.stride[VPX_PLANE_U] = cs;
	e->img.stride[VPX_PLANE_V] = cs;
	if (vpx_codec_encode(&e->ctx, &e->img, pts, 1, force_kf ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME)) return -1;
	int n = 0;
	*key = 0;
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &it)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		if (n + (int)pkt->data.frame.sz > cap) return -2;
		memcpy(out + n, pkt->data.frame.buf, pkt->data.frame.sz);
		n += pkt->data.frame.sz;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
	}
	return n;
}

static const char *fc_enc_error(fc_enc *e) { return vpx_codec_error_detail(&e->ctx) ? vpx_codec_error_detail(&e->ctx) : vpx_codec_error(&e->ctx); }

static void fc_enc_free(fc_enc *e) {
	if (e->initialised) vpx_codec_destroy(&e->ctx);
	free(e);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"math"
	"unsafe"
)

// libvpxEncoder drives libvpx's VP8 encoder directly: frame times come from
// the frame index (one timebase tick per frame), so rate control does not
// depend on the wall clock, and the real-time speed is set.
type libvpxEncoder struct {
	e   *C.fc_enc
	out []byte
}

// fpsFraction turns fps into a fraction num/den (e.g. 29.97 -> 2997/100).
func fpsFraction(fps float64) (int, int) {
	den := 1
	for den < 1000 && math.Abs(fps*float64(den)-math.Round(fps*float64(den))) > 1e-6 {
		den *= 10
	}
	return int(math.Round(fps * float64(den))), den
}

func newLibvpxEncoder(cfg Config) (*libvpxEncoder, error) {
	num, den := fpsFraction(cfg.FPS)
	var cerr *C.char
	e := C.fc_enc_new(C.int(cfg.Width), C.int(cfg.Height), C.int(num), C.int(den), C.int(max(1, cfg.Bitrate/1000)),
		C.int(cfg.KeyframeInterval), C.int(cfg.Speed), &cerr)
	if e == nil {
		return nil, fmt.Errorf("libvpx VP8 encoder: %s", C.GoString(cerr))
	}
	return &libvpxEncoder{e: e, out: make([]byte, cfg.Width*cfg.Height*2+4096)}, nil
}

func (l *libvpxEncoder) setBitrate(bps int) error {
	if C.fc_enc_set_rate(l.e, C.int(max(1, bps/1000))) != 0 {
		return errors.New("libvpx: " + C.GoString(C.fc_enc_error(l.e)))
	}
	return nil
}

func (l *libvpxEncoder) encode(img *image.YCbCr, pts int64, forceKey bool) ([]byte, bool, error) {
	var key C.int
	fk := C.int(0)
	if forceKey {
		fk = 1
	}
	n := C.fc_enc_encode(l.e,
		(*C.uchar)(unsafe.Pointer(&img.Y[0])), (*C.uchar)(unsafe.Pointer(&img.Cb[0])), (*C.uchar)(unsafe.Pointer(&img.Cr[0])),
		C.int(img.YStride), C.int(img.CStride), C.longlong(pts), fk,
		(*C.uchar)(unsafe.Pointer(&l.out[0])), C.int(len(l.out)), &key)
	switch {
	case n == -1:
		return nil, false, errors.New("libvpx: " + C.GoString(C.fc_enc_error(l.e)))
	case n == -2:
		return nil, false, errors.New("libvpx: encoded frame larger than its buffer")
	}
	return append([]byte(nil), l.out[:n]...), key != 0, nil
}

func (l *libvpxEncoder) close() {
	if l.e != nil {
		C.fc_enc_free(l.e)
		l.e = nil
	}
}
