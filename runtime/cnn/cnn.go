// Package cnn plugs the gorgonia detector (runtime/detector) into the
// inference pipeline.
package cnn

import (
	"fmt"
	"image"

	"github.com/edgesim/edgesim/runtime/detector"
	"github.com/edgesim/edgesim/runtime/pipeline"
)

// Load loads dir, or the embedded default model when dir is empty. A missing
// or tampered model is an error that says so.
func Load(dir string) (pipeline.Model, error) {
	m, err := detector.LoadOrDefault(dir)
	if err != nil {
		return nil, fmt.Errorf("refusing to start without a valid model: %w", err)
	}
	return Adapt(m), nil
}

// Adapt makes a detector.Model usable by the pipeline.
func Adapt(m *detector.Model) pipeline.Model { return detModel{m} }

type detModel struct{ m *detector.Model }

func (d detModel) NewRunner() (pipeline.Runner, error) {
	r, err := d.m.NewRunner()
	if err != nil {
		return nil, err
	}
	return detRunner{r}, nil
}

func (d detModel) Info() pipeline.ModelInfo {
	return pipeline.ModelInfo{Name: d.m.Manifest.Name, Version: d.m.Manifest.Version, SHA256: d.m.Manifest.SHA256}
}

type detRunner struct{ r *detector.Runner }

func (r detRunner) Detect(img image.Image) ([]pipeline.Detection, error) {
	ds, err := r.r.Detect(img)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.Detection, len(ds))
	for i, d := range ds {
		out[i] = pipeline.Detection(d)
	}
	return out, nil
}

func (r detRunner) Close() error { return r.r.Close() }
