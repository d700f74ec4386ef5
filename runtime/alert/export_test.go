package alert

import "os"

// SetSyncDir replaces the spool directory sync for a test; the returned
// function restores it.
func SetSyncDir(fn func(dir string) error) (restore func()) {
	old := syncDir
	syncDir = fn
	return func() { syncDir = old }
}

// SetSyncFile replaces the alerts file sync for a test; the returned
// function restores it.
func SetSyncFile(fn func(f *os.File) error) (restore func()) {
	old := syncFile
	syncFile = fn
	return func() { syncFile = old }
}
