package detector

import (
	"sync"

	"github.com/edgesim/edgesim/runtime/models"
)

var (
	defaultOnce  sync.Once
	defaultModel *Model
	defaultErr   error
)

// Default returns the model embedded in the binary (runtime/models,
// models.Default). It is loaded and verified once; the same immutable
// *Model is returned to every caller.
func Default() (*Model, error) {
	defaultOnce.Do(func() {
		defaultModel, defaultErr = LoadFS(models.FS, models.Default)
	})
	return defaultModel, defaultErr
}
