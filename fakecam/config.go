package fakecam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/fakecam/scene"
	"github.com/edgesim/edgesim/units"
	"github.com/edgesim/edgesim/wire"
)

// ErrInvalidConfig is wrapped by errors about a camera configuration.
var ErrInvalidConfig = errors.New("invalid camera config")

// Config is one camera.
type Config struct {
	ID string `json:"id"` // camera id: wire.ValidCameraID (letters, digits, '.', '_', ':', '-')
	// Scene: size, frame rate, background, lighting, objects, zones and
	// scripted events. An empty Scene.CameraID is set to ID (a different
	// one shows another camera's scene). Width, Height and FPS are also the
	// encoder's.
	Scene            scene.Config  `json:"scene"`
	Bitrate          units.BitRate `json:"bitrate"`                     // encoder target; congestion control may lower it
	KeyframeInterval int           `json:"keyframe_interval,omitempty"` // frames between keyframes; 0 = every 10 s
	EncoderSpeed     int           `json:"encoder_speed,omitempty"`     // libvpx cpu-used, -16 (fastest) .. 16; 0 = -6
	Endpoints        []string      `json:"endpoints"`                   // WHIP endpoint URLs; a reconnect moves to the next one
	Token            string        `json:"token,omitempty"`             // bearer token for the WHIP server (the CLI also takes TokenEnv)
	IVF              string        `json:"ivf,omitempty"`               // replay this VP8 IVF file instead of rendering the scene
	Duration         time.Duration `json:"-"`                           // stop after this much video; 0 = until the context ends; JSON "duration": "30s"
}

type configJSON Config

type configFile struct {
	*configJSON
	Duration string `json:"duration,omitempty"`
}

