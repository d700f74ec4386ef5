package detector_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"testing/fstest"

	"github.com/edgesim/edgesim/runtime/detector"
)

// FuzzLoadFS feeds arbitrary manifests and weights to LoadFS: it must return
// a model or one of the sentinel errors, never panic. The weights' hash is
// patched into the manifest so the fuzzer gets past the sha256 check.
func FuzzLoadFS(f *testing.F) {
	m, err := detector.NewModel(toyConfig(), 1)
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if _, err := m.Save(dir); err != nil {
		f.Fatal(err)
	}
	man, _ := os.ReadFile(filepath.Join(dir, detector.ManifestFile))
	w, _ := os.ReadFile(filepath.Join(dir, detector.WeightsFile))
	f.Add(man, w)
	f.Add([]byte(`{"name":"x"}`), []byte{1, 2, 3})
	f.Add([]byte(`{`), []byte{})
	shaRE := regexp.MustCompile(`"sha256":\s*"[0-9a-f]*"`)
	f.Fuzz(func(t *testing.T, manifest, weights []byte) {
		sum := sha256.Sum256(weights)
		manifest = shaRE.ReplaceAll(manifest, []byte(`"sha256": "`+hex.EncodeToString(sum[:])+`"`))
		fsys := fstest.MapFS{
			"m/" + detector.ManifestFile: {Data: manifest},
			"m/" + detector.WeightsFile:  {Data: weights},
		}
		got, err := detector.LoadFS(fsys, "m")
		if err != nil {
			if !errors.Is(err, detector.ErrBadManifest) && !errors.Is(err, detector.ErrModelMissing) && !errors.Is(err, detector.ErrModelTampered) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if got.ParamCount()*4 != len(weights) {
			t.Fatalf("loaded %d params from %d bytes", got.ParamCount(), len(weights))
		}
	})
}
