package fakecam_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgesim/edgesim/fakecam"
)

// FuzzLoadConfigFile: any file content gives configs or an error, never a
// panic, and validating what was accepted does not panic either.
func FuzzLoadConfigFile(f *testing.F) {
	f.Add([]byte(`[{"id":"c","endpoints":["http://127.0.0.1:1/whip"],"bitrate":"800Kbit","duration":"30s",
		"scene":{"width":640,"height":360,"fps":10,"events":[{"kind":"loiter","zone":"z","start":"1s","end":"2s"}]}}]`))
	f.Add([]byte(`{"cameras":[{"id":"c"}]}`))
	f.Add([]byte(`[`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "cams.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfgs, err := fakecam.LoadConfigFile(path)
		if err != nil {
			return
		}
		for _, c := range cfgs {
			_ = c.Validate()
		}
	})
}