// MarshalJSON writes the config with its duration as a string ("30s").
func (c Config) MarshalJSON() ([]byte, error) {
	cj := configJSON(c)
	f := configFile{configJSON: &cj}
	if c.Duration != 0 {
		f.Duration = c.Duration.String()
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads a config written by MarshalJSON.
func (c *Config) UnmarshalJSON(b []byte) error {
	f := configFile{configJSON: (*configJSON)(c)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	c.Duration = 0
	if f.Duration != "" {
		d, err := time.ParseDuration(f.Duration)
		if err != nil {
			return fmt.Errorf("duration %q: write it with a unit, e.g. 30s", f.Duration)
		}
		c.Duration = d
	}
	return nil
}

// LoadConfigFile reads camera configs from a JSON file holding either an
// array of Config or an object {"cameras": [Config...]}. Unknown fields are
// errors. The configs are not validated.
func LoadConfigFile(path string) ([]Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("camera config: %w", err)
	}
	b = bytes.TrimSpace(b)
	var cfgs []Config
	if len(b) > 0 && b[0] == '{' {
		var obj struct {
			Cameras []Config `json:"cameras"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&obj)
		cfgs = obj.Cameras
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&cfgs)
	}
	if err != nil {
		return nil, fmt.Errorf("camera config %s: %w (want a JSON array of cameras or {\"cameras\": [...]})", path, err)
	}
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("camera config %s: no cameras", path)
	}
	return cfgs, nil
}

// Validate reports every problem of c in one error.
func (c Config) Validate() error {
	var p []string
	if !wire.ValidCameraID(c.ID) {
		p = append(p, fmt.Sprintf("id %q: %s", c.ID, wire.CameraIDRule))
	}
	if len(c.Endpoints) == 0 {
		p = append(p, "endpoints: give at least one WHIP URL, e.g. http://10.0.0.2:8080/whip")
	}
	for i, e := range c.Endpoints {
		if _, err := withCamera(e, c.ID); err != nil {
			p = append(p, fmt.Sprintf("endpoints[%d]: %v", i, err))
		}
	}
	if c.Bitrate < 10_000 || c.Bitrate > 100_000_000 {
		p = append(p, fmt.Sprintf("bitrate %v: want between 10kbit and 100Mbit", c.Bitrate))
	}
	if c.EncoderSpeed < -16 || c.EncoderSpeed > 16 {
		p = append(p, fmt.Sprintf("encoder speed %d: want -16 (fastest) .. 16", c.EncoderSpeed))
	}
	if c.KeyframeInterval < 0 {
		p = append(p, "keyframe interval: must not be negative")
	}
	if c.Duration < 0 {
		p = append(p, "duration: must not be negative")
	}
	if c.IVF == "" {
		sc := c.Scene
		if sc.CameraID == "" {
			sc.CameraID = c.ID
		}
		if _, err := scene.New(sc); err != nil {
			var ce *scene.ConfigError
			if errors.As(err, &ce) {
				for _, s := range ce.Problems {
					p = append(p, "scene: "+s)
				}
			} else {
				p = append(p, "scene: "+err.Error())
			}
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%w %q: %s", ErrInvalidConfig, c.ID, strings.Join(p, "; "))
	}
	return nil
}

// Option configures a Camera or a Fleet.
type Option func(*options)

type options struct {
	clock         Clock
	reg           prometheus.Registerer
	outDir        string
	httpClient    *http.Client
	retry         Retry
	setting       func(*webrtc.SettingEngine)
	answerTimeout time.Duration
	iceTimeouts   [3]time.Duration
	workers       int
	pool          chan struct{}
	startOffset   time.Duration
	pionLog       io.Writer
}

func defaultOptions() options {
	return options{
		clock:         RealClock{},
		retry:         DefaultRetry(),
		answerTimeout: 5 * time.Second,
		iceTimeouts:   [3]time.Duration{1500 * time.Millisecond, 2 * time.Second, 300 * time.Millisecond},
		workers:       runtime.GOMAXPROCS(0),
	}
}

// WithClock sets the clock that paces frames and timestamps capture and
// detection arrival (default: the system clock).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithRegisterer registers the cameras' Prometheus metrics on r.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithOutputDir writes groundtruth-<id>.jsonl, latency-<id>.jsonl and
// bitrate-<id>.jsonl per camera (and summary.json for a Fleet) into dir.
func WithOutputDir(dir string) Option { return func(o *options) { o.outDir = dir } }

// WithHTTPClient sets the HTTP client for WHIP requests.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithRetry sets the backoff for WHIP requests failing with 5xx or timeouts.
func WithRetry(r Retry) Option { return func(o *options) { o.retry = r } }

// WithSettingEngine lets the caller adjust pion's SettingEngine of every
// connection, e.g. SetNet for a virtual network or an interface filter.
func WithSettingEngine(f func(*webrtc.SettingEngine)) Option {
	return func(o *options) { o.setting = f }
}

// WithAnswerTimeout sets how long a frame waits for its detections before
// it counts as unanswered (default 5 s).
func WithAnswerTimeout(d time.Duration) Option { return func(o *options) { o.answerTimeout = d } }

// WithICETimeouts sets when a silent connection counts as disconnected and
// then failed, and the keepalive interval (defaults 1.5 s, 2 s, 300 ms):
// a failed connection triggers a reconnect.
func WithICETimeouts(disconnected, failed, keepalive time.Duration) Option {
	return func(o *options) { o.iceTimeouts = [3]time.Duration{disconnected, failed, keepalive} }
}

// WithWorkers bounds how many frames a Fleet renders and encodes at the same
// time (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithPionLog sends pion's (WebRTC stack) warnings and errors to w;
// by default they are discarded.
func WithPionLog(w io.Writer) Option { return func(o *options) { o.pionLog = w } }

func withPool(p chan struct{}) Option { return func(o *options) { o.pool = p } }

func withStartOffset(d time.Duration) Option { return func(o *options) { o.startOffset = d } }

// TokenEnv names the variable that gives `edgesim fakecam` the WHIP bearer
// token for cameras without one: the testbed passes the run token this way,
// since ps shows command lines.
const TokenEnv = "FAKECAM_TOKEN"
