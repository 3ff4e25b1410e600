package allowlist

// Internals the external tests check.
var (
	Jitter     = jitter
	RetryDelay = retryDelay
)

// MaxEntries bounds a Tencent list; the tests build lists around it.
const MaxEntries = maxEntries

// SetSyncDir replaces how a directory is synced until the returned restore.
func SetSyncDir(f func(name string) error) (restore func()) {
	old := syncDir
	syncDir = f
	return func() { syncDir = old }
}
