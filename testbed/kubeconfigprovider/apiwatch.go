package kubeconfigprovider

import (
	"context"
	"fmt"
	"time"

	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

// Defaults of Options.APIPoll and Options.APILost.
const (
	DefaultAPIPoll = 5 * time.Second
	DefaultAPILost = 3
)

// apiWatch asks the API server's /readyz every poll while a run goes on.
// After lost failed answers in a row it tells the run, which ends with a
// partial report: without the API server nothing can be collected,
// injected or deleted, and the namespace stays for `edgesim clean`.
type apiWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func watchAPI(ctx context.Context, cl kube.Cluster, server string, poll time.Duration, lost int, now func() time.Time, observe func(provider.ObservedEvent)) *apiWatch {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &apiWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(poll)
		defer t.Stop()
		failed := 0
		var first time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := readyz(ctx, cl, poll)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				failed = 0
				continue
			}
			if failed == 0 {
				first = now()
			}
			if failed++; failed < lost {
				continue
			}
			observe(provider.ObservedEvent{At: first, Kind: "api-server-lost", Target: server, Ends: true,
				Detail: fmt.Sprintf("no answer from /readyz %d times in a row since %s: %v; the run's namespace and any node it cordoned stay until `edgesim clean --provider kubeconfig`",
					failed, first.UTC().Format(time.RFC3339), err)})
			return
		}
	}()
	return w
}

// readyz asks the API server's /readyz, waiting at most timeout.
func readyz(ctx context.Context, cl kube.Cluster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := cl.Kubectl(ctx, nil, "get", "--raw", "/readyz", fmt.Sprintf("--request-timeout=%s", timeout))
	return err
}

// stop ends the watch and waits for it.
func (w *apiWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}
