package nodeimage

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrBadVersion is wrapped by every error about a Kubernetes version
	// the builder cannot build.
	ErrBadVersion = errors.New("unsupported Kubernetes version")
	// ErrMissingTool is returned when a host tool the build needs is absent.
	ErrMissingTool = errors.New("missing host tool")
	// ErrNotRoot is returned when the build is started without root, which
	// debootstrap and the container runtime need.
	ErrNotRoot = errors.New("the node image build needs root")
)

// VersionError says why a Kubernetes version was refused.
type VersionError struct {
	Version string
	Reason  string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("kubernetes version %q: %s", e.Version, e.Reason)
}

// Unwrap makes errors.Is(err, ErrBadVersion) true.
func (e *VersionError) Unwrap() error { return ErrBadVersion }

// CommandError is a failed external command with the tail of its output.
type CommandError struct {
	Step   string
	Args   []string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 4000 {
		out = "..." + out[len(out)-4000:]
	}
	return fmt.Sprintf("%s: %s: %v\n%s", e.Step, strings.Join(e.Args, " "), e.Err, out)
}

func (e *CommandError) Unwrap() error { return e.Err }
