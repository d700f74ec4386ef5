package detector_test

import (
	"context"
	"errors"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/detector"
)

var _ = Describe("the worker pool of evaluation and calibration", func() {
	It("does every index once, each worker with its own index", func(ctx SpecContext) {
		var mu sync.Mutex
		seen := map[int]int{}
		workers := map[int]bool{}
		Expect(detector.InParallel(ctx, 100, 3, func(_ context.Context, w, i int) error {
			mu.Lock()
			defer mu.Unlock()
			seen[i]++
			workers[w] = true
			return nil
		})).To(Succeed())
		Expect(seen).To(HaveLen(100))
		for i, n := range seen {
			Expect(n).To(Equal(1), "index %d", i)
		}
		Expect(len(workers)).To(BeNumerically("<=", 3))
	})

	It("returns the first error and stops handing out work", func(ctx SpecContext) {
		boom := errors.New("boom")
		var mu sync.Mutex
		done := 0
		err := detector.InParallel(ctx, 1000, 2, func(ctx context.Context, _, i int) error {
			if i == 0 {
				return boom
			}
			<-ctx.Done() // every other call ends only once the error stopped the pool
			mu.Lock()
			done++
			mu.Unlock()
			return nil
		})
		Expect(err).To(MatchError(boom))
		Expect(done).To(BeNumerically("<=", 1), "at most the other worker's call under way finishes")
	})

	It("returns the caller's context error when it was cancelled", func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := detector.InParallel(ctx, 10, 2, func(context.Context, int, int) error { return nil })
		Expect(err).To(MatchError(context.Canceled))
	})
})
