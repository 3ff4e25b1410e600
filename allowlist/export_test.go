package allowlist

import "time"

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

// AllowShortRefresh lets Options.Refresh be any positive duration until
// the returned restore, for a test of the refresh loop that cannot wait
// the minute config.CheckIPListRefresh asks.
func AllowShortRefresh() (restore func()) {
	old := checkRefresh
	checkRefresh = func(d time.Duration) error {
		if d <= 0 {
			return old(d)
		}
		return nil
	}
	return func() { checkRefresh = old }
}
