package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// ContainersConfPath is the system-wide Podman configuration. edgesim
// reads it and never writes it: see UsePodmanConf.
const ContainersConfPath = "/etc/containers/containers.conf"

// vendorConfPath is the distribution's default, read when the host has no
// ContainersConfPath.
const vendorConfPath = "/usr/share/containers/containers.conf"

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

// PodmanConf is the containers.conf of one edgesim run: base (the host's
// configuration, unchanged) with PodmanSettings and, when owner is set, an
// OwnerAnnotation of owner on every container the run makes.
func PodmanConf(base []byte, owner string) ([]byte, error) {
	settings := PodmanSettings()
	if owner != "" {
		if !dns1123.MatchString(owner) {
			return nil, fmt.Errorf("owner %q: want lower-case letters, digits and '-'", owner)
		}
		settings = append(settings, ConfSetting{Section: "containers", Key: "annotations", Value: `["` + OwnerAnnotation + "=" + owner + `"]`})
	}
	out, _, err := EditConf(base, settings)
	return out, err
}

// UsePodmanConf writes this run's PodmanConf into dir (a directory edgesim
// owns, such as its state directory) and points CONTAINERS_CONF at it for
// this process and every podman it starts: kind's library runs podman
// through exec, which inherits the environment. The host's containers.conf
// is read, never written. restore puts the environment back and removes
// the file. kind always mounts /lib/modules, which is created (empty) when
// the host has none. One run per process: the environment is the
// process's.
func UsePodmanConf(dir, owner string) (restore func() error, err error) {
	base, prev := []byte(nil), os.Getenv("CONTAINERS_CONF")
	for _, p := range []string{prev, ContainersConfPath, vendorConfPath} {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err == nil {
			base = b
			break
		}
		if !os.IsNotExist(err) {
			return nil, err
		}
	}
	out, err := PodmanConf(base, owner)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "containers-*.conf")
	if err != nil {
		return nil, fmt.Errorf("write this run's Podman configuration: %w", err)
	}
	_, werr := f.Write(out)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	if _, err := os.Stat("/lib/modules"); os.IsNotExist(err) {
		if err := os.MkdirAll("/lib/modules", 0o755); err != nil {
			os.Remove(f.Name())
			return nil, fmt.Errorf("kind mounts /lib/modules, which is missing and cannot be created: %w", err)
		}
	}
	path, hadPrev := f.Name(), prev != ""
	if err := os.Setenv("CONTAINERS_CONF", path); err != nil {
		os.Remove(path)
		return nil, err
	}
	return func() error {
		var err error
		if hadPrev {
			err = os.Setenv("CONTAINERS_CONF", prev)
		} else {
			err = os.Unsetenv("CONTAINERS_CONF")
		}
		if rerr := os.Remove(path); rerr != nil && !os.IsNotExist(rerr) {
			err = errors.Join(err, rerr)
		}
		return err
	}, nil
}
