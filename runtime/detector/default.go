package detector

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
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

// EmbeddedPrefix marks a model reference to a model embedded in the
// binary (runtime/models) rather than a directory on disk:
// "embedded:edgesim-det/v2-int8". Every committed model and variant is
// embedded, so such a reference works wherever the binary runs (a
// container image too).
const EmbeddedPrefix = "embedded:"

// Embedded lists the directories of the models embedded in the binary
// ("edgesim-det/v2", "edgesim-det/v2-int8", ...), sorted: every
// <name>/<version> of runtime/models with a manifest.json.
func Embedded() []string {
	dirs, _ := fs.Glob(models.FS, "*/*/"+ManifestFile)
	for i, d := range dirs {
		dirs[i] = path.Dir(d)
	}
	slices.Sort(dirs)
	return dirs
}

// LoadOrDefault loads the model a reference names: "" for the embedded
// default model (Default), EmbeddedPrefix + "<name>/<version>" for
// another embedded model (see Embedded), anything else a model directory
// (Load).
func LoadOrDefault(ref string) (*Model, error) {
	if ref == "" {
		return Default()
	}
	dir, ok := strings.CutPrefix(ref, EmbeddedPrefix)
	if !ok {
		return Load(ref)
	}
	if dir == models.Default {
		return Default()
	}
	if !slices.Contains(Embedded(), dir) {
		return nil, &ModelError{Err: ErrModelMissing, Path: ref,
			Detail: fmt.Sprintf("no such embedded model; the binary embeds %s", strings.Join(Embedded(), ", "))}
	}
	return LoadFS(models.FS, dir)
}
