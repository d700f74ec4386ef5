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

// LoadOrDefault loads the model in dir, or returns the embedded default
// model (Default) when dir is empty.
func LoadOrDefault(dir string) (*Model, error) {
	if dir == "" {
		return Default()
	}
	return Load(dir)
}
