package fakecam

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/fakecam/vp8"
)

// ErrBadIVF is wrapped by errors about an IVF file that cannot be replayed.
var ErrBadIVF = errors.New("cannot replay IVF file")

// maxIVFBytes bounds the footage held in memory for replay.
const maxIVFBytes = 512 << 20

// source produces encoded VP8 frames by index.
type source interface {
	// frame returns encoded frame i, whether it is a keyframe and its
	// ground truth (nil for replayed footage). With needKey the frame must
	// be a keyframe; a source that cannot make one returns nil data.
	frame(i int, needKey bool) (data []byte, key bool, gt *scene.Frame, err error)
	groundTruth(i int) *scene.Frame
	// unsent notes that the frame just captured had no session to go
	// out on.
	unsent()
	setBitrate(bps int)
	bitrate() int
	close() error
}

// sceneSource renders the scene and encodes it with libvpx.
type sceneSource struct {
	sc  *scene.Scene
	enc *vp8.Encoder
	buf *image.YCbCr // reused: the encoder is done with a frame when Encode returns
	// unsentFrames counts the frames captured without a session, taken
	// off the encoder's timestamps: a camera's encoder runs whether or not
	// anyone receives, so its rate control must not bank the time of a
	// reconnect as unspent bits. It did, and after a failover spent them
	// on the frames following the keyframe: 135 KB for 7 frames where the
	// stream carried 61 (600 kbit/s at 10 fps, 7 December 2026). Ticks the
	// camera missed on a loaded host still skip timestamps, so its bitrate
	// holds.
	unsentFrames int
}

func newSceneSource(sc *scene.Scene, bitrate, keyInterval, speed int) (*sceneSource, error) {
	cfg := sc.Config()
	enc, err := vp8.NewEncoder(vp8.Config{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: bitrate,
		KeyframeInterval: keyInterval, Speed: speed})
	if err != nil {
		return nil, err
	}
	return &sceneSource{sc: sc, enc: enc,
		buf: image.NewYCbCr(image.Rect(0, 0, cfg.Width, cfg.Height), image.YCbCrSubsampleRatio420)}, nil
}

func (s *sceneSource) frame(i int, needKey bool) ([]byte, bool, *scene.Frame, error) {
	f, err := s.sc.RenderInto(i, s.buf)
	if err != nil {
		return nil, false, nil, err
	}
	if needKey {
		s.enc.ForceKeyframe()
	}
	data, key, err := s.enc.Encode(f.Image, int64(i-s.unsentFrames))
	f.Image = nil
	return data, key, &f, err
}

func (s *sceneSource) groundTruth(i int) *scene.Frame {
	f := s.sc.GroundTruth(i)
	return &f
}

func (s *sceneSource) unsent()            { s.unsentFrames++ }
func (s *sceneSource) setBitrate(bps int) { s.enc.SetBitrate(bps) }
func (s *sceneSource) bitrate() int       { return s.enc.Bitrate() }
func (s *sceneSource) close() error       { return s.enc.Close() }

// ivfSource replays the frames of a VP8 IVF file in a loop.
type ivfSource struct {
	frames [][]byte
	width  int
	height int
	fps    float64
	pos    int // next frame in frames
	target int
}

func loadIVF(path string) (*ivfSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadIVF, path, err)
	}
	defer f.Close()
	r, h, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w (want a VP8 IVF file, e.g. from ffmpeg -c:v libvpx -f ivf)", ErrBadIVF, path, err)
	}
	if h.FourCC != "VP80" {
		return nil, fmt.Errorf("%w %s: codec %q, want VP80 (VP8)", ErrBadIVF, path, h.FourCC)
	}
	s := &ivfSource{width: int(h.Width), height: int(h.Height), fps: float64(h.TimebaseDenominator) / float64(h.TimebaseNumerator)}
	total := 0
	for {
		data, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: frame %d: %w", ErrBadIVF, path, len(s.frames), err)
		}
		total += len(data)
		if total > maxIVFBytes {
			return nil, fmt.Errorf("%w %s: more than %d MB of frames", ErrBadIVF, path, maxIVFBytes>>20)
		}
		if len(data) > 0 {
			s.frames = append(s.frames, data)
		}
	}
	if len(s.frames) == 0 {
		return nil, fmt.Errorf("%w %s: no frames", ErrBadIVF, path)
	}
	if !vp8.IsKeyframe(s.frames[0]) {
		return nil, fmt.Errorf("%w %s: the first frame is not a keyframe", ErrBadIVF, path)
	}
	if s.fps <= 0 || s.fps > 240 {
		s.fps = 0 // unknown; the camera's configured rate is used
	}
	return s, nil
}

// frame plays the file in order, looping; the index only paces it. A
// keyframe request skips ahead to the next keyframe of the file.
func (s *ivfSource) frame(_ int, needKey bool) ([]byte, bool, *scene.Frame, error) {
	if needKey {
		for range len(s.frames) {
			if vp8.IsKeyframe(s.frames[s.pos]) {
				break
			}
			s.pos = (s.pos + 1) % len(s.frames)
		}
	}
	data := s.frames[s.pos]
	s.pos = (s.pos + 1) % len(s.frames)
	return data, vp8.IsKeyframe(data), nil, nil
}

func (s *ivfSource) groundTruth(int) *scene.Frame { return nil }
func (s *ivfSource) unsent()                      {}
func (s *ivfSource) setBitrate(bps int)           { s.target = bps }
func (s *ivfSource) bitrate() int                 { return s.target }
func (s *ivfSource) close() error                 { return nil }
