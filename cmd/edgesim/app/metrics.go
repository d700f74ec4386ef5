package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/edgesim/edgesim/testbed"
)

const metricsFlagHelp = "serve the run's live metrics for Prometheus at http://`ADDR`/metrics while it runs: every edgenode's, every link's and the run's own (see docs/metrics.md), e.g. 127.0.0.1:9464"

func registerMetricsFlag(fs *pflag.FlagSet, addr *string) {
	fs.StringVar(addr, "metrics", "", metricsFlagHelp)
}

// metricsListener checks --metrics and listens on it, before anything of
// the run starts.
func metricsListener(addr string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("--metrics %q: want HOST:PORT, e.g. 127.0.0.1:9464 (a bare :9464 listens on every address)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: cannot listen: %w (pick a free port, or stop what holds it)", addr, err)
	}
	return ln, nil
}

// serveMetrics serves live on ln at /metrics until the returned stop is
// called; stop closes the listener and every connection.
func serveMetrics(ln net.Listener, live *testbed.Live) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(live, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ends with stop (or a failed listener: the run goes on)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}
}

// liveMetrics starts the --metrics endpoint, when asked for, and gives the
// run its Live in opts. stop is never nil.
func (f runFlags) liveMetrics(opts *testbed.Options) (stop func(), err error) {
	if f.metrics == "" {
		return func() {}, nil
	}
	ln, err := metricsListener(f.metrics)
	if err != nil {
		return nil, err
	}
	opts.Live = testbed.NewLive()
	return serveMetrics(ln, opts.Live), nil
}
