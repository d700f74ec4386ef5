package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Runtime is the container engine kind's nodes run on.
type Runtime string

const (
	// Podman runs nodes with kind's podman provider (the CI default here).
	Podman Runtime = "podman"
	// Docker runs nodes with kind's docker provider.
	Docker Runtime = "docker"
)

var (
	// ErrNoRuntime is returned when neither Docker nor Podman works.
	ErrNoRuntime = errors.New("no working container runtime for kind")
	// ErrNodesNotReady is wrapped by NotReadyError.
	ErrNodesNotReady = errors.New("kind nodes did not become Ready")
	// ErrBadSpec is returned for a cluster Spec that cannot be created.
	ErrBadSpec = errors.New("invalid kind cluster spec")
)

// probe runs "<runtime> info" and returns why it failed.
type probeFunc func(ctx context.Context, rt Runtime) error

func probeInfo(ctx context.Context, rt Runtime) error {
	if _, err := exec.LookPath(string(rt)); err != nil {
		return fmt.Errorf("%s is not installed", rt)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, string(rt), "info")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("%s info failed: %s", rt, msg)
	}
	return nil
}

// DetectRuntime picks the runtime kind should use: want if given (it must
// work), otherwise Docker if its daemon answers, otherwise Podman. It never
// falls back silently from an explicit choice.
func DetectRuntime(ctx context.Context, want Runtime) (Runtime, error) {
	return detect(ctx, want, probeInfo)
}

func detect(ctx context.Context, want Runtime, probe probeFunc) (Runtime, error) {
	switch want {
	case Docker, Podman:
		if err := probe(ctx, want); err != nil {
			return "", fmt.Errorf("%w: %v; install Podman with hack/kind/install-deps.sh or start the Docker daemon", ErrNoRuntime, err)
		}
		return want, nil
	case "":
	default:
		return "", fmt.Errorf("%w: unknown runtime %q, want %q or %q", ErrNoRuntime, want, Docker, Podman)
	}
	dockerErr := probe(ctx, Docker)
	if dockerErr == nil {
		return Docker, nil
	}
	podmanErr := probe(ctx, Podman)
	if podmanErr == nil {
		return Podman, nil
	}
	return "", fmt.Errorf("%w: %v; %v; install Podman with hack/kind/install-deps.sh (as root) or start the Docker daemon", ErrNoRuntime, dockerErr, podmanErr)
}

// ContainersConfPath is the system-wide Podman configuration edgesim edits.
const ContainersConfPath = "/etc/containers/containers.conf"

// PodmanSettings are the containers.conf settings kind nodes need on hosts
// like the CI machines: runc (crun fails on hybrid cgroups), and nofile and
// nproc limits (runc fails with "error setting rlimit type 6" without nproc).
func PodmanSettings() []ConfSetting {
	return []ConfSetting{
		{Section: "containers", Key: "default_ulimits", Value: `["nofile=20000:20000", "nproc=4096:4096"]`},
		{Section: "engine", Key: "runtime", Value: `"runc"`},
	}
}

// ConfSetting is one key of a TOML section.
type ConfSetting struct {
	Section string
	Key     string
	Value   string // a TOML value, quoted as it appears in the file
}

var sectionRE = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.\-"]+)\s*\]\s*(#.*)?$`)

// EditConf sets each setting in a TOML file like containers.conf, keeping
// everything else (comments, order, other keys) as it was. A key is
// replaced where it is set (also when its array value spans lines), added
// at the end of its section, or in a new section at the end of the file.
func EditConf(in []byte, settings []ConfSetting) (out []byte, changed bool, err error) {
	lines := strings.Split(string(in), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, s := range settings {
		if s.Section == "" || s.Key == "" || s.Value == "" {
			return nil, false, fmt.Errorf("setting %+v: section, key and value are required", s)
		}
		want := s.Key + " = " + s.Value
		keyRE := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(s.Key) + `\s*=`)
		section, start, end := "", -1, len(lines)
		found := false
		for i, l := range lines {
			if m := sectionRE.FindStringSubmatch(l); m != nil {
				if section == s.Section && start >= 0 {
					end = i
					break
				}
				section = strings.Trim(m[1], `"`)
				if section == s.Section {
					start = i
				}
				continue
			}
			if section == s.Section && keyRE.MatchString(l) {
				last := i
				if v := strings.TrimSpace(l[strings.Index(l, "=")+1:]); strings.HasPrefix(v, "[") && !balanced(v) {
					for last = i + 1; last < len(lines) && !strings.Contains(lines[last], "]"); last++ {
					}
					if last == len(lines) {
						return nil, false, fmt.Errorf("%s.%s: array value is never closed", s.Section, s.Key)
					}
				}
				if last == i && strings.TrimSpace(l) == want {
					found = true
					break
				}
				lines = append(lines[:i], append([]string{want}, lines[last+1:]...)...)
				found, changed = true, true
				break
			}
		}
		if found {
			continue
		}
		changed = true
		if start < 0 {
			if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
				lines = append(lines, "")
			}
			lines = append(lines, "["+s.Section+"]", want)
			continue
		}
		// Insert after the last non-blank line of the section.
		at := end
		for at > start+1 && strings.TrimSpace(lines[at-1]) == "" {
			at--
		}
		lines = append(lines[:at], append([]string{want}, lines[at:]...)...)
	}
	return []byte(strings.Join(lines, "\n") + "\n"), changed, nil
}

func balanced(v string) bool {
	if i := strings.Index(v, "#"); i >= 0 && !strings.Contains(v[:i], `"`) {
		v = v[:i]
	}
	return strings.Count(v, "[") == strings.Count(v, "]")
}

// ConfigurePodmanHost writes PodmanSettings into path (normally
// ContainersConfPath) and creates /lib/modules, which kind always mounts.
// It reports whether it changed anything.
func ConfigurePodmanHost(path string) (bool, error) {
	in, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return false, err
	}
	out, changed, err := EditConf(in, PodmanSettings())
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if changed {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return false, err
		}
		tmp := path + ".edgesim.tmp"
		if err := os.WriteFile(tmp, out, 0o644); err != nil {
			return false, fmt.Errorf("write %s (run as root): %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return false, err
		}
	}
	if _, err := os.Stat("/lib/modules"); os.IsNotExist(err) {
		if err := os.MkdirAll("/lib/modules", 0o755); err != nil {
			return changed, fmt.Errorf("kind mounts /lib/modules, which is missing and cannot be created: %w", err)
		}
		changed = true
	}
	return changed, nil
}
