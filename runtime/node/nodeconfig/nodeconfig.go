// Package nodeconfig is the file `edgenode serve --config FILE` reads: the
// serve command's flags as YAML keys, each spelled as its flag. A flag
// given on the command line or in the environment wins over the file.
//
// It imports nothing of the runtime, so that whoever writes the file (the
// testbed's providers) does not link the detector.
package nodeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the content of an edgenode configuration file. A nil field (or
// an empty list) is not set: the flag's default applies. See
// docs/edgenode.md for what each key means.
type File struct {
	Listen         *string        `yaml:"listen,omitempty"`
	NodeID         *string        `yaml:"node-id,omitempty"`
	Mode           *string        `yaml:"mode,omitempty"`
	Token          *string        `yaml:"token,omitempty"`
	MaxConns       *int           `yaml:"max-conns,omitempty"`
	HeaderTimeout  *time.Duration `yaml:"header-timeout,omitempty"`
	MaxSessions    *int           `yaml:"max-sessions,omitempty"`
	DetectFPS      *float64       `yaml:"detect-fps,omitempty"`
	Workers        *int           `yaml:"workers,omitempty"`
	QueueDepth     *int           `yaml:"queue-depth,omitempty"`
	MaxFrameAge    *time.Duration `yaml:"max-frame-age,omitempty"`
	Rules          *string        `yaml:"rules,omitempty"`
	Upstream       *string        `yaml:"upstream,omitempty"`
	UpstreamToken  *string        `yaml:"upstream-token,omitempty"`
	SpoolDir       *string        `yaml:"spool-dir,omitempty"`
	SpoolBound     *int           `yaml:"spool-bound,omitempty"`
	AlertsFile     *string        `yaml:"alerts-file,omitempty"`
	ICEPorts       *string        `yaml:"ice-ports,omitempty"`
	ICEInterface   []string       `yaml:"ice-interface,omitempty"`
	PublicIP       []string       `yaml:"public-ip,omitempty"`
	ICEAllowRemote []string       `yaml:"ice-allow-remote,omitempty"`
	ICELoopback    *bool          `yaml:"ice-loopback,omitempty"`
	NoMDNS         *bool          `yaml:"no-mdns,omitempty"`
	Model          *string        `yaml:"model,omitempty"`
	DrainTimeout   *time.Duration `yaml:"drain-timeout,omitempty"`
	LogLevel       *string        `yaml:"log-level,omitempty"`
}

// Setting is one key of a file as flag text: the flag's name and its
// value, or values for a list.
type Setting struct {
	Flag   string
	Values []string
}

// Parse reads a file's content. Unknown keys and values of the wrong type
// are errors; an empty file sets nothing.
func Parse(b []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return File{}, fmt.Errorf("%w (the keys are the `edgenode serve` flags without their leading dashes, e.g. detect-fps: 5; see edgenode serve --help)", err)
	}
	return f, nil
}

// Load reads the file at path (see Parse).
func Load(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("edgenode config: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return File{}, fmt.Errorf("edgenode config %s: %w", path, err)
	}
	return f, nil
}

// Marshal writes f as YAML, with only the keys that are set.
func (f File) Marshal() ([]byte, error) { return yaml.Marshal(f) }

// Settings returns the keys that are set, in the order of File, as the
// text their flags take (durations as "10s").
func (f File) Settings() ([]Setting, error) {
	b, err := f.Marshal()
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 { // nothing set
		return nil, nil
	}
	m := doc.Content[0]
	out := make([]Setting, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		s := Setting{Flag: k.Value}
		if v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				s.Values = append(s.Values, e.Value)
			}
		} else {
			s.Values = []string{v.Value}
		}
		out = append(out, s)
	}
	return out, nil
}
