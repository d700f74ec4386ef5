// Package kubeconfigprovider reaches a Kubernetes cluster that edgesim did
// not create, through a kubeconfig file, to run a scenario on it: a rack of
// K3s boxes, a MicroK8s or CRI-O cluster, a cloud cluster with edge-like
// node pools. This file is the access (kubectl on this machine with the
// user's kubeconfig and context); preflight.go checks, before anything is
// created, that the cluster can hold the plan: it answers, the account may
// do what a run does (rbac.go) and every plan node maps onto a Ready node
// (mapping.go).
package kubeconfigprovider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

// Target is the cluster a kubeconfig file reaches.
type Target struct {
	// Kubeconfig is the kubeconfig file's path.
	Kubeconfig string
	// Context is the kubeconfig context to use ("" = its current-context).
	Context string
}

// Errors a cluster's access can fail with, for errors.Is. Each comes
// wrapped with kubectl's own words and what to do next.
var (
	// ErrNoContext: the kubeconfig has no such context (or no current one).
	ErrNoContext = errors.New("no such kubeconfig context")
	// ErrUnreachable: the API server did not answer.
	ErrUnreachable = errors.New("API server unreachable")
	// ErrUnauthorized: the API server refused the credentials (an expired
	// token or certificate, a wrong user).
	ErrUnauthorized = errors.New("credentials refused")
	// ErrForbidden: the credentials were accepted but the request is not
	// allowed (RBAC).
	ErrForbidden = errors.New("forbidden")
)

// CheckKubeconfig reads the kubeconfig file and returns the context t
// resolves to: t.Context, which must exist, or the file's current-context.
// It refuses a file that cannot be read or parsed, saying so.
func CheckKubeconfig(t Target) (string, error) {
	b, err := os.ReadFile(t.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w (give the path of the cluster's kubeconfig file with --kubeconfig or spec.kubeconfig)", err)
	}
	var kc struct {
		CurrentContext string `yaml:"current-context"`
		Contexts       []struct {
			Name string `yaml:"name"`
		} `yaml:"contexts"`
	}
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return "", fmt.Errorf("kubeconfig %s: not a kubeconfig file: %w", t.Kubeconfig, err)
	}
	names := make([]string, 0, len(kc.Contexts))
	for _, c := range kc.Contexts {
		names = append(names, c.Name)
	}
	want := t.Context
	if want == "" {
		if kc.CurrentContext == "" {
			return "", fmt.Errorf("kubeconfig %s: %w: it sets no current-context; name one with --context (it has: %s)", t.Kubeconfig, ErrNoContext, listOrNone(names))
		}
		want = kc.CurrentContext
	}
	if !slices.Contains(names, want) {
		return "", fmt.Errorf("kubeconfig %s: %w %q (it has: %s)", t.Kubeconfig, ErrNoContext, want, listOrNone(names))
	}
	return want, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Kubectl reaches a cluster with kubectl on this machine; it implements
// kube.Cluster.
type Kubectl struct {
	// Path is the kubectl binary.
	Path string
	// Target is the cluster.
	Target Target
}

// FindKubectl returns the kubectl to use: the one on PATH, else the one
// `edgesim image node` built and cached below cacheDir (the newest
// complete build; nodeimage.DefaultCacheDir). lookPath is exec.LookPath
// outside tests.
func FindKubectl(lookPath func(string) (string, error), cacheDir string) (string, error) {
	if p, err := lookPath("kubectl"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join(cacheDir, "bin", "kubernetes@*", "kubectl"))
	var newest string
	var newestMod int64
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), ".complete")); err != nil {
			continue // a build that did not finish
		}
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 && st.ModTime().UnixNano() > newestMod {
			newest, newestMod = m, st.ModTime().UnixNano()
		}
	}
	if newest == "" {
		return "", errors.New("kubectl not found: install it on PATH (https://kubernetes.io/docs/tasks/tools/), or build the one of `edgesim image node`")
	}
	return newest, nil
}

func (k *Kubectl) args(args []string) []string {
	full := []string{"--kubeconfig", k.Target.Kubeconfig}
	if k.Target.Context != "" {
		full = append(full, "--context", k.Target.Context)
	}
	return append(full, args...)
}

// Kubectl runs kubectl with args and returns its stdout; a failure carries
// kubectl's error output, classified (ErrUnreachable, ErrUnauthorized,
// ErrForbidden, ErrNoContext) where it can be.
func (k *Kubectl) Kubectl(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, k.Path, k.args(args)...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), classify(fmt.Sprintf("kubectl %s", strings.Join(args, " ")), stderr.String(), err)
	}
	return stdout.Bytes(), nil
}

// KubectlCommand is the command Kubectl runs, for output that is streamed
// (`get --watch`); it is killed with edgesim.
func (k *Kubectl) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.Path, k.args(args)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// classify turns kubectl's failure into an error that says what happened
// and what to do next, wrapping one of the package's errors where
// kubectl's words say which.
func classify(what, stderr string, err error) error {
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		msg = err.Error()
	}
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "context was not found") || (strings.Contains(lower, "context") && strings.Contains(lower, "does not exist")):
		return fmt.Errorf("%s: %w: %s (list the contexts with `kubectl config get-contexts`)", what, ErrNoContext, msg)
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "provide credentials") ||
		strings.Contains(lower, "token has expired") || strings.Contains(lower, "certificate has expired"):
		return fmt.Errorf("%s: %w: %s (renew the kubeconfig's token or certificate)", what, ErrUnauthorized, msg)
	case strings.Contains(lower, "forbidden"):
		return fmt.Errorf("%s: %w: %s (bind the account to deploy/kubeconfig/rbac.yaml)", what, ErrForbidden, msg)
	case strings.Contains(lower, "unable to connect") || strings.Contains(lower, "connection refused") ||
		strings.Contains(lower, "no such host") || strings.Contains(lower, "i/o timeout") ||
		strings.Contains(lower, "no route to host") || strings.Contains(lower, "deadline exceeded") ||
		strings.Contains(lower, "timeout awaiting") || strings.Contains(lower, "did you specify the right host"):
		return fmt.Errorf("%s: %w: %s (check that the cluster is up and that its server address in the kubeconfig is reachable from this machine)", what, ErrUnreachable, msg)
	}
	return fmt.Errorf("%s: %s", what, msg)
}
