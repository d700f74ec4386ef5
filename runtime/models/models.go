// Package models holds the committed detector models, embedded into the
// binary. Each model lives in <name>/<version>/ as manifest.json (what the
// network is, how it was trained and evaluated, the sha256 of its weights)
// and weights.bin (little-endian float32 tensors in manifest order). See
// docs/model.md.
package models

import "embed"

// FS holds every file of this directory.
//
//go:embed *
var FS embed.FS

// Default is the directory (inside FS) of the model edgenode uses when no
// other model is configured.
const Default = "edgesim-det/v2"
