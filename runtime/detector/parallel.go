package detector

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// inParallel calls do for every i in [0, n) on workers goroutines, w being
// the calling goroutine's index (for per-worker state), and returns the
// first error, which stops the others, or ctx's.
func inParallel(ctx context.Context, n, workers int, do func(ctx context.Context, w, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for w := range workers {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := gctx.Err(); err != nil {
					return err
				}
				if err := do(gctx, w, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err() // the caller's: gctx always ends with Wait
}
