package alert

// SetSyncDir replaces the spool directory sync for a test; the returned
// function restores it.
func SetSyncDir(fn func(dir string) error) (restore func()) {
	old := syncDir
	syncDir = fn
	return func() { syncDir = old }
}
