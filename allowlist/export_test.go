package allowlist

// Internals the external tests check.
var (
	Jitter     = jitter
	RetryDelay = retryDelay
)

// MaxEntries bounds a Tencent list; the tests build lists around it.
const MaxEntries = maxEntries
