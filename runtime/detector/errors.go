package detector

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrModelMissing means a model directory, its manifest or its weights file does not exist.
	ErrModelMissing = errors.New("detector: model missing")
	// ErrModelTampered means the weights file does not match the sha256 recorded in the manifest.
	ErrModelTampered = errors.New("detector: model tampered")
	// ErrBadManifest means the manifest cannot be decoded or describes an impossible network.
	ErrBadManifest = errors.New("detector: invalid manifest")
	// ErrBadInput means an image or a training sample cannot be used.
	ErrBadInput = errors.New("detector: invalid input")
	// ErrClosed means a Runner was used after Close.
	ErrClosed = errors.New("detector: runner closed")
)

// ModelError wraps a sentinel with the path and the detail that caused it.
type ModelError struct {
	Path   string // file or directory concerned
	Detail string // what exactly is wrong and what to do
	Err    error  // one of the sentinels above
}

func (e *ModelError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Path, e.Detail)
}

// Unwrap returns the sentinel.
func (e *ModelError) Unwrap() error { return e.Err }
